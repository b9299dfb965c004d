"""``to_nir`` implements the lowering table of docs/semantics.md."""

import math

import nir
import numpy as np
import pytest
import torch

from spikeforge.models import IF, LI, LIF, CubaLIF

SHAPE = (2, 3)


def _ran(m):
    m.double()(torch.zeros(1, 1, *SHAPE, dtype=torch.float64))
    return m


def _f32(v):
    return float(np.float32(v))


def _tau(decay, dt, method):
    return -dt / math.log(decay) if method == "exact" else dt / (1 - decay)


def _discretize(tau, r, dt, method):
    """The discretize pass's (decay, input gain) for tau dv/dt = -v + r x."""
    a = np.exp(-dt / tau) if method == "exact" else 1 - dt / tau
    g = (1 - a) * r if method == "exact" else dt / tau * r
    return a, g


def _check_arrays(node, names):
    for n in names:
        arr = getattr(node, n)
        assert isinstance(arr, np.ndarray) and arr.dtype == np.float64 and arr.shape == SHAPE, n


@pytest.mark.parametrize("method", ["exact", "euler"])
@pytest.mark.parametrize("dt", [1.0, 1e-3])
def test_lif_subtract(method, dt):
    n = _ran(LIF(beta=0.8, threshold=1.5)).to_nir(dt, method)
    assert isinstance(n, nir.LIF)
    _check_arrays(n, ["tau", "r", "v_leak", "v_threshold", "v_reset"])
    b = _f32(0.8)
    np.testing.assert_allclose(n.tau, _tau(b, dt, method), rtol=1e-15)
    np.testing.assert_allclose(n.r, 1 / (1 - b), rtol=1e-15)
    assert np.all(n.v_leak == 0) and np.all(n.v_threshold == 1.5) and np.all(n.v_reset == 0)
    assert n.metadata == {"reset": "subtract"}
    a, g = _discretize(n.tau, n.r, dt, method)
    np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(g, 1.0, rtol=1e-9)


def test_lif_zero_reset_and_per_neuron_params():
    th = torch.arange(1, 7, dtype=torch.float64).reshape(SHAPE)
    beta = torch.tensor([0.5, 0.25, 0.75])
    n = _ran(LIF(beta=beta, threshold=th, reset="zero", v_reset=-0.5)).to_nir(1.0, "exact")
    assert "reset" not in n.metadata
    np.testing.assert_array_equal(n.v_threshold, th.numpy())
    np.testing.assert_array_equal(n.v_reset, np.full(SHAPE, -0.5))
    np.testing.assert_allclose(n.tau, np.broadcast_to(-1 / np.log(beta.numpy().astype(np.float64)), SHAPE))


@pytest.mark.parametrize("method", ["exact", "euler"])
def test_if(method):
    n = _ran(IF(threshold=2.0)).to_nir(0.5, method)
    assert isinstance(n, nir.IF)
    _check_arrays(n, ["r", "v_threshold", "v_reset"])
    assert np.all(n.r == 2.0) and np.all(n.v_threshold == 2.0)
    assert n.metadata == {"reset": "subtract"}
    assert _ran(IF(reset="zero")).to_nir(1.0, method).metadata == {}


@pytest.mark.parametrize("method", ["exact", "euler"])
def test_li(method):
    n = _ran(LI(beta=0.9)).to_nir(2.0, method)
    assert isinstance(n, nir.LI)
    _check_arrays(n, ["tau", "r", "v_leak"])
    b = _f32(0.9)
    np.testing.assert_allclose(n.tau, _tau(b, 2.0, method), rtol=1e-15)
    np.testing.assert_allclose(n.r, 1 / (1 - b), rtol=1e-15)


@pytest.mark.parametrize("method", ["exact", "euler"])
def test_cuba(method):
    n = _ran(CubaLIF(alpha=0.6, beta=0.9, threshold=1.2, reset="zero")).to_nir(1.0, method)
    assert isinstance(n, nir.CubaLIF)
    _check_arrays(n, ["tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"])
    a, b = _f32(0.6), _f32(0.9)
    np.testing.assert_allclose(n.tau_syn, _tau(a, 1.0, method), rtol=1e-15)
    np.testing.assert_allclose(n.w_in, 1 / (1 - a), rtol=1e-15)
    np.testing.assert_allclose(n.tau_mem, _tau(b, 1.0, method), rtol=1e-15)
    np.testing.assert_allclose(n.r, 1 / (1 - b), rtol=1e-15)
    np.testing.assert_allclose(n.v_threshold, _f32(1.2))
    assert n.metadata == {}


def test_shape_from_constructor_without_forward():
    n = LIF(shape=(4,)).to_nir(1.0, "exact")
    assert n.tau.shape == (4,)


def test_unknown_shape_raises():
    with pytest.raises(ValueError, match="shape"):
        LIF().to_nir(1.0, "exact")


def test_bad_method_and_dt_raise():
    m = _ran(LIF())
    with pytest.raises(ValueError, match="method"):
        m.to_nir(1.0, "rk4")
    with pytest.raises(ValueError, match="dt"):
        m.to_nir(0.0, "exact")


def test_learned_beta_out_of_range_raises_on_lowering():
    m = _ran(LIF(beta=0.9, learn_beta=True))
    with torch.no_grad():
        m.beta.fill_(1.2)
    with pytest.raises(ValueError, match="beta"):
        m.to_nir(1.0, "exact")
