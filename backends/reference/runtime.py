"""The reference executor, for float and integer programs.

Feed-forward parts run layer by layer over all steps at once (one matrix product for all
steps, then the neuron recurrence as a compiled scan); strongly connected components
(recurrent segments) run step by step. Time is hardware time (each neuron reads its input
one step late); the returned :class:`~spikeforge.backends.Trace` is shifted back to model
time by each node's depth.

Integer programs (``target="loihi2"``, ``docs/integer.md``) run in int64 under the same
timing rules (:class:`_IntExecutor`): the input is quantized, probes hold raw integers and
``Trace.output`` is dequantized; wraps, saturations and clipped inputs are counted in
``Trace.warnings``. Graded ``int_asn`` spikes run in one of two realizations: ``"graded"``
(one integer payload per step) or ``"binary"`` (``D`` binary sub-steps per macro step that
the synapses accumulate before the receiving neuron updates).
"""

from __future__ import annotations

from typing import Iterable

import networkx as nx
import numpy as np

from spikeforge.compiler.errors import InputError, SpikeforgeError
from spikeforge.compiler.ir import NEURON_OPS

from ..trace import Trace
from .neurons import INT_NEURONS, NEURONS
from .ops import STATELESS, clipped_input_warning, overflow_warnings, quantize_input

#: Ops only integer programs have.
INT_ONLY_OPS = frozenset({"int_dense", "int_conv1d", "int_conv2d"}) | INT_NEURONS
#: Every op an integer program may hold (``docs/integer.md``, "Integer Program node format").
INT_OPS = INT_ONLY_OPS | {"input", "output", "identity", "sumpool2d", "flatten", "delay"}
#: Ways to run graded (``int_asn``) spikes.
REALIZATIONS = ("graded", "binary")


def _check_input(prog, x) -> np.ndarray:
    x = np.asarray(x)
    want = prog.input_shape
    if x.ndim != 2 + len(want) or tuple(x.shape[2:]) != tuple(want):
        raise InputError(f"input has shape {x.shape}; the program expects (T, B, {', '.join(map(str, want))})")
    if not np.all(np.isfinite(x)):
        raise InputError("input contains NaN or inf values")
    return x.astype(np.float64, copy=False)


def is_integer_program(prog) -> bool:
    """Whether ``prog`` is an integer program (a ``loihi2*`` target or any integer op)."""
    return str(prog.target).startswith("loihi2") or any(n.op in INT_ONLY_OPS for n in prog.graph.nodes.values())


def _check_ops(prog) -> None:
    if is_integer_program(prog):
        bad = [f"'{n.name}' ({n.op})" for n in prog.graph.nodes.values() if n.op not in INT_OPS]
        if bad:
            raise SpikeforgeError(
                f"integer program holds nodes the integer reference cannot run: {', '.join(bad)}; "
                f"integer programs use only {', '.join(sorted(INT_OPS))}"
            )
        return
    for n in prog.graph.nodes.values():
        if n.op not in STATELESS and n.op not in NEURONS and n.op != "delay":
            known = sorted(set(STATELESS) | set(NEURONS) | {"delay"})
            raise SpikeforgeError(f"node '{n.name}' has op '{n.op}' that the reference backend cannot run; supported: {', '.join(known)}")


def _delay_full(x: np.ndarray, steps: np.ndarray, lead: int = 2) -> np.ndarray:
    """Per-element delay along axis 0 of a whole ``(T, *lead axes, *shape)`` array.

    ``lead`` counts the leading axes (time included) that are not feature axes: 2 for
    ``(T, B, *shape)``, 3 for the integer executor's ``(T, S, B, *shape)`` streams.
    """
    out = np.zeros_like(x)
    T = x.shape[0]
    st = np.broadcast_to(steps, x.shape[lead:])
    rest = (slice(None),) * (lead - 1)
    for k in np.unique(st):
        k = int(k)
        if k >= T:
            continue
        mask = st == k
        out[(slice(k, None), *rest, mask)] = x[(slice(None, T - k), *rest, mask)]
    return out


class _Walker:
    """Runs a graph's condensation in topological order: single acyclic nodes over all steps
    at once (``run_full``), strongly connected components step by step (``run_cycle``)."""

    g: object

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

    def cycle_order(self, members: list[str]) -> list[str]:
        """Per-step evaluation order of a cycle: edges into stateful nodes (neurons, delays)
        read the previous step, so only the others constrain the order."""
        g = self.g
        stateful = {m for m in members if g.nodes[m].op in NEURON_OPS or g.nodes[m].op == "delay"}
        sub = nx.DiGraph()
        sub.add_nodes_from(members)
        sub.add_edges_from((a, b) for a, b in g.edges if a in members and b in members and b not in stateful)
        return list(nx.topological_sort(sub))


class _Executor(_Walker):
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
        order = self.cycle_order(members)
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

    def model_time(self, name: str) -> np.ndarray:
        d = self.prog.depths[name]
        return self.vals[name][d : d + self.T]


class _IntExecutor(_Walker):
    """Runs an integer program in int64 (``docs/integer.md``), with the float executor's timing.

    Every node's value is a *stream* ``(TT, S, B, *shape)``: ``S`` sub-steps per hardware
    step. ``S = 1`` everywhere in the graded realization; in the binary one an ``int_asn``
    node emits ``D`` binary sub-steps (``1`` in sub-step ``k`` iff ``k < e``), the stateless
    nodes downstream run on every sub-step (a node joining streams of several widths takes the
    widest; narrower ones are zero in the extra sub-steps) and a neuron accumulates the
    sub-steps of each macro step before it updates, once per macro step.

    A neuron at depth ``d`` runs exactly its ``T`` model steps (hardware steps
    ``[d, d + T)``), so the overflow counts cover the returned trace only.
    """

    def __init__(self, prog, x: np.ndarray, binary: bool, record: Iterable[str] = ()) -> None:
        self.prog = prog
        self.g = prog.graph
        self.T, self.B = x.shape[:2]
        self.TT = self.T + prog.max_depth
        # the quantized input, zero-padded to TT hardware steps, as a stream of one sub-step
        self.x = np.zeros((self.TT, 1) + x.shape[1:], np.int64)
        exp, bits, signed = _input_attrs(prog)
        _, self.input_clipped = quantize_input(x, exp, bits, signed, out=self.x[: self.T, 0])
        self.binary = binary
        self.record = set(record)
        self.layers: dict[str, object] = {}
        self.vals: dict[str, np.ndarray] = {}  # streams (TT, S, B, *shape)
        self.raw: dict[str, np.ndarray] = {}  # neurons: macro-step outputs (TT, B, *shape)
        self.S = self._substeps()

    # -- streams -------------------------------------------------------------------------
    def _substeps(self) -> dict[str, int]:
        """Sub-steps per hardware step of every node's output stream (fixed point over cycles)."""
        g = self.g
        S = {m: (max(1, int(n.attrs["D"])) if self.binary and n.op in ("int_asn", "int_spe_asn") else 1) for m, n in g.nodes.items()}
        free = [m for m, n in g.nodes.items() if n.op not in NEURON_OPS and n.op != "input"]
        preds = {m: g.preds(m) for m in free}
        changed = True
        while changed:
            changed = False
            for m in free:
                s = max([S[p] for p in preds[m]], default=1)
                if s != S[m]:
                    S[m], changed = s, True
        return S

    def _shape(self, name: str, which: str = "out") -> tuple[int, ...]:
        n = self.g.nodes[name]
        return tuple((n.out_shape if which == "out" else n.in_shape) or ())

    def _expand(self, name: str, e: np.ndarray) -> np.ndarray:
        """Macro-step outputs ``(L, B, *shape)`` -> stream ``(L, S, B, *shape)``."""
        S = self.S[name]
        if S == 1:
            return e[:, None]
        k = np.arange(S, dtype=np.int64).reshape((1, S) + (1,) * (e.ndim - 1))
        return (e[:, None] > k).astype(np.int64)

    def _stream_in(self, name: str, t: int | None = None) -> np.ndarray:
        """The summed input stream of a stateless node (all steps, or hardware step ``t``)."""
        preds = self.g.preds(name)
        S = self.S[name]
        lead = (self.TT, S, self.B) if t is None else (S, self.B)
        ax = 1 if t is None else 0
        vs = [self.vals[p] if t is None else self.vals[p][t] for p in preds]
        if len(vs) == 1 and vs[0].shape[ax] == S:
            return vs[0]
        acc = np.zeros(lead + self._shape(name, "in"), np.int64)
        for v in vs:
            idx = (slice(None),) * ax + (slice(0, v.shape[ax]),)
            acc[idx] += v
        return acc

    def _macro_in(self, name: str, t: int | None = None) -> np.ndarray:
        """A neuron's synaptic input per macro step: its inputs' sub-steps accumulated."""
        ax = 1 if t is None else 0
        acc = None
        for p in self.g.preds(name):
            v = self.vals[p] if t is None else self.vals[p][t]
            v = v[(slice(None),) * ax + (0,)] if v.shape[ax] == 1 else v.sum(axis=ax)
            acc = v if acc is None else acc + v
        if acc is None:
            lead = (self.TT, self.B) if t is None else (self.B,)
            acc = np.zeros(lead + self._shape(name, "in"), np.int64)
        return acc

    def _layer(self, name: str):
        if name not in self.layers:
            n = self.g.nodes[name]
            self.layers[name] = NEURONS[n.op](n, self.B, record=name in self.record)
        return self.layers[name]

    def _stateless(self, name: str, inp: np.ndarray, lead: tuple[int, ...]) -> np.ndarray:
        n = self.g.nodes[name]
        flat = inp.reshape((int(np.prod(lead)),) + self._shape(name, "in"))
        return STATELESS[n.op](n, flat).reshape(lead + self._shape(name))

    # -- execution -----------------------------------------------------------------------
    def run_full(self, name: str) -> None:
        n = self.g.nodes[name]
        if n.op == "input":
            self.vals[name] = self.x
        elif n.op in NEURON_OPS:
            d = self.prog.depths[name]
            a = self._macro_in(name)
            raw = np.zeros((self.TT, self.B) + self._shape(name), np.int64)
            # starts at hardware step d (model step 0), reading its input one step late
            raw[d : d + self.T] = self._layer(name).advance(a[d - 1 : d - 1 + self.T])
            self.raw[name] = raw
            self.vals[name] = self._expand(name, raw)
        elif n.op == "delay":
            self.vals[name] = _delay_full(self._stream_in(name), n.params["steps"], lead=3)
        else:
            self.vals[name] = self._stateless(name, self._stream_in(name), (self.TT, self.S[name], self.B))

    def run_cycle(self, members: list[str]) -> None:
        g = self.g
        order = self.cycle_order(members)
        for m in members:
            self.vals[m] = np.zeros((self.TT, self.S[m], self.B) + self._shape(m), np.int64)
            if g.nodes[m].op in NEURON_OPS:
                self.raw[m] = np.zeros((self.TT, self.B) + self._shape(m), np.int64)
        for t in range(self.TT):
            for m in order:
                n = g.nodes[m]
                if n.op in NEURON_OPS:
                    d = self.prog.depths[m]
                    if t < d or t >= d + self.T:  # outside its model time: it does not run
                        continue
                    e = self._layer(m).advance(self._macro_in(m, t - 1)[None])[0]
                    self.raw[m][t] = e
                    self.vals[m][t] = self._expand(m, e[None])[0]
                elif n.op == "delay":
                    st = np.broadcast_to(n.params["steps"], self._shape(m))
                    out = np.zeros((self.S[m], self.B) + self._shape(m), np.int64)
                    for k in np.unique(st):
                        if t - int(k) >= 0:
                            mask = st == k
                            src = self._stream_in(m, t - int(k))
                            out[:, :, mask] = src[:, :, mask]
                    self.vals[m][t] = out
                else:
                    self.vals[m][t] = self._stateless(m, self._stream_in(m, t), (self.S[m], self.B))

    # -- results -------------------------------------------------------------------------
    def model_time(self, name: str) -> np.ndarray:
        """Raw integers of a node in model time ``(T, B, *shape)`` (sub-steps accumulated)."""
        d = self.prog.depths[name]
        if name in self.raw:
            return self.raw[name][d : d + self.T]
        v = self.vals[name][d : d + self.T]
        return v[:, 0] if v.shape[1] == 1 else v.sum(axis=1)

    def real_output(self, name: str) -> np.ndarray:
        """Dequantized float64 values of ``name`` in model time (:mod:`..dequantize`)."""
        from ..dequantize import output_sources, real_output

        raw = {m: self.raw[m][self.prog.depths[m] : self.prog.depths[m] + self.T] for m in output_sources(self.prog, name)}
        return real_output(self.prog, raw, self.x[: self.T, 0], name)

    def warnings(self) -> dict[str, int]:
        """Counted overflow events: clipped inputs, wrapped currents, saturated voltages."""
        w = clipped_input_warning(self.prog, self.input_clipped)
        for name, layer in self.layers.items():
            w.update(overflow_warnings(name, layer.counts["wrap"], layer.counts["saturate"]))
        return w


def _input_attrs(prog) -> tuple[int, int, bool]:
    n = prog.graph.nodes[prog.input_name]
    try:
        return int(n.attrs["exp"]), int(n.attrs["bits"]), bool(n.attrs.get("signed", False))
    except (KeyError, TypeError, ValueError):
        raise SpikeforgeError(f"input node '{n.name}' of an integer program needs the attrs 'exp', 'bits' and 'signed' (docs/integer.md)") from None


def _run_integer(prog, x: np.ndarray, probes: list[str], record_v: list[str], realization: str) -> Trace:
    ex = _IntExecutor(prog, x, binary=realization == "binary", record=record_v)
    ex.run()
    out_name = prog.output_name
    tr = Trace(
        output=ex.real_output(out_name),
        probes={p: ex.model_time(p) for p in probes},
        backend="reference",
        hw_steps=ex.TT,
        depths={p: prog.depths[p] for p in [*probes, out_name]},
        warnings=ex.warnings(),
    )
    for name in record_v:
        layer = ex.layers.get(name)
        if layer is not None and layer.v_recs:
            tr.probes[f"{name}.v"] = np.concatenate(layer.v_recs, axis=0)[: ex.T]
    return tr


def run_reference(prog, x, probes: Iterable[str] = (), record_v: Iterable[str] = (), realization: str | None = None) -> Trace:
    """Run a float or integer program on the reference backend.

    Integer programs (``docs/integer.md``) run in int64: ``x`` is quantized by the input
    node (clipped values are counted in ``Trace.warnings``), probes hold raw integers (spikes
    0/1, ``int_asn`` emissions ``c - alpha``, ``int_li`` voltages, synaptic sums) and
    ``Trace.output`` is dequantized to float64 (spikes 0/1, ``int_asn`` ``(e + alpha) / N``,
    ``int_li`` ``v * 2^-p``). Current wraps and voltage saturations are counted per node.

    Args:
        prog: The :class:`~spikeforge.compiler.Program`.
        x: Input ``(T, B, *input_shape)`` (real values).
        probes: Node names to return (model time).
        record_v: Neuron node names whose pre-reset membrane to return as probes
            ``"<name>.v"`` (``U`` for ``asn``/``int_asn``; raw integers in integer programs).
        realization: Integer programs only: ``"graded"`` or ``"binary"`` graded spikes
            (default: ``prog.graph.metadata["realization"]``, else ``"graded"``). Both give the
            same trajectories.

    Returns:
        The :class:`Trace`.

    Raises:
        InputError: Bad input shape or values, unknown probe.
        SpikeforgeError: Unsupported op, bad integer node, unknown realization.
    """
    _check_ops(prog)
    x = _check_input(prog, x)
    probes = list(probes)
    record_v = list(record_v)
    for p in probes + record_v:
        if p not in prog.graph.nodes:
            raise InputError(f"probe '{p}' names no node; nodes: {', '.join(prog.graph.nodes)}")
    if is_integer_program(prog):
        realization = realization or prog.graph.metadata.get("realization", "graded")
        if realization not in REALIZATIONS:
            raise SpikeforgeError(f"unknown realization {realization!r}; use one of {', '.join(REALIZATIONS)}")
        return _run_integer(prog, x, probes, record_v, realization)
    if realization not in (None, "graded"):
        raise SpikeforgeError(f"realization={realization!r} applies to integer programs only (this one is float)")
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
