"""Delay balancing for skip connections.

Where edges of different depth meet (a residual addition, a multi-input output), the
shallower edges get an explicit ``delay`` node (``balance=True``) of the missing steps, so
the join sees the same model-time step on every input, as a zero-delay torch model does.
"""

from __future__ import annotations

import numpy as np

from ..ir import Graph, Node
from ..timing import arrival_depths


def balance_delays(g: Graph) -> Graph:
    """Insert balancing delay nodes (pure). Runs after discretization."""
    nodes = dict(g.nodes)
    edges = list(g.edges)
    for _ in range(len(nodes) + 1):
        cur = g.replace(nodes=nodes, edges=edges)
        depth, incoming, base = arrival_depths(cur)
        # every edge entering a node (or its cycle) from outside must arrive at the same depth
        todo = [(p, v, base[v] - d) for v, preds in incoming.items() for p, d in preds.items() if d < base[v]]
        if not todo:
            break
        for p, v, k in todo:
            name = f"{p}->{v}.delay{k}"
            shape = nodes[p].out_shape
            nodes[name] = Node(name, "delay", {"steps": np.full(shape, k, dtype=np.int64)}, {"balance": True}, shape, shape)
            edges = [(a, b) if (a, b) != (p, v) else (p, name) for a, b in edges] + [(name, v)]
    return g.replace(nodes=nodes, edges=edges)
