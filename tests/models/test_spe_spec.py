"""SPE integer step (models/spe/spec.py): the base's normative step plus the prediction, its
declarations equal to it exactly (incl. 24-bit limits, hoisted form), the float op and kappa code."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from spikeforge.models import declare
from spikeforge.models.asn import spec as asn_spec
from spikeforge.models.lif import spec as lif_spec
from spikeforge.models.lif.spec import Counters
from spikeforge.models.spe import spec

LIM = 2**23


def _case(op, rng, n):
    if op == "int_spe_lif":
        p = {"du": rng.choice([0, 1024, 4095], n), "dv": rng.choice([0, 7, 2048, 4095], n),
             "bias_mant": rng.integers(-4095, 4096, n), "bias_exp": rng.integers(0, 8, n), "vth": rng.integers(0, 2**17, n)}
        stt = {k: rng.integers(-LIM + 1, LIM, n) for k in ("u", "v", "pr", "q")}
        attrs = {"reset": rng.choice(["zero", "subtract"])}
    else:
        p = {"dv": rng.choice([0, 256, 4095], n), "bias": rng.integers(-LIM + 1, LIM, n), "p": rng.integers(1, 19, n)}
        stt = {k: rng.integers(-LIM + 1, LIM, n) for k in ("v", "pr", "q")}
        attrs = {"alpha": int(rng.integers(-3, 3)), "D": int(rng.integers(1, 8))}
    p["kc"] = rng.integers(0, 4096, n)
    return p, stt, rng.integers(-2**17, 2**17, n), attrs


@pytest.mark.parametrize("op", ["int_spe_lif", "int_spe_asn"])
@pytest.mark.parametrize("hoisted", [False, True])
def test_declaration_equals_step(op, hoisted):
    rng = np.random.default_rng(0)
    d = declare.find(op)
    assert d is not None
    sat = 0
    for _ in range(10):
        p, stt, a, attrs = _case(op, rng, 3000)
        ref = {k: v[None].copy() for k, v in stt.items()}
        c = Counters()
        want = spec.step(op, ref, a[None], p, attrs, c)[0]
        got_state = {k: v.astype(np.float64) for k, v in stt.items()}
        counts: dict = {}
        got = declare.evaluate(d, got_state, a, p, attrs, counts, hoisted=hoisted)
        np.testing.assert_array_equal(got, want)
        for k in stt:
            np.testing.assert_array_equal(got_state[k], ref[k][0])
        assert counts["n_sat"] == c.saturate and counts.get("n_wrap", 0) == c.wrap
        sat += c.saturate
    assert sat > 0  # the limits were exercised


def test_int_step_with_kc_zero_and_no_prediction_is_the_base():
    """kc = 0 keeps P = 0: the SPE step is then exactly the base's step."""
    rng = np.random.default_rng(1)
    p, stt, a, _ = _case("int_spe_lif", rng, 500)
    p["kc"] = np.zeros(500, np.int64)
    stt["pr"][:] = 0
    s1 = {k: v[None].copy() for k, v in stt.items()}
    s2 = {k: stt[k][None].copy() for k in ("u", "v")}
    for t in range(5):
        y1 = spec.step("int_spe_lif", s1, a[None], p, {"reset": "subtract"})
        y2 = lif_spec.step(s2, a[None], {k: p[k] for k in lif_spec.PARAM_BITS}, "subtract")
        np.testing.assert_array_equal(y1, y2)
    p, stt, a, attrs = _case("int_spe_asn", rng, 500)
    p["kc"][:] = 0
    stt["pr"][:] = 0
    s1 = {k: v[None].copy() for k, v in stt.items()}
    s2 = {"v": stt["v"][None].copy()}
    for t in range(5):
        np.testing.assert_array_equal(spec.step("int_spe_asn", s1, a[None], p, attrs),
                                      asn_spec.step(s2, a[None], {k: p[k] for k in ("dv", "bias", "p")}, attrs["alpha"], attrs["D"]))


@settings(max_examples=40, deadline=None)
@given(kc=st.integers(0, 4095), x=st.integers(-2**20, 2**20), steps=st.integers(1, 30))
def test_prediction_tracks_a_constant_input(kc, x, steps):
    """With no spikes (vth at its maximum) P approaches X = a << 6 and never moves away from it."""
    p = {"du": 4095, "dv": 4095, "bias_mant": 0, "bias_exp": 0, "vth": 2**17 - 1, "kc": kc}
    a = np.array([[x >> 6]])
    X = (x >> 6) << 6
    s = spec.init_state("int_spe_lif", 1, 1)
    prev = 0
    for _ in range(steps):
        spec.step("int_spe_lif", s, a, p, {"reset": "zero"})
        pr = int(s["pr"][0, 0])
        assert abs(X - pr) <= max(abs(X - prev), 1)  # never moves away (the rounding may leave 1 LSB)
        prev = pr


def test_kappa_code_and_base_op():
    np.testing.assert_array_equal(spec.kappa_code([0.0, 0.5, 0.25 + 1 / 8192, 1.0]), [0, 2048, 1025, 4095])
    assert spec.base_op("spe_asn") == "asn" and spec.base_op("int_spe_lif") == "int_lif" and spec.base_op("lif") == "lif"
    with pytest.raises(ValueError, match="unknown SPE"):
        spec.step("int_spe_x", {}, np.zeros((1, 1)), {}, {})
