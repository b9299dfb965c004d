"""The float-side folds of the integer pipeline keep the float program's behaviour.

Each pass is run on a discrete float graph and the float reference backend runs the graph
before and after it: spikes must be identical (membranes equal up to round-off).
"""

from __future__ import annotations

import nir
import numpy as np
import pytest
from int_nets import cuba, float_graph, if_, li, lif, run_graph

import spikeforge as sf
from spikeforge.compiler.errors import GraphError, QuantizationWarning
from spikeforge.compiler.passes.fold_forward import fold_avgpool, fold_scale
from spikeforge.compiler.passes.fold_gains import fold_gains
from spikeforge.compiler.passes.fold_thresholds import fold_thresholds
from spikeforge.compiler.passes.move_biases import move_biases


def _mlp(neuron1, neuron2, rng, n_in=4, n_h=6, n_out=3) -> nir.NIRGraph:
    return nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([n_in])),
            "fc1": nir.Affine(rng.normal(size=(n_h, n_in)), rng.normal(size=n_h) * 0.2),
            "n1": neuron1,
            "fc2": nir.Affine(rng.normal(size=(n_out, n_h)), rng.normal(size=n_out) * 0.2),
            "n2": neuron2,
            "output": nir.Output(np.array([n_out])),
        },
        edges=[("input", "fc1"), ("fc1", "n1"), ("n1", "fc2"), ("fc2", "n2"), ("n2", "output")],
        type_check=False,
    )


def _same(a, b, probes) -> None:
    for k in probes:
        np.testing.assert_array_equal(a.probes[k], b.probes[k], err_msg=k)
    np.testing.assert_allclose(a.output, b.output, rtol=1e-9, atol=1e-9)


def _gained_lif(n: int, reset: str) -> nir.LIF:
    # tau and r chosen so that the discrete gain g = (1 - exp(-1/tau)) * r is far from 1
    return nir.LIF(tau=np.linspace(2.0, 5.0, n), r=np.linspace(0.5, 3.0, n), v_leak=np.linspace(-0.1, 0.2, n),
                   v_threshold=np.linspace(0.3, 0.6, n), v_reset=np.zeros(n), metadata={"reset": reset} if reset == "subtract" else {})


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_fold_gains_and_move_biases_keep_spikes(reset: str) -> None:
    rng = np.random.default_rng(0)
    g = float_graph(_mlp(_gained_lif(6, reset), li(3, beta=0.8), rng))
    x = rng.random((30, 5, 4))
    before = run_graph(g, x, probes=["n1"])
    g1 = fold_gains(g)
    for k in ("n1", "n2"):
        assert np.all(g1.nodes[k].params["g"] == 1.0)
    g2 = move_biases(g1)
    assert not np.any(g2.nodes["fc1"].params["bias"]) and not np.any(g2.nodes["fc2"].params["bias"])
    for gg in (g1, g2):
        _same(before, run_graph(gg, x, probes=["n1"]), ["n1"])
    assert before.probes["n1"].sum() > 0


def test_gains_within_1e9_of_one_snap_to_exactly_one() -> None:
    rng = np.random.default_rng(1)
    g = float_graph(_mlp(lif(6), li(3), rng))
    nodes = dict(g.nodes)
    nodes["n1"] = nodes["n1"].replace(params={**nodes["n1"].params, "g": np.full(6, 1.0 + 1e-12)})
    out = fold_gains(g.replace(nodes=nodes))
    np.testing.assert_array_equal(out.nodes["fc1"].params["weight"], g.nodes["fc1"].params["weight"])
    assert np.all(out.nodes["n1"].params["g"] == 1.0)


def test_gain_without_weighted_input_is_an_error() -> None:
    g = nir.NIRGraph(
        nodes={"input": nir.Input(np.array([3])), "n": _gained_lif(3, "zero"), "output": nir.Output(np.array([3]))},
        edges=[("input", "n"), ("n", "output")],
        type_check=False,
    )
    with pytest.raises(GraphError, match="node 'n': input gain g = .* cannot be folded: its input from 'input' \\(input\\) passes no weighted layer"):
        fold_gains(float_graph(g))


def test_gain_varying_within_a_conv_channel_is_an_error() -> None:
    shape = (1, 3, 3)
    n = nir.LIF(tau=np.full(shape, 2.0), r=np.linspace(1, 2, 9).reshape(shape), v_leak=np.zeros(shape), v_threshold=np.ones(shape), v_reset=np.zeros(shape))
    g = nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([1, 3, 3])),
            "conv": nir.Conv2d(input_shape=(3, 3), weight=np.ones((1, 1, 1, 1)), stride=1, padding=0, dilation=1, groups=1, bias=np.zeros(1)),
            "n": n,
            "output": nir.Output(np.array([1, 3, 3])),
        },
        edges=[("input", "conv"), ("conv", "n"), ("n", "output")],
        type_check=False,
    )
    with pytest.raises(GraphError, match="node 'n': input gain varies over the neurons fed by row/channel 0 of 'conv'"):
        fold_gains(float_graph(g))


def test_cuba_synaptic_bias_is_approximated_with_a_counted_warning() -> None:
    rng = np.random.default_rng(2)
    g = float_graph(_mlp(cuba(6, alpha=0.5, beta=0.9), li(3), rng))
    with pytest.warns(QuantizationWarning, match="node 'n1': the synaptic bias from 'fc1' has no exact Loihi form"):
        out = move_biases(fold_gains(g))
    assert len(out.metadata["quantization_warnings"]) == 1
    # steady state: b += bias / (1 - a_syn)
    np.testing.assert_allclose(out.nodes["n1"].params["b"], g.nodes["n1"].params["b"] + g.nodes["fc1"].params["bias"] * g.nodes["n1"].params["g"] * g.nodes["n1"].params["g_syn"] / 0.5)


def _pool_net(pool, scale=None) -> nir.NIRGraph:
    rng = np.random.default_rng(4)
    nodes = {
        "input": nir.Input(np.array([2, 6, 6])),
        "conv": nir.Conv2d(input_shape=(6, 6), weight=rng.normal(size=(3, 2, 3, 3)), stride=1, padding=1, dilation=1, groups=1, bias=rng.normal(size=3) * 0.1),
        "n1": if_((3, 6, 6), th=1.0),
        "pool": pool,
        "flat": nir.Flatten(input_type={"input": np.array([3, 3, 3])}, start_dim=0, end_dim=-1),
        "fc": nir.Affine(rng.normal(size=(4, 27)), np.zeros(4)),
        "n2": if_(4, th=1.0),
        "output": nir.Output(np.array([4])),
    }
    edges = [("input", "conv"), ("conv", "n1"), ("n1", "pool"), ("pool", "flat"), ("flat", "fc"), ("fc", "n2"), ("n2", "output")]
    if scale is not None:
        nodes["sc"] = scale
        edges = [e for e in edges if e != ("flat", "fc")] + [("flat", "sc"), ("sc", "fc")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def test_fold_avgpool_and_scale_keep_spikes() -> None:
    avg = nir.AvgPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
    sc = nir.Scale(np.linspace(0.5, 2.0, 27))
    g = float_graph(_pool_net(avg, sc))
    x = np.random.default_rng(5).random((10, 3, 2, 6, 6))
    before = run_graph(g, x, probes=["n1", "n2"])
    after = fold_avgpool(fold_scale(g))
    assert "sc" not in after.nodes and after.nodes["pool"].op == "sumpool2d"
    _same(before, run_graph(after, x, probes=["n1", "n2"]), ["n1", "n2"])
    assert before.probes["n2"].sum() > 0


def test_scale_that_varies_within_a_pooling_window_cannot_fold() -> None:
    rng = np.random.default_rng(6)
    g = nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([1, 4, 4])),
            "sc": nir.Scale(rng.random((1, 4, 4)) + 0.5),
            "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
            "flat": nir.Flatten(input_type={"input": np.array([1, 2, 2])}, start_dim=0, end_dim=-1),
            "fc": nir.Affine(np.ones((2, 4)), np.zeros(2)),
            "n": if_(2),
            "output": nir.Output(np.array([2])),
        },
        edges=[("input", "sc"), ("sc", "pool"), ("pool", "flat"), ("flat", "fc"), ("fc", "n"), ("n", "output")],
        type_check=False,
    )
    with pytest.raises(GraphError, match="scale node 'sc'.*pooling node 'pool'"):
        fold_scale(float_graph(g))


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_fold_thresholds_keeps_spikes(reset: str) -> None:
    rng = np.random.default_rng(8)
    th = np.linspace(0.5, 2.0, 6)
    g = float_graph(_mlp(lif(6, beta=0.8, th=th, reset=reset), li(3), rng))
    x = rng.random((40, 6, 4)) * 2
    before = run_graph(g, x, probes=["n1"])
    g1 = fold_thresholds(g)
    assert np.all(g1.nodes["n1"].params["v_threshold"] == 2.0)
    _same(before, run_graph(g1, x, probes=["n1"]), ["n1"])
    _same(before, run_graph(move_biases(fold_gains(g1)), x, probes=["n1"]), ["n1"])
    assert 0 < before.probes["n1"].mean() < 1


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_fold_thresholds_keeps_spe_spikes(reset: str) -> None:
    """SPE(LIF): the prediction current scales with the membrane, so the fold is exact too."""
    torch = pytest.importorskip("torch")
    from spikeforge.models import LIF, SPE

    torch.manual_seed(0)
    base = LIF(beta=0.8, threshold=1.0, reset=reset, learn_threshold=True, shape=(6,))
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), SPE(base, kappa=0.3), torch.nn.Linear(6, 3), LIF(beta=0.9))
    with torch.no_grad():
        base.threshold.copy_(torch.linspace(0.3, 1.2, 6))
    x = np.random.default_rng(11).random((40, 6, 4)) * 2
    g = float_graph(sf.trace(net, torch.from_numpy(x[:, :1]).float()))
    (name,) = [k for k, n in g.nodes.items() if n.op == "spe_lif"]
    before = run_graph(g, x, probes=[name])
    g1 = fold_thresholds(g)
    assert np.all(g1.nodes[name].params["v_threshold"] == pytest.approx(1.2))
    _same(before, run_graph(g1, x, probes=[name]), [name])
    _same(before, run_graph(move_biases(fold_gains(g1)), x, probes=[name]), [name])
    assert 0 < before.probes[name].mean() < 1


def test_shared_threshold_target_gives_one_vth_per_layer() -> None:
    rng = np.random.default_rng(9)
    g = _mlp(lif(6, beta=0.5, th=np.linspace(0.5, 2.0, 6)), li(3), rng)
    per = sf.compile(g, target="loihi2", dt=1.0, input_exp=-6)
    shared = sf.compile(g, target="loihi2-shared-threshold", dt=1.0, input_exp=-6)
    assert len(np.unique(per.graph.nodes["n1"].params["vth"])) > 1
    for k in ("n1", "n2"):
        assert len(np.unique(shared.graph.nodes[k].params["p"])) == 1
    assert len(np.unique(shared.graph.nodes["n1"].params["vth"])) == 1
    assert "fold_thresholds" in shared.passes and "fold_thresholds" not in per.passes


def test_fold_thresholds_rejects_nonpositive_thresholds() -> None:
    rng = np.random.default_rng(10)
    g = float_graph(_mlp(lif(6, th=np.linspace(-0.5, 1.0, 6)), li(3), rng))
    with pytest.raises(GraphError, match="node 'n1': thresholds must be > 0"):
        fold_thresholds(g)


def test_shared_threshold_target_rejects_leftover_per_neuron_thresholds() -> None:
    """verify_integer: a program for a one-threshold-per-layer target with several thresholds
    in a layer (an op fold_thresholds did not handle) is an error, not a silent violation."""
    from spikeforge.compiler.errors import QuantizationError
    from spikeforge.compiler.passes.verify_integer import make_verify_integer
    from spikeforge.compiler.targets import TARGETS

    rng = np.random.default_rng(12)
    g = _mlp(lif(6, beta=0.5, th=np.linspace(0.5, 2.0, 6)), li(3), rng)
    per = sf.compile(g, target="loihi2", dt=1.0, input_exp=-6)
    make_verify_integer(TARGETS["loihi2"])(per.graph)
    with pytest.raises(QuantizationError, match="node 'n1' \\(int_lif\\) has 6 different thresholds 'vth', but target 'loihi2-shared-threshold'"):
        make_verify_integer(TARGETS["loihi2-shared-threshold"])(per.graph)
