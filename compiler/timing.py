"""Hardware-time depths (see ``docs/semantics.md``, "Hardware time and the depth shift").

Every neuron reads its input one step late, so a node's output in hardware time is its
model-time output shifted by its *depth*: the number of neurons on its path from the input.
Explicit (user) delays act in both times and add nothing; balancing delays inserted by the
compiler add their step count. A cycle (strongly connected component) shares one depth.
"""

from __future__ import annotations

import warnings

import networkx as nx

from .ir import NEURON_OPS, Graph


def _own(n) -> int:
    if n.op in NEURON_OPS:
        return 1
    if n.op == "delay" and n.attrs.get("balance"):
        return int(n.params["steps"].max())
    return 0


def arrival_depths(g: Graph) -> tuple[dict[str, int], dict[str, dict[str, int]], dict[str, int]]:
    """Compute each node's depth and, per node, the depth of each external predecessor.

    Returns:
        ``(depth, incoming, base)``: ``depth[node]``; ``incoming[node][pred]`` for the
        predecessors outside the node's cycle; ``base[node]``, the deepest arrival over the
        node's whole cycle (or the node alone), which every incoming edge must match.
    """
    dg = g.nx()
    cond = nx.condensation(dg)
    comp = cond.graph["mapping"]
    depth: dict[str, int] = {}
    incoming: dict[str, dict[str, int]] = {}
    bases: dict[str, int] = {}
    for c in nx.topological_sort(cond):
        members = cond.nodes[c]["members"]
        ext = {m: {p: depth[p] for p in g.preds(m) if comp[p] != c} for m in members}
        base = max([d for m in members for d in ext[m].values()], default=0)
        cyclic = len(members) > 1 or dg.has_edge(next(iter(members)), next(iter(members)))
        if cyclic:
            k = sum(1 for m in members if g.nodes[m].op in NEURON_OPS)
            if k > 1:
                warnings.warn(
                    f"cycle through {k} neuron nodes ({', '.join(sorted(members))}): in hardware time the loop takes {k} steps, "
                    "so its trace differs from a zero-delay model",
                    stacklevel=2,
                )
            d = base + (1 if k else 0)
            for m in members:
                depth[m] = d
        else:
            (m,) = members
            depth[m] = base + _own(g.nodes[m])
        incoming.update(ext)
        bases.update({m: base for m in members})
    return depth, incoming, bases
