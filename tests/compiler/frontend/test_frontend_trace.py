"""trace(): nodes, edges, types and metadata for MLP, conv, residual and recurrent nets."""

import math

import nir
import numpy as np
import pytest
import torch
from torch import nn

import spikeforge as sf
from spikeforge.compiler.frontend import trace
from spikeforge.models import IF, LI, LIF, CubaLIF, Recurrent, Seq, SumPool2d

T, B = 5, 2


def _edges(g):
    return sorted(map(tuple, g.edges))


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.lif1 = nn.Linear(4, 8), LIF(beta=0.5)
        self.fc2, self.out = nn.Linear(8, 3, bias=False), LI(beta=0.75)

    def forward(self, x):
        return self.out(self.fc2(self.lif1(self.fc1(x))))


def test_mlp_nodes_edges_types_metadata():
    m = MLP()
    g = trace(m, torch.rand(T, B, 4), dt=0.5, method="euler")
    assert isinstance(g, nir.NIRGraph)
    assert list(g.nodes) == ["input", "fc1", "lif1", "fc2", "out", "output"]
    assert _edges(g) == sorted(
        [("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "out"), ("out", "output")]
    )
    assert isinstance(g.nodes["fc1"], nir.Affine)
    assert isinstance(g.nodes["fc2"], nir.Linear)
    assert isinstance(g.nodes["lif1"], nir.LIF) and isinstance(g.nodes["out"], nir.LI)
    np.testing.assert_array_equal(g.nodes["fc1"].weight, m.fc1.weight.detach().double().numpy())
    np.testing.assert_array_equal(g.nodes["fc1"].bias, m.fc1.bias.detach().double().numpy())
    assert g.metadata == {"spikeforge.dt": 0.5, "spikeforge.discretization": "euler", "producer": "spikeforge"}
    np.testing.assert_array_equal(g.nodes["input"].input_type["input"], [4])
    np.testing.assert_array_equal(g.nodes["output"].output_type["output"], [3])
    g.check_types()


def test_parameters_follow_semantics_table():
    m = MLP()
    for dt, method in [(1.0, "exact"), (1e-3, "exact"), (0.25, "euler")]:
        g = trace(m, torch.rand(T, B, 4), dt=dt, method=method)
        lif = g.nodes["lif1"]
        beta = float(m.lif1.beta)
        tau = -dt / math.log(beta) if method == "exact" else dt / (1 - beta)
        np.testing.assert_allclose(lif.tau, np.full(8, tau), rtol=1e-15)
        np.testing.assert_allclose(lif.r, np.full(8, 1 / (1 - beta)), rtol=1e-15)
        assert lif.tau.dtype == np.float64 and lif.tau.shape == (8,)
        assert lif.metadata == {"reset": "subtract"}
        li = g.nodes["out"]
        b2 = float(m.out.beta)
        tau2 = -dt / math.log(b2) if method == "exact" else dt / (1 - b2)
        np.testing.assert_allclose(li.tau, np.full(3, tau2), rtol=1e-15)


def test_if_and_cuba_parameters():
    net = nn.Sequential(nn.Linear(3, 4), IF(threshold=2.0, reset="zero"), nn.Linear(4, 2),
                        CubaLIF(alpha=0.5, beta=0.75))
    g = trace(net, torch.rand(T, B, 3), dt=0.1)
    n_if, n_cuba = g.nodes["_1"], g.nodes["_3"]
    assert isinstance(n_if, nir.IF) and isinstance(n_cuba, nir.CubaLIF)
    np.testing.assert_allclose(n_if.r, np.full(4, 10.0))
    assert n_if.metadata == {} and np.all(n_if.v_threshold == 2.0)
    np.testing.assert_allclose(n_cuba.tau_syn, np.full(2, -0.1 / math.log(0.5)))
    np.testing.assert_allclose(n_cuba.w_in, np.full(2, 2.0))
    np.testing.assert_allclose(n_cuba.tau_mem, np.full(2, -0.1 / math.log(0.75)))
    np.testing.assert_allclose(n_cuba.r, np.full(2, 4.0))


def test_conv_net():
    net = nn.Sequential(
        Seq(nn.Conv2d(2, 4, 3, padding=1, bias=False)),
        IF(),
        Seq(SumPool2d(2)),
        Seq(nn.AvgPool2d(2)),
        Seq(nn.Flatten()),
        nn.Linear(4 * 2 * 2, 5),
        LIF(),
    )
    g = trace(net, torch.rand(T, B, 2, 8, 8))
    kinds = [type(n).__name__ for n in g.nodes.values()]
    assert kinds == ["Input", "Conv2d", "IF", "SumPool2d", "AvgPool2d", "Flatten", "Affine", "LIF", "Output"]
    conv = g.nodes["_0"]
    assert tuple(conv.input_shape) == (8, 8)
    np.testing.assert_array_equal(conv.bias, np.zeros(4))
    np.testing.assert_array_equal(conv.output_type["output"], [4, 8, 8])
    assert g.nodes["_1"].v_threshold.shape == (4, 8, 8)
    np.testing.assert_array_equal(g.nodes["_2"].kernel_size, [2, 2])
    np.testing.assert_array_equal(g.nodes["_3"].output_type["output"], [4, 2, 2])
    flat = g.nodes["_4"]
    assert flat.start_dim == 0 and flat.end_dim == -1
    np.testing.assert_array_equal(flat.input_type["input"], [4, 2, 2])
    np.testing.assert_array_equal(g.nodes["input"].input_type["input"], [2, 8, 8])
    g.check_types()


def test_conv1d():
    net = nn.Sequential(Seq(nn.Conv1d(3, 2, 3, stride=2)), LIF())
    g = trace(net, torch.rand(T, B, 3, 9))
    conv = g.nodes["_0"]
    assert isinstance(conv, nir.Conv1d) and int(conv.input_shape) == 9
    np.testing.assert_array_equal(conv.output_type["output"], [2, 4])


def test_bare_flatten_start_dim():
    net = nn.Sequential(LIF(), nn.Flatten(start_dim=2), nn.Linear(12, 2), LIF())
    g = trace(net, torch.rand(T, B, 3, 4))
    flat = g.nodes["_1"]
    assert isinstance(flat, nir.Flatten) and flat.start_dim == 0
    np.testing.assert_array_equal(flat.output_type["output"], [12])
    with pytest.raises(ValueError, match="start_dim"):
        trace(nn.Sequential(LIF(), nn.Flatten(), LIF()), torch.rand(T, B, 3, 4))


class Res(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.n1 = nn.Linear(4, 6), LIF()
        self.fc2, self.n2 = nn.Linear(6, 6), LIF()
        self.fc3, self.skip = nn.Linear(6, 3), nn.Linear(6, 3)
        self.n3 = LIF()

    def forward(self, x):
        s1 = self.n1(self.fc1(x))
        return self.n3(self.fc3(self.n2(self.fc2(s1))) + self.skip(s1))


def test_residual_sum_becomes_two_edges():
    g = trace(Res(), torch.rand(T, B, 4))
    assert ("fc3", "n3") in g.edges and ("skip", "n3") in g.edges
    assert ("n1", "skip") in g.edges and ("n1", "fc2") in g.edges
    assert sorted(a for a, b in g.edges if b == "n3") == ["fc3", "skip"]
    g.check_types()


def test_recurrent_subgraph():
    net = nn.Sequential(nn.Linear(3, 5), Recurrent(LIF(beta=0.5), nn.Linear(5, 5, bias=False)), nn.Linear(5, 2), LIF())
    g = trace(net, torch.rand(T, B, 3))
    sub = g.nodes["_1"]
    assert isinstance(sub, nir.NIRGraph)
    assert set(sub.nodes) == {"input", "neuron", "rec", "output"}
    assert _edges(sub) == sorted([("input", "neuron"), ("neuron", "rec"), ("rec", "neuron"), ("neuron", "output")])
    assert isinstance(sub.nodes["rec"], nir.Linear) and isinstance(sub.nodes["neuron"], nir.LIF)
    assert ("_0", "_1") in g.edges and ("_1", "_2") in g.edges
    np.testing.assert_array_equal(sub.nodes["neuron"].v_threshold, np.ones(5))


def test_root_module_may_be_a_neuron():
    g = trace(LIF(), torch.rand(T, B, 3))
    assert _edges(g) == [("input", "lif"), ("lif", "output")]
    assert g.nodes["lif"].tau.shape == (3,)


def test_sf_trace_is_the_frontend():
    g = sf.trace(MLP(), torch.rand(T, B, 4))
    assert list(g.nodes) == ["input", "fc1", "lif1", "fc2", "out", "output"]


def test_trace_has_no_side_effects():
    bn = nn.BatchNorm1d(4)
    lif = LIF(record=True)
    net = nn.Sequential(nn.Linear(3, 4), Seq(bn), lif).train()
    mean = bn.running_mean.clone()
    lif.recorded = {"v": torch.zeros(1)}
    trace(net, torch.rand(T, B, 3) + 5)
    assert net.training and bn.training
    assert torch.equal(bn.running_mean, mean) and int(bn.num_batches_tracked) == 0
    assert torch.equal(lif.recorded["v"], torch.zeros(1))


def test_graph_roundtrips_through_nir_file(tmp_path):
    g = trace(Res(), torch.rand(T, B, 4))
    sf.save_nir(g, tmp_path / "res.nir")
    g2 = sf.load_nir(tmp_path / "res.nir")
    assert set(g2.nodes) == set(g.nodes)
    assert g2.nodes["n1"].metadata["reset"] == "subtract"
    assert float(g2.metadata["spikeforge.dt"]) == 1.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="method"):
        trace(MLP(), torch.rand(T, B, 4), method="rk4")
    with pytest.raises(ValueError, match="dt"):
        trace(MLP(), torch.rand(T, B, 4), dt=-1.0)
    with pytest.raises(ValueError, match=r"\(T, B"):
        trace(MLP(), torch.rand(4))
