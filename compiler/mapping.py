"""Mapping a Program onto neuro cores: partition, placement on the mesh, spike routes.

:func:`map_program` partitions each neuron layer (neuron node) of a program onto cores of a
:class:`~spikeforge.compiler.targets.Target` whose ``core`` field holds
:class:`~spikeforge.compiler.targets.CoreLimits`:

* **Partition.** Greedy and contiguous, layer by layer in graph order, a core never holds two
  layers: a layer's neurons (C-order flat index) fill a core while its neuron count,
  synapse memory (stored nonzero weights into the core's neurons x ``weight_bits``) and
  fan-in (distinct source neurons feeding any of its neurons) stay within the limits.
  Synapses and fan-in come from the program's neuron-to-neuron projections
  (:func:`spikeforge.backends.projections.projections`, nonzero matrix entries); a pair
  connected at two delays is two synapses but one input axon.
* **Placement.** Core ``k`` sits on chip ``k // cores_per_chip``, tile
  ``(k % cores_per_chip) // cores_per_tile`` of a ``mesh`` of routers
  (:meth:`CoreLimits.place`); chips are side by side east-west. The program's input is
  injected at tile (0, 0) of chip 0 (ASSUMPTION: where the host link / embedded x86 sits).
* **Routes.** A spike of a source neuron is one message to every distinct core holding one
  of its targets; each message's east-west and north-south hop counts are the mesh
  distances between the routers of the two cores (:class:`Routes`).

The layer and core connectivity is a networkx ``DiGraph`` (:attr:`MappingReport.graph`:
nodes ``"input"`` and core indices, edges with synapse counts and hops).

A single neuron whose fan-in or synapse memory exceeds one core's limit cannot be mapped:
:class:`~spikeforge.compiler.errors.SpikeforgeError` names the layer, the neuron, its value
and the limit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from .errors import SpikeforgeError
from .fsutil import atomic_path
from .targets import TARGETS, CoreLimits, Target, get_target

#: Name of the virtual source node of the program's input in the core graph.
INPUT = "input"


@dataclass
class CoreRecord:
    """One used core.

    Attributes:
        index: Core number (global over chips).
        layer: Neuron node mapped onto it.
        start: First neuron (flat index into the layer).
        stop: One past the last neuron.
        fan_in: Distinct input axons (source neurons) the core receives.
        synapses: Stored (nonzero) synapses into its neurons.
        synapse_bits: ``synapses * weight_bits``.
        chip: Chip number.
        x: East-west tile column (global over chips).
        y: North-south tile row.
        utilisation: ``neurons``, ``synapse_memory`` and ``fan_in`` as fractions of the limits.
    """

    index: int
    layer: str
    start: int
    stop: int
    fan_in: int
    synapses: int
    synapse_bits: int
    chip: int
    x: int
    y: int
    utilisation: dict = field(default_factory=dict)

    @property
    def neurons(self) -> int:
        """Neurons on the core."""
        return self.stop - self.start


@dataclass
class Routes:
    """Where the spikes of one source (input or neuron layer) go, per source neuron.

    Attributes:
        src: Source node name.
        messages: ``(n_src,)`` messages per spike (distinct destination cores).
        hops_ew: ``(n_src,)`` east-west hops summed over those messages.
        hops_ns: ``(n_src,)`` north-south hops summed over those messages.
        by_hops: ``(n_src, H + 1)`` messages per spike at mesh distance ``0..H``
            (east-west + north-south hops).
        fan_out: ``(n_src,)`` stored synapses leaving each source neuron (all targets and
            delays): the synaptic operations one of its spikes causes.
        fan_out_by_dst: Destination layer -> ``(n_src,)`` synapses into that layer.
    """

    src: str
    messages: np.ndarray
    hops_ew: np.ndarray
    hops_ns: np.ndarray
    by_hops: np.ndarray
    fan_out: np.ndarray
    fan_out_by_dst: dict = field(default_factory=dict)


@dataclass
class MappingReport:
    """The result of :func:`map_program`.

    Attributes:
        target: Target name.
        limits: The core limits used.
        weight_bits: Bits per stored synapse.
        cores: Used cores in order.
        layers: Neuron layer -> its core indices.
        sizes: Source node (input and neuron layers) -> neuron count.
        routes: Source node -> :class:`Routes`.
        graph: networkx ``DiGraph``: nodes ``"input"`` and core indices (attributes
            ``layer``, ``chip``, ``x``, ``y``), edges ``(src, dst)`` with ``synapses``,
            ``hops_ew``, ``hops_ns``.
    """

    target: str
    limits: CoreLimits
    weight_bits: int
    cores: list[CoreRecord]
    layers: dict[str, list[int]]
    sizes: dict[str, int]
    routes: dict[str, Routes]
    graph: nx.DiGraph = field(repr=False, default_factory=nx.DiGraph)

    @property
    def cores_used(self) -> int:
        """Number of used cores."""
        return len(self.cores)

    @property
    def chips_used(self) -> int:
        """Number of chips with at least one used core."""
        return len({c.chip for c in self.cores})

    def table(self) -> str:
        """Markdown table: one row per core, then totals."""
        lim = self.limits
        rows = [
            f"Mapping onto '{self.target}': {self.cores_used} cores on {self.chips_used} chip(s) "
            f"(limits per core: {lim.neurons_per_core} neurons, {lim.synapse_memory_bits} synapse bits at {self.weight_bits} bits/synapse, "
            f"fan-in {lim.fan_in_per_core}; {lim.cores_per_chip} cores/chip)",
            "",
            "| core | layer | neurons | slice | fan-in | synapses | chip | tile (x, y) | util. neurons | util. synapse mem | util. fan-in |",
            "|---:|---|---:|---|---:|---:|---:|---|---:|---:|---:|",
        ]
        for c in self.cores:
            u = c.utilisation
            rows.append(
                f"| {c.index} | {c.layer} | {c.neurons} | {c.start}:{c.stop} | {c.fan_in} | {c.synapses} | {c.chip} | ({c.x}, {c.y}) "
                f"| {u['neurons']:.1%} | {u['synapse_memory']:.1%} | {u['fan_in']:.1%} |"
            )
        return "\n".join(rows)

    def plot(self, path: str | os.PathLike) -> None:
        """Per-core utilisation (neurons, synapse memory, fan-in) as grouped bars, labelled by
        layer: a PNG, written atomically."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        keys = ("neurons", "synapse_memory", "fan_in")
        fig, ax = plt.subplots(figsize=(max(5.0, 1.5 + 1.2 * len(self.cores)), 3.8))
        pos = np.arange(len(self.cores))
        for k, key in enumerate(keys):
            ax.bar(pos + (k - 1) * 0.27, [100 * c.utilisation[key] for c in self.cores], width=0.27, label=key.replace("_", " "))
        ax.set_xticks(pos, [f"core {c.index}\n{c.layer}\n[{c.start}:{c.stop}]" for c in self.cores], fontsize=8)
        ax.set_ylabel("utilisation of the core limit (%)")
        ax.set_ylim(0, 105)
        ax.set_title(f"mapping onto {self.target}: {self.cores_used} cores on {self.chips_used} chip(s)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        try:
            with atomic_path(path, suffix=".png") as tmp:
                fig.savefig(tmp, dpi=100, format="png")
        finally:
            plt.close(fig)

    def as_dict(self) -> dict:
        """Plain-JSON form (cores and per-layer core lists; routes are summarised)."""
        return {
            "target": self.target,
            "cores_used": self.cores_used,
            "chips_used": self.chips_used,
            "weight_bits": self.weight_bits,
            "limits": {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.limits.__dict__.items()},
            "layers": {k: list(v) for k, v in self.layers.items()},
            "cores": [
                {
                    "index": c.index, "layer": c.layer, "start": c.start, "stop": c.stop, "neurons": c.neurons, "fan_in": c.fan_in,
                    "synapses": c.synapses, "synapse_bits": c.synapse_bits, "chip": c.chip, "x": c.x, "y": c.y,
                    "utilisation": dict(c.utilisation),
                }
                for c in self.cores
            ],
        }


def _size(shape) -> int:
    return int(np.prod(shape)) if shape else 1


def _incoming(projs, dst: str, sizes: dict[str, int]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Sources feeding ``dst``, its ``(n_dst, n_axons)`` axon mask (delays OR-ed, sources
    concatenated in order) and its per-neuron synapse counts (delays counted apart)."""
    srcs: list[str] = []
    masks: dict[str, np.ndarray] = {}
    syn = np.zeros(sizes[dst], dtype=np.int64)
    for p in projs:
        if p.dst != dst:
            continue
        nz = p.matrix != 0
        syn += nz.sum(axis=1)
        if p.src in masks:
            masks[p.src] |= nz
        else:
            srcs.append(p.src)
            masks[p.src] = nz.copy()
    mask = np.concatenate([masks[s] for s in srcs], axis=1) if srcs else np.zeros((sizes[dst], 0), dtype=bool)
    return srcs, mask, syn


def _partition(layer: str, mask: np.ndarray, syn: np.ndarray, lim: CoreLimits, wbits: int, target: str) -> list[tuple[int, int, int, int]]:
    """Greedy contiguous slices ``(start, stop, fan_in, synapses)`` of one layer."""
    n = mask.shape[0]
    fan = mask.sum(axis=1)
    bad = np.flatnonzero(fan > lim.fan_in_per_core)
    if bad.size:
        i = int(bad[0])
        raise SpikeforgeError(
            f"layer '{layer}': neuron {i} has fan-in {int(fan[i])} (distinct input axons), above the per-core fan-in limit "
            f"{lim.fan_in_per_core} of target '{target}'; a neuron cannot be split across cores: reduce its inputs"
        )
    big = np.flatnonzero(syn * wbits > lim.synapse_memory_bits)
    if big.size:
        i = int(big[0])
        raise SpikeforgeError(
            f"layer '{layer}': neuron {i} needs {int(syn[i])} synapses x {wbits} bits = {int(syn[i]) * wbits} bits, above the "
            f"per-core synapse memory limit {lim.synapse_memory_bits} bits of target '{target}'"
        )
    out: list[tuple[int, int, int, int]] = []
    start = 0
    union = np.zeros(mask.shape[1], dtype=bool)
    fan_in = nsyn = 0
    for i in range(n):
        new = union | mask[i]
        f = int(new.sum())
        s = nsyn + int(syn[i])
        if i > start and (i - start >= lim.neurons_per_core or f > lim.fan_in_per_core or s * wbits > lim.synapse_memory_bits):
            out.append((start, i, fan_in, nsyn))
            start, union = i, mask[i].copy()
            fan_in, nsyn = int(union.sum()), int(syn[i])
        else:
            union, fan_in, nsyn = new, f, s
    if n:
        out.append((start, n, fan_in, nsyn))
    return out


def _routes(src: str, n_src: int, projs, cores: list[CoreRecord], layers: dict, lim: CoreLimits) -> Routes:
    """Per source neuron: messages, hops and fan-out (see :class:`Routes`)."""
    if src == INPUT or src not in layers:
        sx = np.zeros(n_src, dtype=np.int64)
        sy = np.zeros(n_src, dtype=np.int64)
    else:
        sx = np.empty(n_src, dtype=np.int64)
        sy = np.empty(n_src, dtype=np.int64)
        for k in layers[src]:
            c = cores[k]
            sx[c.start : c.stop], sy[c.start : c.stop] = c.x, c.y
    fan_out = np.zeros(n_src, dtype=np.int64)
    by_dst: dict[str, np.ndarray] = {}
    reach: dict[str, np.ndarray] = {}
    for p in projs:
        if p.src != src:
            continue
        nz = p.matrix != 0
        cnt = nz.sum(axis=0)
        fan_out += cnt
        by_dst[p.dst] = by_dst.get(p.dst, 0) + cnt
        reach[p.dst] = reach[p.dst] | nz if p.dst in reach else nz
    rows, xs, ys = [], [], []
    for dst, nz in reach.items():
        for k in layers[dst]:
            c = cores[k]
            rows.append(nz[c.start : c.stop].any(axis=0))
            xs.append(c.x)
            ys.append(c.y)
    if rows:
        R = np.stack(rows)  # (dst cores, n_src)
        dx = np.abs(np.asarray(xs)[:, None] - sx[None, :])
        dy = np.abs(np.asarray(ys)[:, None] - sy[None, :])
        h = dx + dy
        by_hops = np.stack([((h == k) & R).sum(axis=0) for k in range(int(h.max()) + 1)], axis=1).astype(np.int64)
        return Routes(src, R.sum(axis=0).astype(np.int64), (dx * R).sum(axis=0), (dy * R).sum(axis=0), by_hops, fan_out, by_dst)
    z = np.zeros(n_src, dtype=np.int64)
    return Routes(src, z, z.copy(), z.copy(), np.zeros((n_src, 1), dtype=np.int64), fan_out, by_dst)


def map_program(prog, target: str | Target = "loihi2", projs: list | None = None) -> MappingReport:
    """Partition and place a program's neuron layers onto the cores of ``target``.

    Args:
        prog: A compiled :class:`~spikeforge.compiler.Program` (integer or float: the
            connectivity is what counts; float weights are charged ``weight_bits`` of the
            target).
        target: Target name or :class:`Target` with ``core`` limits.
        projs: The program's :func:`~spikeforge.backends.projections.projections`, when the
            caller has them already (they are computed otherwise).

    Returns:
        The :class:`MappingReport`.

    Raises:
        SpikeforgeError: The target has no core limits, or one neuron exceeds a per-core limit
            (the message names the layer, the neuron, the value and the limit).
    """
    from spikeforge.backends.projections import groups, projections

    t = get_target(target)
    if t.core is None:
        with_core = ", ".join(k for k, v in TARGETS.items() if v.core is not None)
        raise SpikeforgeError(f"target '{t.name}' has no core limits to map onto; targets with core limits: {with_core}")
    lim = t.core
    g = prog.graph
    projs = projections(prog) if projs is None else projs
    srcs = groups(prog)
    inp = prog.input_name
    sizes = {m: _size(g.nodes[m].out_shape) for m in srcs}
    cores: list[CoreRecord] = []
    layers: dict[str, list[int]] = {}
    for m in srcs:
        if m == inp:
            continue
        _, mask, syn = _incoming(projs, m, sizes)
        layers[m] = []
        for start, stop, fan_in, nsyn in _partition(m, mask, syn, lim, t.weight_bits, t.name):
            k = len(cores)
            chip, x, y = lim.place(k)
            util = {
                "neurons": (stop - start) / lim.neurons_per_core,
                "synapse_memory": nsyn * t.weight_bits / lim.synapse_memory_bits,
                "fan_in": fan_in / lim.fan_in_per_core,
            }
            cores.append(CoreRecord(k, m, start, stop, fan_in, nsyn, nsyn * t.weight_bits, chip, x, y, util))
            layers[m].append(k)
    renamed = [(p, INPUT if p.src == inp else p.src) for p in projs]
    routes = {}
    for m in srcs:
        key = INPUT if m == inp else m
        routes[key] = _routes(key, sizes[m], [p for p, s in renamed if s == key], cores, layers, lim)
    sizes = {(INPUT if m == inp else m): n for m, n in sizes.items()}
    graph = nx.DiGraph()
    graph.add_node(INPUT, layer=INPUT, chip=0, x=0, y=0)
    for c in cores:
        graph.add_node(c.index, layer=c.layer, chip=c.chip, x=c.x, y=c.y)
    for p, s in renamed:
        src_nodes = [INPUT] if s == INPUT else layers[s]
        for a in src_nodes:
            ax, ay = graph.nodes[a]["x"], graph.nodes[a]["y"]
            cols = slice(None) if a == INPUT else slice(cores[a].start, cores[a].stop)
            for b in layers[p.dst]:
                cb = cores[b]
                n = int(np.count_nonzero(p.matrix[cb.start : cb.stop, cols]))
                if n:
                    prev = graph.edges[a, b]["synapses"] if graph.has_edge(a, b) else 0
                    graph.add_edge(a, b, synapses=prev + n, hops_ew=abs(cb.x - ax), hops_ns=abs(cb.y - ay))
    return MappingReport(t.name, lim, t.weight_bits, cores, layers, sizes, routes, graph)


__all__ = ["INPUT", "CoreRecord", "MappingReport", "Routes", "map_program"]
