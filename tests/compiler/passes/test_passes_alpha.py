"""ASN window shifts and NASN's 1/N in the integer program, checked against brute force.

``alpha`` is folded into every downstream bias as ``L(alpha) << 6`` where ``L`` is the
bias-free integer synapse path (``docs/integer.md``). Here ``L`` is recomputed by explicit
loops over the compiled integer weights (zero padding, strides, sum pools) and compared with
the difference of the downstream biases compiled with ``alpha`` and with ``alpha = 0``. The
float and integer programs of on-grid IF/ASN nets then give identical outputs.
"""

from __future__ import annotations

import nir
import numpy as np
import pytest
from int_nets import asn, chain, if_, on_grid

import spikeforge as sf


def _bias(node) -> np.ndarray:
    p = node.params
    return p["bias"] if node.op == "int_asn" else np.left_shift(p["bias_mant"], p["bias_exp"])


def _conv2d_loops(x: np.ndarray, m: np.ndarray, wexp: np.ndarray, stride: int, pad: int) -> np.ndarray:
    C, H, W = x.shape
    O, _, KH, KW = m.shape
    Ho, Wo = (H + 2 * pad - KH) // stride + 1, (W + 2 * pad - KW) // stride + 1
    y = np.zeros((O, Ho, Wo), np.int64)
    for o in range(O):
        for i in range(Ho):
            for j in range(Wo):
                acc = 0
                for c in range(C):
                    for ki in range(KH):
                        for kj in range(KW):
                            r, s = i * stride + ki - pad, j * stride + kj - pad
                            if 0 <= r < H and 0 <= s < W:
                                acc += int(m[o, c, ki, kj]) * int(x[c, r, s])
                y[o, i, j] = acc << int(wexp[o])
    return y


def _sumpool_loops(x: np.ndarray, k: int) -> np.ndarray:
    C, H, W = x.shape
    y = np.zeros((C, H // k, W // k), np.int64)
    for c in range(C):
        for i in range(H // k):
            for j in range(W // k):
                y[c, i, j] = x[c, i * k : (i + 1) * k, j * k : (j + 1) * k].sum()
    return y


def _conv_graph(alpha: int, rng) -> nir.NIRGraph:
    w1 = on_grid(rng.normal(size=(3, 2, 3, 3)) * 0.3, -7)
    w2 = on_grid(rng.normal(size=(2, 3, 3, 3)) * 0.3, -7)
    w3 = on_grid(rng.normal(size=(4, 2 * 2 * 2)) * 0.3, -7)
    return nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([2, 8, 8])),
            "conv1": nir.Conv2d(input_shape=(8, 8), weight=w1, stride=1, padding=1, dilation=1, groups=1, bias=np.zeros(3)),
            "a1": asn((3, 8, 8), alpha=alpha, D=3),
            "conv2": nir.Conv2d(input_shape=(8, 8), weight=w2, stride=2, padding=1, dilation=1, groups=1, bias=np.zeros(2)),
            "a2": asn((2, 4, 4), alpha=alpha, D=3),
            "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
            "flat": nir.Flatten(input_type={"input": np.array([2, 2, 2])}, start_dim=0, end_dim=-1),
            "fc": nir.Affine(w3, np.zeros(4)),
            "a3": asn(4, alpha=0, D=3),
            "output": nir.Output(np.array([4])),
        },
        edges=[("input", "conv1"), ("conv1", "a1"), ("a1", "conv2"), ("conv2", "a2"), ("a2", "pool"), ("pool", "flat"), ("flat", "fc"), ("fc", "a3"), ("a3", "output")],
        type_check=False,
    )


@pytest.mark.parametrize("alpha", [-2, 1, 3])
def test_alpha_through_padded_conv_sumpool_and_dense(alpha: int) -> None:
    rng = np.random.default_rng(7)
    with_a = sf.compile(_conv_graph(alpha, rng), target="loihi2", dt=1.0, input_exp=-4)
    without = sf.compile(_conv_graph(0, np.random.default_rng(7)), target="loihi2", dt=1.0, input_exp=-4)
    n, n0 = with_a.graph.nodes, without.graph.nodes
    # a2 <- conv2 (stride 2, zero padding 1) of a constant alpha map of a1's shape
    c2 = n["conv2"].params
    L2 = _conv2d_loops(np.full((3, 8, 8), alpha), c2["weight"], c2["wexp"], stride=2, pad=1)
    np.testing.assert_array_equal(_bias(n["a2"]) - _bias(n0["a2"]), L2 << 6)
    # the padding makes border neurons differ from interior ones
    assert len(np.unique(L2[0])) > 1
    # a3 <- fc of flatten of sumpool of a constant alpha map of a2's shape
    fc = n["fc"].params
    pooled = _sumpool_loops(np.full((2, 4, 4), alpha), 2).reshape(-1)
    L3 = np.array([sum(int(fc["weight"][o, j]) * int(pooled[j]) for j in range(pooled.size)) << int(fc["wexp"][o]) for o in range(4)])
    np.testing.assert_array_equal(_bias(n["a3"]) - _bias(n0["a3"]), L3 << 6)
    # nothing upstream of a1 changes
    np.testing.assert_array_equal(_bias(n["a1"]), _bias(n0["a1"]))


def test_alpha_into_a_neuron_without_weights() -> None:
    # ASN -> sumpool -> IF directly: L is the pooled alpha map itself
    g = nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([1, 4, 4])),
            "conv": nir.Conv2d(input_shape=(4, 4), weight=np.full((1, 1, 1, 1), 0.5), stride=1, padding=0, dilation=1, groups=1, bias=np.zeros(1)),
            "a": asn((1, 4, 4), alpha=2, D=2),
            "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
            "lif": if_((1, 2, 2), th=3.0),
            "output": nir.Output(np.array([1, 2, 2])),
        },
        edges=[("input", "conv"), ("conv", "a"), ("a", "pool"), ("pool", "lif"), ("lif", "output")],
        type_check=False,
    )
    prog = sf.compile(g, target="loihi2", dt=1.0, input_exp=0)
    assert np.all(_bias(prog.graph.nodes["lif"]) == (4 * 2) << 6)
    x = np.random.default_rng(0).integers(0, 8, (6, 3, 1, 4, 4)).astype(float)
    ref = sf.run(sf.compile(g, dt=1.0), x).output
    np.testing.assert_array_equal(sf.run(prog, x).output, ref)


def test_nasn_one_over_n_is_folded_into_the_next_weights() -> None:
    rng = np.random.default_rng(3)
    w1, w2 = on_grid(rng.normal(size=(5, 3)) * 0.5, -7), on_grid(rng.normal(size=(2, 5)) * 0.5, -7)

    def net(model: str, N: int, w_next: np.ndarray) -> nir.NIRGraph:
        return chain(
            ("fc1", nir.Affine(w1, np.zeros(5))), ("a", asn(5, alpha=1, D=4, N=N, model=model)),
            ("fc2", nir.Affine(w_next, np.zeros(2))), ("out_if", if_(2)), in_shape=[3], out_shape=[2],
        )

    nasn = sf.compile(net("NASN", 4, w2), target="loihi2", dt=1.0, input_exp=-4)
    asn_div = sf.compile(net("ASN", 1, w2 / 4), target="loihi2", dt=1.0, input_exp=-4)
    # same integers downstream: W/4 re-derives the same mantissas with exponents 2 lower
    for k in ("fc2", "out_if"):
        for p, v in asn_div.graph.nodes[k].params.items():
            np.testing.assert_array_equal(nasn.graph.nodes[k].params[p], v, err_msg=f"{k}.{p}")
    assert nasn.graph.nodes["a"].attrs["N"] == 4 and asn_div.graph.nodes["a"].attrs["N"] == 1
    x = rng.integers(0, 16, (5, 4, 3)) / 16
    f = sf.compile(net("NASN", 4, w2), dt=1.0)
    np.testing.assert_array_equal(sf.run(nasn, x).output, sf.run(f, x).output)


def test_nasn_feeding_a_neuron_directly_is_an_error() -> None:
    g = chain(("fc", nir.Affine(np.eye(2) * 0.5, np.zeros(2))), ("a", asn(2, D=4, N=4, model="NASN")), ("lif", if_(2)), in_shape=[2], out_shape=[2])
    with pytest.raises(sf.SpikeforgeError, match="1/N of NASN node 'a'.*'lif'"):
        sf.compile(g, target="loihi2", dt=1.0, input_exp=0)


@pytest.mark.parametrize("target", ["loihi2", "loihi2-binary"])
def test_on_grid_net_float_equals_integer(target: str) -> None:
    """IF/ASN nets with on-grid weights and biases: the integer program is exact."""
    rng = np.random.default_rng(11)
    g = _conv_graph(-1, rng)
    nodes = dict(g.nodes)
    nodes["conv1"] = nir.Conv2d(input_shape=(8, 8), weight=nodes["conv1"].weight, stride=1, padding=1, dilation=1, groups=1, bias=np.array([0.25, 0.0, -0.5]))
    g = nir.NIRGraph(nodes=nodes, edges=g.edges, type_check=False)
    x = rng.integers(0, 17, (6, 3, 2, 8, 8)) / 16
    prog = sf.compile(g, target=target, dt=1.0, calibration=x)
    f = sf.compile(g, dt=1.0)
    ti, tf = sf.run(prog, x, probes=["a1", "a2"]), sf.run(f, x, probes=["a1", "a2"])
    np.testing.assert_array_equal(ti.output, tf.output)
    np.testing.assert_array_equal(ti.probes["a1"] - 1, tf.probes["a1"])  # emissions c - alpha
    assert not ti.warnings
