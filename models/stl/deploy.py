"""Compiling a trained STL network for Loihi 2 (post-training quantization) and scoring it.

Two integer targets hold the per-neuron thresholds (MODELS.md §2, compiler duty):

* ``loihi2``: each neuron gets its own ``vth``;
* ``loihi2-shared-threshold``: one ``vth`` per layer; the pass ``fold_thresholds`` rescales
  each neuron's membrane by ``theta_max / theta_i`` and moves that factor into its weight row
  and bias, so the spikes are the same in real arithmetic (the integer rounding differs).

The rate-coded input is binary, so it is exact on the integer input grid (``input_exp = 0``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

__all__ = ["STL_TARGETS", "CompiledSTL", "compile_stl", "run_compiled"]

#: The integer targets an STL network is compiled for.
STL_TARGETS = ("loihi2", "loihi2-shared-threshold")


@dataclass
class CompiledSTL:
    """A compiled STL network.

    Attributes:
        program: The integer :class:`~spikeforge.compiler.Program`.
        target: Its target name.
        warnings: Compiler warnings (one line each; quantization warnings included).
    """

    program: object
    target: str
    warnings: list = field(default_factory=list)


def compile_stl(net: nn.Module, calibration: np.ndarray, target: str = "loihi2", allow_saturation: bool = False) -> CompiledSTL:
    """Trace ``net`` to NIR and compile it for an integer target with post-training quantization.

    Args:
        net: A trained network from :func:`~spikeforge.models.stl.build_stl_net`.
        calibration: Encoded inputs ``(T, B, features)`` (binary spikes) for the range analysis.
        target: ``"loihi2"`` or ``"loihi2-shared-threshold"`` (any integer target works).
        allow_saturation: Let worst-case bounds beyond 24 bits through as counted warnings
            (runs then count any wrap); without it such a bound raises ``QuantizationError``.

    Returns:
        The :class:`CompiledSTL`, with every compiler warning recorded.
    """
    import spikeforge as sf

    cal = np.asarray(calibration, dtype=np.float32)
    net.eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        graph = sf.trace(net, torch.from_numpy(cal[:, :1]))
        prog = sf.compile(graph, target=target, calibration=cal, input_exp=0, allow_saturation=allow_saturation)
    for w in caught:  # recorded for the caller's report, and passed on (never swallowed)
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    notes = [str(w.message) for w in caught]
    return CompiledSTL(program=prog, target=target, warnings=notes)


def run_compiled(compiled: CompiledSTL | object, spikes: np.ndarray, backend: str = "reference") -> object:
    """Run a compiled STL program on ``backend``; returns the :class:`~spikeforge.backends.Trace` (model time)."""
    import spikeforge as sf

    prog = compiled.program if isinstance(compiled, CompiledSTL) else compiled
    return sf.run(prog, np.asarray(spikes, dtype=np.float64), backend=backend)
