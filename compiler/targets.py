"""Compilation targets: data, not code.

A :class:`Target` holds the bit widths and number formats of one chip (or of plain float
execution); the compiler reads them, passes and backends never hard-code them. The pass
pipeline a target gets is chosen in :func:`spikeforge.compiler.passes.pipeline` from these
fields (``integer``, ``per_neuron_threshold``, ``realization``).

Loihi 2 numbers (``loihi2``) follow Lava's bit-accurate process models (lava-nc 0.10:
``lava.proc.lif.models.PyLifModelBitAcc``, ``lava.proc.dense.models.PyDenseModelBitAcc``) and
``docs/integer.md``:

* weights: signed 8-bit mantissa, weight exponent in ``[-8, 7]`` (Lava ``Dense(weight_exp=)``);
* currents and voltages: signed 24-bit; decays: 12-bit codes; synaptic input and thresholds
  MSB-aligned by ``<< 6``;
* LIF threshold ``vth``: unsigned 17-bit mantissa; LIF bias: signed 13-bit mantissa with an
  unsigned 3-bit exponent;
* graded spikes: Loihi 2 carries an integer payload of up to 24 bits per spike (Lava
  ``Dense(num_message_bits=...)``, 0 for binary spikes, up to 24 for graded ones); ASN uses it
  for its emissions in ``[0, D]``.

Core limits (``core``: :class:`CoreLimits`) and the energy table (``energy``: an
:class:`~spikeforge.compiler.energy_tables.EnergyTable`) are read by the mapping and energy
analyses (:mod:`spikeforge.compiler.mapping`, :mod:`spikeforge.compiler.energy`). Loihi 2
core limits and their sources (every figure not published is marked ASSUMPTION):

* 128 neuro cores per chip -- Intel Loihi 2 technology brief (2021);
* 8192 neurons per core -- the brief's "up to 1 million neurons per chip" over 128 cores
  (2^20 / 128); the real limit depends on each neuron model's state size;
* 1 Mbit (128 KiB) synapse memory per core -- ASSUMPTION: Loihi's 128 KB of synaptic memory
  per core (Davies et al., IEEE Micro 2018); the Loihi 2 brief gives per-core memory only as
  a total shared by synapses, neuron state and routing. Synapses are counted as stored
  (nonzero) weights at ``weight_bits`` each; convolutional weight sharing is not modelled, so
  conv layers are charged their unrolled synapses (conservative);
* 4096 fan-in axons per core -- ASSUMPTION: Loihi's 4,096 input axons per core (Davies 2018),
  not published for Loihi 2;
* mesh: 4 cores per tile (router), 8 x 4 tiles per chip, chips side by side east-west --
  ASSUMPTION after Loihi's floorplan (Davies 2018: 128 cores on a 2-D mesh of routers); hop
  counts are router-to-router mesh distances, east-west and north-south apart; a chip-to-chip
  link is priced as one more mesh hop (an underestimate: inter-chip energy is not published).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Mapping

from .energy_tables import LOIHI2 as LOIHI2_ENERGY
from .energy_tables import EnergyTable
from .errors import SpikeforgeError

#: How graded (ASN) spikes are realised on chip.

REALIZATIONS = ("graded", "binary")


@dataclass(frozen=True)
class CoreLimits:
    """Resource limits of one neuro core and the layout of cores on a chip.

    Attributes:
        neurons_per_core: Most neurons one core holds.
        synapse_memory_bits: Synapse memory of one core in bits (a synapse costs
            ``weight_bits`` of the target).
        fan_in_per_core: Most distinct input axons (source neurons) one core receives.
        cores_per_chip: Neuro cores on one chip.
        cores_per_tile: Cores sharing one mesh router (a message between them makes no hop).
        mesh: ``(east-west, north-south)`` tiles per chip; chips are placed side by side
            east-west.
        sources: Where each figure comes from (ASSUMPTION where not published).
    """

    neurons_per_core: int
    synapse_memory_bits: int
    fan_in_per_core: int
    cores_per_chip: int
    cores_per_tile: int = 4
    mesh: tuple[int, int] = (8, 4)
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.cores_per_tile * self.mesh[0] * self.mesh[1] < self.cores_per_chip:
            raise ValueError(f"core limits: {self.mesh[0]}x{self.mesh[1]} tiles of {self.cores_per_tile} cores cannot hold {self.cores_per_chip} cores")

    def place(self, core: int) -> tuple[int, int, int]:
        """``(chip, x, y)`` of core number ``core``: global east-west tile column ``x``
        (chips side by side) and north-south row ``y``."""
        chip, k = divmod(int(core), self.cores_per_chip)
        tile = k // self.cores_per_tile
        return chip, chip * self.mesh[0] + tile % self.mesh[0], tile // self.mesh[0]


LOIHI2_CORE = CoreLimits(
    neurons_per_core=8192,
    synapse_memory_bits=128 * 1024 * 8,
    fan_in_per_core=4096,
    cores_per_chip=128,
    cores_per_tile=4,
    mesh=(8, 4),
    sources=(
        "cores_per_chip 128: Intel Loihi 2 technology brief (2021)",
        "neurons_per_core 8192: Loihi 2 brief, up to 1M (2^20) neurons per chip / 128 cores",
        "synapse_memory_bits 1 Mbit: ASSUMPTION, Loihi's 128 KB synaptic memory per core (Davies et al., IEEE Micro 2018)",
        "fan_in_per_core 4096: ASSUMPTION, Loihi's 4,096 input axons per core (Davies 2018); not published for Loihi 2",
        "4 cores per tile, 8x4 tiles per chip, chips east-west: ASSUMPTION after Loihi's mesh floorplan (Davies 2018)",
    ),
)


@dataclass(frozen=True)
class Target:
    """Number formats of one compilation target.

    Attributes:
        name: Registry key (``"float"``, ``"loihi2"``, ...).
        integer: Whether programs are quantized to the integer node format of
            ``docs/integer.md`` (``False``: float parameters are kept).
        weight_bits: Width of a signed weight mantissa.
        weight_exp_range: Smallest and largest per-edge weight shift (``wexp``).
        state_bits: Width of currents and voltages (signed).
        decay_bits: Width of decay codes (factor ``(2^bits - d) / 2^bits``).
        act_shift: MSB alignment of synaptic input and thresholds (``a << act_shift``).
        vth_bits: Width of the unsigned LIF threshold mantissa.
        bias_mant_bits: Width of the signed LIF bias mantissa.
        bias_exp_bits: Width of the unsigned LIF bias exponent.
        asn_bias_bits: Width of the signed ASN bias.
        graded_bits: Payload width of a graded spike (``None``: binary spikes only).
        realization: ``"graded"`` (one graded spike per ASN emission) or ``"binary"``
            (``D`` binary virtual sub-steps).
        per_neuron_threshold: Whether each neuron may have its own threshold; if not, the
            ``fold_thresholds`` pass rescales rows so one threshold per layer is exact.
        description: One line for listings and ``--help``.
        sources: Where the numbers come from.
        core: Core limits for :func:`~spikeforge.compiler.mapping.map_program` (``None``:
            the target cannot be mapped onto cores).
        energy: Energy per operation for :func:`~spikeforge.compiler.energy.energy`
            (``None``: no table of its own).
    """

    name: str
    integer: bool = True
    weight_bits: int = 8
    weight_exp_range: tuple[int, int] = (-8, 7)
    state_bits: int = 24
    decay_bits: int = 12
    act_shift: int = 6
    vth_bits: int = 17
    bias_mant_bits: int = 13
    bias_exp_bits: int = 3
    asn_bias_bits: int = 24
    graded_bits: int | None = 24
    realization: str = "graded"
    per_neuron_threshold: bool = True
    description: str = ""
    sources: tuple[str, ...] = ()
    core: CoreLimits | None = None
    energy: EnergyTable | None = None

    def __post_init__(self) -> None:
        if self.realization not in REALIZATIONS:
            raise ValueError(f"target '{self.name}': realization must be one of {REALIZATIONS}, got {self.realization!r}")

    # -- derived limits ------------------------------------------------------------------
    @property
    def weight_max(self) -> int:
        """Largest weight mantissa magnitude."""
        return 2 ** (self.weight_bits - 1) - 1

    @property
    def state_max(self) -> int:
        """Largest magnitude of a current or voltage."""
        return 2 ** (self.state_bits - 1) - 1

    @property
    def vth_max(self) -> int:
        """Largest threshold mantissa."""
        return 2**self.vth_bits - 1

    @property
    def bias_mant_max(self) -> int:
        """Largest LIF bias mantissa magnitude."""
        return 2 ** (self.bias_mant_bits - 1) - 1

    @property
    def bias_exp_max(self) -> int:
        """Largest LIF bias exponent."""
        return 2**self.bias_exp_bits - 1

    @property
    def asn_bias_max(self) -> int:
        """Largest ASN bias magnitude."""
        return 2 ** (self.asn_bias_bits - 1) - 1

    @property
    def graded_max(self) -> int | None:
        """Largest graded-spike payload (``None``: no graded spikes)."""
        return None if self.graded_bits is None else 2**self.graded_bits - 1

    @property
    def decay_max(self) -> int:
        """Largest decay code."""
        return 2**self.decay_bits - 1


_LOIHI2_SOURCES = (
    "lava-nc 0.10 lava.proc.lif.models.PyLifModelBitAcc (24-bit u/v, 12-bit du/dv, vth << 6, bias_mant << bias_exp)",
    "lava-nc 0.10 lava.proc.dense.models.PyDenseModelBitAcc (8-bit weights, weight_exp in [-8, 7], num_message_bits up to 24 for graded spikes)",
    "Intel Loihi 2 brief (2021): graded spikes with integer payloads up to 24 bits",
    *LOIHI2_CORE.sources,
    *LOIHI2_ENERGY.sources,
)

FLOAT = Target(name="float", integer=False, graded_bits=None, description="float64 parameters, no quantization (reference and Brian2 analog)")
LOIHI2 = Target(
    name="loihi2",
    description="Intel Loihi 2: 8-bit weights, 24-bit states, graded spikes, per-neuron thresholds",
    sources=_LOIHI2_SOURCES,
    core=LOIHI2_CORE,
    energy=LOIHI2_ENERGY,
)

#: Target name -> :class:`Target`.
TARGETS: Mapping[str, Target] = MappingProxyType(
    {
        t.name: t
        for t in (
            FLOAT,
            LOIHI2,
            replace(LOIHI2, name="loihi2-binary", realization="binary", description="Loihi 2 with ASN emissions as D binary virtual sub-steps"),
            replace(
                LOIHI2,
                name="loihi2-shared-threshold",
                per_neuron_threshold=False,
                description="Loihi 2 with one threshold per layer (per-neuron thresholds folded into row scales)",
            ),
        )
    }
)


def get_target(target: str | Target) -> Target:
    """The :class:`Target` named ``target`` (a :class:`Target` is returned as is).

    Raises:
        SpikeforgeError: Unknown name; the message lists the available ones.
    """
    if isinstance(target, Target):
        return target
    t = TARGETS.get(str(target))
    if t is None:
        raise SpikeforgeError(f"unknown target '{target}'; available: {', '.join(TARGETS)}")
    return t


__all__ = ["LOIHI2_CORE", "REALIZATIONS", "TARGETS", "CoreLimits", "Target", "get_target"]
