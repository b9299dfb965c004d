"""Fold neuron input gains into the incoming weights (``g``, and ``g_syn`` of CUBA neurons).

Loihi's neurons add their synaptic input unscaled (``u = ... + (a << 6)``), so every
discrete gain must be folded into the rows of the weighted layers that feed the neuron
(through transparent nodes): row ``r`` and its bias are multiplied by the gain of the neurons
it reaches. Gains within ``1e-9`` of 1 (round-off of the discretization) are snapped to 1.

A gain other than 1 cannot be folded when the neuron is fed by something other than a
weighted layer, when it varies within a row (over a convolution channel or a pooling
window), or when one layer feeds neurons that need different factors: each is an error
naming the neuron.
"""

from __future__ import annotations

import numpy as np

from ..errors import GraphError
from ..ir import Graph, Node
from .issues import where
from .linops import LabelConflict, per_row, push_labels, row_labels
from .paths import WEIGHTED, paths_from, paths_into

#: Gains this close to 1 are taken as exactly 1.
SNAP = 1e-9
#: Neuron ops with an input gain, and the parameters that make it up.
GAIN_PARAMS = {"lif": ("g",), "li": ("g",), "asn": ("g",), "mtc": ("g",), "spe_lif": ("g",), "spe_asn": ("g",), "cuba_lif": ("g", "g_syn"), "cuba_li": ("g", "g_syn")}


def total_gain(n: Node) -> np.ndarray:
    """The neuron's total input gain (product of its gain parameters), snapped to 1."""
    G = np.ones(tuple(n.out_shape or ()))
    for k in GAIN_PARAMS[n.op]:
        G = G * np.asarray(n.params[k], dtype=np.float64)
    return np.where(np.abs(G - 1.0) <= SNAP, 1.0, G)


def _row_factors(g: Graph, w: Node, gains: dict[str, np.ndarray]) -> np.ndarray:
    """One factor per row of weighted node ``w``, from the gains of the neurons it reaches."""
    w_ = where(g)
    rows = w.params["weight"].shape[0]
    out = np.full(rows, np.nan)
    ids0 = row_labels(w, np.arange(rows))
    for path in paths_from(g, w.name):
        G = gains.get(path.end)
        if G is None:
            continue
        try:
            ids = push_labels(g, path.chain, ids0)
        except LabelConflict as e:
            raise GraphError(f"{w_}: node '{path.end}': gain cannot be folded into '{w.name}': pooling '{e.node}' mixes its rows") from None
        f, conflict = per_row(ids, G, rows, rtol=1e-12)
        if conflict.any():
            r = int(np.argmax(conflict))
            raise GraphError(
                f"{w_}: node '{path.end}': input gain varies over the neurons fed by row/channel {r} of '{w.name}' "
                "and cannot be folded into its weights"
            )
        clash = ~np.isnan(out) & ~np.isnan(f) & ~np.isclose(out, f, rtol=1e-12, atol=0.0)
        if clash.any():
            raise GraphError(f"{w_}: node '{path.end}': '{w.name}' also feeds neurons with another input gain; the gains cannot both be folded into it")
        out = np.where(np.isnan(out), f, out)
    return np.where(np.isnan(out), 1.0, out)


def fold_gains(g: Graph) -> Graph:
    """Fold every neuron's input gain into the weighted layers before it (pure).

    Raises:
        GraphError: A gain other than 1 cannot be folded (names the neuron and why).
    """
    w_ = where(g)
    gains = {k: total_gain(n) for k, n in g.nodes.items() if n.op in GAIN_PARAMS}
    for k, G in gains.items():
        if np.all(G == 1.0):
            continue
        for path in paths_into(g, k):
            if g.nodes[path.start].op not in WEIGHTED:
                bad = G[G != 1.0].ravel()[0]
                raise GraphError(
                    f"{w_}: node '{k}': input gain g = {bad:.6g} cannot be folded: its input from '{path.start}' "
                    f"({g.nodes[path.start].op}) passes no weighted layer; integer targets need gain 1 there"
                )
    nodes = dict(g.nodes)
    for w in [n for n in g.nodes.values() if n.op in WEIGHTED]:
        f = _row_factors(g, w, gains)
        if np.all(f == 1.0):
            continue
        shape = (-1,) + (1,) * (w.params["weight"].ndim - 1)
        nodes[w.name] = w.replace(params={**w.params, "weight": w.params["weight"] * f.reshape(shape), "bias": w.params["bias"] * f})
    for k in gains:
        n = nodes[k]
        nodes[k] = n.replace(params={**n.params, **{p: np.ones_like(n.params[p]) for p in GAIN_PARAMS[n.op]}})
    return g.replace(nodes=nodes)


__all__ = ["GAIN_PARAMS", "SNAP", "fold_gains", "total_gain"]
