"""SPE torch wrapper: the equations of MODELS.md §3 step by step, kappa, bases, gradient path,
and the NIR subgraph of standard nodes that plain ``nir.read`` loads."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

import spikeforge as sf
from spikeforge.models import ASN, IF, LIF, NASN, LI, MTC, Seq
from spikeforge.models.spe.nn import SPE
from spikeforge.models.spe import spec


def _manual_lif(x, beta, th, kappa, subtract=True):
    T = x.shape[0]
    h = np.zeros(x.shape[1:]); p = np.zeros_like(h); q = np.zeros_like(h)
    out = []
    for t in range(T):
        p = p + kappa * (x[t] - q - p)
        u = beta * h + x[t] + p
        s = (u > th).astype(float)
        h = u - s * th if subtract else np.where(s > 0, 0.0, u)
        q = s * th
        out.append(s)
    return np.stack(out)


@pytest.mark.parametrize("subtract", [True, False])
def test_spe_lif_matches_the_equations(subtract):
    rng = np.random.default_rng(0)
    x = rng.normal(0.3, 0.8, (40, 3, 5))
    m = SPE(LIF(0.8, 1.2, reset="subtract" if subtract else "zero"), kappa=0.3).double()
    with torch.no_grad():
        y = m(torch.from_numpy(x)).numpy()
    want = _manual_lif(x, 0.8, 1.2, 0.3, subtract)
    np.testing.assert_array_equal(y, want)
    assert 0.05 < y.mean() < 0.9


def test_spe_differs_from_base_and_kappa_is_sigmoid_k():
    x = torch.from_numpy(np.random.default_rng(1).normal(0.4, 1.0, (30, 2, 8)))
    base = LIF(0.9, 1.0).double()
    m = SPE(LIF(0.9, 1.0), kappa=0.6).double()
    with torch.no_grad():
        assert not torch.equal(m(x), base(x))
    assert float(m.kappa.detach()) == pytest.approx(0.6, abs=1e-6)
    assert isinstance(m.k, torch.nn.Parameter) and m.k.dim() == 0
    pn = SPE(LIF(0.9, 1.0, shape=(8,)), kappa=0.6, per_neuron=True)
    assert tuple(pn.k.shape) == (8,)


def test_spe_rejects_bad_input():
    with pytest.raises(TypeError, match="supported bases"):
        SPE(LI(0.5))
    with pytest.raises(ValueError, match="kappa"):
        SPE(LIF(), kappa=1.0)
    with pytest.raises(ValueError, match="shape"):
        SPE(LIF(), per_neuron=True)


def test_asn_base_charge_is_the_spike_count():
    x = torch.from_numpy(np.random.default_rng(2).normal(1.0, 1.5, (25, 2, 4)))
    for base in (ASN(D=4, beta=0.5, alpha=0.0), NASN(D=4, beta=0.5)):
        m = SPE(base, kappa=0.25).double()
        with torch.no_grad():
            y = m(x).numpy()
        N = base.N
        h = np.zeros((2, 4)); p = np.zeros_like(h); q = np.zeros_like(h); want = []
        for t in range(25):
            p = p + 0.25 * (x[t].numpy() - q - p)
            u = 0.5 * h + x[t].numpy() + p
            c = np.clip(np.floor(u + 0.5), 0, 4)
            h = u - c; q = c; want.append(c / N)
        np.testing.assert_allclose(y, np.stack(want), rtol=0, atol=1e-12)


def test_gradient_reaches_input_through_the_prediction():
    """The membrane of SPE depends on the input of every earlier step through P (a continuous
    path); the base LIF's membrane, with the reset detached and no spike yet, only through
    its leak. Both give gradients; SPE's differ from the base's."""
    x = torch.full((10, 1, 3), 0.05, dtype=torch.float64, requires_grad=True)
    grads = []
    for wrap in (False, True):
        base = LIF(0.9, 1.0).double()
        m = SPE(base, 0.5).double() if wrap else base
        st = m.init_state(x[0])
        for t in range(10):
            _, st, u = m.update(x[t], st)
        g, = torch.autograd.grad(u.sum(), x)
        grads.append(g[:, 0, 0].numpy())
    np.testing.assert_allclose(grads[0], 0.9 ** np.arange(9, -1, -1), rtol=1e-6)
    assert np.all(grads[1] != 0) and not np.allclose(grads[1], grads[0])


def test_kappa_learns():
    torch.manual_seed(0)
    m = SPE(LIF(0.9, 1.0), 0.5).double()
    x = torch.rand(20, 4, 3, dtype=torch.float64)
    m(x).sum().backward()
    assert m.k.grad is not None and float(m.k.grad.abs()) > 0


def test_nir_subgraph_of_standard_nodes_loads_with_plain_nir(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(Seq(torch.nn.Linear(3, 5)), SPE(LIF(0.8, 1.0, shape=(5,), learn_threshold=True), 0.3),
                              Seq(torch.nn.Linear(5, 2))).double()
    x = torch.rand(12, 2, 3, dtype=torch.float64)
    g = sf.trace(net, x)
    path = tmp_path / "spe.nir"
    sf.save_nir(g, path)
    back = nir.read(path)
    sub = [n for n in back.nodes.values() if isinstance(n, nir.NIRGraph)]
    assert len(sub) == 1
    types = {type(n).__name__ for n in sub[0].nodes.values()}
    assert types == {"Input", "Output", "LIF", "LI", "Scale"}
    li = sub[0].nodes["prediction"]
    a = np.exp(-1.0 / np.asarray(li.tau))  # exact discretization with dt = 1: the decay 1 - kappa
    np.testing.assert_allclose(a, 0.7, rtol=1e-7)
    np.testing.assert_allclose(np.asarray(sub[0].nodes["feedback"].scale), -1.0)


def test_float_step_spec_equals_torch():
    rng = np.random.default_rng(3)
    x = rng.normal(0.5, 1.0, (30, 2, 4))
    m = SPE(LIF(0.7, 0.9, reset="subtract"), 0.4).double()
    with torch.no_grad():
        y = m(torch.from_numpy(x)).numpy()
    st = spec.float_init_state("spe_lif", 2, 4)
    p = {"a": 0.7, "g": 1.0, "b": 0.0, "v_threshold": 0.9, "v_reset": 0.0, "kappa": m.kappa.item()}
    got = np.stack([spec.float_step("spe_lif", st, x[t], p, {"reset": "subtract"}) for t in range(30)])
    np.testing.assert_array_equal(got, y)
