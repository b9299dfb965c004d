"""snnTorch Leaky / Synaptic / RLeaky lower like snnTorch's own NIR export (Euler)."""

import nir
import numpy as np
import pytest
import torch
from torch import nn

from spikeforge.compiler.frontend import trace

snn = pytest.importorskip("snntorch")
pytestmark = pytest.mark.snntorch

T, B = 4, 2


def _f32(v):
    return float(np.float32(v))


def test_leaky_synaptic_and_euler_metadata():
    net = nn.Sequential(
        nn.Linear(3, 4),
        snn.Leaky(beta=0.8, threshold=1.5, init_hidden=True),
        nn.Linear(4, 2),
        snn.Synaptic(alpha=0.5, beta=0.9, reset_mechanism="zero", init_hidden=True),
    )
    dt = 1e-4
    with pytest.warns(UserWarning, match="forward Euler"):
        g = trace(net, torch.rand(T, B, 3), dt=dt, method="exact")
    assert g.metadata["spikeforge.discretization"] == "euler"
    assert trace(net, torch.rand(T, B, 3), dt=dt).metadata["spikeforge.discretization"] == "euler"
    lif, cuba = g.nodes["_1"], g.nodes["_3"]
    assert isinstance(lif, nir.LIF) and isinstance(cuba, nir.CubaLIF)
    b = _f32(0.8)
    np.testing.assert_allclose(lif.tau, np.full(4, dt / (1 - b)), rtol=1e-12)
    np.testing.assert_allclose(lif.r, np.full(4, 1 / (1 - b)), rtol=1e-12)
    np.testing.assert_array_equal(lif.v_threshold, np.full(4, 1.5))
    assert lif.metadata == {"reset": "subtract"}
    a, b2 = _f32(0.5), _f32(0.9)
    np.testing.assert_allclose(cuba.tau_syn, np.full(2, dt / (1 - a)), rtol=1e-12)
    np.testing.assert_allclose(cuba.w_in, np.full(2, 1 / (1 - a)), rtol=1e-12)
    np.testing.assert_allclose(cuba.tau_mem, np.full(2, dt / (1 - b2)), rtol=1e-12)
    assert cuba.metadata == {}
    g.check_types()


def test_rleaky_becomes_recurrent_subgraph():
    net = nn.Sequential(nn.Linear(3, 5), snn.RLeaky(beta=0.7, linear_features=5, init_hidden=True))
    g = trace(net, torch.rand(T, B, 3))
    sub = g.nodes["_1"]
    assert isinstance(sub, nir.NIRGraph)
    assert set(sub.nodes) == {"input", "neuron", "rec", "output"}
    assert ("rec", "neuron") in sub.edges and ("neuron", "rec") in sub.edges
    np.testing.assert_array_equal(sub.nodes["rec"].weight, net[1].recurrent.weight.detach().double().numpy())
    assert sub.nodes["neuron"].tau.shape == (5,)


def test_rleaky_one_to_one_uses_diagonal():
    layer = snn.RLeaky(beta=0.7, V=torch.tensor([0.1, 0.2, 0.3]), all_to_all=False, init_hidden=True)
    net = nn.Sequential(nn.Linear(2, 3), layer)
    g = trace(net, torch.rand(T, B, 2))
    np.testing.assert_allclose(g.nodes["_1"].nodes["rec"].weight, np.diag([0.1, 0.2, 0.3]), rtol=1e-7)


def test_trace_leaves_snntorch_state_alone():
    lif = snn.Leaky(beta=0.8, init_hidden=True)
    net = nn.Sequential(nn.Linear(3, 4), lif)
    before = lif.mem
    trace(net, torch.rand(T, B, 3) * 5)
    assert lif.mem is before
