"""The reference executor (float mode).

Feed-forward parts run layer by layer over all steps at once (one matrix product for all
steps, then the neuron recurrence as a compiled scan); strongly connected components
(recurrent segments) run step by step. Time is hardware time (each neuron reads its input
one step late); the returned :class:`~spikeforge.backends.Trace` is shifted back to model
time by each node's depth.
"""

from __future__ import annotations

from typing import Iterable

import networkx as nx
import numpy as np

from spikeforge.compiler.errors import InputError, SpikeforgeError
from spikeforge.compiler.ir import NEURON_OPS

from ..trace import Trace
from .neurons import NEURONS
from .ops import STATELESS


def _check_input(prog, x) -> np.ndarray:
    x = np.asarray(x)
    want = prog.input_shape
    if x.ndim != 2 + len(want) or tuple(x.shape[2:]) != tuple(want):
        raise InputError(f"input has shape {x.shape}; the program expects (T, B, {', '.join(map(str, want))})")
    if not np.all(np.isfinite(x)):
        raise InputError("input contains NaN or inf values")
    return x.astype(np.float64, copy=False)


def _check_ops(prog) -> None:
    for n in prog.graph.nodes.values():
        if n.op not in STATELESS and n.op not in NEURONS and n.op != "delay":
            known = sorted(set(STATELESS) | set(NEURONS) | {"delay"})
            raise SpikeforgeError(f"node '{n.name}' has op '{n.op}' that the reference backend cannot run; supported: {', '.join(known)}")


def _delay_full(x: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Per-element delay over a whole (T, B, *shape) array."""
    out = np.zeros_like(x)
    T = x.shape[0]
    st = np.broadcast_to(steps, x.shape[2:])
    for k in np.unique(st):
        k = int(k)
        if k >= T:
            continue
        mask = st == k
        out[k:, :, mask] = x[: T - k, :, mask]
    return out


class _Executor:
    def __init__(self, prog, x: np.ndarray, record: Iterable[str] = ()) -> None:
        self.prog = prog
        self.g = prog.graph
        self.T, self.B = x.shape[:2]
        self.TT = self.T + prog.max_depth
        pad = np.zeros((self.TT - self.T, self.B) + x.shape[2:])
        self.x = np.concatenate([x, pad], axis=0)
        self.vals: dict[str, np.ndarray] = {}
        self.record = set(record)
        self.layers: dict[str, object] = {}

    def _zeros(self, name: str) -> np.ndarray:
        return np.zeros((self.TT, self.B) + tuple(self.g.nodes[name].out_shape or ()))

    def _sum_in(self, name: str, causal: bool = False) -> np.ndarray:
        preds = self.g.preds(name)
        n = self.g.nodes[name]
        if not preds:
            return np.zeros((self.TT, self.B) + tuple(n.in_shape or ()))
        acc = self._val(preds[0], causal)
        for p in preds[1:]:
            acc = acc + self._val(p, causal)
        return acc

    def _val(self, name: str, causal: bool) -> np.ndarray:
        """A node's hardware-time values; with ``causal``, zero before its depth.

        Hardware steps before a node's depth are negative model time: a bias there must not
        reach anything that runs in model time (a delay would otherwise pass it on).
        """
        v = self.vals[name]
        d = self.prog.depths[name]
        if causal and d:
            v = v.copy()
            v[:d] = 0.0
        return v

    def _layer(self, name: str):
        if name not in self.layers:
            n = self.g.nodes[name]
            self.layers[name] = NEURONS[n.op](n, self.B, record=name in self.record)
        return self.layers[name]

    def run_full(self, name: str) -> None:
        n = self.g.nodes[name]
        if n.op == "input":
            self.vals[name] = self.x
            return
        if n.op in NEURON_OPS:
            inp = self._sum_in(name)
            # A neuron at depth d >= 1 starts at hardware step d (its model step 0), reading its
            # input one step late (inp[d-1:-1]); before that it holds its reset state, so neither
            # its leak drive nor an upstream bias integrates during negative model time.
            d = self.prog.depths[name]
            out = np.zeros((self.TT, self.B) + tuple(n.out_shape))
            out[d:] = self._layer(name).advance(inp[d - 1 : self.TT - 1])
            self.vals[name] = out
        elif n.op == "delay":
            self.vals[name] = _delay_full(self._sum_in(name, causal=True), n.params["steps"])
        else:
            inp = self._sum_in(name)
            flat = inp.reshape((self.TT * self.B,) + tuple(n.in_shape))
            self.vals[name] = STATELESS[n.op](n, flat).reshape((self.TT, self.B) + tuple(n.out_shape))

    def run_cycle(self, members: list[str]) -> None:
        g = self.g
        stateful = {m for m in members if g.nodes[m].op in NEURON_OPS or g.nodes[m].op == "delay"}
        sub = nx.DiGraph()
        sub.add_nodes_from(members)
        sub.add_edges_from((a, b) for a, b in g.edges if a in members and b in members and b not in stateful)
        order = list(nx.topological_sort(sub))
        for m in members:
            self.vals[m] = self._zeros(m)
        preds = {m: g.preds(m) for m in members}
        for t in range(self.TT):
            for m in order:
                n = g.nodes[m]
                if n.op in NEURON_OPS:
                    if t < self.prog.depths[m]:  # negative model time: the neuron has not started
                        continue
                    inp = sum((self.vals[p][t - 1] for p in preds[m]), np.zeros((self.B,) + tuple(n.in_shape))) if t else np.zeros((self.B,) + tuple(n.in_shape))
                    self.vals[m][t] = self._layer(m).advance(inp[None])[0]
                elif n.op == "delay":
                    st = np.broadcast_to(n.params["steps"], n.out_shape)
                    out = np.zeros((self.B,) + tuple(n.out_shape))
                    for k in np.unique(st):
                        if t - int(k) >= 0:
                            mask = st == k
                            # a source's steps before its depth are negative model time: zeros
                            src = sum(self.vals[p][t - int(k)] * (t - int(k) >= self.prog.depths[p]) for p in preds[m])
                            out[:, mask] = src[:, mask]
                    self.vals[m][t] = out
                else:
                    inp = sum((self.vals[p][t] for p in preds[m]), np.zeros((self.B,) + tuple(n.in_shape)))
                    self.vals[m][t] = STATELESS[n.op](n, inp)

    def run(self) -> None:
        dg = self.g.nx()
        cond = nx.condensation(dg)
        order = list(self.g.nodes)
        for c in nx.topological_sort(cond):
            members = sorted(cond.nodes[c]["members"], key=order.index)
            if len(members) == 1 and not dg.has_edge(members[0], members[0]):
                self.run_full(members[0])
            else:
                self.run_cycle(members)

    def model_time(self, name: str) -> np.ndarray:
        d = self.prog.depths[name]
        return self.vals[name][d : d + self.T]


def run_reference(prog, x, probes: Iterable[str] = (), record_v: Iterable[str] = ()) -> Trace:
    """Run a float program on the reference backend.

    Args:
        prog: The :class:`~spikeforge.compiler.Program`.
        x: Input ``(T, B, *input_shape)``.
        probes: Node names to return (model time).
        record_v: Spiking node names whose pre-reset membrane to return as probes
            ``"<name>.v"``.

    Returns:
        The :class:`Trace`.

    Raises:
        InputError: Bad input shape or values, unknown probe.
    """
    _check_ops(prog)
    x = _check_input(prog, x)
    probes = list(probes)
    for p in list(probes) + list(record_v):
        if p not in prog.graph.nodes:
            raise InputError(f"probe '{p}' names no node; nodes: {', '.join(prog.graph.nodes)}")
    ex = _Executor(prog, x, record=record_v)
    ex.run()
    out_name = prog.output_name
    tr = Trace(
        output=ex.model_time(out_name),
        probes={p: ex.model_time(p) for p in probes},
        backend="reference",
        hw_steps=ex.TT,
        depths={p: prog.depths[p] for p in [*probes, out_name]},
    )
    for name in record_v:
        layer = ex.layers.get(name)
        if layer is not None and layer.v_recs:
            # the layer starts stepping at its depth, so its record begins at model step 0
            v = np.concatenate(layer.v_recs, axis=0)
            tr.probes[f"{name}.v"] = v[: ex.T]
    return tr
