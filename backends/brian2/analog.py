"""Brian2 analog backend: the continuous-time network, integrated on a fine internal step.

What an analog circuit would compute for the NIR graph, before any discretization:

* **Neurons.** Each ``LIF`` / ``IF`` / ``LI`` / ``CubaLIF`` / ``CubaLI`` node is a ``NeuronGroup``
  with the NIR ODEs ``tau dv/dt = (v_leak - v) + R I`` (IF: ``dv/dt = R I``; CUBA:
  ``tau_syn di/dt = -i + w_in I`` feeding ``R i``), threshold ``v > v_threshold`` checked on
  every internal step, reset to ``v_reset`` (or by subtracting the threshold for nodes with
  ``reset="subtract"``). Integration: ``method="exact"`` (linear ODEs; CUBA ``exact`` too where
  ``tau_syn != tau_mem`` for every neuron, else ``rk4``) on the internal step
  ``h = dt / substeps``.
* **Parameters.** Taken from a float :class:`~spikeforge.compiler.Program` by inverting its
  discretization (``docs/semantics.md``): ``1/tau = -ln(a)/dt`` (``exact``) or ``(1 - a)/dt``
  (``euler``), ``R = g / (1 - a)``, ``v_leak = b / (1 - a)``; IF (``a = 1``): ``R = g / dt``.
  A NIR graph (or ``.nir`` path) is first compiled with ``target="float"``, ``method="exact"``.
* **Input.** The real input ``x[t]`` is held constant over ``[t dt, (t + 1) dt)`` (zero-order
  hold, the assumption of the ``exact`` discretization); the stateless nodes between the input
  and a neuron (affine, conv, pooling ...) give its input current, computed once per macro
  step.
* **Spikes.** A spike is a current pulse of area ``dt`` (the discrete program's unit spike held
  for one step): on arrival it adds ``w R dt / tau`` to ``v`` (``w w_in dt / tau_syn`` to the
  synaptic current of a CUBA target), through ``Synapses.on_pre``. Graded outputs (``LI``
  membranes) couple continuously through summed variables.
* **Timing.** Continuous time has no hop latency: a spike at time ``ts`` acts at ``ts`` (within
  one internal step ``h``: Brian2 detects it after the state update of the step it occurs in
  and the target integrates it from the next step). The reference's hardware time takes one
  macro step per neuron hop and is shifted back by each node's depth to **model time**; analog
  traces are compared with that model time. ``Trace.probes`` and ``Trace.output`` hold, per
  macro step ``t`` (model time), the number of spikes in ``[t dt, (t + 1) dt)`` for spiking
  nodes and the membrane at ``(t + 1) dt`` for ``LI`` nodes; ``Trace.depths`` are all 0.

As ``substeps`` grows, thresholds are checked more finely and the per-hop latency ``h``
vanishes: spike times converge to those of the continuous model, which the exact-exponential
float reference approximates up to its step-end threshold check
(``tests/backends/brian2/test_analog.py`` shows the figures).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from spikeforge.compiler.errors import InputError, SpikeforgeError
from spikeforge.compiler.ir import NEURON_OPS

from ..trace import Trace
from . import device

#: Float ops this backend runs as continuous neurons.
SPIKING = ("lif", "cuba_lif")
GRADED = ("li", "cuba_li")


def _program(obj, dt: float | None):
    from spikeforge.compiler.program import Program

    if isinstance(obj, Program):
        if obj.integer or obj.target != "float":
            raise SpikeforgeError(f"brian2-analog runs the continuous network of a float program or a NIR graph; got target "
                                  f"'{obj.target}' (run integer programs on backend 'brian2')")
        return obj
    from spikeforge.compiler.api import compile as sf_compile

    if isinstance(obj, (str, os.PathLike, Path)) or obj.__class__.__name__ == "NIRGraph" or hasattr(obj, "nodes"):
        return sf_compile(obj, target="float", dt=dt, method="exact")
    raise SpikeforgeError(f"brian2-analog takes a float Program, a nir.NIRGraph or a .nir path; got {type(obj).__name__}")


def _flat(node, key: str, default=None) -> np.ndarray:
    shape = tuple(node.out_shape or ())
    v = node.params.get(key, default)
    if v is None:
        raise SpikeforgeError(f"node '{node.name}' ({node.op}) lacks the parameter '{key}'")
    return np.broadcast_to(np.asarray(v, dtype=np.float64), shape or (1,)).reshape(-1)


def _continuous(a: np.ndarray, g: np.ndarray, dt: float, method: str, node, what: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Invert one leaky discretization: (rate 1/tau [Hz], input rate R/tau [Hz], R)."""
    if np.all(a == 1.0):
        return np.zeros_like(a), g / dt, g / dt
    if np.any(a >= 1.0) or np.any(a <= 0.0):
        raise SpikeforgeError(f"node '{node.name}' ({node.op}): {what} decays must all lie in (0, 1) or all equal 1 (IF); got "
                              f"{a.min():g}..{a.max():g}")
    lam = -np.log(a) / dt if method == "exact" else (1.0 - a) / dt
    R = g / (1.0 - a)
    return lam, lam * R, R


def _stateless_in(prog, dst: str, src_vals: dict[str, np.ndarray], K: int) -> np.ndarray:
    """The summed input ``(K, n_dst)`` of neuron ``dst`` when the source groups hold ``src_vals``."""
    from ..reference.ops import STATELESS

    g = prog.graph
    memo: dict[str, np.ndarray] = {}

    def val(m: str) -> np.ndarray:
        if m in memo:
            return memo[m]
        n = g.nodes[m]
        shape = tuple(n.out_shape or ())
        if m in src_vals:
            out = src_vals[m].reshape((K,) + shape)
        elif n.op in NEURON_OPS or n.op == "input":
            out = np.zeros((K,) + shape)
        elif n.op == "delay":
            raise SpikeforgeError(f"node '{m}' (delay): the brian2-analog backend does not run delay nodes yet")
        elif n.op not in STATELESS:
            raise SpikeforgeError(f"node '{m}' has op '{n.op}' that brian2-analog cannot run; between neurons: {', '.join(sorted(STATELESS))}")
        else:
            ps = g.preds(m)
            x = sum((val(p) for p in ps[1:]), val(ps[0])) if ps else np.zeros((K,) + tuple(n.in_shape or ()))
            out = STATELESS[n.op](n, x.reshape((K,) + tuple(n.in_shape or ()))).reshape((K,) + shape)
        memo[m] = out
        return out

    node = g.nodes[dst]
    ps = g.preds(dst)
    n_dst = int(np.prod(node.in_shape or ()))
    acc = np.zeros((K, n_dst))
    for p in ps:
        acc = acc + val(p).reshape(K, -1)
    return acc


def _sources(prog, dst: str) -> set[str]:
    """Source groups (input, neurons) reaching ``dst`` through stateless nodes."""
    g = prog.graph
    found, todo, seen = set(), list(g.preds(dst)), set()
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        if g.nodes[m].op in NEURON_OPS or g.nodes[m].op == "input":
            found.add(m)
        else:
            todo.extend(g.preds(m))
    return found


def _size(node) -> int:
    return int(np.prod(node.out_shape)) if node.out_shape else 1


def run_brian2_analog(prog_or_graph, x, probes=(), substeps: int = 16, dt: float | None = None, codegen: str | None = None,
                      **options) -> Trace:
    """Simulate the continuous-time network of a float program (or NIR graph) with Brian2.

    Args:
        prog_or_graph: A float :class:`~spikeforge.compiler.Program`, a ``nir.NIRGraph`` or a
            ``.nir`` path (compiled with ``target="float"``, ``method="exact"`` and ``dt``).
        x: Input ``(T, B, *input_shape)``, held constant over each macro step ``dt``.
        probes: Neuron node names to return (spike counts per macro step, or LI membranes).
        substeps: Internal Brian2 steps per macro step (``h = dt / substeps``).
        dt: Macro step for a NIR graph (default: its metadata, else 1 ms); a Program has its own.
        codegen: ``"auto"``, ``"numpy"`` or ``"cython"`` (see :mod:`.device`).
        **options: None other are accepted.

    Returns:
        The :class:`~spikeforge.backends.Trace` (``backend="brian2-analog"``), in model time.

    Raises:
        SpikeforgeError: Integer program, an unsupported op (ASN, delays), a bad option.
        InputError: Bad input shape or an unknown probe.
    """
    from brian2 import Clock, EventMonitor, Hz, Network, NeuronGroup, StateMonitor, Synapses, TimedArray, second

    from ..reference.runtime import _check_input

    if options:
        raise SpikeforgeError(f"unknown option(s) for brian2-analog: {', '.join(sorted(options))}; accepted: substeps, dt, codegen")
    if int(substeps) != substeps or substeps < 1:
        raise SpikeforgeError(f"substeps must be a positive integer, got {substeps}")
    substeps = int(substeps)
    prog = _program(prog_or_graph, dt)
    g = prog.graph
    neurons = [m for m, n in g.nodes.items() if n.op in NEURON_OPS]
    bad = [f"'{m}' ({g.nodes[m].op})" for m in neurons if g.nodes[m].op not in SPIKING + GRADED]
    if bad:
        raise SpikeforgeError(f"brian2-analog cannot run the neuron node(s) {', '.join(bad)}; supported: LIF, IF, LI, CubaLIF, CubaLI "
                              f"(discrete ops {', '.join(SPIKING + GRADED)})")
    x = _check_input(prog, x)
    probes = list(probes)
    for p in probes:
        if p not in neurons:
            raise InputError(f"probe '{p}': brian2-analog returns neuron nodes only ({', '.join(neurons)})")
    T, B = x.shape[:2]
    DT = float(prog.dt)
    h = DT / substeps
    inp = prog.input_name
    x_flat = x.reshape(T * B, -1)
    codegen = codegen or os.environ.get("SPIKEFORGE_BRIAN2_CODEGEN", "auto")

    with device.target(codegen):
        clock = Clock(dt=h * second, name="sfaclock")
        objs: dict = {}
        kick: dict[str, np.ndarray] = {}
        for k, m in enumerate(neurons):
            n = g.nodes[m]
            N = _size(n)
            cuba = n.op.startswith("cuba")
            lam, gin, _ = _continuous(_flat(n, "a"), _flat(n, "g"), DT, prog.method, n, "membrane")
            b = _flat(n, "b", 0.0)
            vleak = np.where(lam > 0, b / np.where(lam > 0, 1.0 - _flat(n, "a"), 1.0), 0.0)
            drive = "(I_x + I_b + I_c)"
            lines = ["I_x : 1", "I_b : 1 (constant)", "I_c : 1", "lam : Hz (constant)", "gin : Hz (constant)", "v_leak : 1 (constant)"]
            if cuba:
                lam_s, gs, _ = _continuous(_flat(n, "a_syn"), _flat(n, "g_syn", 1.0), DT, prog.method, n, "synaptic")
                lines += [f"dI_s/dt = -lam_s * I_s + gs * {drive} : 1", "lam_s : Hz (constant)", "gs : Hz (constant)"]
                lines.insert(0, "dv/dt = lam * (v_leak - v) + gin * I_s : 1")
                method = "exact" if np.all(np.abs(lam_s - lam) > 1e-9 * np.maximum(lam, 1.0)) and np.all(lam_s > 0) and np.all(lam > 0) else "rk4"
                kick[m] = gs * DT
            else:
                lines.insert(0, f"dv/dt = lam * (v_leak - v) + gin * {drive} : 1")
                method = "exact"
                kick[m] = gin * DT
            kw = {}
            if n.op in SPIKING:
                lines += ["v_th : 1 (constant)", "v_r : 1 (constant)"]
                sub = n.attrs.get("reset", "zero") == "subtract"
                kw = {"threshold": "v > v_th", "reset": "v -= v_th" if sub else "v = v_r"}
            G = NeuronGroup(B * N, "\n".join(lines), method=method, clock=clock, name=f"sfa{k}", namespace={}, **kw)
            G.lam, G.gin, G.v_leak = np.tile(lam, B) * Hz, np.tile(gin, B) * Hz, np.tile(vleak, B)
            if cuba:
                G.lam_s, G.gs = np.tile(lam_s, B) * Hz, np.tile(gs, B) * Hz
            if n.op in SPIKING:
                G.v_th, G.v_r = np.tile(_flat(n, "v_threshold"), B), np.tile(_flat(n, "v_reset", 0.0), B)
            # constant currents (biases on the paths) and the input's zero-order-hold current
            srcs = _sources(prog, m)
            bias = _stateless_in(prog, m, {}, 1)[0]
            G.I_b = np.tile(bias, B)
            if inp in srcs:
                n_in = _size(g.nodes[inp])
                cur = _stateless_in(prog, m, {inp: x_flat}, T * B) - bias
                vals = np.zeros((T + 1, B * N))
                vals[:T] = cur.reshape(T, B * N)
                ta = TimedArray(vals, dt=DT * second, name=f"sfa{k}_x")
                G.namespace[f"sfa{k}_x"] = ta
                G.run_regularly(f"I_x = sfa{k}_x(t, i)", dt=DT * second, when="start", name=f"sfa{k}_hold")
                del n_in
            objs[m] = G
        syns = []
        for m in neurons:
            n_dst = _size(g.nodes[m])
            for s in sorted(_sources(prog, m) - {inp}):
                n_src = _size(g.nodes[s])
                zero = _stateless_in(prog, m, {}, 1)
                M = (_stateless_in(prog, m, {s: np.eye(n_src)}, n_src) - zero).T  # (n_dst, n_src)
                rows, cols = np.nonzero(M)
                if rows.size == 0:
                    continue
                off = np.arange(B)[:, None]
                pre = (off * n_src + cols[None]).reshape(-1)
                post = (off * n_dst + rows[None]).reshape(-1)
                w = np.tile(M[rows, cols], B)
                name = f"sfas{len(syns)}"
                if g.nodes[s].op in SPIKING:
                    target = "I_s" if g.nodes[m].op.startswith("cuba") else "v"
                    S = Synapses(objs[s], objs[m], "w : 1 (constant)\nkick : 1 (constant)", on_pre=f"{target}_post += w * kick",
                                 clock=clock, name=name, namespace={})
                else:  # a graded (LI) source: continuous coupling
                    S = Synapses(objs[s], objs[m], "w : 1 (constant)\nI_c_post = w * v_pre : 1 (summed)", clock=clock, name=name, namespace={})
                S.connect(i=pre, j=post)
                S.w = w
                if g.nodes[s].op in SPIKING:
                    S.kick = np.tile(kick[m], B)[post]
                syns.append(S)
        need = set(probes) | _output_neurons(prog)
        mons = {}
        for m in sorted(need):
            k = neurons.index(m)
            if g.nodes[m].op in SPIKING:
                mons[m] = EventMonitor(objs[m], "spike", name=f"sfam{k}")
            else:
                mons[m] = StateMonitor(objs[m], "v", record=True, when="end", name=f"sfam{k}")
        net = Network(*objs.values(), *syns, *mons.values(), name="sfanet")
        from .digital import _no_gc_scan

        with _no_gc_scan():
            net.run(T * DT * second, namespace={})
        vals = {}
        for m, mon in mons.items():
            N = _size(g.nodes[m])
            shape = tuple(g.nodes[m].out_shape or ())
            if m in mons and g.nodes[m].op in SPIKING:
                steps = np.rint(np.asarray(mon.t_[:]) / h).astype(np.int64) // substeps
                cnt = np.zeros((T, B * N))
                np.add.at(cnt, (steps, np.asarray(mon.i[:], dtype=np.int64)), 1.0)
            else:
                cnt = np.asarray(mon.v[:]).T[substeps - 1 :: substeps][:T]
            vals[m] = cnt.reshape((T, B) + shape)
    out = _output_value(prog, vals, T, B)
    return Trace(output=out, probes={p: vals[p] for p in probes}, backend="brian2-analog", hw_steps=T,
                 depths={p: 0 for p in [*probes, prog.output_name]})


def _output_neurons(prog) -> set[str]:
    from ..dequantize import output_sources

    return set(output_sources(prog))


def _output_value(prog, vals: dict, T: int, B: int) -> np.ndarray:
    """The output node in model time from the neurons' values (stateless nodes are instantaneous)."""
    name = prog.output_name
    node = prog.graph.nodes[name]
    src = {m: v.reshape(T * B, -1) for m, v in vals.items()}
    memo_in = _stateless_in_node(prog, name, src, T * B)
    return memo_in.reshape((T, B) + tuple(node.out_shape or ()))


def _stateless_in_node(prog, name: str, src: dict, K: int) -> np.ndarray:
    from ..reference.ops import STATELESS

    n = prog.graph.nodes[name]
    x = _stateless_in(prog, name, src, K)
    return STATELESS[n.op](n, x.reshape((K,) + tuple(n.in_shape or ())))


__all__ = ["GRADED", "SPIKING", "run_brian2_analog"]
