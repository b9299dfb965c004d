"""Brian2 analog backend: the continuous-time network, integrated on a fine internal step.

What an analog (or mixed-signal) circuit computes for the NIR graph, before any
discretization:

* **Neurons.** Each ``LIF`` / ``IF`` / ``LI`` / ``CubaLIF`` / ``CubaLI`` node is a ``NeuronGroup``
  with the NIR ODEs ``tau dv/dt = (v_leak - v) + R I`` (IF: ``dv/dt = R I``; CUBA:
  ``tau_syn di/dt = -i + w_in I`` feeding ``R i``); an ``MTC`` node (float op ``mtc``,
  ``models/mtc/spec.py``, MODELS.md §4) is ``tau_m dU_m/dt = -(U_m - U_rest) + R I
  - R sum(±alpha_x tanh(U_x - delta_x))``, ``tau_x dU_x/dt = U_m - U_x`` with the graded output
  ``s = clip((U_m - U_th) / (U_sat - U_th), 0, 1)``. Brian2 integrates them on the internal step
  ``h = dt / substeps`` with ``method``: ``"exact"`` (default for the linear neurons; CUBA falls
  back to ``rk4`` where ``tau_syn == tau_mem`` or a membrane has no leak; MTC, being nonlinear,
  always uses ``rk4`` under ``"exact"``), ``"euler"``, ``"rk2"`` (midpoint) or ``"rk4"`` (default
  for MTC).
* **Parameters.** Taken from a float :class:`~spikeforge.compiler.Program` by inverting its
  discretization (``docs/semantics.md``): ``1/tau = -ln(a)/dt`` (``exact``) or ``(1 - a)/dt``
  (``euler``), ``R = g / (1 - a)``, ``v_leak = b / (1 - a)``; IF (``a = 1``): ``R = g / dt``.
  MTC is forward Euler by definition (``spec.discretize``): ``1/tau_m = (1 - a)/dt``,
  ``1/tau_x = k_x/dt``, ``R/tau_m = g/dt``, ``U_rest = b/(1 - a)`` and the conductance rates
  ``±R alpha_x / tau_m = g_x/dt``. A NIR graph (or ``.nir`` path) is first compiled with
  ``target="float"``, ``method="exact"``.
* **Input.** The real input ``x[t]`` is held constant over one macro step (zero-order hold,
  the assumption of the ``exact`` discretization); the stateless nodes between the input and a
  neuron (affine, conv, pooling ...) give its input current, computed once per macro step.

**Comparator and communication** (``threshold=``):

* ``"clocked"`` (default): the membrane evolves continuously, but the spike comparator is
  sampled at the macro-step boundaries ``k dt`` only (a clocked comparator, as in mixed-signal
  neuromorphic chips and as the discrete program defines it): ``v > v_th`` there -> a spike and
  the reset (to ``v_reset``, or subtract ``v_th``). Brian2 evaluates the threshold of the
  fine step that ends at ``k dt`` (``(t_in_timesteps + 1) % substeps == 0``, after that step's
  state update). A spike is delivered by ``Synapses.on_pre`` into a buffer ``I_n`` of the
  target; at the boundary the buffer becomes the pulse current ``I_p`` held for exactly one
  macro step (a rectangular pulse of height ``w``: the zero-order hold of the exact
  discretization). Graded outputs (``LI`` membranes, MTC ``s``) are sampled at the boundary
  and held for the next macro step (``coupling="hold"``, the default), or coupled
  continuously through Brian2 summed variables (``coupling="continuous"``; no hop latency).
  Under ``"hold"`` a CUBA membrane also integrates its synaptic current as sampled at the last
  boundary (one macro step later: the program's sequential update ``i[t] -> v[t]``, which is
  not the exact 2x2 propagator of NIR's coupled ODEs); ``"continuous"`` couples ``i -> v`` as
  NIR's ODE does, and then differs from the program by that discretization.
  So every held hop takes one macro step, the Program's **hardware time**; each node's trace is
  shifted back by its hop depth (``prog.depths - 1`` for a feed-forward net, plus one step per
  held CUBA membrane on the path, see :func:`_hop_depths`) to **model time**, as the reference does, and a node is switched on
  (leak drive, bias, MTC dynamics) at its model step 0. With ``method="exact"`` a LIF network
  (and a CUBA network under ``"hold"``) then *is* the float program at every ``substeps`` (up
  to float rounding); with ``euler``/``rk2``/``rk4`` the integration error vanishes as ``h``
  shrinks. (MTC is different: the float op *is* forward Euler at ``dt``, so the analog run is
  its continuous limit, which the op approaches only as its own ``dt`` shrinks.)
* ``"continuous"``: the threshold is checked on every internal step (reset at the crossing,
  within ``h``) and a spike is an instantaneous kick of area ``dt`` (``w R dt / tau`` added to
  ``v``, ``w w_in dt / tau_syn`` to a CUBA synaptic current), graded outputs couple
  continuously; there is no hop latency, all depths are 0. This converges to the continuous
  spiking model, which differs from the discrete reference by the reference's step-end
  threshold and reset (figures in ``tests/backends/brian2/test_analog.py``).

``Trace.probes`` and ``Trace.output`` hold, per macro step ``t`` (model time), the number of
spikes decided in step ``t`` for spiking nodes, the membrane at the end of step ``t`` for ``LI``
nodes and the output ``s`` there for MTC nodes; ``Trace.depths`` are all 0.
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
GRADED = ("li", "cuba_li", "mtc")
#: Accepted values of the options.
THRESHOLDS = ("clocked", "continuous")
METHODS = ("exact", "euler", "rk2", "rk4")
COUPLINGS = ("hold", "continuous")


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


def mtc_continuous(params: dict, dt: float) -> dict[str, np.ndarray]:
    """The continuous MTC parameters (rates in 1/s) of the float op ``mtc``'s parameters.

    Inverts ``models/mtc/spec.py`` :func:`discretize` (forward Euler, ``k_x = dt / tau_x``):
    ``lam_m = 1/tau_m``, ``gin = R/tau_m``, ``u_rest``, ``lam_f``, ``lam_s``, ``lam_us``, the
    feedback rates ``f<x> = ±R alpha_x / tau_m`` (the sign included), the offsets ``d<x>``,
    ``uth`` and ``usat``.
    """
    a = np.asarray(params["a"], dtype=np.float64)
    km = 1.0 - a
    if np.any(km <= 0.0) or np.any(km > 1.0):
        raise SpikeforgeError(f"MTC: decay a must lie in [0, 1); got {a.min():g}..{a.max():g}")
    out = {"lam_m": km / dt, "gin": np.asarray(params["g"], dtype=np.float64) / dt, "u_rest": np.asarray(params["b"]) / km}
    for var in ("f", "s", "us"):
        out["lam_" + var] = np.asarray(params["k" + var], dtype=np.float64) / dt
    for name in ("fn", "sp", "sn", "usp"):
        out["f" + name] = np.asarray(params["g" + name], dtype=np.float64) / dt
        out["d" + name] = np.asarray(params["d" + name], dtype=np.float64)
    out["uth"], out["usat"] = np.asarray(params["uth"], dtype=np.float64), np.asarray(params["usat"], dtype=np.float64)
    return out


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


def _hop_depths(prog, neurons: list[str], srcs: dict[str, set[str]], hop: dict[str, int], extra: dict[str, int]) -> dict[str, int]:
    """Macro steps between the input and each neuron's model step 0 (its "hop depth").

    The input drives a first-layer neuron in the same macro step (hop depth 0); a source with
    ``hop[s] = 1`` (clocked spikes, held graded values) reaches its targets one macro step
    later, one with ``hop[s] = 0`` (continuous coupling) in the same step. A self-loop is not a
    hop (it is the neuron's own recurrence, one step in model time too). Paths of different
    hop depth meeting at a neuron are an error (the analog backend runs no delay nodes). A
    neuron's own depth adds ``extra[m]`` to the depth its inputs arrive at (1 for a CUBA neuron
    whose membrane reads the held synaptic current).
    """
    import networkx as nx

    dg = nx.DiGraph()
    dg.add_nodes_from(neurons)
    dg.add_edges_from((s, m) for m in neurons for s in srcs[m] if s in dg and s != m)
    try:
        order = list(nx.topological_sort(dg))
    except nx.NetworkXUnfeasible:
        raise SpikeforgeError("brian2-analog: a loop through several neuron nodes (only self-recurrent layers are supported)") from None
    depth: dict[str, int] = {}
    for m in order:
        ds = {0 if s == prog.input_name else depth[s] + hop[s] for s in srcs[m] if s != m}
        if len(ds) > 1:
            raise SpikeforgeError(f"brian2-analog: the inputs of '{m}' arrive with different latencies {sorted(ds)} "
                                  "(unbalanced paths need delay nodes, which this backend does not run)")
        depth[m] = (ds.pop() if ds else 0) + extra[m]
    return depth


def run_brian2_analog(prog_or_graph, x, probes=(), substeps: int = 16, dt: float | None = None, codegen: str | None = None,
                      threshold: str = "clocked", method: str | None = None, coupling: str | None = None, **options) -> Trace:
    """Simulate the continuous-time network of a float program (or NIR graph) with Brian2.

    Args:
        prog_or_graph: A float :class:`~spikeforge.compiler.Program`, a ``nir.NIRGraph`` or a
            ``.nir`` path (compiled with ``target="float"``, ``method="exact"`` and ``dt``).
        x: Input ``(T, B, *input_shape)``, held constant over each macro step ``dt``.
        probes: Neuron node names to return (spike counts per macro step, LI membranes, MTC outputs).
        substeps: Internal Brian2 steps per macro step (``h = dt / substeps``).
        dt: Macro step for a NIR graph (default: its metadata, else 1 ms); a Program has its own.
        codegen: ``"auto"``, ``"numpy"`` or ``"cython"`` (see :mod:`.device`).
        threshold: ``"clocked"`` (comparator sampled at macro-step boundaries, spikes as
            one-step current pulses) or ``"continuous"`` (comparator on every internal step,
            spikes as kicks); see the module docstring.
        method: Integration ``"exact"``, ``"euler"``, ``"rk2"`` (midpoint) or ``"rk4"`` (default: ``exact`` for linear
            neurons, ``rk4`` for MTC; ``exact`` falls back to ``rk4`` where it does not apply).
        coupling: Graded outputs ``"hold"`` (sampled at the boundary, held one step; the default
            with the clocked comparator) or ``"continuous"`` (summed variables; the only choice
            with the continuous comparator).
        **options: None other are accepted.

    Returns:
        The :class:`~spikeforge.backends.Trace` (``backend="brian2-analog"``), in model time.

    Raises:
        SpikeforgeError: Integer program, an unsupported op (ASN, delays), a bad option.
        InputError: Bad input shape or an unknown probe.
    """
    from brian2 import (
        Clock,
        EventMonitor,
        Hz,
        Network,
        NeuronGroup,
        StateMonitor,
        Synapses,
        TimedArray,
        second,
    )

    from ..reference.runtime import _check_input

    if options:
        raise SpikeforgeError(f"unknown option(s) for brian2-analog: {', '.join(sorted(options))}; accepted: substeps, dt, codegen, "
                              "threshold, method, coupling")
    if int(substeps) != substeps or substeps < 1:
        raise SpikeforgeError(f"substeps must be a positive integer, got {substeps}")
    if threshold not in THRESHOLDS:
        raise SpikeforgeError(f"threshold={threshold!r} unknown; use one of {', '.join(THRESHOLDS)}")
    if method is not None and method not in METHODS:
        raise SpikeforgeError(f"method={method!r} unknown; use one of {', '.join(METHODS)}")
    clocked = threshold == "clocked"
    coupling = coupling or ("hold" if clocked else "continuous")
    if coupling not in COUPLINGS:
        raise SpikeforgeError(f"coupling={coupling!r} unknown; use one of {', '.join(COUPLINGS)}")
    if coupling == "hold" and not clocked:
        raise SpikeforgeError("coupling='hold' needs threshold='clocked' (the continuous comparator has no macro-step hops)")
    S = int(substeps)
    prog = _program(prog_or_graph, dt)
    g = prog.graph
    neurons = [m for m, n in g.nodes.items() if n.op in NEURON_OPS]
    bad = [f"'{m}' ({g.nodes[m].op})" for m in neurons if g.nodes[m].op not in SPIKING + GRADED]
    if bad:
        raise SpikeforgeError(f"brian2-analog cannot run the neuron node(s) {', '.join(bad)}; supported: LIF, IF, LI, CubaLIF, CubaLI, "
                              f"MTC (discrete ops {', '.join(SPIKING + GRADED)})")
    x = _check_input(prog, x)
    probes = list(probes)
    for p in probes:
        if p not in neurons:
            raise InputError(f"probe '{p}': brian2-analog returns neuron nodes only ({', '.join(neurons)})")
    T, B = x.shape[:2]
    DT = float(prog.dt)
    h = DT / S
    inp = prog.input_name
    x_flat = x.reshape(T * B, -1)
    codegen = codegen or os.environ.get("SPIKEFORGE_BRIAN2_CODEGEN", "auto")
    srcs = {m: _sources(prog, m) for m in neurons}
    hop = {m: int(clocked and (g.nodes[m].op in SPIKING or coupling == "hold")) for m in neurons}
    hop[inp] = 0
    # CUBA with held coupling: the membrane integrates the synaptic current sampled at the boundary
    held_syn = {m: int(clocked and coupling == "hold" and g.nodes[m].op.startswith("cuba")) for m in neurons}
    for m in neurons:
        if held_syn[m] and m in srcs[m]:
            raise SpikeforgeError(f"brian2-analog: self-recurrent CUBA node '{m}' with coupling='hold' (its loop would take two "
                                  "steps); use coupling='continuous'")
    depth = _hop_depths(prog, neurons, srcs, hop, held_syn)
    D = max(depth.values(), default=0)
    n_macro = T + D + 1  # one extra boundary: the graded monitors sample the end of the last step
    # per target: its graded sources, each summed into its own variable I_c<j>
    graded_in = {m: sorted(s for s in srcs[m] if s != inp and g.nodes[s].op in GRADED) for m in neurons}
    spiking_in = {m: sorted(s for s in srcs[m] if s != inp and g.nodes[s].op in SPIKING) for m in neurons}

    with device.target(codegen):
        clock = Clock(dt=h * second, name="sfaclock")
        objs: dict = {}
        kick: dict[str, np.ndarray] = {}
        used_method: dict[str, str] = {}
        for k, m in enumerate(neurons):
            n = g.nodes[m]
            N = _size(n)
            op = n.op
            cuba = op.startswith("cuba")
            drive = " + ".join(["I_x", "on * I_b", "I_p"] + [f"I_c{j}" for j in range(len(graded_in[m]))])
            lines = ["I_x : 1", "I_b : 1 (constant)", "I_p : 1", "I_n : 1", "on : 1", "on_m : 1", "t_on : second (constant)",
                     "t_on_m : second (constant)"]
            lines += [f"I_c{j} : 1" for j in range(len(graded_in[m]))]
            lines.append(f"I_in = {drive} : 1")
            vals: dict[str, np.ndarray] = {}
            if op == "mtc":
                P = mtc_continuous({key: _flat(n, key) for key in ("a", "g", "b", "kf", "ks", "kus", "gfn", "gsp", "gsn", "gusp", "dfn",
                                                                 "dsp", "dsn", "dusp", "uth", "usat")}, DT)
                lines.insert(0, "dv/dt = on * (lam_m * (u_rest - v) + gin * I_in + ffn * tanh(u_f - dfn) + fsp * tanh(u_s - dsp)"
                                " + fsn * tanh(u_s - dsn) + fusp * tanh(u_us - dusp)) : 1")
                lines[1:1] = [f"du_{v}/dt = on * lam_{v} * (v - u_{v}) : 1" for v in ("f", "s", "us")]
                lines += [f"{p} : Hz (constant)" for p in ("lam_m", "gin", "lam_f", "lam_s", "lam_us", "ffn", "fsp", "fsn", "fusp")]
                lines += [f"{p} : 1 (constant)" for p in ("u_rest", "dfn", "dsp", "dsn", "dusp", "uth", "usat")]
                lines.append("y = clip((v - uth) / (usat - uth), 0, 1) : 1")
                vals = P
                used = "rk4" if method in (None, "exact") else method
                kick[m] = P["gin"] * DT
            else:
                a = _flat(n, "a")
                lam, gin, _ = _continuous(a, _flat(n, "g"), DT, prog.method, n, "membrane")
                vleak = np.where(lam > 0, _flat(n, "b", 0.0) / np.where(lam > 0, 1.0 - a, 1.0), 0.0)
                leak = "lam * (on_m * v_leak - v) + " if np.any(lam > 0) else ""
                lines += ["lam : Hz (constant)", "gin : Hz (constant)", "v_leak : 1 (constant)"]
                vals = {"lam": lam, "gin": gin, "v_leak": vleak}
                if cuba:
                    lam_s, gs, _ = _continuous(_flat(n, "a_syn"), _flat(n, "g_syn", 1.0), DT, prog.method, n, "synaptic")
                    # held coupling: the membrane integrates the synaptic current sampled at the last
                    # boundary (the program's sequential update i[t] -> v[t]); else NIR's ODE coupling
                    lines.insert(0, f"dv/dt = {leak}gin * {'I_sh' if held_syn[m] else 'I_s'} : 1")
                    if held_syn[m]:
                        lines.append("I_sh : 1")
                    lines.insert(1, "dI_s/dt = -lam_s * I_s + gs * I_in : 1")
                    lines += ["lam_s : Hz (constant)", "gs : Hz (constant)"]
                    vals.update(lam_s=lam_s, gs=gs)
                    distinct = np.all(np.abs(lam_s - lam) > 1e-9 * np.maximum(lam, 1.0)) and np.all(lam_s > 0) and np.all(lam > 0)
                    used = method or "exact"
                    if used == "exact" and not distinct:
                        used = "rk4"
                    kick[m] = gs * DT
                else:
                    lines.insert(0, f"dv/dt = {leak}gin * I_in : 1")
                    used = method or "exact"
                    kick[m] = gin * DT
                if op in GRADED:
                    lines.append("y = v : 1")
            used_method[m] = used
            kw = {}
            if op in SPIKING:
                lines += ["v_th : 1 (constant)", "v_r : 1 (constant)"]
                vals.update(v_th=_flat(n, "v_threshold"), v_r=_flat(n, "v_reset", 0.0))
                sub = n.attrs.get("reset", "zero") == "subtract"
                cond = "v > v_th"
                if clocked:  # the fine step ending at a macro boundary, after its state update
                    cond = f"on_m > 0.5 and (t_in_timesteps + 1) % {S} == 0 and v > v_th"
                kw = {"threshold": cond, "reset": "v -= v_th" if sub else "v = v_r"}
            if op in GRADED and clocked and coupling == "hold":
                lines.append("y_hold : 1")
            G = NeuronGroup(B * N, "\n".join(lines), method=used, clock=clock, name=f"sfa{k}", namespace={}, **kw)
            for key, v in vals.items():
                unit = Hz if key in ("lam", "gin", "lam_s", "gs", "lam_m", "lam_f", "lam_us", "ffn", "fsp", "fsn", "fusp") else 1
                setattr(G, key, np.tile(np.broadcast_to(v, (N,)), B) * unit)
            d_in = depth[m] - held_syn[m]  # the macro step the neuron's input stage starts at
            G.t_on, G.t_on_m = (d_in - 0.5) * DT * second, (depth[m] - 0.5) * DT * second
            # constant currents (biases on the paths) and the input's zero-order-hold current
            bias = _stateless_in(prog, m, {}, 1)[0]
            G.I_b = np.tile(bias, B)
            code = []
            if op in GRADED and clocked and coupling == "hold":
                code.append("y_hold = on_m * y")  # the value at the end of the last step (zero before model time)
            if inp in srcs[m]:
                cur = _stateless_in(prog, m, {inp: x_flat}, T * B) - bias
                rows = np.zeros((n_macro + 1, B * N))
                rows[d_in : d_in + T] = cur.reshape(T, B * N)
                ta = TimedArray(rows, dt=DT * second, name=f"sfa{k}_x")
                G.namespace[f"sfa{k}_x"] = ta
                code.append(f"I_x = sfa{k}_x(t, i)")
            if clocked and spiking_in[m]:
                code += ["I_p = I_n", "I_n = 0"]
            if op.startswith("cuba") and held_syn[m]:
                code.append("I_sh = I_s")
            code += ["on = int(t > t_on)", "on_m = int(t > t_on_m)"]
            G.run_regularly("\n".join(code), dt=DT * second, when="start", name=f"sfa{k}_hold")
            objs[m] = G
        syns = []
        for m in neurons:
            n_dst = _size(g.nodes[m])
            for s in sorted(srcs[m] - {inp}):
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
                    if clocked:  # a one-step rectangular pulse from the next boundary on
                        S_ = Synapses(objs[s], objs[m], "w : 1 (constant)", on_pre="I_n_post += w", clock=clock, name=name, namespace={})
                    else:  # an instantaneous kick of area dt
                        target = "I_s" if g.nodes[m].op.startswith("cuba") else "v"
                        S_ = Synapses(objs[s], objs[m], "w : 1 (constant)\nkick : 1 (constant)", on_pre=f"{target}_post += w * kick",
                                      clock=clock, name=name, namespace={})
                else:  # a graded source: held at the boundary, or continuous
                    j = graded_in[m].index(s)
                    var = "y_hold" if coupling == "hold" else "y"
                    S_ = Synapses(objs[s], objs[m], f"w : 1 (constant)\nI_c{j}_post = w * {var}_pre : 1 (summed)", clock=clock, name=name,
                                  namespace={})
                S_.connect(i=pre, j=post)
                S_.w = w
                if g.nodes[s].op in SPIKING and not clocked:
                    S_.kick = np.tile(kick[m], B)[post]
                syns.append(S_)
        need = set(probes) | _output_neurons(prog)
        mons = {}
        for m in sorted(need):
            k = neurons.index(m)
            if g.nodes[m].op in SPIKING:
                mons[m] = EventMonitor(objs[m], "spike", name=f"sfam{k}")
            else:  # the value at each boundary k dt, before the step's update: the end of step k - 1
                mons[m] = StateMonitor(objs[m], "y", record=True, dt=DT * second, when="start", name=f"sfam{k}")
        net = Network(*objs.values(), *syns, *mons.values(), name="sfanet")
        from .digital import _no_gc_scan

        with _no_gc_scan():
            net.run(n_macro * DT * second, namespace={})
        vals = {}
        for m, mon in mons.items():
            N = _size(g.nodes[m])
            shape = tuple(g.nodes[m].out_shape or ())
            d = depth[m]
            if g.nodes[m].op in SPIKING:
                steps = np.rint(np.asarray(mon.t_[:]) / h).astype(np.int64) // S - d
                idx = np.asarray(mon.i[:], dtype=np.int64)
                ok = (steps >= 0) & (steps < T)
                cnt = np.zeros((T, B * N))
                np.add.at(cnt, (steps[ok], idx[ok]), 1.0)
            else:
                cnt = np.asarray(mon.y[:]).T[d + 1 : d + 1 + T]
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


__all__ = ["COUPLINGS", "GRADED", "METHODS", "SPIKING", "THRESHOLDS", "mtc_continuous", "run_brian2_analog"]
