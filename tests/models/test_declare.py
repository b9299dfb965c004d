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
