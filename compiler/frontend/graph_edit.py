"""Small rewrites of the NIR graph nirtorch returns."""

from __future__ import annotations

from typing import Dict, List, Tuple

import nir
import numpy as np

from ..ir import bypass, dedupe
from .registry import DROP_KEY

__all__ = ["remove_dropped", "rename_ports", "set_port_types"]

Edges = List[Tuple[str, str]]


def remove_dropped(nodes: Dict[str, nir.NIRNode], edges: Edges) -> Tuple[Dict[str, nir.NIRNode], Edges]:
    """Remove nodes marked with ``DROP_KEY``, connecting their predecessors to their successors."""
    nodes = dict(nodes)
    edges = dedupe(edges)
    for name in [k for k, n in nodes.items() if n.metadata.get(DROP_KEY)]:
        edges = bypass(edges, name)
        del nodes[name]
    return nodes, edges


def rename_ports(nodes: Dict[str, nir.NIRNode], edges: Edges) -> Tuple[Dict[str, nir.NIRNode], Edges]:
    """Rename the single Input node to ``"input"`` and the single Output node to ``"output"``."""
    rename = {}
    for cls, want in ((nir.Input, "input"), (nir.Output, "output")):
        names = [k for k, n in nodes.items() if isinstance(n, cls)]
        if len(names) == 1 and names[0] != want:
            if want in nodes:  # a module already uses the name: move it aside
                alt = f"{want}_module"
                while alt in nodes or alt in rename.values():
                    alt += "_"
                rename[want] = alt
            rename[names[0]] = want
    if not rename:
        return nodes, edges
    new_nodes = {rename.get(k, k): v for k, v in nodes.items()}
    new_edges = [(rename.get(a, a), rename.get(b, b)) for a, b in edges]
    return new_nodes, new_edges


def set_port_types(nodes: Dict[str, nir.NIRNode], in_shape, out_shape) -> None:
    """Give Input and Output nodes the sample's feature shapes (in place)."""
    for n in nodes.values():
        if isinstance(n, nir.Input):
            n.input_type = {"input": np.array(in_shape, dtype=np.int64)}
            n.output_type = {"output": np.array(in_shape, dtype=np.int64)}
        elif isinstance(n, nir.Output):
            n.input_type = {"input": np.array(out_shape, dtype=np.int64)}
            n.output_type = {"output": np.array(out_shape, dtype=np.int64)}
