"""Shape inference: feature shapes everywhere, scalar neuron parameters broadcast, Flatten.

snnTorch and other producers often write neuron parameters as scalars (0-d arrays) or as
one-element arrays; the neuron's shape then comes from its input, and every parameter is
broadcast to that full shape (``docs/semantics.md``: "Every parameter array has the
neuron's full shape").
"""

from __future__ import annotations

import nir
import numpy as np
import pytest

import spikeforge as sf
from spikeforge.compiler.from_nir import from_nir
from spikeforge.compiler.passes.shapes import conv_out, infer_shapes


def _graph(nodes: dict, edges: list, shape_in, shape_out) -> nir.NIRGraph:
    return nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array(shape_in)}),
            **nodes,
            "output": nir.Output(output_type={"output": np.array(shape_out)}),
        },
        edges=edges,
        type_check=False,
    )


def _shapes(g: nir.NIRGraph):
    return infer_shapes(from_nir(g))


LIF_FIELDS = ("tau", "r", "v_leak", "v_threshold", "v_reset")


@pytest.mark.parametrize("form", ["0-d", "(1,)"])
def test_scalar_neuron_parameters_broadcast(form: str) -> None:
    """(nir 1.0.8 itself rejects a neuron whose parameters have different shapes.)"""

    def mk(v):
        return np.array(v) if form == "0-d" else np.array([v])

    lif = nir.LIF(tau=mk(5e-3), r=mk(2.0), v_leak=mk(0.0), v_threshold=mk(1.0), v_reset=mk(0.0))
    g = _graph(
        {"fc": nir.Affine(weight=np.ones((4, 3)), bias=np.zeros(4)), "lif": lif},
        [("input", "fc"), ("fc", "lif"), ("lif", "output")],
        [3],
        [4],
    )
    w = _shapes(g)
    n = w.nodes["lif"]
    assert n.in_shape == n.out_shape == (4,)
    for k in LIF_FIELDS:
        assert n.params[k].shape == (4,), k
    np.testing.assert_array_equal(n.params["tau"], np.full(4, 5e-3))
    # the compiled program carries full-shaped discrete parameters as well
    prog = sf.compile(g)
    for k, v in prog.graph.nodes["lif"].params.items():
        assert np.shape(v) == (4,), k
    # and runs like the same layer written with full-shaped parameters
    full = nir.LIF(tau=np.full(4, 5e-3), r=np.full(4, 2.0), v_leak=np.zeros(4), v_threshold=np.ones(4), v_reset=np.zeros(4))
    g_full = _graph(
        {"fc": nir.Affine(weight=np.ones((4, 3)), bias=np.zeros(4)), "lif": full},
        [("input", "fc"), ("fc", "lif"), ("lif", "output")],
        [3],
        [4],
    )
    x = np.random.default_rng(0).uniform(0, 1, (15, 2, 3))
    np.testing.assert_array_equal(sf.run(prog, x).output, sf.run(sf.compile(g_full), x).output)


def test_scalar_parameters_of_a_conv_shaped_neuron() -> None:
    """Scalars broadcast to a (C, H, W) neuron fed by a convolution."""
    conv = nir.Conv2d(input_shape=(5, 5), weight=np.ones((2, 1, 3, 3)) / 9, stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(2))
    cuba = nir.CubaLIF(
        tau_syn=np.array(2e-3), tau_mem=np.array(4e-3), r=np.array(1.0), v_leak=np.array(0.0),
        v_threshold=np.array(0.1), v_reset=np.array(0.0), w_in=np.array(1.0),
    )
    g = _graph({"conv": conv, "n": cuba}, [("input", "conv"), ("conv", "n"), ("n", "output")], [1, 5, 5], [2, 5, 5])
    n = _shapes(g).nodes["n"]
    assert n.out_shape == (2, 5, 5)
    assert all(v.shape == (2, 5, 5) for v in n.params.values())
    out = sf.run(sf.compile(g), np.ones((6, 1, 1, 5, 5))).output
    assert out.shape == (6, 1, 2, 5, 5) and out.any()


def test_parameter_shape_conflict_is_an_error() -> None:
    lif = nir.LIF(tau=np.full(3, 5e-3), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3), v_reset=np.zeros(3))
    g = _graph(
        {"fc": nir.Affine(weight=np.ones((4, 3)), bias=np.zeros(4)), "lif": lif},
        [("input", "fc"), ("fc", "lif"), ("lif", "output")],
        [3],
        [4],
    )
    with pytest.raises(sf.GraphError, match="lif"):
        _shapes(g)


@pytest.mark.parametrize(
    "shape,start,end,want",
    [
        ((2, 3, 4), 0, -1, (24,)),
        ((2, 3, 4), 1, 2, (2, 12)),
        ((2, 3, 4), 0, 1, (6, 4)),
        ((2, 3, 4), -2, -1, (2, 12)),
        ((5,), 0, -1, (5,)),
    ],
)
def test_flatten(shape, start, end, want) -> None:
    fl = nir.Flatten(input_type={"input": np.array(shape)}, start_dim=start, end_dim=end)
    g = _graph({"f": fl}, [("input", "f"), ("f", "output")], list(shape), list(want))
    n = _shapes(g).nodes["f"]
    assert n.in_shape == shape and n.out_shape == want
    x = np.random.default_rng(0).normal(size=(3, 2, *shape))
    y = sf.run(sf.compile(g), x).output
    np.testing.assert_array_equal(y, x.reshape(3, 2, *want))


def test_flatten_without_declared_type() -> None:
    """snnTorch writes Flatten with ``input_type=None``: the shape comes from the predecessor."""
    fl = nir.Flatten(input_type=None, start_dim=0, end_dim=-1)
    conv = nir.Conv2d(input_shape=None, weight=np.ones((3, 2, 2, 2)), stride=2, padding=0, dilation=1, groups=1, bias=np.zeros(3))
    g = _graph(
        {"conv": conv, "f": fl, "fc": nir.Affine(weight=np.ones((4, 12)), bias=np.zeros(4))},
        [("input", "conv"), ("conv", "f"), ("f", "fc"), ("fc", "output")],
        [2, 4, 4],
        [4],
    )
    w = _shapes(g)
    assert w.nodes["conv"].out_shape == (3, 2, 2)
    assert w.nodes["f"].in_shape == (3, 2, 2) and w.nodes["f"].out_shape == (12,)
    assert w.nodes["output"].in_shape == (4,)


def test_flatten_bad_dims() -> None:
    fl = nir.Flatten(input_type=None, start_dim=2, end_dim=5)
    g = _graph({"f": fl}, [("input", "f"), ("f", "output")], [2, 3], [6])
    with pytest.raises(sf.GraphError, match="'f'"):
        _shapes(g)


@pytest.mark.parametrize(
    "size,k,stride,pad,dil,padding_arg",
    [
        (9, 3, 1, 1, 1, 1),
        (9, 3, 2, 0, 1, 0),
        (10, 3, 3, 2, 2, 2),
        (8, 3, 1, 1, 1, "same"),
        (8, 3, 1, 2, 2, "same"),
        (8, 3, 1, 0, 1, "valid"),
    ],
)
def test_conv1d_shapes(size, k, stride, pad, dil, padding_arg) -> None:
    conv = nir.Conv1d(input_shape=None, weight=np.ones((4, 2, k)), stride=stride, padding=padding_arg, dilation=dil, groups=1, bias=np.zeros(4))
    out = conv_out(size, k, stride, pad, dil)
    g = _graph({"c": conv}, [("input", "c"), ("c", "output")], [2, size], [4, out])
    n = _shapes(g).nodes["c"]
    assert n.out_shape == (4, out)
    assert n.attrs["padding"] == (pad,)
    if padding_arg == "same":
        assert out == size


def test_same_padding_with_even_kernel_is_an_error() -> None:
    conv = nir.Conv1d(input_shape=None, weight=np.ones((4, 2, 4)), stride=1, padding="same", dilation=1, groups=1, bias=np.zeros(4))
    g = _graph({"c": conv}, [("input", "c"), ("c", "output")], [2, 8], [4, 8])
    with pytest.raises(sf.GraphError, match="same"):
        _shapes(g)


def test_conv_channel_mismatch_is_an_error() -> None:
    conv = nir.Conv2d(input_shape=None, weight=np.ones((4, 3, 3, 3)), stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(4))
    g = _graph({"c": conv}, [("input", "c"), ("c", "output")], [2, 5, 5], [4, 5, 5])
    with pytest.raises(sf.GraphError, match="'c'"):
        _shapes(g)


def test_pool_shapes() -> None:
    pool = nir.SumPool2d(kernel_size=np.array([2, 3]), stride=np.array([2, 1]), padding=np.array([0, 1]))
    g = _graph({"p": pool}, [("input", "p"), ("p", "output")], [3, 6, 7], [3, 3, 7])
    n = _shapes(g).nodes["p"]
    assert n.out_shape == (3, 3, 7)


def test_every_edge_agrees_and_recurrent_shapes() -> None:
    """Shapes propagate around a recurrent loop and every edge's two ends agree."""
    lif = nir.LIF(tau=np.array(5e-3), r=np.array(1.0), v_leak=np.array(0.0), v_threshold=np.array(1.0), v_reset=np.array(0.0))
    g = _graph(
        {"fc": nir.Affine(weight=np.ones((4, 3)), bias=np.zeros(4)), "lif": lif, "rec": nir.Linear(weight=np.eye(4))},
        [("input", "fc"), ("fc", "lif"), ("lif", "rec"), ("rec", "lif"), ("lif", "output")],
        [3],
        [4],
    )
    w = _shapes(g)
    for a, b in w.edges:
        assert w.nodes[a].out_shape == w.nodes[b].in_shape
    assert w.nodes["lif"].params["tau"].shape == (4,)


def test_unreachable_node_is_an_error() -> None:
    lif = nir.LIF(tau=np.array(5e-3), r=np.array(1.0), v_leak=np.array(0.0), v_threshold=np.array(1.0), v_reset=np.array(0.0))
    g = _graph(
        {"fc": nir.Affine(weight=np.ones((4, 3)), bias=np.zeros(4)), "lif": lif},
        [("input", "fc"), ("fc", "output")],
        [3],
        [4],
    )
    g.edges.append(("lif", "output"))
    with pytest.raises(sf.GraphError, match="lif"):
        _shapes(g)
