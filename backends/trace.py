"""The :class:`Trace` a backend returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Trace:
    """What a run produced, in model time.

    For integer programs (``docs/integer.md``) ``probes`` hold the raw int64 values (spikes
    0/1, ``int_asn`` emissions ``c - alpha``, ``int_li`` voltages, synaptic sums, the quantized
    input) and ``output`` is dequantized to float64 (spikes 0/1, ``int_asn`` ``(e + alpha) / N``,
    ``int_li`` ``v * 2^-p``).

    Attributes:
        output: Output node values, shape ``(T, B, *output_shape)`` (float64).
        probes: Probed node name -> values ``(T, B, *shape)`` (spikes for spiking nodes).
        backend: Name of the backend that ran.
        hw_steps: Hardware steps simulated (``T`` plus the deepest node's depth).
        depths: Hardware-time shift of each probed node (and the output).
        warnings: Counted, visible warnings: message -> count. Integer programs report clipped
            input values, wrapped currents and saturated voltages per node (only non-zero
            counts, over the model-time steps returned).
    """

    output: np.ndarray
    probes: dict[str, np.ndarray] = field(default_factory=dict)
    backend: str = ""
    hw_steps: int = 0
    depths: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)

    @property
    def T(self) -> int:
        """Number of model-time steps."""
        return int(self.output.shape[0])
