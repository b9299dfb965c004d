"""BatchNorm folding: merge a BatchNorm node into the convolution or affine node before it.

The frontend emits BatchNorm (eval statistics) as a depthwise 1x1 convolution (2-D) or a
diagonal affine (1-D) tagged ``role="batchnorm"``. When its only predecessor is a conv or
affine node that feeds nothing else, the two fold into one node: :math:`W' = s \\odot W`,
:math:`b' = s \\odot b + \\beta'`. A BatchNorm that cannot fold stays as an ordinary linear node.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Node, bypass


def _scale_shift(bn: Node) -> tuple[np.ndarray, np.ndarray] | None:
    w, b = bn.params["weight"], bn.params["bias"]
    if bn.op == "affine" and np.count_nonzero(w - np.diag(np.diag(w))) == 0:
        return np.diag(w).copy(), b
    if bn.op in ("conv1d", "conv2d") and w.shape[1] == 1 and all(k == 1 for k in w.shape[2:]) and bn.attrs["groups"] == w.shape[0]:
        return w.reshape(w.shape[0]).copy(), b
    return None


def fold_batchnorm(g: Graph) -> Graph:
    """Fold every foldable BatchNorm node into its producer (pure)."""
    nodes = dict(g.nodes)
    edges = list(g.edges)
    for name in [k for k, n in g.nodes.items() if n.attrs.get("role") == "batchnorm"]:
        bn = nodes[name]
        preds = [a for a, b in edges if b == name]
        if len(preds) != 1:
            continue
        p = nodes[preds[0]]
        if p.op not in ("affine", "conv1d", "conv2d") or [b for a, b in edges if a == p.name] != [name]:
            continue
        ss = _scale_shift(bn)
        if ss is None:
            continue
        s, sh = ss
        w = p.params["weight"] * s.reshape((-1,) + (1,) * (p.params["weight"].ndim - 1))
        nodes[p.name] = p.replace(params={**p.params, "weight": w, "bias": p.params["bias"] * s + sh}, out_shape=bn.out_shape or p.out_shape)
        edges = bypass(edges, name)
        del nodes[name]
    return g.replace(nodes=nodes, edges=edges)
