"""On-chip energy estimate of a Program from measured activity (``sf.energy``).

:func:`energy` takes a program, a :class:`~spikeforge.backends.trace.Trace` of it that
probes the input and every neuron node (:func:`activity_probes`), and a target with core
limits and an energy table (``docs/energy.md`` has the model, every figure and its source):

* **Events.** What a source (the input or a neuron layer) emits at a step, per neuron, read
  from its probe by a registry keyed by op (:data:`EVENT_KINDS`): binary spikes (LIF, CUBA
  LIF) are 0/1; a graded source (ASN, LI, MTC, a non-binary input) emits one graded event
  per nonzero value (payload 0 is no spike); integer ASN emissions are the raw ``c - alpha``
  (``docs/integer.md``): with ``realization="binary"`` an emission ``e`` is ``e`` binary
  spikes (D virtual sub-steps), with ``"graded"`` one graded spike of payload ``e``.
* **Synaptic operations** = events x fan-out (stored nonzero synapses leaving the source
  neuron, from the program's projections), counted at the receiving layer; graded ones
  apart (``syn_ops_graded``).
* **Neuron updates**, every neuron every model step of every sample: *active* when the
  neuron receives at least one synaptic event at that step (hardware-time alignment of
  ``docs/semantics.md``) or emits a nonzero output; *idle* otherwise. (Membrane state is not
  in the trace, so a neuron that only leaks or integrates its bias counts as idle.)
* **Spike messages**: one per event and distinct destination core, with its east-west and
  north-south mesh hops (:func:`~spikeforge.compiler.mapping.map_program`), counted at the
  sending layer; a binary-realised ASN emission ``e`` sends ``e`` messages.
* **Static energy** = static power per chip x chips used x run time, run time = samples x
  hardware steps (``Trace.hw_steps``) x the table's step duration (assumed, stated).

NeuroBench-style metrics (NeuroBench 2.x ``SynapticOperations``/``ActivationSparsity``
conventions): effective ACs = synaptic operations of binary events, effective MACs = those
of graded events, per inference (divided by the batch size); activation sparsity = share of
zero outputs over all neuron layers, steps and samples. The ANN comparison is the same
network as a non-spiking ANN evaluated once per inference: one MAC per stored weight (a
convolution: per output position) = ``ann_macs``, priced at the table's ``mac_j`` (4.6 pJ,
Horowitz 2014, 45 nm) against the SNN's effective ACs at ``ac_j`` (0.9 pJ) plus its effective
MACs at ``mac_j``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .energy_tables import EnergyTable, get_energy_table
from .errors import SpikeforgeError
from .fsutil import atomic_path
from .mapping import INPUT, MappingReport, map_program
from .targets import Target, get_target

#: Components of the per-layer energy, in table order.
COMPONENTS = ("synaptic", "neuron", "routing")


def _binary(node, v: np.ndarray, realization: str | None) -> tuple[np.ndarray, bool]:
    return (v != 0).astype(np.int64), False


def _graded(node, v: np.ndarray, realization: str | None) -> tuple[np.ndarray, bool]:
    return (v != 0).astype(np.int64), True


def _int_asn(node, v: np.ndarray, realization: str | None) -> tuple[np.ndarray, bool]:
    if realization == "binary":  # e binary spikes on D virtual sub-steps
        return np.asarray(v, dtype=np.int64), False
    return (v != 0).astype(np.int64), True


def _input(node, v: np.ndarray, realization: str | None) -> tuple[np.ndarray, bool]:
    return (v != 0).astype(np.int64), not bool(np.isin(v, (0, 1)).all())


#: Node op -> ``(node, values (T, B, n), realization) -> (events (T, B, n) int64, graded)``.
EVENT_KINDS: dict[str, Callable] = {
    "input": _input,
    "lif": _binary,
    "cuba_lif": _binary,
    "int_lif": _binary,
    "asn": _graded,
    "int_asn": _int_asn,
    "li": _graded,
    "cuba_li": _graded,
    "int_li": _graded,
    "mtc": _graded,
    "int_mtc": _graded,
    "spe_lif": _binary,
    "int_spe_lif": _binary,
    "spe_asn": _graded,
    "int_spe_asn": _int_asn,
}


@dataclass
class LayerEnergy:
    """Activity and energy of one source (the input or a neuron layer), whole run.

    Attributes:
        name: Node name (``"input"`` for the program's input).
        op: Node op.
        neurons: Neurons in the layer (input: its size).
        cores: Cores it occupies (0 for the input).
        events: Events emitted (spikes; a graded spike counts once).
        graded_events: Of those, graded ones.
        syn_ops: Synaptic operations received (events of the sources x synapses into it).
        syn_ops_graded: Of those, caused by graded events.
        updates_active: Active neuron updates.
        updates_idle: Idle neuron updates.
        messages: Spike messages sent.
        messages_by_hops: Mesh distance (hops) -> messages sent.
        hops_ew: East-west hops of the messages sent.
        hops_ns: North-south hops of the messages sent.
        joules: Component (``synaptic``, ``neuron``, ``routing``) -> joules.
    """

    name: str
    op: str
    neurons: int
    cores: int
    events: int = 0
    graded_events: int = 0
    syn_ops: int = 0
    syn_ops_graded: int = 0
    updates_active: int = 0
    updates_idle: int = 0
    messages: int = 0
    messages_by_hops: dict = field(default_factory=dict)
    hops_ew: int = 0
    hops_ns: int = 0
    joules: dict = field(default_factory=dict)

    @property
    def total_joules(self) -> float:
        """Sum of the components."""
        return float(sum(self.joules.values()))


@dataclass
class EnergyReport:
    """The result of :func:`energy`.

    Attributes:
        target: Target name.
        energy_table: The :class:`EnergyTable` used.
        batch: Samples in the trace.
        steps: Model-time steps per sample.
        hw_steps: Hardware steps per sample (static energy's run time).
        layers: One :class:`LayerEnergy` per source, graph order (input first).
        static_joules: Static energy of the whole run.
        mapping: The :class:`~spikeforge.compiler.mapping.MappingReport` used.
        effective_acs: NeuroBench effective ACs per inference.
        effective_macs: NeuroBench effective MACs per inference.
        activation_sparsity: NeuroBench activation sparsity (neuron layers).
        ann_macs: MACs of the same network as a non-spiking ANN, per inference.
        warnings: The trace's counted warnings (passed on, not hidden).
    """

    target: str
    energy_table: EnergyTable
    batch: int
    steps: int
    hw_steps: int
    layers: list[LayerEnergy]
    static_joules: float
    mapping: MappingReport
    effective_acs: float
    effective_macs: float
    activation_sparsity: float
    ann_macs: int
    warnings: dict = field(default_factory=dict)

    @property
    def dynamic_joules(self) -> float:
        """Sum over layers and components (no static energy)."""
        return float(sum(layer.total_joules for layer in self.layers))

    @property
    def total_joules(self) -> float:
        """Whole run, all samples: dynamic + static."""
        return self.dynamic_joules + self.static_joules

    @property
    def per_inference_joules(self) -> float:
        """:attr:`total_joules` / batch size."""
        return self.total_joules / self.batch

    @property
    def syn_ops(self) -> int:
        """Synaptic operations of the whole run."""
        return int(sum(layer.syn_ops for layer in self.layers))

    @property
    def ann_joules(self) -> float:
        """Per inference: :attr:`ann_macs` x ``mac_j``."""
        return self.ann_macs * self.energy_table.mac_j

    @property
    def snn_proxy_joules(self) -> float:
        """Per inference: effective ACs x ``ac_j`` + effective MACs x ``mac_j``."""
        return self.effective_acs * self.energy_table.ac_j + self.effective_macs * self.energy_table.mac_j

    def table(self) -> str:
        """Markdown per-layer table, then totals and the comparison lines."""
        rows = [
            f"Energy on '{self.target}' (table '{self.energy_table.name}'): {self.batch} sample(s) x {self.steps} steps "
            f"({self.hw_steps} hardware steps each), {self.mapping.cores_used} cores on {self.mapping.chips_used} chip(s)",
            "",
            "| layer | op | neurons | cores | events | graded | syn ops | graded syn ops | active upd. | idle upd. | messages | hops EW | hops NS "
            "| synaptic J | neuron J | routing J | total J |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in self.layers:
            j = r.joules
            rows.append(
                f"| {r.name} | {r.op} | {r.neurons} | {r.cores} | {r.events} | {r.graded_events} | {r.syn_ops} | {r.syn_ops_graded} "
                f"| {r.updates_active} | {r.updates_idle} | {r.messages} | {r.hops_ew} | {r.hops_ns} "
                f"| {j['synaptic']:.4g} | {j['neuron']:.4g} | {j['routing']:.4g} | {r.total_joules:.4g} |"
            )
        rows.append(f"| static | | | | | | | | | | | | | | | | {self.static_joules:.4g} |")
        rows += [
            "",
            f"total {self.total_joules:.6g} J (dynamic {self.dynamic_joules:.6g} J, static {self.static_joules:.6g} J); "
            f"per inference {self.per_inference_joules:.6g} J",
            f"NeuroBench-style per inference: effective ACs {self.effective_acs:g}, effective MACs {self.effective_macs:g}, "
            f"activation sparsity {self.activation_sparsity:.4f}",
            f"ANN comparison per inference: {self.ann_macs} MACs x {self.energy_table.mac_j / 1e-12:g} pJ = {self.ann_joules:.4g} J vs "
            f"SNN {self.effective_acs:g} ACs x {self.energy_table.ac_j / 1e-12:g} pJ + {self.effective_macs:g} MACs = {self.snn_proxy_joules:.4g} J",
        ]
        return "\n".join(rows)

    def as_dict(self) -> dict:
        """Plain-JSON form (layers, totals, metrics, table with sources, mapping)."""
        return {
            "target": self.target,
            "batch": self.batch,
            "steps": self.steps,
            "hw_steps": self.hw_steps,
            "total_joules": self.total_joules,
            "dynamic_joules": self.dynamic_joules,
            "static_joules": self.static_joules,
            "per_inference_joules": self.per_inference_joules,
            "syn_ops": self.syn_ops,
            "neurobench": {
                "effective_acs": self.effective_acs,
                "effective_macs": self.effective_macs,
                "activation_sparsity": self.activation_sparsity,
            },
            "ann": {"macs_per_inference": self.ann_macs, "ann_joules": self.ann_joules, "snn_proxy_joules": self.snn_proxy_joules},
            "layers": [
                {
                    "name": r.name, "op": r.op, "neurons": r.neurons, "cores": r.cores, "events": r.events, "graded_events": r.graded_events,
                    "syn_ops": r.syn_ops, "syn_ops_graded": r.syn_ops_graded, "updates_active": r.updates_active, "updates_idle": r.updates_idle,
                    "messages": r.messages, "messages_by_hops": {str(k): v for k, v in r.messages_by_hops.items()}, "hops_ew": r.hops_ew,
                    "hops_ns": r.hops_ns, "joules": dict(r.joules), "total_joules": r.total_joules,
                }
                for r in self.layers
            ],
            "energy_table": self.energy_table.as_dict(),
            "mapping": self.mapping.as_dict(),
            "warnings": dict(self.warnings),
        }

    def to_json(self, path: str | os.PathLike) -> None:
        """Write :meth:`as_dict` as JSON (atomically)."""
        with atomic_path(path) as tmp, open(tmp, "w") as f:
            json.dump(self.as_dict(), f, indent=1)

    def plot(self, path: str | os.PathLike) -> None:
        """Bar chart PNG (atomically), per inference, in two panels.

        Left: dynamic energy per layer, stacked by component (static power is left out, so
        the layers stay readable when it dominates). Right: the totals on a log scale:
        dynamic, static (its assumed power x run time), and the 45 nm ANN/SNN op proxies.
        """
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        names = [r.name for r in self.layers]
        fig, (ax, ax2) = plt.subplots(
            1, 2, figsize=(max(8.0, 4.5 + 0.9 * len(names)), 4.2), gridspec_kw={"width_ratios": [max(2, len(names)), 3]}
        )
        bottom = np.zeros(len(names))
        for comp in COMPONENTS:
            vals = np.array([r.joules[comp] for r in self.layers]) / self.batch
            ax.bar(names, vals, bottom=bottom, label=comp)
            bottom += vals
        ax.set_ylabel("dynamic energy per inference (J)")
        ax.set_title(f"{self.target}: dynamic energy by layer")
        ax.legend(fontsize=8)
        ax.tick_params(axis="x", rotation=30)
        totals = {
            "dynamic": self.dynamic_joules / self.batch,
            "static": self.static_joules / self.batch,
            "total": self.per_inference_joules,
            "ANN (45 nm MAC)": self.ann_joules,
            "SNN (45 nm AC/MAC)": self.snn_proxy_joules,
        }
        colors = ["tab:blue", "0.6", "k", "tab:red", "tab:green"]
        bars = ax2.bar(list(totals), [max(v, 1e-30) for v in totals.values()], color=colors)
        for b, v in zip(bars, totals.values()):
            ax2.annotate(f"{v:.2g}", (b.get_x() + b.get_width() / 2, max(v, 1e-30)), ha="center", va="bottom", fontsize=8)
        ax2.set_yscale("log")
        ax2.set_ylabel("J per inference (log)")
        ax2.set_title(f"totals: {self.per_inference_joules:.3g} J/inference")
        ax2.tick_params(axis="x", rotation=30, labelsize=8)
        fig.tight_layout()
        try:
            with atomic_path(path, suffix=".png") as tmp:
                fig.savefig(tmp, format="png", dpi=100)
        finally:
            plt.close(fig)


def activity_probes(prog) -> list[str]:
    """Node names a trace must probe for :func:`energy`: the input and every neuron node.

    Use as ``sf.run(prog, x, backend=..., probes=activity_probes(prog))``.
    """
    from spikeforge.backends.projections import groups

    return list(groups(prog))


def _events(prog, trace, names: list[str]) -> dict[str, tuple[np.ndarray, bool, np.ndarray]]:
    """Source -> (events (T, B, n), graded, raw values (T, B, n))."""
    g = prog.graph
    missing = [m for m in names if m not in trace.probes]
    if missing:
        raise SpikeforgeError(
            f"sf.energy: the trace lacks probe(s) {', '.join(missing)}; run it with "
            f"sf.run(prog, x, backend=..., probes=spikeforge.compiler.energy.activity_probes(prog)) (probes: {', '.join(names)})"
        )
    out = {}
    T = B = None
    for m in names:
        n = g.nodes[m]
        v = np.asarray(trace.probes[m])
        size = int(np.prod(n.out_shape)) if n.out_shape else 1
        if v.ndim < 2 or int(np.prod(v.shape[2:])) != size:
            raise SpikeforgeError(f"sf.energy: probe '{m}' has shape {v.shape}; expected (T, B, {', '.join(map(str, n.out_shape))}) for this program")
        if T is None:
            T, B = v.shape[:2]
        elif v.shape[:2] != (T, B):
            raise SpikeforgeError(f"sf.energy: probe '{m}' covers {v.shape[:2]} (T, B) steps and samples, other probes {(T, B)}")
        kind = EVENT_KINDS.get(n.op)
        if kind is None:
            raise SpikeforgeError(f"sf.energy: node '{m}' ({n.op}) has no event rule; supported: {', '.join(sorted(EVENT_KINDS))}")
        v = v.reshape(T, B, size)
        ev, graded = kind(n, v, prog.realization)
        out[m] = (ev, graded, v)
    return out


def _received(prog, projs, ev: dict, dst: str, T: int, B: int, n: int) -> np.ndarray:
    """(T, B, n) bool: the neuron receives at least one synaptic event at that model step."""
    got = np.zeros((T, B, n), dtype=bool)
    d_dst = prog.depths[dst]
    for p in projs:
        if p.dst != dst:
            continue
        off = d_dst - prog.depths[p.src] - 1 - p.delay  # source model step = t + off
        s = (ev[p.src][0] != 0).astype(np.float32)
        nz = (p.matrix != 0).astype(np.float32)
        lo, hi = max(0, -off), min(T, T - off)
        if lo >= hi:
            continue
        got[lo:hi] |= (s[lo + off : hi + off] @ nz.T) > 0
    return got


def energy(prog, trace, target: str | Target = "loihi2", table: str | EnergyTable | None = None, mapping: MappingReport | None = None) -> EnergyReport:
    """Energy of a run of ``prog`` on ``target``, from the activity in ``trace``.

    Args:
        prog: The :class:`~spikeforge.compiler.Program` (integer or float).
        trace: Its :class:`~spikeforge.backends.trace.Trace`, probing :func:`activity_probes`.
        target: Target (name) with core limits; its energy table unless ``table`` is given.
        table: Energy table (name in :data:`~spikeforge.compiler.energy_tables.ENERGY_TABLES`
            or an :class:`EnergyTable`) overriding the target's.
        mapping: A mapping to use instead of ``map_program(prog, target)``.

    Returns:
        The :class:`EnergyReport`.

    Raises:
        SpikeforgeError: A needed probe is missing (the message names it and how to get it),
            a probe has the wrong shape, the target has no core limits or no energy table.
    """
    from spikeforge.backends.projections import projections

    t = get_target(target)
    tab = get_energy_table(table) if table is not None else t.energy
    if tab is None:
        raise SpikeforgeError(f"target '{t.name}' has no energy table; pass table= one of the energy tables (e.g. 'loihi2') or use target='loihi2'")
    names = activity_probes(prog)
    ev = _events(prog, trace, names)
    projs = projections(prog)
    m = mapping if mapping is not None else map_program(prog, t, projs)
    inp = prog.input_name
    g = prog.graph
    T, B = next(iter(ev.values()))[0].shape[:2]
    hw = int(trace.hw_steps) if trace.hw_steps else T + prog.max_depth

    layers: list[LayerEnergy] = []
    by_name: dict[str, LayerEnergy] = {}
    for name in names:
        key = INPUT if name == inp else name
        n = m.sizes[key]
        rec = LayerEnergy(name, g.nodes[name].op, n, len(m.layers.get(name, [])))
        layers.append(rec)
        by_name[name] = rec
    # events, messages (sender) and synaptic ops (receiver)
    for name in names:
        e, graded, _ = ev[name]
        per_neuron = e.sum(axis=(0, 1))  # events of each source neuron, whole run
        rec = by_name[name]
        rec.events = int(per_neuron.sum())
        rec.graded_events = rec.events if graded else 0
        r = m.routes[INPUT if name == inp else name]
        rec.messages = int(per_neuron @ r.messages)
        rec.hops_ew = int(per_neuron @ r.hops_ew)
        rec.hops_ns = int(per_neuron @ r.hops_ns)
        hist = per_neuron @ r.by_hops
        rec.messages_by_hops = {h: int(c) for h, c in enumerate(hist) if c}
        for dst, fo in r.fan_out_by_dst.items():
            ops = int(per_neuron @ fo)
            by_name[dst].syn_ops += ops
            if graded:
                by_name[dst].syn_ops_graded += ops
    # neuron updates
    for name in names:
        if name == inp:
            continue
        rec = by_name[name]
        active = _received(prog, projs, ev, name, T, B, rec.neurons) | (ev[name][2] != 0)
        rec.updates_active = int(active.sum())
        rec.updates_idle = int(active.size - rec.updates_active)
    for rec in layers:
        binary_ops = rec.syn_ops - rec.syn_ops_graded
        rec.joules = {
            "synaptic": binary_ops * tab.syn_op_j + rec.syn_ops_graded * tab.syn_op_graded_j,
            "neuron": rec.updates_active * tab.neuron_active_j + rec.updates_idle * tab.neuron_idle_j,
            "routing": rec.messages * tab.spike_tile_j + rec.hops_ew * tab.hop_ew_j + rec.hops_ns * tab.hop_ns_j,
        }
    static = tab.static_w_per_chip * m.chips_used * B * hw * tab.step_s
    graded_ops = sum(r.syn_ops_graded for r in layers)
    all_ops = sum(r.syn_ops for r in layers)
    outs = [ev[nm][2] for nm in names if nm != inp]
    total_act = sum(v.size for v in outs)
    sparsity = 1.0 - sum(int(np.count_nonzero(v)) for v in outs) / total_act if total_act else 0.0
    ann = int(sum(p.nnz for p in projs))
    return EnergyReport(
        target=t.name, energy_table=tab, batch=B, steps=T, hw_steps=hw, layers=layers, static_joules=float(static), mapping=m,
        effective_acs=(all_ops - graded_ops) / B, effective_macs=graded_ops / B, activation_sparsity=float(sparsity),
        ann_macs=ann, warnings=dict(getattr(trace, "warnings", {}) or {}),
    )


__all__ = ["COMPONENTS", "EVENT_KINDS", "EnergyReport", "LayerEnergy", "activity_probes", "energy"]
