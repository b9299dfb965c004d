"""Shape inference: every node gets ``in_shape``/``out_shape``; neuron parameters broadcast.

Shapes are feature shapes (no time or batch axis). Rules are registered per op.
Scalar-shaped parameters (as snnTorch, Norse and others often write) are broadcast to the
neuron shape found from the node's input.
"""

from __future__ import annotations

import warnings
from typing import Callable

import networkx as nx
import numpy as np

from ..errors import GraphError
from ..ir import CONTINUOUS_NEURON_OPS, NEURON_OPS, Graph, Node

Shape = tuple[int, ...]
#: op -> rule(node, in_shape, where) -> node with both shapes set.
SHAPE_RULES: dict[str, Callable[[Node, Shape, str], Node]] = {}


def rule(*ops: str):
    """Decorator: register a shape rule for ops."""

    def deco(fn):
        for op in ops:
            SHAPE_RULES[op] = fn
        return fn

    return deco


def _mismatch(n: Node, where: str, got: Shape, want: object) -> GraphError:
    return GraphError(f"{where}: node '{n.name}' ({n.op}) gets input of shape {got}, expects {want}")


@rule("input", "output", "identity", "Delay", "delay")
def _same(n: Node, s: Shape, where: str) -> Node:
    params = dict(n.params)
    for k, v in params.items():
        if tuple(np.shape(v)) != s:  # scalars (0-d) broadcast too, as the module docstring says
            try:
                params[k] = np.broadcast_to(v, s).copy()
            except ValueError:
                raise _mismatch(n, where, s, f"shape {np.shape(v)} of its '{k}' parameter") from None
    return n.replace(params=params, in_shape=s, out_shape=s)


@rule("affine")
def _affine(n: Node, s: Shape, where: str) -> Node:
    w = n.params["weight"]
    if w.ndim != 2:
        raise GraphError(f"{where}: node '{n.name}' (affine) weight has {w.ndim} dims; only 2-D weights (out, in) are supported")
    if s != (w.shape[1],):
        raise _mismatch(n, where, s, f"({w.shape[1]},) (weight is {w.shape})")
    if n.params["bias"].shape not in ((w.shape[0],), ()):
        raise GraphError(f"{where}: node '{n.name}' (affine) bias shape {n.params['bias'].shape} does not match {w.shape[0]} outputs")
    return n.replace(in_shape=s, out_shape=(w.shape[0],))


def conv_out(size: int, k: int, stride: int, pad: int, dil: int) -> int:
    """Output length of one convolution/pooling axis (torch's formula)."""
    return (size + 2 * pad - dil * (k - 1) - 1) // stride + 1


def resolve_padding(padding: object, kernel: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[int, ...]:
    """Turn ``"valid"``/``"same"``/ints into per-axis symmetric padding (odd effective kernels for 'same')."""
    nd = len(kernel)
    if padding == "valid":
        return (0,) * nd
    if padding == "same":
        return tuple(d * (k - 1) // 2 for k, d in zip(kernel, dilation))
    return tuple(int(p) for p in padding)  # type: ignore[union-attr]


@rule("conv1d", "conv2d")
def _conv(n: Node, s: Shape, where: str) -> Node:
    w = n.params["weight"]
    nd = w.ndim - 2
    g = n.attrs["groups"]
    if len(s) != nd + 1 or s[0] != w.shape[1] * g:
        raise _mismatch(n, where, s, f"({w.shape[1] * g}, <{nd} spatial dims>)")
    if n.attrs["padding"] == "same" and any(d * (k - 1) % 2 for k, d in zip(w.shape[2:], n.attrs["dilation"])):
        raise GraphError(f"{where}: node '{n.name}' padding='same' needs an odd effective kernel; got {w.shape[2:]}")
    pad = resolve_padding(n.attrs["padding"], w.shape[2:], n.attrs["dilation"])
    out = tuple(
        conv_out(s[i + 1], w.shape[2 + i], n.attrs["stride"][i], pad[i], n.attrs["dilation"][i]) for i in range(nd)
    )
    if min(out) < 1:
        raise GraphError(f"{where}: node '{n.name}' ({n.op}) output would be empty for input {s}")
    return n.replace(in_shape=s, out_shape=(w.shape[0], *out), attrs={**n.attrs, "padding": pad})


@rule("sumpool2d", "avgpool2d")
def _pool(n: Node, s: Shape, where: str) -> Node:
    if len(s) != 3:
        raise _mismatch(n, where, s, "(C, H, W)")
    k, st, p = n.attrs["kernel_size"], n.attrs["stride"], n.attrs["padding"]
    st = tuple(k[i] if st[i] == 0 else st[i] for i in range(2))
    out = tuple(conv_out(s[i + 1], k[i], st[i], p[i], 1) for i in range(2))
    if min(out) < 1:
        raise GraphError(f"{where}: node '{n.name}' ({n.op}) output would be empty for input {s}")
    return n.replace(in_shape=s, out_shape=(s[0], *out), attrs={**n.attrs, "stride": st})


@rule("flatten")
def _flatten(n: Node, s: Shape, where: str) -> Node:
    size = int(np.prod(s))
    declared = n.out_shape
    if declared is not None and int(np.prod(declared)) == size and (n.in_shape is None or tuple(n.in_shape) == s):
        return n.replace(in_shape=s, out_shape=tuple(declared))
    a, b = n.attrs["start_dim"], n.attrs["end_dim"]
    nd = len(s)
    a = a + nd if a < 0 else a
    b = b + nd if b < 0 else b
    if not (0 <= a <= b < nd):
        raise GraphError(f"{where}: node '{n.name}' (flatten) start_dim/end_dim {n.attrs['start_dim']}/{n.attrs['end_dim']} invalid for input {s}")
    out = (*s[:a], int(np.prod(s[a : b + 1])), *s[b + 1 :])
    return n.replace(in_shape=s, out_shape=out)


@rule("scale", "threshold", *CONTINUOUS_NEURON_OPS, *NEURON_OPS)
def _elementwise(n: Node, s: Shape, where: str) -> Node:
    return _same(n, s, where)


#: Ops whose full-shaped parameters fix their shape even before an input shape is known.
SELF_SHAPED = frozenset({"scale", "threshold", "Delay", "delay", *CONTINUOUS_NEURON_OPS, *NEURON_OPS})


def _own_shape(n: Node) -> Shape | None:
    """Shape a node defines by itself (input declaration or full-shaped parameters)."""
    if n.op == "input":
        return n.out_shape
    return n.in_shape if n.op in SELF_SHAPED else None


def infer_shapes(g: Graph) -> Graph:
    """Give every node its input and output feature shape.

    Some producers (Norse, Rockpool) declare the Input type with the sample's batch axis,
    e.g. ``(1, 5)`` for 5 features. When inference fails with the declared shapes and an input
    shape starts with 1, it is retried without that axis; if that succeeds, a warning says so.

    Raises:
        GraphError: A shape mismatch (the node, what it got, what it expects), an input
            without a declared shape, or an unsupported op.
    """
    try:
        return _infer(g)
    except GraphError as first:
        batchy = [k for k in g.inputs if g.nodes[k].out_shape is not None and len(g.nodes[k].out_shape) > 1 and g.nodes[k].out_shape[0] == 1]
        if not batchy:
            raise
        nodes = dict(g.nodes)
        for k in batchy:
            s = tuple(nodes[k].out_shape[1:])
            nodes[k] = nodes[k].replace(in_shape=s, out_shape=s)
        try:
            out = _infer(g.replace(nodes=nodes))
        except GraphError:
            raise first from None
        where = str(g.metadata.get("source", "graph"))
        for k in batchy:
            warnings.warn(
                f"{where}: input '{k}' declares shape {tuple(g.nodes[k].out_shape)} including a batch axis of 1; using {tuple(nodes[k].out_shape)}",
                stacklevel=2,
            )
        return out


def _infer(g: Graph) -> Graph:
    where = str(g.metadata.get("source", "graph"))
    nodes = dict(g.nodes)
    for n in nodes.values():
        if n.op not in SHAPE_RULES:
            raise GraphError(f"{where}: node '{n.name}' has op '{n.op}' with no shape rule; supported: {', '.join(sorted(SHAPE_RULES))}")
    for name in g.inputs:
        if nodes[name].out_shape is None:
            raise GraphError(f"{where}: input node '{name}' declares no shape; NIR Input needs input_type")
    cond = nx.condensation(g.nx())
    order = [m for c in nx.topological_sort(cond) for m in sorted(cond.nodes[c]["members"], key=list(nodes).index)]
    done: set[str] = set()
    for _ in range(len(nodes) + 1):
        progress = False
        for name in order:
            if name in done:
                continue
            n = nodes[name]
            known = [nodes[p].out_shape for p in g.preds(name) if p in done]
            s = known[0] if known else _own_shape(n)
            if s is None:
                continue
            nodes[name] = SHAPE_RULES[n.op](n, tuple(int(v) for v in s), where)
            done.add(name)
            progress = True
        if not progress:
            break
    missing = [k for k in nodes if k not in done]
    if missing:
        raise GraphError(f"{where}: cannot infer the shape of node(s) {', '.join(missing)}: not reachable from an input with a known shape")
    for k in g.outputs:
        declared = g.nodes[k].out_shape
        if declared is not None and tuple(declared) != nodes[k].out_shape:
            warnings.warn(
                f"{where}: output '{k}' declares shape {tuple(declared)} but receives {nodes[k].out_shape}; using {nodes[k].out_shape}",
                stacklevel=3,
            )
    for a, b in g.edges:
        if nodes[a].out_shape != nodes[b].in_shape:
            raise GraphError(
                f"{where}: shape mismatch on edge {a} -> {b}: '{a}' gives {nodes[a].out_shape}, '{b}' ({nodes[b].op}) expects {nodes[b].in_shape}"
            )
    return g.replace(nodes=nodes)
