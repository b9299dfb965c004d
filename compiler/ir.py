"""The compiler's working graph: typed nodes and edges, with a networkx view for topology.

NIR is the interchange format; passes work on this small immutable graph instead. A
:class:`Graph` is produced from a NIR graph by :func:`spikeforge.compiler.from_nir.from_nir`
(nested subgraphs flattened, names joined with ``.``) and is never mutated: passes return
new graphs (:meth:`Graph.replace`).

Node ``op`` values are registry keys. Before discretization neuron nodes carry the NIR
type name (``"LIF"``, ``"CubaLIF"``, ...) and continuous parameters; after the
``discretize`` pass they carry a discrete op (``"lif"``, ``"cuba_lif"``, ``"li"``,
``"cuba_li"``, ``"delay"``) whose parameters are per-step decays and gains
(see ``docs/semantics.md``). Stateless ops are time-independent and named in lower case
from the start.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterable, Mapping

import networkx as nx
import numpy as np

#: Ops that carry state over time. Each reads its input one step late in hardware time.
NEURON_OPS = frozenset({"lif", "cuba_lif", "li", "cuba_li", "asn", "mtc", "spe_lif", "spe_asn",
                        "int_lif", "int_li", "int_asn", "int_mtc", "int_spe_lif", "int_spe_asn"})
#: Integer (``target="loihi2"``) neuron ops; see ``docs/integer.md``.
INT_NEURON_OPS = frozenset({"int_lif", "int_li", "int_asn", "int_mtc", "int_spe_lif", "int_spe_asn"})
#: Continuous (NIR) neuron types, before discretization.
CONTINUOUS_NEURON_OPS = frozenset({"LIF", "CubaLIF", "IF", "LI", "CubaLI", "I", "ASN", "MTC", "SPE"})
#: Ops that emit spikes (binary in float mode).
SPIKING_OPS = frozenset({"lif", "cuba_lif", "threshold", "asn", "spe_lif", "spe_asn", "int_lif", "int_asn", "int_spe_lif", "int_spe_asn"})


Edges = list[tuple[str, str]]


def dedupe(edges: Iterable[tuple[str, str]]) -> Edges:
    """Edges without repeats, first occurrence order kept."""
    return list(dict.fromkeys(edges))


def bypass(edges: Iterable[tuple[str, str]], name: str) -> Edges:
    """Remove node ``name`` from an edge list, connecting its predecessors to its successors.

    Self-loops on ``name`` are dropped; the result has no repeated edges.
    """
    edges = list(edges)
    preds = [a for a, b in edges if b == name and a != name]
    succs = [b for a, b in edges if a == name and b != name]
    return dedupe([e for e in edges if name not in e] + [(a, b) for a in preds for b in succs])


@dataclass(frozen=True)
class Node:
    """One node of the working graph.

    Attributes:
        name: Unique node name (nested NIR subgraph names are joined with ``.``).
        op: Registry key of the operation.
        params: Numeric parameters (numpy arrays), by name.
        attrs: Non-array attributes (ints, floats, strings, tuples).
        in_shape: Feature shape of the summed input (no time or batch axis).
        out_shape: Feature shape of the output.
    """

    name: str
    op: str
    params: Mapping[str, np.ndarray] = field(default_factory=dict)
    attrs: Mapping[str, Any] = field(default_factory=dict)
    in_shape: tuple[int, ...] | None = None
    out_shape: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "attrs", MappingProxyType(dict(self.attrs)))

    def replace(self, **changes: Any) -> "Node":
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    @property
    def is_neuron(self) -> bool:
        """Whether the node is a stateful (discrete) neuron."""
        return self.op in NEURON_OPS


@dataclass(frozen=True)
class Graph:
    """An immutable graph of :class:`Node` with ordered edges (``(src, dst)`` names).

    Several edges into one node are summed (NIR semantics).
    """

    nodes: Mapping[str, Node]
    edges: tuple[tuple[str, str], ...]
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "nodes", MappingProxyType(dict(self.nodes)))
        object.__setattr__(self, "edges", tuple((str(a), str(b)) for a, b in self.edges))
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    def replace(
        self,
        nodes: Mapping[str, Node] | Iterable[Node] | None = None,
        edges: Iterable[tuple[str, str]] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> "Graph":
        """Return a new graph with nodes, edges or metadata replaced."""
        if nodes is not None and not isinstance(nodes, Mapping):
            nodes = {n.name: n for n in nodes}
        return Graph(
            nodes=self.nodes if nodes is None else nodes,
            edges=self.edges if edges is None else tuple(edges),
            metadata=self.metadata if metadata is None else metadata,
        )

    def nx(self) -> nx.DiGraph:
        """A networkx view of the topology (node names only)."""
        g = nx.DiGraph()
        g.add_nodes_from(self.nodes)
        g.add_edges_from(self.edges)
        return g

    def preds(self, name: str) -> list[str]:
        """Names of the nodes feeding ``name``, in edge order."""
        return [a for a, b in self.edges if b == name]

    def succs(self, name: str) -> list[str]:
        """Names of the nodes fed by ``name``, in edge order."""
        return [b for a, b in self.edges if a == name]

    def by_op(self, *ops: str) -> list[Node]:
        """Nodes whose op is one of ``ops``, in insertion order."""
        return [n for n in self.nodes.values() if n.op in ops]

    @property
    def inputs(self) -> list[str]:
        """Names of the input nodes."""
        return [n.name for n in self.by_op("input")]

    @property
    def outputs(self) -> list[str]:
        """Names of the output nodes."""
        return [n.name for n in self.by_op("output")]
