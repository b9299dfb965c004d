"""Integer neuron layers of the reference backend against the normative numpy steps.

``int_lif`` / ``int_li`` must equal ``models/lif/spec.py`` and ``int_asn`` must equal
``models/asn/spec.py`` bit for bit (outputs, final states, wrap and saturation counts), over
random parameters across their full documented ranges and inputs large enough to wrap the
current and saturate the voltage. The float ``asn`` op is checked against a Python loop of
its documented update (``docs/integer.md``, "NIR form").
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from spikeforge.backends.reference.neurons import NEURONS
from spikeforge.compiler.errors import SpikeforgeError
from spikeforge.compiler.ir import Node
from spikeforge.models.asn import spec as asn_spec
from spikeforge.models.lif import spec as lif_spec

#: Input amplitudes: ordinary, near the wrap of ``a << 6`` (2^17), far beyond it.
AMPS = [3, 400, 2**17, 2**19]


def _ints(data, shape, lo, hi):
    return data.draw(hnp.arrays(np.int64, shape, elements=st.integers(lo, hi)))


def _lif_case(data, N: int):
    return {
        "du": _ints(data, N, 0, 4095),
        "dv": _ints(data, N, 0, 4095),
        "bias_mant": _ints(data, N, -4095, 4095),
        "bias_exp": _ints(data, N, 0, 7),
        "vth": _ints(data, N, 0, 2**17 - 1),
        "p": np.full(N, 6, np.int64),
    }


def _spec_run(step, state, a, **kw):
    """Run a normative step over ``a`` (T, B, N); returns outputs and counters."""
    c = lif_spec.Counters()
    out = np.stack([step(state, a[t], counters=c, **kw) for t in range(a.shape[0])])
    return out, c


@given(data=st.data(), op=st.sampled_from(["int_lif", "int_li"]), reset=st.sampled_from(["zero", "subtract"]),
       T=st.integers(1, 25), B=st.integers(1, 3), N=st.integers(1, 6), amp=st.sampled_from(AMPS))
def test_int_lif_scan_equals_spec(data, op, reset, T, B, N, amp) -> None:
    p = _lif_case(data, N)
    a = _ints(data, (T, B, N), -amp, amp)
    node = Node("n", op, p, {"reset": reset}, (N,), (N,))
    layer = NEURONS[op](node, B, record=True)
    # two chunks: the state carries over between advance calls
    k = T // 2
    y = np.concatenate([layer.advance(a[:k]), layer.advance(a[k:])])
    state = lif_spec.init_state(B, N)
    want, c = _spec_run(lif_spec.step, state, a, p=p, reset=reset, spiking=op == "int_lif")
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(layer.u, state["u"])
    np.testing.assert_array_equal(layer.v, state["v"])
    assert layer.counts == {"wrap": c.wrap, "saturate": c.saturate}
    vrec = np.concatenate(layer.v_recs)
    if op == "int_li":
        np.testing.assert_array_equal(vrec, want)
    else:  # the record is the pre-reset voltage: above threshold exactly where it spiked
        np.testing.assert_array_equal(vrec > (p["vth"] << 6), want.astype(bool))
        assert np.all(np.abs(vrec) <= 2**23 - 1)


@given(data=st.data(), T=st.integers(1, 25), B=st.integers(1, 3), N=st.integers(1, 6), amp=st.sampled_from(AMPS),
       alpha=st.integers(-4, 4), D=st.integers(0, 15))
def test_int_asn_scan_equals_spec(data, T, B, N, amp, alpha, D) -> None:
    punit = _ints(data, N, 1, 12)
    p = {"dv": _ints(data, N, 0, 4095), "bias": _ints(data, N, -(2**23 - 1), 2**23 - 1), "p": punit}
    a = _ints(data, (T, B, N), -amp, amp)
    node = Node("n", "int_asn", p, {"alpha": alpha, "D": D, "N": 1}, (N,), (N,))
    layer = NEURONS["int_asn"](node, B, record=True)
    k = (T + 1) // 2
    y = np.concatenate([layer.advance(a[:k]), layer.advance(a[k:])])
    state = asn_spec.init_state(B, N)
    want, c = _spec_run(asn_spec.step, state, a, p=p, alpha=alpha, D=D)
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(layer.v, state["v"])
    assert layer.counts == {"wrap": 0, "saturate": c.saturate}
    assert y.min() >= 0 and y.max() <= D
    # the record is U (before the reset): v = U - ((e + alpha) << p)
    U = np.concatenate(layer.v_recs)
    np.testing.assert_array_equal(U[-1] - np.left_shift(y[-1] + alpha, punit), state["v"])


def test_wraps_and_saturations_are_counted() -> None:
    """Deterministic case with both overflows (a current wrap needs |a << 6| near 2^23)."""
    N, B, T = 4, 2, 30
    p = {"du": np.array([0, 0, 4095, 2048]), "dv": np.zeros(N, np.int64), "bias_mant": np.array([0, 4095, -4095, 7]),
         "bias_exp": np.array([0, 7, 7, 0]), "vth": np.full(N, 2**17 - 1), "p": np.full(N, 6)}
    a = np.full((T, B, N), 70000, np.int64)
    a[:, 1] *= -1
    layer = NEURONS["int_lif"](Node("n", "int_lif", p, {"reset": "zero"}, (N,), (N,)), B)
    layer.advance(a)
    state = lif_spec.init_state(B, N)
    _, c = _spec_run(lif_spec.step, state, a, p=p, reset="zero", spiking=True)
    assert c.wrap > 0 and c.saturate > 0
    assert layer.counts == {"wrap": c.wrap, "saturate": c.saturate}


def test_full_shape_and_scalar_parameters() -> None:
    """Conv-shaped layers; scalar parameters broadcast to the neuron shape."""
    shape, B, T = (2, 3, 3), 2, 12
    rng = np.random.default_rng(0)
    full = {"du": rng.integers(0, 4096, shape), "dv": np.array(100), "bias_mant": np.array(3), "bias_exp": np.array(1),
            "vth": rng.integers(1, 50, shape), "p": np.array(6)}
    a = rng.integers(-50, 200, (T, B) + shape)
    y = NEURONS["int_lif"](Node("n", "int_lif", full, {"reset": "subtract"}, shape, shape), B).advance(a)
    flat = {k: np.broadcast_to(v, shape).reshape(-1) for k, v in full.items()}
    state = lif_spec.init_state(B, 18)
    want, _ = _spec_run(lif_spec.step, state, a.reshape(T, B, -1), p=flat, reset="subtract", spiking=True)
    np.testing.assert_array_equal(y, want.reshape(y.shape))
    assert 0 < y.mean() < 1


@pytest.mark.parametrize(
    "op,params,attrs,msg",
    [
        ("int_lif", {"du": 1, "dv": 1, "bias_mant": 0, "bias_exp": 0}, {}, "lacks the integer parameter 'vth'"),
        ("int_lif", {"du": 1, "dv": 1, "bias_mant": 0.5, "bias_exp": 0, "vth": 1}, {}, "non-integer"),
        ("int_lif", {"du": 5000, "dv": 1, "bias_mant": 0, "bias_exp": 0, "vth": 1}, {}, "'du' must lie in"),
        ("int_lif", {"du": 1, "dv": 1, "bias_mant": 0, "bias_exp": 0, "vth": 1}, {"reset": "hold"}, "reset must be"),
        ("int_asn", {"dv": 1, "bias": 0, "p": 0}, {"D": 3}, "'p' must lie in"),
        ("int_asn", {"dv": 1, "bias": 0, "p": 2}, {}, "integer attrs 'alpha' and 'D'"),
    ],
)
def test_bad_integer_parameters(op, params, attrs, msg) -> None:
    node = Node("n", op, {k: np.asarray(v) for k, v in params.items()}, attrs, (3,), (3,))
    with pytest.raises(SpikeforgeError, match=msg):
        NEURONS[op](node, 1)


# ----------------------------------------------------------------------------- float asn


def _asn_loop(x, a, g, b, alpha, D, N):
    h = np.zeros(x.shape[1:])
    out, us = [], []
    for t in range(x.shape[0]):
        u = a * h + g * x[t] + b
        c = np.clip(np.floor(u + 0.5), alpha, alpha + D)
        h = u - c
        out.append(c / N)
        us.append(u)
    return np.stack(out), np.stack(us)


@pytest.mark.parametrize("alpha,D,N", [(0, 1, 1), (0, 4, 4), (-2, 5, 3)])
def test_float_asn_layer(alpha: int, D: int, N: int) -> None:
    shape, B, T = (2, 5), 3, 40
    rng = np.random.default_rng(7)
    p = {"a": rng.uniform(0.5, 1.0, shape), "g": rng.uniform(0.5, 2.0, shape), "b": rng.uniform(-0.3, 0.3, shape)}
    x = rng.uniform(-1, 3, (T, B) + shape)
    layer = NEURONS["asn"](Node("n", "asn", p, {"alpha": alpha, "D": D, "N": N}, shape, shape), B, record=True)
    y = np.concatenate([layer.advance(x[:13]), layer.advance(x[13:])])
    want, u = _asn_loop(x, p["a"], p["g"], p["b"], alpha, D, N)
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(np.concatenate(layer.v_recs), u)
    assert len(np.unique(y)) == D + 1  # every level of the window occurs
