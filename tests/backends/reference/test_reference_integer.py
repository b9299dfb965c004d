"""The integer reference backend on hand-built integer programs (``docs/integer.md``).

Each program (MLP, conv net with sum pooling, residual net with a user delay and a balancing
delay, recurrent layer) is run by the reference backend and compared, with exact equality,
against a plain numpy model-time loop over the normative ``step`` functions
(:mod:`intnets`). Probes are raw integers; ``Trace.output`` is dequantized. Both realizations
of graded spikes (one graded payload vs ``D`` binary sub-steps) give identical trajectories.
"""

from __future__ import annotations

import numpy as np
import pytest
from intnets import (
    conv_loop,
    conv_program,
    dense,
    input_node,
    mlp_loop,
    mlp_program,
    neuron,
    output_node,
    program,
    quantize,
    recurrent_loop,
    recurrent_program,
    residual_loop,
    residual_program,
)

import spikeforge as sf
from spikeforge.backends.reference.ops import STATELESS, sparse_binary
from spikeforge.backends.reference.runtime import run_reference
from spikeforge.compiler.errors import SpikeforgeError
from spikeforge.compiler.ir import Node
from spikeforge.compiler.program import Program

T, B = 50, 3
ASN = {"alpha": -1, "D": 3, "N": 2}


def _bin(shape, p=0.3, seed=0):
    return (np.random.default_rng(seed).random((T, B) + shape) < p).astype(np.float64)


def _uni(shape, hi, seed=0):
    return np.random.default_rng(seed).uniform(0, hi, (T, B) + shape)


NETS = {
    "mlp": (mlp_program, mlp_loop, lambda: _bin((20,))),
    "conv": (conv_program, conv_loop, lambda: _uni((2, 8, 8), 1.0)),
    "residual": (residual_program, residual_loop, lambda: _uni((12,), 3.5)),
    "recurrent": (recurrent_program, recurrent_loop, lambda: _bin((6,), 0.4)),
}


def _check(tr, raw, out, counters) -> None:
    for k, v in raw.items():
        np.testing.assert_array_equal(tr.probes[k], v, err_msg=k)
    np.testing.assert_array_equal(tr.output, out)
    assert tr.output.dtype == np.float64
    want = {}
    for k, c in counters.items():
        if c.wrap:
            want[f"{k}: current wrapped at 24 bits"] = c.wrap
        if c.saturate:
            want[f"{k}: voltage saturated at 24 bits"] = c.saturate
    assert {k: v for k, v in tr.warnings.items() if "input" not in k} == want


@pytest.mark.parametrize("hidden", ["int_lif", "int_asn"])
@pytest.mark.parametrize("net", list(NETS))
def test_matches_numpy_loop_of_the_spec(net: str, hidden: str) -> None:
    build, loop, make_x = NETS[net]
    prog = build(hidden=hidden, asn_kw=ASN)
    x = make_x()
    raw, out, counters = loop(prog, x)
    tr = run_reference(prog, x, probes=list(raw))
    _check(tr, raw, out, counters)
    hid = [k for k in raw if prog.graph.nodes[k].op == hidden]
    for k in hid:  # the networks are in a working regime: neither silent nor saturated
        assert 0.02 < (tr.probes[k] > 0).mean() < 0.9, k
    assert tr.hw_steps == T + prog.max_depth


@pytest.mark.parametrize("net", list(NETS))
def test_binary_realization_equals_graded(net: str) -> None:
    """``D`` binary sub-steps accumulated per macro step give the graded trajectories exactly."""
    build, loop, make_x = NETS[net]
    prog = build(hidden="int_asn", asn_kw={"alpha": 1, "D": 5, "N": 1})
    x = make_x()
    names = [n.name for n in prog.graph.nodes.values() if n.op != "input"]
    g = run_reference(prog, x, probes=names, realization="graded")
    b = run_reference(prog, x, probes=names, realization="binary")
    for k in names:
        np.testing.assert_array_equal(b.probes[k], g.probes[k], err_msg=k)
    np.testing.assert_array_equal(b.output, g.output)
    assert b.warnings == g.warnings
    raw, out, _ = loop(prog, x)
    np.testing.assert_array_equal(b.output, out)
    assert any(g.probes[k].max() > 1 for k in raw if prog.graph.nodes[k].op == "int_asn"), "emissions should be graded"


def test_realization_defaults_to_metadata() -> None:
    x = _bin((20,))
    g = mlp_program(hidden="int_asn", asn_kw=ASN, realization="binary")
    tr = run_reference(g, x, probes=["n1"])
    raw, out, _ = mlp_loop(g, x)
    np.testing.assert_array_equal(tr.probes["n1"], raw["n1"])
    np.testing.assert_array_equal(tr.output, out)
    with pytest.raises(SpikeforgeError, match="unknown realization"):
        run_reference(g, x, realization="unary")


def test_mixed_asn_widths_join_in_binary() -> None:
    """Two ``int_asn`` layers of different D feeding one neuron (stream widths 3 and 6)."""
    rng = np.random.default_rng(5)
    nodes = [
        input_node((8,)),
        dense("fa", 8, 6, rng), neuron("a", "int_asn", (6,), rng, alpha=0, D=3, N=1),
        dense("fb", 8, 6, rng), neuron("b", "int_asn", (6,), rng, alpha=2, D=6, N=3),
        dense("ga", 6, 4, rng), dense("gb", 6, 4, rng), dense("gx", 8, 4, rng),
        Node("bal", "delay", {"steps": np.ones(4, np.int64)}, {"balance": True}, (4,), (4,)),
        neuron("c", "int_asn", (4,), rng, alpha=0, D=2, N=2),
        output_node((4,)),
    ]
    edges = [("input", "fa"), ("fa", "a"), ("input", "fb"), ("fb", "b"), ("a", "ga"), ("b", "gb"), ("ga", "c"), ("gb", "c"),
             ("input", "gx"), ("gx", "bal"), ("bal", "c"), ("c", "output")]
    prog = program(nodes, edges)
    x = _bin((8,), 0.5)
    g = run_reference(prog, x, probes=["a", "b", "c", "ga"], realization="graded")
    b = run_reference(prog, x, probes=["a", "b", "c", "ga"], realization="binary")
    for k in ("a", "b", "c", "ga"):
        np.testing.assert_array_equal(b.probes[k], g.probes[k], err_msg=k)
    np.testing.assert_array_equal(b.output, g.output)
    np.testing.assert_array_equal(g.output, g.probes["c"] / 2.0)  # (e + alpha) / N with alpha 0
    assert g.probes["b"].max() > 3


def test_output_dequantization() -> None:
    """spikes 0/1; int_asn (e + alpha) / N; int_li v * 2^-p per neuron."""
    x = _bin((20,))
    for out_op in ("int_lif", "int_asn", "int_li"):
        prog = mlp_program(out_op=out_op, asn_kw={"alpha": 2, "D": 4, "N": 8})
        node = prog.graph.nodes["n3"]
        tr = run_reference(prog, x, probes=["n3"])
        raw = tr.probes["n3"]
        assert raw.dtype == np.int64
        if out_op == "int_lif":
            np.testing.assert_array_equal(tr.output, raw.astype(float))
        elif out_op == "int_asn":
            np.testing.assert_array_equal(tr.output, (raw + 2) / 8)
        else:
            np.testing.assert_array_equal(tr.output, raw * 2.0 ** -node.params["p"])


def test_output_through_flatten_pool_and_delay() -> None:
    """The output is dequantized at the neuron; flatten / sumpool / delays then act on reals."""
    rng = np.random.default_rng(2)
    nodes = [
        input_node((1, 4, 4)),
        Node("conv", "int_conv2d", {"weight": rng.integers(-127, 128, (2, 1, 3, 3)), "wexp": np.array([1, 2])},
             {"stride": (1, 1), "padding": (1, 1), "dilation": (1, 1), "groups": 1}, (1, 4, 4), (2, 4, 4)),
        neuron("n", "int_asn", (2, 4, 4), rng, alpha=1, D=3, N=2),
        Node("pool", "sumpool2d", {}, {"kernel_size": (2, 2), "stride": (2, 2), "padding": (0, 0)}, (2, 4, 4), (2, 2, 2)),
        Node("flat", "flatten", {}, {"start_dim": 1, "end_dim": -1}, (2, 2, 2), (8,)),
        Node("d", "delay", {"steps": np.array([0, 1, 2, 3, 0, 1, 2, 3])}, {"balance": False}, (8,), (8,)),
        output_node((8,)),
    ]
    edges = [("input", "conv"), ("conv", "n"), ("n", "pool"), ("pool", "flat"), ("flat", "d"), ("d", "output")]
    prog = program(nodes, edges)
    x = _bin((1, 4, 4), 0.5)
    tr = run_reference(prog, x, probes=["n"])
    r = (tr.probes["n"] + 1) / 2.0
    pooled = r.reshape(T, B, 2, 2, 2, 2, 2).sum(axis=(4, 6)).reshape(T, B, 8)
    want = np.zeros_like(pooled)
    for i, k in enumerate([0, 1, 2, 3, 0, 1, 2, 3]):
        want[k:, :, i] = pooled[: T - k, :, i]
    np.testing.assert_array_equal(tr.output, want)


def test_output_of_a_synapse_is_rejected() -> None:
    rng = np.random.default_rng(0)
    prog = program([input_node((4,)), dense("fc", 4, 3, rng), output_node((3,))], [("input", "fc"), ("fc", "output")])
    with pytest.raises(SpikeforgeError, match="cannot dequantize"):
        run_reference(prog, np.zeros((5, 1, 4)))


def test_input_quantization_and_clipping_counted() -> None:
    prog = residual_program()  # input: exp -2, 4 bits, unsigned
    x = np.random.default_rng(3).uniform(-1.0, 5.0, (T, B, 12))
    tr = run_reference(prog, x, probes=["input"])
    want = quantize(x, -2, 4, False)
    np.testing.assert_array_equal(tr.probes["input"], want)
    q = np.floor(x / 0.25 + 0.5)
    n_clip = int(np.count_nonzero((q < 0) | (q > 15)))
    assert n_clip > 0
    assert tr.warnings["input: input values clipped to the 4-bit unsigned range"] == n_clip
    _, out, _ = residual_loop(prog, x)
    np.testing.assert_array_equal(tr.output, out)


def test_signed_input_range() -> None:
    prog = conv_program()  # input: exp -3, 6 bits, signed: [-31, 31]
    x = np.random.default_rng(4).uniform(-5, 5, (4, 1, 2, 8, 8))
    tr = run_reference(prog, x, probes=["input"])
    assert tr.probes["input"].min() == -31 and tr.probes["input"].max() == 31
    np.testing.assert_array_equal(tr.probes["input"], np.clip(np.floor(x * 8 + 0.5), -31, 31))


def test_quantize_input_rounds_half_up_and_clips_huge_values() -> None:
    from spikeforge.backends.reference.ops import quantize_input
    from spikeforge.models.quant import round_half_up

    x = np.array([[0.5, -0.5, 1.5, -1.5, 2.4999, 1e30, -1e30, 3.75, -3.25]])
    q, n = quantize_input(x, -1, 4, True)  # units of 1/2, range [-7, 7]
    np.testing.assert_array_equal(q, [[1, -1, 3, -3, 5, 7, -7, 7, -6]])
    assert n == 3
    q, n = quantize_input(x, 0, 8, False)
    np.testing.assert_array_equal(q, np.clip(round_half_up(np.clip(x, -1e6, 1e6)), 0, 255))
    assert n == 4  # -1.5, 1e30, -1e30, -3.25


def test_overflows_are_counted_not_silent() -> None:
    """A network driven hard: wraps and saturations appear in Trace.warnings with the spec's counts."""
    prog = mlp_program(sizes=(20, 16, 4), seed=3)
    g = prog.graph
    nodes = dict(g.nodes)
    nodes["fc1"] = nodes["fc1"].replace(params={"weight": np.abs(g.nodes["fc1"].params["weight"]), "wexp": np.full(16, 8)})
    nodes["n1"] = nodes["n1"].replace(params={**g.nodes["n1"].params, "du": np.zeros(16, np.int64), "vth": np.full(16, 2**17 - 1)})
    prog = Program(graph=g.replace(nodes=nodes), target="loihi2", dt=1e-3, method="exact")
    x = _bin((20,), 0.6)
    raw, out, counters = mlp_loop(prog, x)
    assert counters["n1"].wrap > 0 and counters["n1"].saturate > 0
    tr = run_reference(prog, x, probes=list(raw))
    _check(tr, raw, out, counters)


def test_record_v_raw_integers() -> None:
    prog = mlp_program(hidden="int_asn", asn_kw=ASN)
    x = _bin((20,))
    tr = run_reference(prog, x, probes=["n1", "n3"], record_v=["n1", "n3"])
    assert tr.probes["n1.v"].dtype == np.int64 and tr.probes["n1.v"].shape == (T, B, 32)
    np.testing.assert_array_equal(tr.probes["n3.v"], tr.probes["n3"])  # int_li: v is the output
    # int_asn records U: the emission is the rounded, windowed U
    p = prog.graph.nodes["n1"].params["p"]
    c = np.clip((tr.probes["n1.v"] + (1 << (p - 1))) >> p, -1, 2)
    np.testing.assert_array_equal(c + 1, tr.probes["n1"])


def test_cycle_probes_and_record() -> None:
    prog = recurrent_program(hidden="int_asn", asn_kw=ASN)
    x = _bin((6,), 0.4)
    raw, _, _ = recurrent_loop(prog, x)
    for r in ("graded", "binary"):
        tr = run_reference(prog, x, probes=["rec", "fc_rec"], record_v=["rec"], realization=r)
        np.testing.assert_array_equal(tr.probes["rec"], raw["rec"])
        assert tr.probes["rec.v"].shape == (T, B, 10)
        # the recurrent synapse at model step t carries rec's emissions of that step
        from intnets import dense_syn

        np.testing.assert_array_equal(tr.probes["fc_rec"], dense_syn(prog.graph.nodes["fc_rec"], raw["rec"].reshape(T * B, -1)).reshape(T, B, -1))


def test_save_load_round_trip(tmp_path) -> None:
    prog = conv_program(hidden="int_asn", asn_kw=ASN, realization="binary")
    prog.save(tmp_path / "p.h5")
    back = Program.load(tmp_path / "p.h5")
    assert back.graph.metadata["realization"] == "binary"
    x = _uni((2, 8, 8), 1.0)
    a, b = sf.run(prog, x, probes=["n2"]), sf.run(back, x, probes=["n2"])
    np.testing.assert_array_equal(a.output, b.output)
    np.testing.assert_array_equal(a.probes["n2"], b.probes["n2"])


# ----------------------------------------------------------------------------- synapse ops


@pytest.mark.parametrize("density", [0.05, 0.2, 0.6])
def test_int_dense_paths_are_exact(density: float) -> None:
    """Event-driven (sparse binary), float64-BLAS and int64 products all equal the exact sum."""
    rng = np.random.default_rng(8)
    w = rng.integers(-127, 128, (40, 300))
    e = rng.integers(0, 4, 40)
    node = Node("fc", "int_dense", {"weight": w, "wexp": e}, {}, (300,), (40,))
    x = (rng.random((50, 300)) < density).astype(np.int64)
    assert sparse_binary(x) == (density < 0.25)
    want = (x @ w.T) << e
    np.testing.assert_array_equal(STATELESS["int_dense"](node, x), want)
    # multi-bit, large values: beyond 2^53 the int64 product takes over
    big = rng.integers(-(2**45), 2**45, (7, 300))
    node0 = node.replace(params={"weight": w, "wexp": np.zeros(40, np.int64)})
    want_big = np.array([[sum(int(a) * int(b) for a, b in zip(r, c)) for c in w] for r in big], dtype=object)
    np.testing.assert_array_equal(STATELESS["int_dense"](node0, big).astype(object), want_big)


def test_negative_wexp_floors() -> None:
    w = np.array([[3, -5], [7, 1]])
    node = Node("fc", "int_dense", {"weight": w, "wexp": np.array([-1, -2])}, {}, (2,), (2,))
    x = np.array([[1, 1], [0, 1]])
    np.testing.assert_array_equal(STATELESS["int_dense"](node, x), [[(-2) >> 1, 8 >> 2], [(-5) >> 1, 1 >> 2]])


def test_int_conv1d() -> None:
    rng = np.random.default_rng(9)
    w = rng.integers(-127, 128, (4, 1, 3))  # groups 2: Cin 2, Cin/groups 1
    e = np.array([0, 1, 2, 3])
    node = Node("c", "int_conv1d", {"weight": w, "wexp": e}, {"stride": (2,), "padding": (1,), "dilation": (1,), "groups": 2}, (2, 9), (4, 5))
    x = rng.integers(-9, 10, (6, 2, 9))
    y = STATELESS["int_conv1d"](node, x)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1)))
    want = np.zeros((6, 4, 5), np.int64)
    for co in range(4):
        for o in range(5):
            want[:, co, o] = (xp[:, co // 2, 2 * o : 2 * o + 3] * w[co, 0]).sum(axis=1) << e[co]
    np.testing.assert_array_equal(y, want)


# ----------------------------------------------------------------------------- errors


def test_float_ops_in_an_integer_program_are_rejected() -> None:
    rng = np.random.default_rng(0)
    nodes = [input_node((4,)), Node("fc", "affine", {"weight": np.ones((3, 4)), "bias": np.zeros(3)}, {}, (4,), (3,)),
             neuron("n", "int_lif", (3,), rng), output_node((3,))]
    prog = program(nodes, [("input", "fc"), ("fc", "n"), ("n", "output")])
    with pytest.raises(SpikeforgeError, match="'fc' \\(affine\\)"):
        run_reference(prog, np.zeros((3, 1, 4)))


def test_input_attrs_required() -> None:
    rng = np.random.default_rng(0)
    nodes = [Node("input", "input", {}, {}, (4,), (4,)), dense("fc", 4, 3, rng), neuron("n", "int_lif", (3,), rng), output_node((3,))]
    prog = program(nodes, [("input", "fc"), ("fc", "n"), ("n", "output")])
    with pytest.raises(SpikeforgeError, match="'exp', 'bits' and 'signed'"):
        run_reference(prog, np.zeros((3, 1, 4)))


def test_binary_realization_rejected_for_float_programs() -> None:
    import nir

    g = nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([2])}), "output": nir.Output(output_type={"output": np.array([2])})},
        edges=[("input", "output")], type_check=False,
    )
    prog = sf.compile(g)
    with pytest.raises(SpikeforgeError, match="integer programs only"):
        run_reference(prog, np.zeros((3, 1, 2)), realization="binary")


@pytest.mark.parametrize("realization", ["graded", "binary"])
def test_delay_inside_a_cycle(realization: str) -> None:
    """``rec -> fc_rec -> delay (k user steps) -> rec``: the loop carries s[t - 1 - k]."""
    from intnets import Neuron, dense_syn

    k = 2
    prog = recurrent_program(hidden="int_asn", asn_kw=ASN, realization=realization)
    g = prog.graph
    nodes = dict(g.nodes)
    nodes["dl"] = Node("dl", "delay", {"steps": np.full((10,), k, np.int64)}, {"balance": False}, (10,), (10,))
    edges = [e for e in g.edges if e != ("fc_rec", "rec")] + [("fc_rec", "dl"), ("dl", "rec")]
    prog = Program(graph=g.replace(nodes=nodes, edges=edges), target="loihi2", dt=1e-3, method="exact")
    x = _bin((6,), 0.4)
    tr = run_reference(prog, x, probes=["rec", "out"])
    N = {n: Neuron(g.nodes[n], B) for n in ("rec", "out")}
    hist, outs = [], []
    for t in range(T):
        past = hist[t - 1 - k] if t - 1 - k >= 0 else np.zeros((B, 10), np.int64)
        s = N["rec"](dense_syn(g.nodes["fc_in"], quantize(x[t], 0, 1, False)) + dense_syn(g.nodes["fc_rec"], past))
        hist.append(s)
        outs.append(N["out"](dense_syn(g.nodes["fc_out"], s)))
    np.testing.assert_array_equal(tr.probes["rec"], np.stack(hist))
    np.testing.assert_array_equal(tr.probes["out"], np.stack(outs))


def test_sf_run_passes_options() -> None:
    prog = mlp_program(hidden="int_asn", asn_kw=ASN)
    x = _bin((20,))
    a = sf.run(prog, x, probes=["n1"], realization="binary", record_v=["n1"])
    b = run_reference(prog, x, probes=["n1"], record_v=["n1"])
    np.testing.assert_array_equal(a.probes["n1"], b.probes["n1"])
    np.testing.assert_array_equal(a.probes["n1.v"], b.probes["n1.v"])


def test_float_asn_program() -> None:
    """A float program with an ``asn`` node: depths, model time and ``c / N`` output."""
    from spikeforge.compiler.ir import Graph

    rng = np.random.default_rng(1)
    n_in, H = 5, 7
    asn_p = {"a": rng.uniform(0.6, 1.0, H), "g": rng.uniform(0.5, 1.5, H), "b": rng.uniform(-0.2, 0.2, H)}
    nodes = [
        Node("input", "input", {}, {}, (n_in,), (n_in,)),
        Node("fc", "affine", {"weight": rng.normal(size=(H, n_in)), "bias": rng.normal(size=H) * 0.1}, {}, (n_in,), (H,)),
        Node("asn", "asn", asn_p, {"alpha": -1, "D": 4, "N": 4}, (H,), (H,)),
        Node("fc2", "affine", {"weight": rng.normal(size=(3, H)), "bias": np.zeros(3)}, {}, (H,), (3,)),
        Node("li", "li", {"a": np.full(3, 0.8), "g": np.ones(3), "b": np.zeros(3)}, {}, (3,), (3,)),
        Node("output", "output", {}, {}, (3,), (3,)),
    ]
    edges = [("input", "fc"), ("fc", "asn"), ("asn", "fc2"), ("fc2", "li"), ("li", "output")]
    prog = Program(graph=Graph({n.name: n for n in nodes}, tuple(edges)), target="float", dt=1e-3, method="exact")
    x = np.random.default_rng(2).uniform(-1, 3, (T, B, n_in))
    tr = run_reference(prog, x, probes=["asn"], record_v=["asn"])
    h = np.zeros((B, H))
    v = np.zeros((B, 3))
    outs, ys, us = [], [], []
    for t in range(T):
        u = asn_p["a"] * h + asn_p["g"] * (x[t] @ nodes[1].params["weight"].T + nodes[1].params["bias"]) + asn_p["b"]
        c = np.clip(np.floor(u + 0.5), -1, 3)
        h = u - c
        ys.append(c / 4)
        us.append(u)
        v = 0.8 * v + (c / 4) @ nodes[3].params["weight"].T
        outs.append(v)
    np.testing.assert_array_equal(tr.probes["asn"], np.stack(ys))
    np.testing.assert_allclose(tr.probes["asn.v"], np.stack(us), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tr.output, np.stack(outs), rtol=1e-12, atol=1e-12)
    assert len(np.unique(tr.probes["asn"])) == 5
