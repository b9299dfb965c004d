"""Fixed-point grids of the integer program (``docs/integer.md``, "Fixed-point grid").

* Every *source* (the input, a spiking neuron) emits integers on the grid ``2^s``: ``s`` is
  the input exponent for the input and 0 for spikes; its largest magnitude bounds the
  worst-case synaptic sums (1 for binary spikes, ``D`` for ASN, the input's calibrated or
  representable peak for the input).
* Every weighted layer gets canonical per-row exponents ``e`` (per layer when its
  ``weight_quant`` attr says so) and the common exponent ``s`` of its sources.
* Every neuron gets ``q = min_k(e_k + s_k)`` over its incoming paths, per neuron, i.e. the
  membrane LSB ``2^-p`` with ``p = 6 - q``; the path of row ``e_k`` then shifts by
  ``wexp = e_k + s_k - q``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...models.quant import row_exps
from ..errors import GraphError, UnsupportedNodeError
from ..ir import Graph, Node
from ..targets import Target
from .issues import where
from .linops import LabelConflict, push, push_labels, row_labels
from .paths import WEIGHTED, Path, paths_into

#: Ops that emit integers a synapse can carry, with their grid exponent rule.
SPIKING_SOURCES = ("lif", "cuba_lif", "asn", "mtc", "spe_lif", "spe_asn")
#: Neuron ops whose output is the membrane (integer targets: only to an output).
LEAKY = ("li", "cuba_li")


@dataclass(frozen=True)
class Layer:
    """Quantization facts of one weighted layer.

    Attributes:
        node: The (float) node.
        s: Exponent of its sources' integers.
        e: Canonical exponent per row (output channel).
        maxsrc: Largest magnitude of its input integers, per input element.
        qat: Whether the weights were exported by quantization-aware training
            (``weight_quant`` attr present).
    """

    node: Node
    s: int
    e: np.ndarray
    maxsrc: np.ndarray
    qat: bool

    @property
    def rows(self) -> int:
        """Number of rows (output features or channels)."""
        return int(self.node.params["weight"].shape[0])


@dataclass(frozen=True)
class Edge:
    """One path into a neuron, with its exponent ``e + s`` per neuron (NaN: not reached).

    Attributes:
        path: The path.
        layer: The weighted layer it starts at (``None``: straight from a source).
        label: ``e + s`` per element of the neuron.
        ids: Row of ``layer`` feeding each neuron element (NaN: none); ``None`` without layer.
    """

    path: Path
    layer: Layer | None
    label: np.ndarray
    ids: np.ndarray | None


def source_exp(g: Graph, name: str) -> int:
    """Grid exponent of a source's integers."""
    n = g.nodes[name]
    if n.op == "mtc":  # graded output out / 2^OUT_BITS (models/mtc/spec.py)
        from ...models.mtc.spec import OUT_BITS

        return -OUT_BITS
    return int(n.attrs["exp"]) if n.op == "input" else 0


def source_max(g: Graph, name: str) -> int:
    """Largest magnitude a source emits (input: calibrated peak if known, else its range)."""
    from .input_grid import int_range

    n = g.nodes[name]
    if n.op == "input":
        peak = g.metadata.get("input_peak")
        lo, hi = int_range(int(n.attrs["bits"]), bool(n.attrs["signed"]))
        return int(peak) if peak is not None else max(-lo, hi)
    if n.op in ("asn", "spe_asn"):
        return int(n.attrs["D"])
    if n.op == "mtc":
        from ...models.mtc.spec import OUT_MAX

        return OUT_MAX
    return 1


def _bad_source(g: Graph, p: Path) -> Exception:
    w_ = where(g)
    st = g.nodes[p.start]
    if st.op in WEIGHTED:
        return GraphError(f"{w_}: weighted layer '{p.start}' feeds '{p.end}' without a neuron in between; integer targets need a neuron after every weighted layer")
    if st.op in LEAKY:
        return GraphError(f"{w_}: non-spiking node '{p.start}' ({st.op}) feeds '{p.end}'; on integer targets its membrane can only go to an output")
    return UnsupportedNodeError(f"{w_}: node '{p.start}' ({st.op}) has no integer form; sources of synapses are the input and spiking neurons ({', '.join(SPIKING_SOURCES)})")


def _is_source(g: Graph, name: str) -> bool:
    return g.nodes[name].op == "input" or g.nodes[name].op in SPIKING_SOURCES


def layer(g: Graph, w: Node, target: Target) -> Layer:
    """Quantization facts of weighted node ``w``.

    Raises:
        GraphError: It is fed by a non-source, or by sources on different grids.
    """
    paths = paths_into(g, w.name)
    for p in paths:
        if not _is_source(g, p.start):
            raise _bad_source(g, p)
    exps = sorted({source_exp(g, p.start) for p in paths})
    if len(exps) > 1:
        srcs = ", ".join(f"'{p.start}' (2^{source_exp(g, p.start)})" for p in paths)
        raise GraphError(f"{where(g)}: weighted layer '{w.name}' sums sources on different grids: {srcs}; integer targets need one grid per layer")
    maxsrc = np.zeros(tuple(w.in_shape))
    for p in paths:
        maxsrc = maxsrc + push(g, p.chain, np.full(tuple(g.nodes[p.start].out_shape), float(source_max(g, p.start))))
    per_layer = w.attrs.get("weight_quant") == "per_layer"
    e = row_exps(w.params["weight"], per_layer=per_layer, mant_max=target.weight_max)
    return Layer(node=w, s=exps[0] if exps else 0, e=e, maxsrc=maxsrc, qat="weight_quant" in w.attrs)


def edges_into(g: Graph, name: str, layers: dict[str, Layer]) -> list[Edge]:
    """The paths into neuron ``name`` with their exponent labels.

    Raises:
        GraphError: A path starts at something that is neither a weighted layer nor a source,
            or a pooling window mixes rows with different exponents.
    """
    out = []
    for p in paths_into(g, name):
        st = g.nodes[p.start]
        try:
            if st.op in WEIGHTED:
                L = layers[p.start]
                lab = push_labels(g, p.chain, row_labels(st, L.e + L.s))
                ids = push_labels(g, p.chain, row_labels(st, np.arange(L.rows)))
                out.append(Edge(p, L, lab, ids))
            elif _is_source(g, p.start):
                lab = push_labels(g, p.chain, np.full(tuple(st.out_shape), float(source_exp(g, p.start))))
                out.append(Edge(p, None, lab, None))
            else:
                raise _bad_source(g, p)
        except LabelConflict as e:
            raise GraphError(f"{where(g)}: node '{name}': pooling '{e.node}' mixes rows of '{p.start}' with different weight exponents") from None
    return out


def grid(edges: list[Edge], shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``(q, qmax)``: the smallest and largest ``e + s`` per neuron over its edges (int64).

    Neurons no edge reaches take the node's smallest value (0 if none).
    """
    if not edges:
        z = np.zeros(shape, np.int64)
        return z, z
    labs = np.stack([np.broadcast_to(e.label, shape) for e in edges])
    reached = ~np.isnan(labs)
    lo = np.where(reached, labs, np.inf).min(axis=0)
    hi = np.where(reached, labs, -np.inf).max(axis=0)
    fill = lo[np.isfinite(lo)].min() if np.isfinite(lo).any() else 0.0
    lo = np.where(np.isfinite(lo), lo, fill)
    hi = np.where(np.isfinite(hi), hi, lo)
    return lo.astype(np.int64), hi.astype(np.int64)


__all__ = ["Edge", "LEAKY", "Layer", "SPIKING_SOURCES", "edges_into", "grid", "layer", "source_exp", "source_max"]
