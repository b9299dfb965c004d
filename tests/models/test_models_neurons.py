"""Neuron modules follow the update table of docs/semantics.md exactly."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from spikeforge.models import IF, LI, LIF, CubaLIF

T, B, N = 30, 3, 5


def _x(scale=1.5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(T, B, N, generator=g, dtype=torch.float64) * scale


def _th():
    # values exact in float32: parameters are stored in torch's default dtype
    return torch.linspace(0.5, 1.5, N, dtype=torch.float64)


def _run(m, x):
    with torch.no_grad():
        return m.double()(x)


# ------------------------------------------------------------- hand-written loops
def ref_lif(x, beta, th, reset="subtract", v_reset=0.0, leak=True):
    h = torch.zeros_like(x[0])
    S, U = [], []
    for t in range(x.shape[0]):
        u = (beta * h if leak else h) + x[t]
        s = (u > th).double()
        if reset == "subtract":
            h = u - s * th
        else:
            h = torch.where(s > 0, torch.full_like(u, v_reset), u)
        S.append(s)
        U.append(u)
    return torch.stack(S), torch.stack(U)


def ref_cuba(x, alpha, beta, th, reset="subtract", v_reset=0.0):
    i = torch.zeros_like(x[0])
    h = torch.zeros_like(x[0])
    S, U = [], []
    for t in range(x.shape[0]):
        i = alpha * i + x[t]
        u = beta * h + i
        s = (u > th).double()
        h = u - s * th if reset == "subtract" else torch.where(s > 0, torch.full_like(u, v_reset), u)
        S.append(s)
        U.append(u)
    return torch.stack(S), torch.stack(U)


# ------------------------------------------------------------- equations
@pytest.mark.parametrize("reset,v_reset", [("subtract", 0.0), ("zero", 0.0), ("zero", -0.25)])
def test_lif_matches_equations(reset, v_reset):
    x = _x()
    m = LIF(beta=0.75, threshold=_th(), reset=reset, v_reset=v_reset, record=True)
    s = _run(m, x)
    s_ref, u_ref = ref_lif(x, 0.75, _th(), reset, v_reset)
    assert torch.equal(s, s_ref)
    assert torch.equal(m.recorded["v"], u_ref)
    assert 0 < s.sum() < s.numel()
    assert m.neuron_shape == (N,)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_if_matches_equations(reset):
    x = _x(0.8)
    m = IF(threshold=_th(), reset=reset, record=True)
    s = _run(m, x)
    s_ref, u_ref = ref_lif(x, None, _th(), reset, leak=False)
    assert torch.equal(s, s_ref)
    assert torch.equal(m.recorded["v"], u_ref)
    assert 0 < s.sum() < s.numel()


def test_li_matches_equations():
    x = _x()
    beta = torch.tensor([0.5, 0.625, 0.75, 0.875, 0.9375], dtype=torch.float64)
    m = LI(beta=beta, record=True)
    y = _run(m, x)
    u = torch.zeros_like(x[0])
    want = []
    for t in range(T):
        u = beta * u + x[t]
        want.append(u)
    assert torch.equal(y, torch.stack(want))
    assert torch.equal(m.recorded["v"], y)


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_cuba_matches_equations(reset):
    x = _x(0.6)
    m = CubaLIF(alpha=0.625, beta=0.875, threshold=_th(), reset=reset, record=True)
    s = _run(m, x)
    s_ref, u_ref = ref_cuba(x, 0.625, 0.875, _th(), reset)
    assert torch.equal(s, s_ref)
    assert torch.equal(m.recorded["v"], u_ref)
    assert 0 < s.sum() < s.numel()


def test_spike_is_strict_at_threshold():
    m = IF(threshold=1.0, record=True).double()
    x = torch.tensor([[[1.0]], [[1e-12]]], dtype=torch.float64)
    s = m(x)
    assert s[0].item() == 0.0 and s[1].item() == 1.0


def test_step_api_matches_forward():
    x = _x()
    m = LIF(beta=0.8).double()
    state = m.init_state(x[0])
    outs = []
    for t in range(T):
        o, state = m.step(x[t], state)
        outs.append(o)
    assert torch.equal(torch.stack(outs), m(x))


def test_multi_dim_features():
    x = torch.rand(4, 2, 3, 5, 5, dtype=torch.float64) * 2
    m = LIF(threshold=torch.full((3, 5, 5), 0.9)).double()
    assert m(x).shape == x.shape and m.neuron_shape == (3, 5, 5)


def test_bad_input_shape_raises():
    with pytest.raises(ValueError, match=r"\(T, B"):
        LIF()(torch.zeros(3))
    with pytest.raises(ValueError, match="shape"):
        LIF(shape=(4,))(torch.zeros(2, 1, 5))


# ------------------------------------------------------------- parameters
@pytest.mark.parametrize("beta", [0.0, 1.0, 1.5, -0.2, float("nan")])
def test_bad_beta_raises(beta):
    with pytest.raises(ValueError, match="beta"):
        LIF(beta=beta)
    with pytest.raises(ValueError, match="beta"):
        LI(beta=beta)
    with pytest.raises(ValueError, match="beta"):
        CubaLIF(beta=beta)


@pytest.mark.parametrize("alpha", [0.0, 1.0, 2.0])
def test_bad_alpha_raises(alpha):
    with pytest.raises(ValueError, match="alpha"):
        CubaLIF(alpha=alpha)


def test_bad_reset_raises():
    with pytest.raises(ValueError, match="reset"):
        LIF(reset="soft")


def test_learn_threshold_needs_shape():
    with pytest.raises(ValueError, match="shape"):
        LIF(learn_threshold=True)
    m = LIF(learn_threshold=True, threshold=torch.ones(4))
    assert m.threshold.shape == (4,)


def test_learnable_per_neuron_threshold_gets_gradients():
    torch.manual_seed(0)
    m = LIF(beta=0.5, threshold=2.0, reset="zero", learn_threshold=True, shape=(N,)).double()
    assert isinstance(m.threshold, torch.nn.Parameter) and m.threshold.shape == (N,)
    assert torch.all(m.threshold == 2.0)
    x = (torch.rand(T, B, N, dtype=torch.float64) * 4.0).requires_grad_(True)
    m(x).sum().backward()
    g = m.threshold.grad
    assert g is not None and g.shape == (N,)
    assert torch.all(g < 0), "raising a threshold lowers the spike count"
    assert len(set(g.tolist())) == N, "each neuron has its own gradient"
    assert x.grad is not None and torch.any(x.grad != 0)


def test_threshold_gradient_is_minus_surrogate():
    m = IF(threshold=1.0, learn_threshold=True, shape=(1,)).double()
    x = torch.tensor([[[0.8]]], dtype=torch.float64)
    m(x).sum().backward()
    u = 0.8 - 1.0
    assert m.threshold.grad.item() == pytest.approx(-1.0 / (1 + (np.pi * u) ** 2))


def test_learn_beta():
    m = LIF(beta=0.8, learn_beta=True).double()
    assert isinstance(m.beta, torch.nn.Parameter)
    x = torch.rand(T, B, N, dtype=torch.float64) * 2
    m(x).sum().backward()
    assert m.beta.grad is not None


def test_models_import_without_torch():
    code = "import sys, spikeforge.models as m; assert 'torch' not in sys.modules; print(m.__all__)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "LIF" in r.stdout and "Recurrent" in r.stdout
