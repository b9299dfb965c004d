"""Range analysis on calibration inputs: run the float program, record peak magnitudes.

Runs after the float-side folds (gains in the weights, biases in the neurons), so the float
program computes exactly the real values the integer program will hold on its grid. The
input is first put on its grid (``input_grid``). For every neuron node it records, per
neuron, the peak over time and batch of

* ``v``: the membrane before reset (``record_v`` of the reference backend; an LI node's output);
* ``a``: the synaptic input (bias-free: the sum of the node's inputs);
* ``u``: CUBA nodes only, the synaptic current ``u_t = a_syn u_{t-1} + a_t``;

in real units, into ``graph.metadata["calibration_peaks"]`` (in memory; ``quantize`` turns
them into integer peaks under ``ranges`` and drops this key).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..ir import NEURON_OPS, Graph
from .input_grid import check_calibration, quantize_input
from .issues import Issues, where

#: Graph metadata key of the real-valued peaks (per node: ``{"v", "a", "u"}`` arrays).
PEAKS_KEY = "calibration_peaks"
#: Neuron ops whose output is the membrane itself.
LEAKY_OPS = ("li", "cuba_li")


def _cuba_current(a: np.ndarray, a_syn: np.ndarray) -> np.ndarray:
    """Peak |u| of ``u_t = a_syn u_{t-1} + a_t`` per neuron, over time and batch."""
    u = np.zeros(a.shape[1:])
    peak = np.zeros(a.shape[2:])
    for t in range(a.shape[0]):
        u = a_syn * u + a[t]
        peak = np.maximum(peak, np.abs(u).max(axis=0))
    return peak


def make_calibrate(calibration: np.ndarray) -> Callable[[Graph], Graph]:
    """Build the range-analysis pass for calibration inputs ``(T, B, *input_shape)``."""

    def calibrate(g: Graph) -> Graph:
        from spikeforge.backends.reference.runtime import run_reference

        from ..errors import SpikeforgeError
        from ..program import Program

        x = check_calibration(g, calibration)
        inp = g.nodes[g.inputs[0]]
        xq = np.ldexp(quantize_input(x, inp.attrs["exp"], inp.attrs["bits"], inp.attrs["signed"]).astype(np.float64), int(inp.attrs["exp"]))
        neurons = [k for k, n in g.nodes.items() if n.op in NEURON_OPS]
        preds = list(dict.fromkeys(p for k in neurons for p in g.preds(k)))
        spiking = [k for k in neurons if g.nodes[k].op not in LEAKY_OPS]
        prog = Program(graph=g, target="float", dt=float(g.metadata.get("dt", 1.0)), method=str(g.metadata.get("discretization", "exact")))
        issues = Issues(where(g))
        try:
            tr = run_reference(prog, xq, probes=list(dict.fromkeys(preds + [k for k in neurons if k not in spiking])), record_v=spiking)
        except SpikeforgeError as e:  # an op the float reference cannot run yet
            issues.warn(f"{where(g)}: range analysis skipped: the float reference cannot run this graph ({e})")
            return issues.into(g)
        peaks: dict[str, dict[str, np.ndarray]] = {}
        for k in neurons:
            n = g.nodes[k]
            shape = tuple(n.out_shape)
            a = sum((tr.probes[p] for p in g.preds(k)), np.zeros((x.shape[0], x.shape[1]) + shape))
            v = tr.probes[k] if k not in spiking else tr.probes.get(f"{k}.v")
            rec = {"a": np.abs(a).max(axis=(0, 1))}
            if v is not None:
                rec["v"] = np.abs(v).max(axis=(0, 1))
            if "a_syn" in n.params:
                rec["u"] = _cuba_current(a, np.broadcast_to(n.params["a_syn"], shape))
            peaks[k] = rec
        return issues.into(g.replace(metadata={**g.metadata, PEAKS_KEY: peaks}))

    return calibrate


__all__ = ["PEAKS_KEY", "make_calibrate"]
