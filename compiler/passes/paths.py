"""Synapse paths: the chains of transparent nodes between weighted layers, sources and neurons.

The integer passes reason about *paths*: a neuron's input is a sum over paths, each starting
at a weighted layer (``affine``/``conv``, or their integer forms) or directly at a source
(the input, a neuron), followed by a chain of *transparent* nodes (``delay``, ``flatten``,
``sumpool2d``) that are linear and exact on integers.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import GraphError
from ..ir import Graph

#: Linear, integer-exact nodes a synapse path may pass through.
TRANSPARENT = frozenset({"delay", "flatten", "sumpool2d"})
#: Float weighted layers (before quantization).
WEIGHTED = frozenset({"affine", "conv1d", "conv2d"})
#: Integer weighted layers (after quantization).
INT_WEIGHTED = frozenset({"int_dense", "int_conv1d", "int_conv2d"})


@dataclass(frozen=True)
class Path:
    """A chain ``start -> chain[0] -> ... -> chain[-1] -> end``.

    Attributes:
        start: First node (weighted layer, source, or anything not transparent).
        chain: The transparent nodes in between, in forward order.
        end: Last node (not transparent).
    """

    start: str
    chain: tuple[str, ...]
    end: str

    def user_delays(self, g: Graph) -> list[str]:
        """Delay nodes of the chain that the model asked for (not balancing delays)."""
        return [c for c in self.chain if g.nodes[c].op == "delay" and not g.nodes[c].attrs.get("balance")]


def _where(g: Graph) -> str:
    return str(g.metadata.get("source", "graph"))


def _paths(g: Graph, name: str, forward: bool) -> list[Path]:
    """Walk from ``name`` through transparent nodes (forward or back) to the first other node."""
    out: list[Path] = []
    step = g.succs if forward else g.preds

    def walk(node: str, chain: tuple[str, ...], seen: frozenset) -> None:
        for m in step(node):
            if g.nodes[m].op in TRANSPARENT:
                if m in seen:
                    raise GraphError(f"{_where(g)}: cycle through transparent nodes only ({m}); integer targets need a neuron in every loop")
                walk(m, (*chain, m) if forward else (m, *chain), seen | {m})
            else:
                out.append(Path(name, chain, m) if forward else Path(m, chain, name))

    walk(name, (), frozenset({name}))
    return out


def paths_into(g: Graph, name: str) -> list[Path]:
    """Every path ending at ``name``: walk back through transparent nodes to the first other node.

    Raises:
        GraphError: A cycle made of transparent nodes only.
    """
    return _paths(g, name, forward=False)


def paths_from(g: Graph, name: str) -> list[Path]:
    """Every path starting at ``name``: walk forward through transparent nodes to the first other node.

    Raises:
        GraphError: A cycle made of transparent nodes only.
    """
    return _paths(g, name, forward=True)


__all__ = ["INT_WEIGHTED", "Path", "TRANSPARENT", "WEIGHTED", "paths_from", "paths_into"]
