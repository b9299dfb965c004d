"""Hand-built integer programs (``docs/integer.md`` node format) and their plain numpy loops.

The compiler that produces integer programs is separate; these tests build the
:class:`~spikeforge.compiler.ir.Graph` directly. Each ``*_program`` returns the program and a
description the matching ``*_loop`` evaluates in **model time** (zero delay between layers) by
calling the normative ``step`` functions of ``models/lif/spec.py`` and ``models/asn/spec.py``,
with :func:`spikeforge.models.quant.shift` for the synapses and a naive convolution. Nothing
here uses the reference backend's code.
"""

from __future__ import annotations

import numpy as np

from spikeforge.compiler.ir import Graph, Node
from spikeforge.compiler.program import Program
from spikeforge.models.asn import spec as asn_spec
from spikeforge.models.lif import spec as lif_spec
from spikeforge.models.lif.spec import Counters
from spikeforge.models.quant import round_half_up, shift

# ----------------------------------------------------------------------------- parameters


def lif_params(rng: np.random.Generator, shape, vth=(200, 800), plain: bool = False, bias=(-30, 60), p: int = 6,
               du=(1024, 2048, 3000, 4095), dv=(300, 1500)) -> dict[str, np.ndarray]:
    """Random ``int_lif`` / ``int_li`` parameters of the full neuron shape (int64)."""
    shape = tuple(shape)
    du = np.full(shape, 4095) if plain else rng.choice(du, size=shape)
    return {
        "du": du.astype(np.int64),
        "dv": rng.integers(dv[0], dv[1], size=shape),
        "bias_mant": rng.integers(bias[0], bias[1], size=shape),
        "bias_exp": rng.integers(0, 3, size=shape),
        "vth": rng.integers(vth[0], vth[1], size=shape),
        "p": np.full(shape, p, dtype=np.int64),
    }


def asn_params(rng: np.random.Generator, shape, p=(13, 16), bias=(-2000, 4000)) -> dict[str, np.ndarray]:
    """Random ``int_asn`` parameters of the full neuron shape (int64)."""
    shape = tuple(shape)
    return {
        "dv": rng.choice([256, 1024, 2048], size=shape).astype(np.int64),
        "bias": rng.integers(bias[0], bias[1], size=shape),
        "p": rng.integers(p[0], p[1], size=shape),
    }


def weights(rng: np.random.Generator, out: int, *inner: int, wexp=(0, 2)) -> tuple[np.ndarray, np.ndarray]:
    """8-bit signed mantissas and a per-row (per out channel) shift."""
    return rng.integers(-127, 128, size=(out, *inner)), rng.integers(wexp[0], wexp[1], size=out)


def neuron(name: str, op: str, shape, rng: np.random.Generator, *, reset: str = "zero", alpha: int = 0, D: int = 4, N: int = 1, **kw) -> Node:
    """An integer neuron node with random parameters."""
    shape = tuple(shape)
    if op == "int_asn":
        return Node(name, op, asn_params(rng, shape, **kw), {"alpha": alpha, "D": D, "N": N}, shape, shape)
    return Node(name, op, lif_params(rng, shape, **kw), {"reset": reset}, shape, shape)


def dense(name: str, n_in: int, n_out: int, rng: np.random.Generator, wexp=(0, 2)) -> Node:
    w, e = weights(rng, n_out, n_in, wexp=wexp)
    return Node(name, "int_dense", {"weight": w, "wexp": e}, {}, (n_in,), (n_out,))


def input_node(shape, exp: int = 0, bits: int = 1, signed: bool = False) -> Node:
    shape = tuple(shape)
    return Node("input", "input", {}, {"exp": exp, "bits": bits, "signed": signed}, shape, shape)


def output_node(shape) -> Node:
    shape = tuple(shape)
    return Node("output", "output", {}, {}, shape, shape)


def program(nodes: list[Node], edges, realization: str = "graded") -> Program:
    g = Graph({n.name: n for n in nodes}, tuple(edges), {"realization": realization})
    return Program(graph=g, target="loihi2", dt=1e-3, method="exact")


def quantize(x: np.ndarray, exp: int, bits: int, signed: bool) -> np.ndarray:
    """The documented input quantization (round half up, clipped)."""
    hi = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
    return np.clip(round_half_up(np.asarray(x, np.float64) / 2.0**exp), -hi if signed else 0, hi)


# ----------------------------------------------------------------------------- loop helpers


class Neuron:
    """Normative step of one integer neuron node over a batch (numpy spec functions)."""

    def __init__(self, node: Node, B: int) -> None:
        self.node = node
        self.shape = tuple(node.out_shape)
        self.n = int(np.prod(self.shape))
        self.p = {k: np.asarray(v).reshape(-1) for k, v in node.params.items()}
        self.state = (asn_spec if node.op == "int_asn" else lif_spec).init_state(B, self.n)
        self.counters = Counters()

    def __call__(self, a: np.ndarray) -> np.ndarray:
        B = a.shape[0]
        a = a.reshape(B, self.n)
        n = self.node
        if n.op == "int_asn":
            y = asn_spec.step(self.state, a, self.p, n.attrs["alpha"], n.attrs["D"], self.counters)
        else:
            y = lif_spec.step(self.state, a, self.p, n.attrs["reset"], n.op == "int_lif", self.counters)
        return y.reshape((B,) + self.shape)


def dense_syn(node: Node, s: np.ndarray) -> np.ndarray:
    """``shift(W @ s, wexp)`` per row."""
    s2 = s.reshape(s.shape[0], -1).astype(np.int64)
    return shift(s2 @ np.asarray(node.params["weight"], np.int64).T, np.asarray(node.params["wexp"])[None, :])


def conv_syn(node: Node, s: np.ndarray) -> np.ndarray:
    """Naive 2-d convolution (zero padding, stride, dilation, groups), shifted per out channel."""
    w = np.asarray(node.params["weight"], np.int64)
    st, pad, dil, groups = (node.attrs[k] for k in ("stride", "padding", "dilation", "groups"))
    B, C, H, W = s.shape
    Co, Cg, KH, KW = w.shape
    xp = np.zeros((B, C, H + 2 * pad[0], W + 2 * pad[1]), np.int64)
    xp[:, :, pad[0] : pad[0] + H, pad[1] : pad[1] + W] = s
    Ho = (H + 2 * pad[0] - dil[0] * (KH - 1) - 1) // st[0] + 1
    Wo = (W + 2 * pad[1] - dil[1] * (KW - 1) - 1) // st[1] + 1
    y = np.zeros((B, Co, Ho, Wo), np.int64)
    cog = Co // groups
    for co in range(Co):
        g = co // cog
        for ci in range(Cg):
            for i in range(KH):
                for j in range(KW):
                    patch = xp[:, g * Cg + ci, i * dil[0] : i * dil[0] + st[0] * (Ho - 1) + 1 : st[0], j * dil[1] : j * dil[1] + st[1] * (Wo - 1) + 1 : st[1]]
                    y[:, co] += w[co, ci, i, j] * patch
    return shift(y, np.asarray(node.params["wexp"]).reshape(1, Co, 1, 1))


def sumpool(s: np.ndarray, k: int) -> np.ndarray:
    B, C, H, W = s.shape
    return s.reshape(B, C, H // k, k, W // k, k).sum(axis=(3, 5))


def real(node: Node, y: np.ndarray) -> np.ndarray:
    """Documented dequantization of a neuron's output."""
    if node.op == "int_li":
        return np.ldexp(y.astype(np.float64), -np.asarray(node.params["p"], np.int64))
    if node.op == "int_asn":
        return (y + node.attrs["alpha"]) / node.attrs["N"]
    return y.astype(np.float64)


# ----------------------------------------------------------------------------- networks


def mlp_program(sizes=(20, 32, 24, 5), hidden: str = "int_lif", out_op: str = "int_li", seed: int = 0, realization: str = "graded",
                input_q=(0, 1, False), reset: str = "zero", asn_kw=None) -> Program:
    """``input -> (int_dense -> neuron) * L -> output``; the last neuron is ``out_op``."""
    rng = np.random.default_rng(seed)
    exp, bits, signed = input_q
    nodes = [input_node((sizes[0],), exp, bits, signed)]
    edges = []
    prev = "input"
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        op = out_op if i == len(sizes) - 1 else hidden
        nodes.append(dense(f"fc{i}", a, b, rng))
        kw = dict(asn_kw or {}) if op == "int_asn" else {"reset": reset}
        nodes.append(neuron(f"n{i}", op, (b,), rng, **kw))
        edges += [(prev, f"fc{i}"), (f"fc{i}", f"n{i}")]
        prev = f"n{i}"
    nodes.append(output_node((sizes[-1],)))
    edges.append((prev, "output"))
    return program(nodes, edges, realization)


def mlp_loop(prog: Program, x: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, Counters]]:
    """Model-time loop of :func:`mlp_program`: (raw neuron outputs, real output, counters)."""
    g = prog.graph
    inp = g.nodes["input"].attrs
    xi = quantize(x, inp["exp"], inp["bits"], inp["signed"])
    L = sum(1 for n in g.nodes if n.startswith("fc"))
    B = x.shape[1]
    neurons = {f"n{i}": Neuron(g.nodes[f"n{i}"], B) for i in range(1, L + 1)}
    rec: dict[str, list] = {k: [] for k in neurons}
    for t in range(x.shape[0]):
        h = xi[t]
        for i in range(1, L + 1):
            h = neurons[f"n{i}"](dense_syn(g.nodes[f"fc{i}"], h))
            rec[f"n{i}"].append(h)
    raw = {k: np.stack(v) for k, v in rec.items()}
    last = f"n{L}"
    return raw, real(g.nodes[last], raw[last]), {k: v.counters for k, v in neurons.items()}


def conv_program(hidden: str = "int_lif", seed: int = 0, realization: str = "graded", asn_kw=None) -> Program:
    """``input (2, 8, 8) -> conv 3x3 pad 1 (2->4) -> n1 -> sumpool 2 -> conv 3x3 stride 2 groups 2
    (4->6) -> n2 -> flatten -> int_dense -> out (int_li) -> output``."""
    rng = np.random.default_rng(seed)
    akw = dict(asn_kw or {})

    def hid(name, shape):
        return neuron(name, hidden, shape, rng, **(akw if hidden == "int_asn" else {"dv": (1500, 3000)}))

    w1, e1 = weights(rng, 4, 2, 3, 3)
    w2, e2 = weights(rng, 6, 2, 3, 3)
    conv_attrs = {"stride": (1, 1), "padding": (1, 1), "dilation": (1, 1), "groups": 1}
    nodes = [
        input_node((2, 8, 8), exp=-3, bits=6, signed=True),
        Node("conv1", "int_conv2d", {"weight": w1, "wexp": e1}, conv_attrs, (2, 8, 8), (4, 8, 8)),
        hid("n1", (4, 8, 8)),
        Node("pool", "sumpool2d", {}, {"kernel_size": (2, 2), "stride": (2, 2), "padding": (0, 0)}, (4, 8, 8), (4, 4, 4)),
        Node("conv2", "int_conv2d", {"weight": w2, "wexp": e2}, {**conv_attrs, "stride": (2, 2), "groups": 2}, (4, 4, 4), (6, 2, 2)),
        hid("n2", (6, 2, 2)),
        Node("flat", "flatten", {}, {"start_dim": 1, "end_dim": -1}, (6, 2, 2), (24,)),
        dense("fc", 24, 5, rng),
        neuron("out", "int_li", (5,), rng),
        output_node((5,)),
    ]
    edges = [("input", "conv1"), ("conv1", "n1"), ("n1", "pool"), ("pool", "conv2"), ("conv2", "n2"), ("n2", "flat"), ("flat", "fc"), ("fc", "out"), ("out", "output")]
    return program(nodes, edges, realization)


def conv_loop(prog: Program, x: np.ndarray):
    g = prog.graph
    inp = g.nodes["input"].attrs
    xi = quantize(x, inp["exp"], inp["bits"], inp["signed"])
    B = x.shape[1]
    N = {k: Neuron(g.nodes[k], B) for k in ("n1", "n2", "out")}
    rec = {k: [] for k in N}
    for t in range(x.shape[0]):
        s1 = N["n1"](conv_syn(g.nodes["conv1"], xi[t]))
        s2 = N["n2"](conv_syn(g.nodes["conv2"], sumpool(s1, 2)))
        o = N["out"](dense_syn(g.nodes["fc"], s2.reshape(B, -1)))
        for k, v in zip(N, (s1, s2, o)):
            rec[k].append(v)
    raw = {k: np.stack(v) for k, v in rec.items()}
    return raw, real(g.nodes["out"], raw["out"]), {k: v.counters for k, v in N.items()}


def residual_program(hidden: str = "int_lif", seed: int = 0, realization: str = "graded", user_delay: int = 2, asn_kw=None) -> Program:
    """``input -> fc1 -> n1 -> fc2 -> n2 -> fc3 -> n3``, plus the skip ``n1 -> delay (user,
    k steps) -> fcr -> bal (balancing delay, 1 step) -> n3``; ``n3 -> output`` (int_li)."""
    rng = np.random.default_rng(seed)
    akw = dict(asn_kw or {})
    hk = akw if hidden == "int_asn" else {}
    I, H = 12, 16
    nodes = [
        input_node((I,), exp=-2, bits=4, signed=False),
        dense("fc1", I, H, rng),
        neuron("n1", hidden, (H,), rng, **hk),
        dense("fc2", H, H, rng),
        neuron("n2", hidden, (H,), rng, **hk),
        dense("fc3", H, 4, rng),
        Node("skip", "delay", {"steps": np.full((H,), user_delay, np.int64)}, {"balance": False}, (H,), (H,)),
        dense("fcr", H, 4, rng),
        Node("bal", "delay", {"steps": np.ones((4,), np.int64)}, {"balance": True}, (4,), (4,)),
        neuron("n3", "int_li", (4,), rng),
        output_node((4,)),
    ]
    edges = [
        ("input", "fc1"), ("fc1", "n1"), ("n1", "fc2"), ("fc2", "n2"), ("n2", "fc3"), ("fc3", "n3"),
        ("n1", "skip"), ("skip", "fcr"), ("fcr", "bal"), ("bal", "n3"), ("n3", "output"),
    ]
    return program(nodes, edges, realization)


def residual_loop(prog: Program, x: np.ndarray):
    g = prog.graph
    inp = g.nodes["input"].attrs
    xi = quantize(x, inp["exp"], inp["bits"], inp["signed"])
    B = x.shape[1]
    k = int(g.nodes["skip"].params["steps"][0])
    N = {n: Neuron(g.nodes[n], B) for n in ("n1", "n2", "n3")}
    rec = {n: [] for n in N}
    for t in range(x.shape[0]):
        s1 = N["n1"](dense_syn(g.nodes["fc1"], xi[t]))
        rec["n1"].append(s1)
        s2 = N["n2"](dense_syn(g.nodes["fc2"], s1))
        delayed = rec["n1"][t - k] if t >= k else np.zeros_like(s1)
        o = N["n3"](dense_syn(g.nodes["fc3"], s2) + dense_syn(g.nodes["fcr"], delayed))
        rec["n2"].append(s2)
        rec["n3"].append(o)
    raw = {n: np.stack(v) for n, v in rec.items()}
    return raw, real(g.nodes["n3"], raw["n3"]), {n: v.counters for n, v in N.items()}


def recurrent_program(hidden: str = "int_lif", seed: int = 0, realization: str = "graded", asn_kw=None) -> Program:
    """``input -> fc_in -> rec``, ``rec -> fc_rec -> rec`` (a cycle), ``rec -> fc_out -> out
    (int_li) -> output``."""
    rng = np.random.default_rng(seed)
    akw = dict(asn_kw or {})
    I, H, O = 6, 10, 3
    nodes = [
        input_node((I,), exp=0, bits=1),
        dense("fc_in", I, H, rng),
        neuron("rec", hidden, (H,), rng, **(akw if hidden == "int_asn" else {"reset": "subtract"})),
        dense("fc_rec", H, H, rng, wexp=(0, 1)),
        dense("fc_out", H, O, rng),
        neuron("out", "int_li", (O,), rng),
        output_node((O,)),
    ]
    edges = [("input", "fc_in"), ("fc_in", "rec"), ("rec", "fc_rec"), ("fc_rec", "rec"), ("rec", "fc_out"), ("fc_out", "out"), ("out", "output")]
    return program(nodes, edges, realization)


def recurrent_loop(prog: Program, x: np.ndarray):
    g = prog.graph
    xi = quantize(x, 0, 1, False)
    B = x.shape[1]
    N = {n: Neuron(g.nodes[n], B) for n in ("rec", "out")}
    rec = {n: [] for n in N}
    s = np.zeros((B,) + tuple(g.nodes["rec"].out_shape), np.int64)
    for t in range(x.shape[0]):
        s = N["rec"](dense_syn(g.nodes["fc_in"], xi[t]) + dense_syn(g.nodes["fc_rec"], s))
        o = N["out"](dense_syn(g.nodes["fc_out"], s))
        rec["rec"].append(s)
        rec["out"].append(o)
    raw = {n: np.stack(v) for n, v in rec.items()}
    return raw, real(g.nodes["out"], raw["out"]), {n: v.counters for n, v in N.items()}
