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

Core limits (neurons, synapse memory, fan-in per core) and energy tables with cited sources
join later (``core`` and ``energy`` fields are reserved for them).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Mapping

from .errors import SpikeforgeError

#: How graded (ASN) spikes are realised on chip.
REALIZATIONS = ("graded", "binary")


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
        core: Reserved: core limits (neurons, synapse memory, fan-in per core, cores per chip).
        energy: Reserved: energy per operation, with sources.
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
    core: Mapping[str, Any] | None = None
    energy: Mapping[str, Any] | None = None

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
)

FLOAT = Target(name="float", integer=False, graded_bits=None, description="float64 parameters, no quantization (reference and Brian2 analog)")
LOIHI2 = Target(
    name="loihi2",
    description="Intel Loihi 2: 8-bit weights, 24-bit states, graded spikes, per-neuron thresholds",
    sources=_LOIHI2_SOURCES,
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


__all__ = ["REALIZATIONS", "TARGETS", "Target", "get_target"]
