"""Neuron declarations (``models/declare.py``) equal the normative integer steps exactly,
including wraps and saturations near the 24-bit limits."""

from __future__ import annotations

import numpy as np
import pytest

from spikeforge.models import declare
from spikeforge.models.asn import spec as asn_spec
from spikeforge.models.lif import spec as lif_spec
from spikeforge.models.lif.spec import Counters

LIM = 2**23


def _lif_case(rng, n):
    p = {
        "du": rng.choice([0, 1, 1024, 4000, 4095], n), "dv": rng.choice([0, 7, 2048, 4095], n),
        "bias_mant": rng.integers(-4095, 4096, n), "bias_exp": rng.integers(0, 8, n), "vth": rng.integers(0, 2**17, n),
    }
    st = {"u": rng.integers(-LIM + 1, LIM, n), "v": rng.integers(-LIM + 1, LIM, n)}
    return p, st, rng.integers(-2**17, 2**17, n)


@pytest.mark.parametrize("op,reset", [("int_lif", "zero"), ("int_lif", "subtract"), ("int_li", "zero")])
def test_lif_declaration_equals_step(op, reset):
    rng = np.random.default_rng(0)
    d = declare.find(op)
    for _ in range(20):
        p, st, a = _lif_case(rng, 4000)
        ref_state = {k: v.copy() for k, v in st.items()}
        c = Counters()
        want = lif_spec.step(ref_state, a[None], p, reset=reset, spiking=op == "int_lif", counters=c)[0]
        got_state = {k: v.astype(np.float64) for k, v in st.items()}
        counts: dict = {}
        got = declare.evaluate(d, got_state, a, p, {"reset": reset}, counts)
        np.testing.assert_array_equal(got, want)
        for k in st:
            np.testing.assert_array_equal(got_state[k], ref_state[k][0])
        assert (counts["n_wrap"], counts["n_sat"]) == (c.wrap, c.saturate) and c.wrap and c.saturate


@pytest.mark.parametrize("alpha,D", [(0, 4), (-3, 1), (2, 15)])
def test_asn_declaration_equals_step(alpha, D):
    rng = np.random.default_rng(1)
    d = declare.find("int_asn")
    for _ in range(20):
        n = 4000
        p = {"dv": rng.choice([0, 256, 4095], n), "bias": rng.integers(-LIM + 1, LIM, n), "p": rng.integers(1, 19, n)}
        st = {"v": rng.integers(-LIM + 1, LIM, n)}
        a = rng.integers(-2**17, 2**17, n)
        ref_state = {"v": st["v"][None].copy()}
        c = Counters()
        want = asn_spec.step(ref_state, a[None], p, alpha, D, c)[0]
        got_state = {"v": st["v"].astype(np.float64)}
        counts: dict = {}
        got = declare.evaluate(d, got_state, a, p, {"alpha": alpha, "D": D}, counts)
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(got_state["v"], ref_state["v"][0])
        assert counts["n_sat"] == c.saturate and c.saturate


def test_bad_declarations_are_rejected():
    with pytest.raises(ValueError, match="reserved"):
        declare.IntNeuronDecl(op="x", params={"N": (8, True)}, states={}, update=("y = N",))
    with pytest.raises(ValueError, match="read-only"):
        declare.IntNeuronDecl(op="x", params={"k": (8, True)}, states={}, update=("k = 1",))
    assert declare.find("no_such_op") is None
    assert {"int_lif", "int_li", "int_asn"} <= set(declare.declared_ops())


def _mtc_case(rng, n):
    from spikeforge.models.mtc import spec as mtc_spec

    s = lambda: rng.integers(-LIM + 1, LIM, n)  # noqa: E731 - full signed 24-bit range
    p = {
        "dm": rng.choice([0, 1, 205, 2048, 4095], n),
        **{k: rng.choice([0, 1, 655, 32768, 65535, 65536], n) for k in ("kf", "ks", "kus")},
        **{k: s() for k in ("gfn", "gsp", "gsn", "gusp", "dfn", "dsp", "dsn", "dusp", "th", "bias")},
        "oscale": rng.integers(2**15 + 1, 2**16 + 1, n), "oshift": rng.integers(1, 40, n), "ishift": rng.integers(1, 18, n),
        "lut": mtc_spec.tanh_lut(),
    }
    st = {k: s() for k in ("um", "uf", "us", "uus")}
    return p, st, rng.integers(-2**17, 2**17, n)


@pytest.mark.parametrize("out_bits", [8, 4])
def test_mtc_declaration_equals_step(out_bits):
    from spikeforge.models.mtc import spec as mtc_spec

    rng = np.random.default_rng(2)
    d = declare.find("int_mtc")
    assert d.tables == ("lut",) and not d.spiking
    for it in range(20):
        p, st, a = _mtc_case(rng, 4000)
        if it % 2:  # small states and inputs: the table's interior (not only its saturation) and unsaturated outputs
            st = {k: v >> 8 for k, v in st.items()}
            a = a >> 10
            p.update({k: p[k] >> 10 for k in ("dfn", "dsp", "dsn", "dusp", "th", "bias", "gfn", "gsp", "gsn", "gusp")},
                     oshift=rng.integers(22, 32, 4000),
                     ishift=rng.integers(6, 14, 4000))
            idx = (st["uf"] - p["dfn"] + (1 << (p["ishift"] - 1))) >> p["ishift"]
            assert np.mean(np.abs(idx) < mtc_spec.LUT_SIZE - 1) > 0.3
        ref_state = {k: v[None].copy() for k, v in st.items()}
        c = Counters()
        want = mtc_spec.step(ref_state, a[None], p, c)[0]
        if out_bits != mtc_spec.OUT_BITS:  # the declaration clips to 2^out_bits; the step to 2^OUT_BITS
            want = np.minimum(want, 2**out_bits)
        got_state = {k: v.astype(np.float64) for k, v in st.items()}
        counts: dict = {}
        got = declare.evaluate(d, got_state, a, p, {"out_bits": out_bits}, counts)
        np.testing.assert_array_equal(got, want)
        for k in st:
            np.testing.assert_array_equal(got_state[k], ref_state[k][0], err_msg=k)
        assert counts["n_sat"] == c.saturate and (c.saturate or it % 2)
        if it % 2:
            assert np.mean((want > 0) & (want < 2**out_bits)) > 0.05


def test_hoisted_update_is_the_same_step():
    """``declare.hoist`` (what the code generators run): parameter-only subexpressions computed
    once give exactly the plain update, for every declared op."""
    rng = np.random.default_rng(3)
    cases = {
        "int_lif": lambda: (*_lif_case(rng, 3000), {"reset": "subtract"}),
        "int_li": lambda: (*_lif_case(rng, 3000), {}),
        "int_asn": lambda: ({"dv": rng.choice([0, 256, 4095], 3000), "bias": rng.integers(-LIM + 1, LIM, 3000),
                             "p": rng.integers(1, 19, 3000)}, {"v": rng.integers(-LIM + 1, LIM, 3000)},
                            rng.integers(-2**17, 2**17, 3000), {"alpha": -2, "D": 5}),
        "int_mtc": lambda: (*_mtc_case(rng, 3000), {"out_bits": 8}),
    }
    # int_spe_lif / int_spe_asn: their hoisted form is checked against spec.step in
    # tests/models/test_spe_spec.py::test_declaration_equals_step (hoisted=True).
    assert set(cases) == set(declare.declared_ops()) - {"int_spe_lif", "int_spe_asn"}
    for op, make in cases.items():
        d = declare.find(op)
        stmts, inv = declare.hoist(d)
        assert inv and all(not set(expr.split()) & set(d.states) for expr in inv.values()), op
        for _ in range(5):
            p, st, a, attrs = make()
            s1 = {k: v.astype(np.float64) for k, v in st.items()}
            s2 = {k: v.astype(np.float64) for k, v in st.items()}
            c1: dict = {}
            c2: dict = {}
            np.testing.assert_array_equal(declare.evaluate(d, s1, a, p, attrs, c1),
                                          declare.evaluate(d, s2, a, p, attrs, c2, hoisted=True), err_msg=op)
            for k in st:
                np.testing.assert_array_equal(s1[k], s2[k], err_msg=f"{op} {k}")
            assert c1 == c2, op


def test_hoist_moves_parameter_only_subexpressions():
    stmts, inv = declare.hoist(declare.find("int_lif"))
    assert set(inv.values()) >= {"du + 1", "shl(bias_mant, bias_exp)", "shl(vth, 6)"}
    assert [s for s in stmts if s[0] == "u_in"][0][2] == f"decay(u, {[k for k, v in inv.items() if v == 'du + 1'][0]}) + shl(a, 6)"
