"""Structural validation: edges, inputs/outputs, finite parameters, algebraic loops."""

from __future__ import annotations

import networkx as nx
import numpy as np

from ..errors import GraphError
from ..ir import CONTINUOUS_NEURON_OPS, NEURON_OPS, Graph


def _where(g: Graph) -> str:
    return str(g.metadata.get("source", "graph"))


def validate(g: Graph) -> Graph:
    """Reject malformed graphs.

    Checks: at least one input and one output; every edge names existing nodes; inputs have
    no incoming edges and outputs no outgoing; every parameter is finite.

    Raises:
        GraphError: With the node and the problem.
    """
    where = _where(g)
    if not g.inputs:
        raise GraphError(f"{where}: graph has no Input node")
    if not g.outputs:
        raise GraphError(f"{where}: graph has no Output node")
    for a, b in g.edges:
        for end in (a, b):
            if end not in g.nodes:
                raise GraphError(f"{where}: edge ({a} -> {b}) names missing node '{end}'")
    for name in g.inputs:
        if g.preds(name):
            raise GraphError(f"{where}: input node '{name}' has incoming edges")
    for name in g.outputs:
        if not g.preds(name):
            raise GraphError(f"{where}: output node '{name}' is not connected to anything")
        if g.succs(name):
            raise GraphError(f"{where}: output node '{name}' has outgoing edges")
    for n in g.nodes.values():
        for k, v in n.params.items():
            a = np.asarray(v)
            if a.dtype.kind in "fc" and not np.all(np.isfinite(a)):
                bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
                raise GraphError(
                    f"{where}: node '{n.name}' ({n.op}) parameter '{k}' has {bad} NaN/inf value(s); all parameters must be finite"
                )
    return g


def check_algebraic_loops(g: Graph) -> Graph:
    """Reject cycles that pass through no stateful node (neuron or delay).

    Every neuron reads its input one step late, so a cycle through a neuron is well defined;
    a cycle of stateless nodes only would need an instantaneous fixed point.

    Raises:
        GraphError: Names the nodes of the loop.
    """
    stateful = set(CONTINUOUS_NEURON_OPS) | set(NEURON_OPS) | {"Delay", "delay"}
    dg = nx.DiGraph()
    dg.add_nodes_from(g.nodes)
    dg.add_edges_from((a, b) for a, b in g.edges if g.nodes[b].op not in stateful)
    try:
        cyc = nx.find_cycle(dg)
    except nx.NetworkXNoCycle:
        return g
    names = " -> ".join([a for a, _ in cyc] + [cyc[0][0]])
    raise GraphError(
        f"{_where(g)}: algebraic loop with no delay: {names}; every cycle must pass through a neuron or Delay node"
    )
