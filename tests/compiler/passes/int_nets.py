"""Small NIR graphs and helpers shared by the integer-pass tests (no torch).

Graphs are built with ``nir`` directly; ASN nodes are ``nir.IF`` with the metadata of
``docs/integer.md`` ("NIR form").
"""

from __future__ import annotations

import nir
import numpy as np

from spikeforge.compiler.from_nir import from_nir
from spikeforge.compiler.passes import pipeline
from spikeforge.compiler.program import Program
from spikeforge.models.lowering import cuba_lif_node, lif_node, li_node, spike_fields


def on_grid(w, e: int) -> np.ndarray:
    """``w`` rounded to the grid ``2^e``."""
    return np.round(np.asarray(w, dtype=np.float64) / 2.0**e) * 2.0**e


def lif(n, beta=0.5, th=1.0, reset="zero", metadata=None) -> nir.LIF:
    """A LIF node with discrete decay ``beta`` (dt = 1, exact) and unit input gain."""
    shape = (n,) if np.ndim(n) == 0 else tuple(n)
    node = lif_node(np.full(shape, beta), spike_fields(np.broadcast_to(th, shape), np.zeros(shape), reset), 1.0, "exact")
    if metadata:
        node.metadata.update(metadata)
    return node


def if_(shape, th=1.0, reset="subtract") -> nir.IF:
    """An IF node (``v += x``, dt = 1)."""
    shape = (shape,) if np.ndim(shape) == 0 else tuple(shape)
    meta = {"reset": "subtract"} if reset == "subtract" else {}
    return nir.IF(r=np.ones(shape), v_threshold=np.broadcast_to(np.asarray(th, dtype=np.float64), shape).copy(), v_reset=np.zeros(shape), metadata=meta)


def asn(shape, alpha=0, D=4, N=1, model="ASN", beta=None) -> nir.NIRNode:
    """An ASN/NASN/I-LIF node in its NIR form (``nir.IF``, or ``nir.LIF`` with decay ``beta``)."""
    shape = (shape,) if np.ndim(shape) == 0 else tuple(shape)
    meta = {"spikeforge.model": model, "alpha": alpha, "D": D, "N": N, "reset": "subtract"}
    if beta is None:
        return nir.IF(r=np.ones(shape), v_threshold=np.full(shape, 0.5), v_reset=np.zeros(shape), metadata=meta)
    node = lif_node(np.full(shape, beta), spike_fields(np.full(shape, 0.5), np.zeros(shape), "subtract"), 1.0, "exact")
    node.metadata.update(meta)
    return node


def cuba(n, alpha=0.5, beta=0.9, th=1.0) -> nir.CubaLIF:
    """A CUBA-LIF node (dt = 1, exact) with unit gains."""
    return cuba_lif_node(np.full(n, alpha), np.full(n, beta), spike_fields(np.full(n, th), np.zeros(n), "zero"), 1.0, "exact")


def li(n, beta=0.9) -> nir.LI:
    """An LI readout (dt = 1, exact)."""
    return li_node(np.full(n, beta), 1.0, "exact")


def chain(*named, in_shape, out_shape, metadata=None) -> nir.NIRGraph:
    """``input -> named[0] -> ... -> output`` (``named``: (name, node) pairs)."""
    nodes = {"input": nir.Input(np.array(in_shape))}
    names = ["input"]
    for k, n in named:
        nodes[k] = n
        names.append(k)
    nodes["output"] = nir.Output(np.array(out_shape))
    names.append("output")
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), metadata=dict(metadata or {}), type_check=False)


def float_graph(g: nir.NIRGraph, dt: float = 1.0):
    """The discrete float working graph (the float pipeline applied)."""
    wg = from_nir(g)
    for p in pipeline("float", dt, "exact"):
        wg = p.run(wg)
    return wg


def run_graph(wg, x, probes=(), record_v=()):
    """Run a (discrete, float) working graph on the float reference backend."""
    from spikeforge.backends.reference.runtime import run_reference

    prog = Program(graph=wg, target="float", dt=float(wg.metadata.get("dt", 1.0)), method="exact")
    return run_reference(prog, x, probes=list(probes), record_v=list(record_v))
