"""Energy tables: joules per operation, with the source of every figure.

A table is data (:class:`EnergyTable`), kept in the registry :data:`ENERGY_TABLES` keyed by
name; a :class:`~spikeforge.compiler.targets.Target` points at one through its ``energy``
field, and :func:`spikeforge.compiler.energy.energy` takes a table name to override it.

* ``loihi`` -- Intel Loihi (14 nm), Davies et al., "Loihi: A Neuromorphic Manycore Processor
  with On-Chip Learning", IEEE Micro 38(1), 2018, Table 1 (pre-silicon/measured energy per
  operation): 23.6 pJ per synaptic spike operation, 81 pJ per active and 52 pJ per inactive
  neuron update, 1.7 pJ per spike message within a tile, 3.0 pJ per east-west and 4.0 pJ per
  north-south mesh hop.
* ``loihi2`` -- Intel Loihi 2 (Intel 4). **No per-operation energies are published** (the
  Intel Loihi 2 technology brief, 2021, gives none). ASSUMPTION: Loihi's figures above are used
  unchanged. Loihi 2 is one process generation newer, so they are most likely an upper bound
  per operation; treat Loihi 2 joules as "Loihi-1-priced operations of the Loihi 2 program".
* ``horowitz45`` -- the conventional-hardware proxy for NeuroBench-style comparisons: M.
  Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014, 45 nm,
  32-bit float: 0.9 pJ per add (AC), 3.7 pJ per multiply, so 4.6 pJ per multiply-accumulate
  (MAC). Memory access energy is not included (Horowitz's table shows it dominates: a
  conservative comparison for the GPU side).

Static power and time-step duration are not given per operation by any of these sources;
the figures below are ASSUMPTIONS, stated in ``assumptions`` and in ``docs/energy.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from .errors import SpikeforgeError

PJ = 1e-12


@dataclass(frozen=True)
class EnergyTable:
    """Energy per operation of one chip (joules), with sources and stated assumptions.

    Attributes:
        name: Registry key.
        syn_op_j: One synaptic operation (one delivered spike on one synapse).
        syn_op_graded_j: One graded synaptic operation (a spike carrying a payload); on
            Loihi 2 a graded spike is one synaptic event whose payload multiplies the weight.
        neuron_active_j: One update of an active neuron (see ``docs/energy.md``).
        neuron_idle_j: One update of an idle neuron.
        spike_tile_j: One spike message delivered within a tile (the fixed cost of every
            message, to the destination core's tile).
        hop_ew_j: Each east-west mesh hop a message crosses.
        hop_ns_j: Each north-south mesh hop a message crosses.
        static_w_per_chip: Static (leakage) power of one chip in watts.
        step_s: Wall-clock duration of one hardware time step (for static energy).
        ac_j: One accumulate on conventional hardware (ANN/NeuroBench comparison).
        mac_j: One multiply-accumulate on conventional hardware.
        sources: Where the figures come from.
        assumptions: Figures that are assumed, not published.
    """

    name: str
    syn_op_j: float
    syn_op_graded_j: float
    neuron_active_j: float
    neuron_idle_j: float
    spike_tile_j: float
    hop_ew_j: float
    hop_ns_j: float
    static_w_per_chip: float
    step_s: float
    ac_j: float = 0.9 * PJ
    mac_j: float = 4.6 * PJ
    sources: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        """Plain-JSON form (joules, watts, seconds)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


_DAVIES = "Davies et al., Loihi: A Neuromorphic Manycore Processor with On-Chip Learning, IEEE Micro 38(1) 2018, Table 1"
_HOROWITZ = "Horowitz, Computing's energy problem (and what we can do about it), ISSCC 2014: 45 nm 32-bit float add 0.9 pJ, mult 3.7 pJ (MAC 4.6 pJ)"
_STATIC = (
    "ASSUMPTION: static power 0.1 W per chip in use (no per-chip leakage figure is published in the sources above); "
    "set your own with dataclasses.replace(table, static_w_per_chip=...)"
)
_STEP = (
    "ASSUMPTION: one hardware time step lasts 10 us (Loihi-class chips run small networks at roughly 1e4-1e5 steps/s; "
    "the step time depends on activity and is not a published constant); static energy = power x chips x steps x step_s"
)

_LOIHI_OPS = dict(
    syn_op_j=23.6 * PJ,
    syn_op_graded_j=23.6 * PJ,
    neuron_active_j=81 * PJ,
    neuron_idle_j=52 * PJ,
    spike_tile_j=1.7 * PJ,
    hop_ew_j=3.0 * PJ,
    hop_ns_j=4.0 * PJ,
    static_w_per_chip=0.1,
    step_s=10e-6,
)

LOIHI = EnergyTable(name="loihi", **_LOIHI_OPS, sources=(_DAVIES, _HOROWITZ), assumptions=(_STATIC, _STEP))
LOIHI2 = EnergyTable(
    name="loihi2",
    **_LOIHI_OPS,
    sources=(_DAVIES + " (Loihi 1 figures, reused)", "Intel Loihi 2 technology brief (2021): no per-operation energies published", _HOROWITZ),
    assumptions=(
        "ASSUMPTION: Loihi 2 per-operation energies are not published; Loihi (Davies 2018) figures are used unchanged "
        "(likely an upper bound: Loihi 2 is built in a newer process)",
        "ASSUMPTION: a graded spike costs one synaptic operation (23.6 pJ) like a binary one; its payload is not priced separately",
        _STATIC,
        _STEP,
    ),
)
HOROWITZ45 = EnergyTable(
    name="horowitz45",
    syn_op_j=0.9 * PJ,
    syn_op_graded_j=4.6 * PJ,
    neuron_active_j=0.0,
    neuron_idle_j=0.0,
    spike_tile_j=0.0,
    hop_ew_j=0.0,
    hop_ns_j=0.0,
    static_w_per_chip=0.0,
    step_s=0.0,
    sources=(_HOROWITZ,),
    assumptions=(
        "proxy only: a binary synaptic op is one 45 nm accumulate (0.9 pJ), a graded one a MAC (4.6 pJ); neuron updates, "
        "spike routing, memory access and static power are not priced (0 J)",
    ),
)

#: Table name -> :class:`EnergyTable`.
ENERGY_TABLES: Mapping[str, EnergyTable] = MappingProxyType({t.name: t for t in (LOIHI, LOIHI2, HOROWITZ45)})


def get_energy_table(table: str | EnergyTable) -> EnergyTable:
    """The :class:`EnergyTable` named ``table`` (a table is returned as is).

    Raises:
        SpikeforgeError: Unknown name; the message lists the available ones.
    """
    if isinstance(table, EnergyTable):
        return table
    t = ENERGY_TABLES.get(str(table))
    if t is None:
        raise SpikeforgeError(f"unknown energy table '{table}'; available: {', '.join(ENERGY_TABLES)}")
    return t


__all__ = ["ENERGY_TABLES", "EnergyTable", "HOROWITZ45", "LOIHI", "LOIHI2", "PJ", "get_energy_table"]
