"""Brian2 digital backend: an integer Program as Brian2 groups and synapses, bit-exact.

Mapping (``docs/integer.md``, ``docs/semantics.md``):

* **Groups.** The ``input`` node is a ``NeuronGroup`` whose emission ``y`` reads the quantized
  input from a ``TimedArray`` (zero after the last model step). Every neuron node is a
  ``NeuronGroup`` generated from its op's declaration (:mod:`spikeforge.models.declare`, via
  :mod:`.generate`): params, states and overflow counters as variables, the integer update as
  its ``run_regularly`` code, run once per hardware step. The batch is folded into the group
  (neuron ``b * n + k`` is neuron ``k`` of sample ``b``).
* **Synapses.** One ``Synapses`` object per projection of :mod:`spikeforge.backends.projections`
  (source group -> neuron node, per extra delay): connectivity = the nonzeros of the exact
  integer matrix (``wexp`` shifts folded in), one integer weight per synapse,
  ``on_pre: a_post += w * y_pre`` (``a_post += w`` for binary spikes) and a Brian2 synaptic
  delay of exactly the projection's extra steps. Graded spikes are one event with payload
  ``y`` (``realization="graded"``) or ``y`` binary events ``b0 .. b{D-1}`` (``"binary"``), each a
  synaptic pathway adding ``w``; both give the same sums, so identical trajectories.
* **Timing (hardware time).** One Brian2 step (``dt = 1 ms``, a dummy unit) is one hardware
  step. Within a step a neuron updates (slot ``groups``) from the input delivered during the
  previous step, then emits (``thresholds``), then its synapses deliver (``synapses``): a spike
  reaches the next layer one step later, plus the delay. A neuron node at depth ``d`` is
  active for exactly its ``T`` model steps, hardware steps ``[d, d + T)``: the simulation runs
  in segments between these boundaries and switches groups with Brian2's ``active`` flag (an
  inactive group neither updates nor emits, so no bias integrates in negative model time and
  no value leaves a node outside its model time); where an unbalanced path could deliver
  input before a node starts, its input is cleared one step before it starts, as the
  reference ignores it.
* **Results.** Monitors record the emissions of the probed nodes and of the nodes the output
  depends on; each node's hardware steps ``[d, d + T)`` are its model-time trace (raw
  integers, as the reference returns them); ``Trace.output`` is dequantized by
  :func:`spikeforge.backends.dequantize.real_output`, the function the reference uses. The
  declarations' overflow counters become ``Trace.warnings`` with the reference's texts.

All arithmetic is float64 on integers below ``2^53``, so it is exact; the helpers (``decay``,
``shl``, ``clip24`` ...) have numpy and Cython implementations (:mod:`.functions`), chosen by
``codegen`` (:mod:`.device`).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

import numpy as np

from spikeforge.compiler.errors import InputError, SpikeforgeError
from spikeforge.compiler.ir import NEURON_OPS
from spikeforge.models import declare

from ..dequantize import output_sources, real_neuron, real_output
from ..projections import LINEAR_OPS, Projection, groups, projections
from ..trace import Trace
from . import device
from .generate import UPDATE_WHEN, brian_name, clear_events, neuron_group

#: Ways to run graded spikes (as the reference).
REALIZATIONS = ("graded", "binary")


def _input_attrs(prog) -> tuple[int, int, bool]:
    from ..reference.runtime import _input_attrs as attrs

    return attrs(prog)


def _check(prog) -> dict[str, declare.IntNeuronDecl]:
    """Declarations of every neuron node; a clear error for anything this backend cannot run."""
    from ..reference.runtime import is_integer_program

    if not is_integer_program(prog):
        raise SpikeforgeError(
            f"the brian2 (digital) backend runs integer programs (target loihi2*); this one is '{prog.target}': "
            "compile with target='loihi2', or run a float program / NIR graph on backend 'brian2-analog'"
        )
    decls = {}
    for m, n in prog.graph.nodes.items():
        if n.op in ("input", "output") or n.op in LINEAR_OPS:
            continue
        d = declare.find(n.op)
        if d is None:
            errs = declare.scan_errors()
            extra = f" (spec modules that failed to import: {', '.join(errs)})" if errs else ""
            raise SpikeforgeError(
                f"node '{m}' has op '{n.op}' that the brian2 backend cannot run; supported neuron ops (declared in "
                f"models/*/spec.py): {', '.join(declare.declared_ops())}; between neurons: {', '.join(sorted(LINEAR_OPS))}{extra}"
            )
        decls[m] = d
    return decls


@contextlib.contextmanager
def _no_gc_scan():
    """Skip the full ``gc.collect()`` Brian2's ``Network.run`` starts with.

    Brian2 collects garbage at every ``run`` only to warn about objects created but left out
    of a network; our networks are explicit, and in a large process (torch loaded) the
    collection costs more than the simulation of a small network, once per segment.
    """
    import brian2.core.network as bnet

    real = bnet.gc
    bnet.gc = _NoCollect
    try:
        yield
    finally:
        bnet.gc = real


class _NoCollect:
    @staticmethod
    def collect(*args, **kwargs) -> int:
        return 0


@dataclass
class DigitalNetwork:
    """The Brian2 objects of one integer program for one input (built by :func:`build`).

    Attributes:
        prog: The program.
        T: Model steps.
        B: Batch size.
        net: The Brian2 ``Network``.
        groups: Group node name -> Brian2 ``NeuronGroup`` (the input and every neuron node).
        monitors: Node name -> Brian2 monitor of its emissions.
        projections: The projections the synapses realise.
        x_int: The quantized input ``(T, B, *input_shape)``.
        input_clipped: Number of clipped input values.
        decls: Neuron node -> its declaration.
        layouts: Neuron node -> :class:`.generate.Layout` (the generated update, quiet or not).
    """

    prog: object
    T: int
    B: int
    net: object
    groups: dict
    monitors: dict
    projections: list
    x_int: np.ndarray
    input_clipped: int
    decls: dict = field(default_factory=dict)
    layouts: dict = field(default_factory=dict)

    @property
    def TT(self) -> int:
        """Hardware steps simulated."""
        return self.T + self.prog.max_depth

    def windows(self) -> dict[str, tuple[int, int]]:
        """Neuron node -> its active hardware steps ``[d, d + T)``."""
        return {m: (self.prog.depths[m], self.prog.depths[m] + self.T) for m in self.decls}

    def early_inputs(self) -> set[str]:
        """Neuron nodes an (unbalanced) projection could feed before they start."""
        d = self.prog.depths
        return {p.dst for p in self.projections if d[p.src] + p.delay + 1 < d[p.dst]}

    def early_start(self) -> set[str]:
        """Neuron nodes that can start at hardware step 0 instead of their depth.

        Such a node is quiet (zero state and zero input stay zero: no emission, no counted
        overflow; checked on its own params) and receives no input before its first model step
        (not in :meth:`early_inputs`; by induction over the depths its sources are silent
        before their own starts), so running it before its window changes nothing. Its end
        stays (after it the node could still emit and count). In the common case (no biases,
        balanced paths) only the ends of the shallower layers split the run into segments,
        and a network of one neuron layer runs as one segment.
        """
        early = self.early_inputs()
        return {m for m in self.decls if self.layouts.get(m) is not None and self.layouts[m].quiet and m not in early}

    def schedule(self) -> dict[str, tuple[int, int]]:
        """Neuron node -> the hardware steps ``[s, e)`` it is active."""
        on = self.early_start()
        return {m: ((0, e) if m in on else (s, e)) for m, (s, e) in self.windows().items()}

    def simulate(self) -> None:
        """Run all hardware steps, switching each neuron group on for its model time (from step 0
        where that is the same, :meth:`early_start`); one ``Network.run`` per segment."""
        from brian2 import ms

        win = self.schedule()
        early = self.early_inputs()
        bounds = {0, self.TT} | {s for s, _ in win.values()} | {min(e, self.TT) for _, e in win.values()}
        bounds |= {win[m][0] - 1 for m in early if win[m][0] >= 1}
        bounds = sorted(bounds)
        for b0, b1 in zip(bounds[:-1], bounds[1:]):
            for m, (s, e) in win.items():
                g = self.groups[m]
                on = s <= b0 < e
                if g.active and not on:
                    clear_events(g)
                g.active = on
                if m in early and b0 == s - 1:
                    g.a = 0  # the reference ignores input delivered before the node's first read
            with _no_gc_scan():
                self.net.run((b1 - b0) * ms, namespace={})

    def raw(self, name: str, dtype=np.int64) -> np.ndarray:
        """Raw model-time integers ``(T, B, *shape)`` of a monitored neuron node (``dtype``
        float64 holds them exactly too: what the dequantization reads, without a conversion)."""
        node = self.prog.graph.nodes[name]
        shape = tuple(node.out_shape or ())
        n = int(np.prod(shape)) if shape else 1
        mon = self.monitors[name]
        d = self.prog.depths[name]
        out = np.zeros((self.T, self.B * n), dtype)
        if hasattr(mon, "count"):  # EventMonitor: events with their payload
            steps = np.rint(np.asarray(mon.t_[:]) * 1e3).astype(np.int64)
            steps -= d
            vals = np.rint(np.asarray(mon.y[:])) if "y" in mon.record_variables else 1
            if steps.size and (steps[0] < 0 or steps[-1] >= self.T):  # events come in time order
                keep = (steps >= 0) & (steps < self.T)
                steps, vals = steps[keep], (vals if np.isscalar(vals) else vals[keep])
                idx = np.asarray(mon.i[:])[keep]
            else:
                idx = np.asarray(mon.i[:])
            steps *= self.B * n  # flat index: one pass, no 2-D fancy indexing
            steps += idx
            out.reshape(-1)[steps] = vals
        else:  # StateMonitor of a value sent every step
            out[:] = np.rint(np.asarray(mon.y[:, d : d + self.T]).T)
        return out.reshape((self.T, self.B) + shape)

    def warnings(self) -> dict[str, int]:
        """Clipped inputs and the declarations' overflow counters, as the reference reports them."""
        from ..reference.ops import clipped_input_warning

        w = clipped_input_warning(self.prog, self.input_clipped)
        for m, d in self.decls.items():
            for c, text in d.counters.items():
                k = int(round(float(np.sum(getattr(self.groups[m], brian_name(c))[:]))))
                if k:
                    key = f"{m}: {text}"
                    w[key] = w.get(key, 0) + k
        return w


def build(prog, x: np.ndarray, record=(), realization: str = "graded") -> DigitalNetwork:
    """Build the Brian2 network of an integer program for the input ``x`` (``(T, B, *input_shape)``).

    Call inside :func:`.device.target` (the code generation target is chosen when the network
    first runs).

    Args:
        prog: The integer program.
        x: Real input (quantized here by the input node's rule).
        record: Neuron node names whose emissions to monitor.
        realization: ``"graded"`` or ``"binary"``.
    """
    from brian2 import Clock, EventMonitor, Network, StateMonitor, Synapses, TimedArray, ms

    from ..reference.ops import quantize_input

    decls = _check(prog)
    g = prog.graph
    T, B = x.shape[:2]
    exp, bits, signed = _input_attrs(prog)
    x_int, clipped = quantize_input(x, exp, bits, signed)
    x_int = np.asarray(x_int, dtype=np.int64)
    clock = Clock(dt=1 * ms, name="sfclock")
    names = groups(prog)
    index = {m: k for k, m in enumerate(names)}
    objs: dict = {}
    events: dict[str, int] = {}
    emax: dict[str, int | None] = {}
    inp = prog.input_name
    n_in = x_int[0, 0].size if T else int(np.prod(prog.input_shape))
    vals = np.zeros((T + 1, B * n_in))
    vals[:T] = x_int.reshape(T, B * n_in)
    xin = TimedArray(vals, dt=1 * ms, name="sfx")
    binary_input = bits == 1 and not signed  # 0/1 values: plain spikes (synapses add w, never read the payload)
    objs[inp] = _input_group(B * n_in, xin, clock, f"sfg{index[inp]}", as_variable=not binary_input)
    emax[inp], events[inp] = (1 if binary_input else None), 0
    projs = projections(prog)
    delayed = {p.src for p in projs if p.delay}
    layouts: dict = {}
    for m, d in decls.items():
        if m in delayed and not d.spiking:
            raise SpikeforgeError(f"node '{m}' ({g.nodes[m].op}) sends a value every step through a delay; the brian2 backend "
                                  "delays emitted (graded) spikes and the input only")
        objs[m], events[m], layouts[m] = neuron_group(d, g.nodes[m], B, realization, clock, f"sfg{index[m]}", value_events=m in delayed)
        emax[m] = int(d.emission_max(g.nodes[m].attrs)) if d.spiking else None
    syns = []
    for k, p in enumerate(projs):
        s = _synapses(p, objs, events[p.src], emax[p.src], B, clock, f"sfs{k}", Synapses, ms)
        if s is not None:
            syns.append(s)
    monitors = {}
    for m in record:
        G = objs[m]
        if decls[m].spiking:
            var = ["y"] if (emax[m] or 0) > 1 else []
            monitors[m] = EventMonitor(G, "b0" if events[m] else "spike", variables=var, name=f"sfm{index[m]}")
        else:
            monitors[m] = StateMonitor(G, "y", record=True, when="end", name=f"sfm{index[m]}")
    net = Network(*objs.values(), *syns, *monitors.values(), name="sfnet")
    return DigitalNetwork(prog, T, B, net, objs, monitors, projs, x_int, clipped, decls, layouts)


def _input_group(N: int, xin, clock, name: str, as_variable: bool = True):
    """The input as a group emitting ``y`` (the quantized input of the step; zero after the last).

    ``as_variable``: ``y`` is a variable set once per step (synapses read the payload ``y_pre``
    as an array); otherwise a subexpression only the threshold reads (binary input).
    """
    from brian2 import NeuronGroup

    if not as_variable:
        return NeuronGroup(N, "y = sfx(t, i) : 1", threshold="y != 0", reset="", clock=clock, name=name, namespace={"sfx": xin})
    g = NeuronGroup(N, "y : 1", threshold="y != 0", reset="", clock=clock, name=name, namespace={"sfx": xin})
    g.run_regularly("y = sfx(t, i)", when=UPDATE_WHEN, name=f"{name}_update")
    return g


def _synapses(p: Projection, objs: dict, events: int, emax, B: int, clock, name: str, Synapses, ms):
    """One projection as a ``Synapses`` object (``None`` when it has no synapse)."""
    rows, cols = np.nonzero(p.matrix)
    if rows.size == 0:
        return None
    n_dst, n_src = p.matrix.shape
    off = np.arange(B, dtype=np.int64)[:, None]
    pre = (off * n_src + cols[None]).reshape(-1)
    post = (off * n_dst + rows[None]).reshape(-1)
    w = np.tile(p.matrix[rows, cols].astype(np.float64), B)
    kw: dict = {}
    if events:  # binary realization of graded spikes: one pathway per binary event
        paths = [f"p{j}" for j in range(events)]
        kw["on_pre"] = {q: "a_post += w" for q in paths}
        kw["on_event"] = {q: f"b{j}" for j, q in enumerate(paths)}
        if p.delay:
            kw["delay"] = {q: p.delay * ms for q in paths}
    elif p.delay and emax is not None and emax > 1:  # delayed graded spikes: the event of each value
        paths = [f"p{j}" for j in range(1, emax + 1)]
        kw["on_pre"] = {q: f"a_post += {j} * w" for j, q in enumerate(paths, start=1)}
        kw["on_event"] = {q: f"v{j}" for j, q in enumerate(paths, start=1)}
        kw["delay"] = {q: p.delay * ms for q in paths}
    elif p.delay and emax is None:  # the delayed input: read the input array at the emission step
        kw["on_pre"] = f"a_post += w * sfx(t - {p.delay} * ms, i_pre)"
        kw["delay"] = p.delay * ms
    else:
        kw["on_pre"] = "a_post += w" if emax == 1 else "a_post += w * y_pre"
        if p.delay:
            kw["delay"] = p.delay * ms
    s = Synapses(objs[p.src], objs[p.dst], "w : 1 (constant)", clock=clock, name=name, namespace=dict(objs[p.src].namespace or {}), **kw)
    s.connect(i=pre, j=post)
    s.w = w
    return s


def _output(prog, raw: dict, x_int: np.ndarray, name: str) -> np.ndarray:
    """:func:`~spikeforge.backends.dequantize.real_output`, directly from the raw values when the
    output node is one neuron node's output (same depth, same size): the same numbers, without
    the hardware-time buffers."""
    g = prog.graph
    node, preds = g.nodes[name], g.preds(name)
    if node.op == "output" and len(preds) == 1 and preds[0] in raw and prog.depths[preds[0]] == prog.depths[name]:
        src = raw[preds[0]]
        shape = tuple(node.out_shape or ())
        if src.size == x_int.shape[0] * x_int.shape[1] * (int(np.prod(shape)) if shape else 1):
            return real_neuron(g.nodes[preds[0]], src).reshape(src.shape[:2] + shape)
    return real_output(prog, raw, x_int, name)


def run_brian2(prog, x, probes=(), realization: str | None = None, codegen: str | None = None, **options) -> Trace:
    """Run an integer program on Brian2, bit-exact to the reference backend.

    Args:
        prog: An integer :class:`~spikeforge.compiler.Program` (``target="loihi2"``).
        x: Input ``(T, B, *input_shape)`` (real values; quantized by the input node).
        probes: Neuron or input node names to return (raw integers, model time: spikes 0/1,
            ``int_asn`` emissions ``c - alpha``, ``int_li`` voltages; the quantized input).
        realization: ``"graded"`` or ``"binary"`` graded spikes (default: the program's
            ``metadata["realization"]``, else graded). Both give identical results.
        codegen: ``"auto"`` (Cython when available, else numpy), ``"numpy"`` or ``"cython"``;
            default ``$SPIKEFORGE_BRIAN2_CODEGEN`` or ``"auto"``.
        **options: None other are accepted.

    Returns:
        The :class:`~spikeforge.backends.Trace` (``backend="brian2"``).

    Raises:
        InputError: Bad input shape or values, or a probe naming no node / a stateless node.
        SpikeforgeError: Float program, an op without a declaration, a bad option.
    """
    from ..reference.runtime import _check_input

    if options:
        raise SpikeforgeError(f"unknown option(s) for the brian2 backend: {', '.join(sorted(options))}; accepted: realization, codegen")
    decls = _check(prog)
    x = _check_input(prog, x)
    probes = list(probes)
    for p in probes:
        if p not in prog.graph.nodes:
            raise InputError(f"probe '{p}' names no node; nodes: {', '.join(prog.graph.nodes)}")
        if p not in decls and p != prog.input_name:
            raise InputError(f"probe '{p}' ({prog.graph.nodes[p].op}): the brian2 backend returns neuron and input nodes only")
    realization = realization or prog.graph.metadata.get("realization", "graded")
    if realization not in REALIZATIONS:
        raise SpikeforgeError(f"unknown realization {realization!r}; use one of {', '.join(REALIZATIONS)}")
    codegen = codegen or os.environ.get("SPIKEFORGE_BRIAN2_CODEGEN", "auto")
    out_name = prog.output_name
    need = sorted(set(output_sources(prog, out_name)) | {p for p in probes if p in decls})
    with device.target(codegen):
        dn = build(prog, x, record=need, realization=realization)
        dn.simulate()
    raw = {m: dn.raw(m, np.int64 if m in probes else np.float64) for m in need}
    got = {p: (dn.x_int if p == prog.input_name else raw[p]) for p in probes}
    return Trace(
        output=_output(prog, raw, dn.x_int, out_name),
        probes=got,
        backend="brian2",
        hw_steps=dn.TT,
        depths={p: prog.depths[p] for p in [*probes, out_name]},
        warnings=dn.warnings(),
    )


__all__ = ["REALIZATIONS", "DigitalNetwork", "build", "run_brian2"]
