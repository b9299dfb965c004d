"""Fold NASN's ``1/N`` into the next layer's weights (``docs/integer.md``, ``int_asn``).

A float ``asn`` node outputs ``c / N``; the integer ``int_asn`` emits ``c - alpha`` and the
weighted layers it feeds (through transparent nodes) absorb ``1/N`` in their columns, before
their exponents are chosen. Output nodes it feeds read ``(e + alpha) / N`` at dequantization
and are left alone. The node is marked ``attrs["n_folded"] = True``; from then on the float
graph is no longer runnable as is (the next pass, ``quantize``, consumes the mark).
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph
from .fold_forward import fold_forward


def fold_nasn(g: Graph) -> Graph:
    """Fold ``1/N`` of every ``asn`` node with ``N != 1`` forward (pure).

    Raises:
        GraphError: A consumer cannot absorb ``1/N`` (a neuron fed directly, or a layer fed by
            other nodes too).
    """
    for k, n in list(g.nodes.items()):
        if n.op not in ("asn", "spe_asn") or n.attrs.get("n_folded"):
            continue
        N = int(n.attrs.get("N", 1))
        nodes = dict(g.nodes)
        if N != 1:
            nodes = fold_forward(g, k, np.full(n.out_shape, 1.0 / N), outputs_ok=True, neurons_ok=False, why=f"the 1/N of NASN node '{k}'")
        nodes[k] = n.replace(attrs={**n.attrs, "n_folded": True})
        g = g.replace(nodes=nodes)
    return g


__all__ = ["fold_nasn"]
