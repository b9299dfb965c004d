"""spikeforge.backends: a registry of backends that run a :class:`~spikeforge.compiler.Program`.

Backends never import torch. Each backend registers a runner
``(program, x, probes, **options) -> Trace`` under its name; :func:`run` dispatches by name.
"""

from __future__ import annotations

import importlib
from typing import Callable, Iterable

import numpy as np

from .trace import Trace

#: backend name -> "module:function" of its runner (imported lazily).
BACKENDS: dict[str, str] = {
    "reference": "spikeforge.backends.reference.runtime:run_reference",
    "lava": "spikeforge.backends.lava.runner:run_lava",
    "brian2": "spikeforge.backends.brian2.digital:run_brian2",
    "brian2-analog": "spikeforge.backends.brian2.analog:run_brian2_analog",
}


def available() -> list[str]:
    """Names of the registered backends."""
    return sorted(BACKENDS)


def get_runner(name: str) -> Callable[..., Trace]:
    """Return the runner of a backend.

    Raises:
        SpikeforgeError: Unknown backend name.
    """
    from spikeforge.compiler.errors import SpikeforgeError

    if name not in BACKENDS:
        raise SpikeforgeError(f"unknown backend '{name}'; available: {', '.join(available())}")
    mod, fn = BACKENDS[name].split(":")
    return getattr(importlib.import_module(mod), fn)


def run(program, x: np.ndarray, backend: str = "reference", probes: Iterable[str] | None = None, **options) -> Trace:
    """Run a program on a backend.

    Float and integer (``target="loihi2"``) programs alike: for an integer program the
    backend quantizes ``x`` at the input node, ``Trace.probes`` hold raw integers and
    ``Trace.output`` is dequantized (``docs/integer.md``).

    Args:
        program: A compiled :class:`~spikeforge.compiler.Program` (or a path to one).
        x: Input, shape ``(T, B, *input_shape)``.
        backend: Backend name (see :func:`available`).
        probes: Node names whose values to return in ``Trace.probes``.
        **options: Backend-specific options, passed on to the runner (the reference backend
            takes ``record_v`` and, for integer programs, ``realization``).

    Returns:
        The :class:`Trace`, in model time.
    """
    from spikeforge.compiler.program import Program

    if not isinstance(program, Program):
        program = Program.load(program)
    return get_runner(backend)(program, x, probes=list(probes or []), **options)


__all__ = ["BACKENDS", "Trace", "available", "get_runner", "run"]
