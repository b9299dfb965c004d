"""The MTC integer step (models/mtc/spec.py): worked by hand, the tanh table's size and error,
the numpy-only import, and the reference backend's ``int_mtc`` / ``mtc`` scans against the
normative numpy steps (exact for the integer form)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from spikeforge.backends.reference.neurons import NEURONS
from spikeforge.compiler.ir import Node
from spikeforge.models.mtc import spec


def test_spec_imports_without_torch():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from spikeforge.models.mtc import spec\n"
        "import numpy as np\n"
        "st = spec.init_state(1, 2)\n"
        "print(spec.LUT_SIZE, 'torch' in sys.modules and sys.modules['torch'] is not None)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["513", "False"]


def test_lut_size_values_and_error():
    lut = spec.tanh_lut()
    assert lut.shape == (spec.LUT_SIZE,) == (513,)
    assert lut.dtype == np.int64
    assert lut[0] == 0 and lut[-1] == 4093  # round(4096 * tanh(4))
    assert np.all(np.diff(lut) >= 0)
    # documented bound: half an index step (2^-8) times slope <= 1, plus value rounding and the saturation tail
    err = spec.lut_error()
    assert 0.0035 < err < 0.0040
    assert abs(spec.lut_tanh(np.array([10.0]))[0] - 4093 / 4096) == 0.0
    assert spec.lut_tanh(np.array([-1.0]))[0] == -spec.lut_tanh(np.array([1.0]))[0]


def _params(N=1, **kw):
    p = {k: np.zeros(N, np.int64) for k in spec.INT_PARAMS}
    p.update(oshift=np.full(N, 8), oscale=np.full(N, 256), ishift=np.full(N, 1), kf=np.full(N, 65536))
    p.update({k: np.broadcast_to(np.asarray(v, np.int64), (N,)).copy() for k, v in kw.items()})
    p["lut"] = spec.tanh_lut()
    return p


def test_step_by_hand():
    # p = 8: ishift = 1; no decay (dm = 0); input a = 2 -> a << 6 = 128 membrane LSBs (0.5 real)
    st_ = spec.init_state(1, 1)
    p = _params(gfn=512, ks=32768, kus=16384, th=64, oscale=256, oshift=8)
    out = spec.step(st_, np.array([[2]]), p)
    # the filters are 0, tanh(0) = 0: U_m = 128; U_f = 128 (k = 1); U_s = 64; U_us = 32
    assert [int(st_[k][0, 0]) for k in ("um", "uf", "us", "uus")] == [128, 128, 64, 32]
    # out = ((128 - 64) * 256 + 128) >> 8 = 64
    assert int(out[0, 0]) == 64
    out = spec.step(st_, np.array([[0]]), p)
    # fast feedback: index (128 + 1) >> 1 = 64 -> lut[64] = round(4096 tanh(0.5)) = 1893;
    # F = (512 * 1893 + 2048) >> 12 = 237; U_m = 128 + 237 = 365
    assert spec.tanh_lut()[64] == 1893
    assert int(st_["um"][0, 0]) == 365
    assert int(out[0, 0]) == 256  # ((365 - 64) * 256 + 128) >> 8 = 301, clipped to 2^8
    # U_s = 64 + ((365 - 64) * 32768 + 32768) >> 16 = 64 + 151
    assert int(st_["us"][0, 0]) == 215


def test_negative_arguments_use_odd_symmetry_and_saturate():
    st_ = spec.init_state(1, 2)
    st_["uf"][:] = [-100, -10**6]
    p = _params(N=2, gfn=4096, dm=4095)
    spec.step(st_, np.zeros((1, 2), np.int64), p)
    # index (-100 + 1) >> 1 = -50 -> -lut[50]; far below -> -lut[512]; F = -lut[k] exactly (gain 4096)
    lut = spec.tanh_lut()
    assert list(st_["um"][0]) == [-lut[50], -lut[512]]


def test_membrane_saturates_at_24_bits_and_is_counted():
    st_ = spec.init_state(1, 1)
    c = spec.Counters()
    spec.step(st_, np.array([[2**18]]), _params(), counters=c)
    assert st_["um"][0, 0] == 2**23 - 1 and c.saturate == 1


def _ints(data, shape, lo, hi):
    return data.draw(hnp.arrays(np.int64, shape, elements=st.integers(lo, hi)))


@given(data=st.data(), T=st.integers(1, 30), B=st.integers(1, 3), N=st.integers(1, 5),
       amp=st.sampled_from([3, 300, 2**16, 2**18]))
def test_int_mtc_scan_equals_spec(data, T, B, N, amp):
    big = 2**23 - 1
    p = {
        "dm": _ints(data, N, 0, 4095),
        "kf": _ints(data, N, 0, 2**16), "ks": _ints(data, N, 0, 2**16), "kus": _ints(data, N, 0, 2**16),
        "th": _ints(data, N, -big, big), "bias": _ints(data, N, -2**20, 2**20),
        "oscale": _ints(data, N, 0, 2**17 - 1), "oshift": _ints(data, N, 1, 40), "ishift": _ints(data, N, 1, 20),
    }
    for name in ("fn", "sp", "sn", "usp"):
        p["g" + name] = _ints(data, N, -big, big)
        p["d" + name] = _ints(data, N, -big, big)
    p["p"] = p["ishift"] + spec.LUT_FRAC
    p["lut"] = spec.tanh_lut()
    a = _ints(data, (T, B, N), -amp, amp)
    node = Node("n", "int_mtc", p, {"out_bits": spec.OUT_BITS, "lut_frac": spec.LUT_FRAC}, (N,), (N,))
    layer = NEURONS["int_mtc"](node, B, record=True)
    k = T // 2  # two chunks: the state carries over between advance calls
    y = np.concatenate([layer.advance(a[:k]), layer.advance(a[k:])])
    state = spec.init_state(B, N)
    c = spec.Counters()
    want, ums = [], []
    for t in range(T):
        want.append(spec.step(state, a[t], p, counters=c))
        ums.append(state["um"].copy())
    np.testing.assert_array_equal(y, np.stack(want))
    np.testing.assert_array_equal(np.concatenate(layer.v_recs), np.stack(ums))
    for i, key in enumerate(("um", "uf", "us", "uus")):
        np.testing.assert_array_equal(layer.state[i], state[key])
    assert layer.counts["saturate"] == c.saturate
    assert np.all((y >= 0) & (y <= spec.OUT_MAX))


@given(data=st.data(), T=st.integers(1, 30), B=st.integers(1, 3), N=st.integers(1, 4))
def test_float_mtc_scan_equals_float_step(data, T, B, N):
    fl = st.floats(-2, 2, allow_nan=False)
    p = {k: data.draw(hnp.arrays(np.float64, N, elements=fl)) for k in spec.FLOAT_PARAMS}
    for k in ("kf", "ks", "kus"):
        p[k] = data.draw(hnp.arrays(np.float64, N, elements=st.floats(0, 1)))
    p["a"] = data.draw(hnp.arrays(np.float64, N, elements=st.floats(0, 1)))
    p["usat"] = p["uth"] + 0.5
    x = data.draw(hnp.arrays(np.float64, (T, B, N), elements=fl))
    layer = NEURONS["mtc"](Node("n", "mtc", p, {}, (N,), (N,)), B)
    y = layer.advance(x)
    state = {k: np.zeros((B, N)) for k in ("um", "uf", "us", "uus")}
    want = np.stack([spec.float_step(state, x[t], p) for t in range(T)])
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)


@given(span=st.floats(1e-3, 1e3), p=st.integers(spec.LUT_FRAC + 1, 30))
def test_output_multiplier_fits_its_bits_and_is_accurate(span, p):
    fp = {k: np.zeros(1) for k in spec.FLOAT_PARAMS}
    fp["usat"] = np.array([span])
    q, clipped = spec.quantize_params(fp, np.array([p]))
    assert not clipped
    assert 2**15 <= q["oscale"][0] <= 2**16
    # oscale / 2^oshift approximates 2^OUT_BITS / (span * 2^p) within the code's rounding (2^-15 relative)
    ratio = np.ldexp(float(q["oscale"][0]), -int(q["oshift"][0])) * span * 2.0**p / spec.OUT_MAX
    assert abs(ratio - 1) <= 2.0**-15
