"""Fold a per-element factor forward into the next weighted layers (``scale``, ``avgpool2d``).

Integer targets have no multiplier outside the synapses, so a ``scale`` node and the
``1/(kh*kw)`` of an average pool are folded into the columns of the weighted layers they feed
(through transparent nodes), before the weights are quantized:

* ``fold_scale``: the ``scale`` node is removed and its factors multiply the next layer's
  input columns (per input channel for a convolution);
* ``fold_avgpool``: ``avgpool2d`` becomes ``sumpool2d`` and ``1/(kh*kw)`` multiplies the next
  layer's weights.

A factor reaching a neuron directly multiplies its input gain ``g`` instead (folded into the
weights before it by ``fold_gains``). Folding must not change any other input, so each layer
it scales must be fed only through the folded node.
"""

from __future__ import annotations

import numpy as np

from ..errors import GraphError
from ..ir import NEURON_OPS, Graph, Node, bypass
from .linops import LabelConflict, push_labels
from .paths import WEIGHTED, paths_from, paths_into
from .issues import where


def _cols_affine(n: Node, f: np.ndarray) -> Node:
    f = np.where(np.isnan(f), 1.0, f).reshape(-1)
    return n.replace(params={**n.params, "weight": n.params["weight"] * f[None, :]})


def _cols_conv(n: Node, f: np.ndarray, origin: str, w_: str) -> Node:
    flat = f.reshape(f.shape[0], -1)
    lo = np.where(np.isnan(flat), np.inf, flat).min(axis=1)
    hi = np.where(np.isnan(flat), -np.inf, flat).max(axis=1)
    varies = np.isfinite(lo) & (lo != hi)
    if varies.any():
        c = int(np.argmax(varies))
        raise GraphError(f"{w_}: cannot fold '{origin}' into convolution '{n.name}': its factor varies over input channel {c}; only per-channel factors fold into a convolution")
    per_c = np.where(np.isfinite(lo), lo, 1.0)
    w = n.params["weight"]
    groups = int(n.attrs["groups"])
    cin_g, cout_g = w.shape[1], w.shape[0] // groups
    scale = np.ones(w.shape[:2])
    for gi in range(groups):
        scale[gi * cout_g : (gi + 1) * cout_g] = per_c[gi * cin_g : (gi + 1) * cin_g][None, :]
    return n.replace(params={**n.params, "weight": w * scale.reshape(scale.shape + (1,) * (w.ndim - 2))})


def fold_forward(g: Graph, origin: str, factor: np.ndarray, outputs_ok: bool = False, neurons_ok: bool = True, why: str = "") -> dict[str, Node]:
    """Multiply everything ``origin`` feeds (through transparent nodes) by ``factor``.

    Args:
        g: The graph.
        origin: The node whose output is scaled.
        factor: Per-element factor, shaped like ``origin``'s output.
        outputs_ok: Paths ending at an output node are left alone (their consumer scales
            itself, e.g. NASN's ``1/N`` at dequantization) instead of being an error.
        neurons_ok: A path may end at a neuron, whose gain ``g`` is then multiplied.
        why: What is folded, for messages.

    Returns:
        The graph's nodes with the consumers rescaled (``origin`` unchanged).

    Raises:
        GraphError: A consumer is fed by other nodes too, a factor varies within a pooling
            window or a convolution channel, or a consumer cannot absorb a factor.
    """
    w_ = where(g)
    nodes = dict(g.nodes)
    ends: dict[str, list[np.ndarray]] = {}
    factor = np.broadcast_to(np.asarray(factor, dtype=np.float64), tuple(g.nodes[origin].out_shape))
    for path in paths_from(g, origin):
        try:
            lab = push_labels(g, path.chain, factor)
        except LabelConflict as e:
            raise GraphError(f"{w_}: cannot fold {why or origin}: the factor varies within a window of pooling node '{e.node}'") from None
        ends.setdefault(path.end, []).append(lab)
    for end, labs in ends.items():
        n = nodes[end]
        if n.op == "output" and outputs_ok:
            continue
        lab = labs[0]
        if any(not np.array_equal(lab, x, equal_nan=True) for x in labs[1:]):
            raise GraphError(f"{w_}: cannot fold {why or origin} into '{end}': it arrives over several paths with different factors")
        others = sorted({p.start for p in paths_into(g, end)} - {origin})
        if others:
            raise GraphError(
                f"{w_}: cannot fold {why or origin} into '{end}' ({n.op}): '{end}' is also fed by {', '.join(others)}; "
                "it must be fed only through the folded node"
            )
        if n.op == "affine":
            nodes[end] = _cols_affine(n, lab)
        elif n.op in ("conv1d", "conv2d"):
            nodes[end] = _cols_conv(n, lab, origin, w_)
        elif n.op in NEURON_OPS and neurons_ok and "g" in n.params:
            nodes[end] = n.replace(params={**n.params, "g": n.params["g"] * np.where(np.isnan(lab), 1.0, lab)})
        else:
            raise GraphError(
                f"{w_}: cannot fold {why or origin} into '{end}' ({n.op}); integer targets fold it into a following "
                f"weighted layer ({', '.join(sorted(WEIGHTED))}){' or neuron' if neurons_ok else ''}"
            )
    return nodes


def fold_scale(g: Graph) -> Graph:
    """Remove every ``scale`` node, folding its factors into what it feeds (pure)."""
    for s in [k for k, n in g.nodes.items() if n.op == "scale"]:
        nodes = fold_forward(g, s, g.nodes[s].params["scale"], why=f"scale node '{s}'")
        del nodes[s]
        g = g.replace(nodes=nodes, edges=bypass(g.edges, s))
    return g


def fold_avgpool(g: Graph) -> Graph:
    """Turn every ``avgpool2d`` into ``sumpool2d``, folding ``1/(kh*kw)`` forward (pure)."""
    for a in [k for k, n in g.nodes.items() if n.op == "avgpool2d"]:
        n = g.nodes[a]
        kh, kw = n.attrs["kernel_size"]
        nodes = fold_forward(g, a, np.full(n.out_shape, 1.0 / (kh * kw)), why=f"average pool '{a}'")
        nodes[a] = n.replace(op="sumpool2d")
        g = g.replace(nodes=nodes)
    return g


__all__ = ["fold_avgpool", "fold_forward", "fold_scale"]
