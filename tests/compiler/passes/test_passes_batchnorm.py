"""``fold_batchnorm``: a conv + BatchNorm pair folds into one conv with the same output.

BatchNorm (eval statistics) reaches the compiler as a depthwise 1x1 ``nir.Conv2d``
(``groups = C``) tagged ``metadata={"spikeforge.op": "batchnorm"}`` (1-D: a diagonal
``nir.Affine`` with the same tag). The pass folds it into the conv/affine before it:
``W' = s * W``, ``b' = s * b + shift``.
"""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import spikeforge as sf
from spikeforge.backends.reference.runtime import run_reference
from spikeforge.compiler.from_nir import from_nir
from spikeforge.compiler.passes.batchnorm import fold_batchnorm

CIN, C, HW = 2, 3, 6
EPS = 1e-5
TAG = {"spikeforge.op": "batchnorm"}


def _bn_stats(seed: int = 0, c: int = C) -> dict[str, np.ndarray]:
    r = np.random.default_rng(seed)
    return {
        "gamma": r.uniform(0.5, 1.5, c),
        "beta": r.normal(size=c) * 0.3,
        "mean": r.normal(size=c) * 0.2,
        "var": r.uniform(0.5, 2.0, c),
    }


def _bn_scale_shift(st: dict) -> tuple[np.ndarray, np.ndarray]:
    s = st["gamma"] / np.sqrt(st["var"] + EPS)
    return s, st["beta"] - st["mean"] * s


def _bn_node(st: dict, tagged: bool = True) -> nir.Conv2d:
    s, shift = _bn_scale_shift(st)
    return nir.Conv2d(
        input_shape=(HW, HW), weight=s.reshape(-1, 1, 1, 1), stride=1, padding=0, dilation=1, groups=s.size, bias=shift,
        metadata=dict(TAG) if tagged else {},
    )


def _conv_node() -> nir.Conv2d:
    r = np.random.default_rng(1)
    return nir.Conv2d(input_shape=(HW, HW), weight=r.normal(size=(C, CIN, 3, 3)) * 0.5, stride=1, padding=1, dilation=1, groups=1, bias=r.normal(size=C) * 0.1)


def conv_bn_graph(tagged: bool = True, neuron: bool = False) -> nir.NIRGraph:
    nodes = {
        "input": nir.Input(input_type={"input": np.array([CIN, HW, HW])}),
        "conv": _conv_node(),
        "bn": _bn_node(_bn_stats(), tagged),
        "output": nir.Output(output_type={"output": np.array([C, HW, HW])}),
    }
    edges = [("input", "conv"), ("conv", "bn")]
    if neuron:
        n = (C, HW, HW)
        nodes["lif"] = nir.LIF(tau=np.full(n, 3e-3), r=np.full(n, 2.0), v_leak=np.zeros(n), v_threshold=np.full(n, 0.6), v_reset=np.zeros(n))
        edges += [("bn", "lif"), ("lif", "output")]
    else:
        edges += [("bn", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _torch_conv_bn(x: np.ndarray) -> np.ndarray:
    """The unfolded computation in torch: conv2d, then eval-mode batch_norm."""
    conv, st = _conv_node(), _bn_stats()
    T, Bn = x.shape[:2]
    xt = torch.from_numpy(x.reshape(T * Bn, CIN, HW, HW))
    y = F.conv2d(xt, torch.from_numpy(conv.weight), torch.from_numpy(conv.bias), padding=1)
    y = F.batch_norm(
        y, torch.from_numpy(st["mean"]), torch.from_numpy(st["var"]), torch.from_numpy(st["gamma"]), torch.from_numpy(st["beta"]),
        training=False, eps=EPS,
    )
    return y.numpy().reshape(T, Bn, C, HW, HW)


def _x(T: int = 8, Bn: int = 2, seed: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(T, Bn, CIN, HW, HW))


def test_conv_bn_folds_into_one_conv() -> None:
    prog = sf.compile(conv_bn_graph())
    g = prog.graph
    assert "bn" not in g.nodes
    assert g.preds("output") == ["conv"]
    s, shift = _bn_scale_shift(_bn_stats())
    conv = _conv_node()
    np.testing.assert_allclose(g.nodes["conv"].params["weight"], conv.weight * s[:, None, None, None], rtol=1e-15)
    np.testing.assert_allclose(g.nodes["conv"].params["bias"], conv.bias * s + shift, rtol=1e-15)
    assert g.nodes["conv"].out_shape == (C, HW, HW)


def test_folded_output_equals_unfolded_computation() -> None:
    x = _x()
    folded = sf.run(sf.compile(conv_bn_graph(tagged=True)), x).output
    unfolded_prog = sf.compile(conv_bn_graph(tagged=False))
    assert "bn" in unfolded_prog.graph.nodes  # without the tag nothing folds
    unfolded = sf.run(unfolded_prog, x).output
    want = _torch_conv_bn(x)
    np.testing.assert_allclose(unfolded, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(folded, want, rtol=1e-12, atol=1e-12)


def test_folded_spikes_equal_unfolded() -> None:
    """With a LIF layer after the pair: same spikes, except at floating-point ties."""
    x = _x(T=20, seed=5)
    p_f = sf.compile(conv_bn_graph(tagged=True, neuron=True))
    p_u = sf.compile(conv_bn_graph(tagged=False, neuron=True))
    assert "bn" not in p_f.graph.nodes and "bn" in p_u.graph.nodes
    tf = run_reference(p_f, x, record_v=["lif"])
    tu = run_reference(p_u, x, record_v=["lif"])
    np.testing.assert_allclose(tf.probes["lif.v"], tu.probes["lif.v"], rtol=1e-9, atol=1e-12)
    diff = tf.output != tu.output
    near = np.abs(tu.probes["lif.v"] - 0.6) < 1e-9
    assert not np.any(diff & ~near), f"{int(diff.sum())} spikes differ away from the threshold"
    assert 0 < tu.output.mean() < 1


def test_fold_survives_the_nir_file(tmp_path: Path) -> None:
    p = tmp_path / "bn.nir"
    sf.save_nir(conv_bn_graph(), p)
    prog = sf.compile(p)
    assert "bn" not in prog.graph.nodes
    np.testing.assert_allclose(sf.run(prog, _x()).output, _torch_conv_bn(_x()), rtol=1e-12, atol=1e-12)


def test_affine_and_diagonal_bn_fold() -> None:
    r = np.random.default_rng(3)
    st = _bn_stats(4, c=5)
    s, shift = _bn_scale_shift(st)
    w, b = r.normal(size=(5, 4)), r.normal(size=5)
    g = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([4])}),
            "fc": nir.Affine(weight=w, bias=b),
            "bn": nir.Affine(weight=np.diag(s), bias=shift, metadata=dict(TAG)),
            "output": nir.Output(output_type={"output": np.array([5])}),
        },
        edges=[("input", "fc"), ("fc", "bn"), ("bn", "output")],
        type_check=False,
    )
    prog = sf.compile(g)
    assert "bn" not in prog.graph.nodes
    x = r.normal(size=(6, 3, 4))
    want = ((x @ w.T + b) - st["mean"]) / np.sqrt(st["var"] + EPS) * st["gamma"] + st["beta"]
    np.testing.assert_allclose(sf.run(prog, x).output, want, rtol=1e-12, atol=1e-12)


def test_bn_after_a_shared_conv_does_not_fold() -> None:
    """A conv that feeds more than the BN cannot absorb it; the BN then runs as a conv."""
    g = conv_bn_graph()
    g.nodes["other"] = nir.Scale(scale=np.ones((C, HW, HW)))
    g.nodes["output"] = nir.Output(output_type={"output": np.array([C, HW, HW])})
    g.edges[:] = [("input", "conv"), ("conv", "bn"), ("conv", "other"), ("bn", "output"), ("other", "output")]
    prog = sf.compile(g)
    assert "bn" in prog.graph.nodes
    x = _x()
    t = torch.from_numpy(x.reshape(-1, CIN, HW, HW))
    c = _conv_node()
    conv_only = F.conv2d(t, torch.from_numpy(c.weight), torch.from_numpy(c.bias), padding=1).numpy().reshape(x.shape[:2] + (C, HW, HW))
    np.testing.assert_allclose(sf.run(prog, x).output, _torch_conv_bn(x) + conv_only, rtol=1e-12, atol=1e-12)


def test_fold_pass_is_pure() -> None:
    from spikeforge.compiler.passes.shapes import infer_shapes

    g = infer_shapes(from_nir(conv_bn_graph()))
    w = np.array(g.nodes["conv"].params["weight"])
    out = fold_batchnorm(g)
    assert "bn" in g.nodes and "bn" not in out.nodes
    np.testing.assert_array_equal(g.nodes["conv"].params["weight"], w)


@pytest.mark.parametrize("bad", ["not_depthwise", "kernel3"])
def test_non_bn_shaped_tagged_node_is_left_alone(bad: str) -> None:
    """A tagged node that is not a per-channel scale stays an ordinary conv (and still runs)."""
    g = conv_bn_graph()
    if bad == "not_depthwise":
        w = np.random.default_rng(0).normal(size=(C, C, 1, 1))
        g.nodes["bn"] = nir.Conv2d(input_shape=(HW, HW), weight=w, stride=1, padding=0, dilation=1, groups=1, bias=np.zeros(C), metadata=dict(TAG))
    else:
        w = np.random.default_rng(0).normal(size=(C, 1, 3, 3))
        g.nodes["bn"] = nir.Conv2d(input_shape=(HW, HW), weight=w, stride=1, padding=1, dilation=1, groups=C, bias=np.zeros(C), metadata=dict(TAG))
    prog = sf.compile(g)
    assert "bn" in prog.graph.nodes
    assert sf.run(prog, _x()).output.shape == (8, 2, C, HW, HW)
