"""spikeforge.compiler: frontend, NIR I/O, the working graph, passes, the Program, and the
mapping (onto cores) and energy analyses.

Importing this package does not import torch; :func:`trace` imports it on first use.
"""

from __future__ import annotations

from .api import DEFAULT_DT, DEFAULT_METHOD, compile
from .energy import EnergyReport, LayerEnergy, activity_probes, energy
from .energy_tables import ENERGY_TABLES, EnergyTable
from .errors import (
    GraphError,
    InputError,
    NIRFileError,
    QuantizationError,
    QuantizationWarning,
    SpikeforgeError,
    UnsupportedNodeError,
)
from .from_nir import from_nir
from .ir import Graph, Node
from .mapping import CoreRecord, MappingReport, map_program
from .nir_io import load_nir, save_nir
from .passes.ranges import range_report
from .program import Program
from .targets import TARGETS, CoreLimits, Target, get_target


def trace(module, sample_input, dt: float = 1.0, method: str | None = None):
    """Trace a torch module to a ``nir.NIRGraph`` (see :mod:`spikeforge.compiler.frontend`)."""
    from .frontend import trace as _trace

    return _trace(module, sample_input, dt=dt, method=method)


__all__ = [
    "CoreLimits",
    "CoreRecord",
    "DEFAULT_DT",
    "ENERGY_TABLES",
    "EnergyReport",
    "EnergyTable",
    "LayerEnergy",
    "MappingReport",
    "activity_probes",
    "energy",
    "map_program",
    "DEFAULT_METHOD",
    "Graph",
    "GraphError",
    "InputError",
    "NIRFileError",
    "Node",
    "Program",
    "QuantizationError",
    "QuantizationWarning",
    "SpikeforgeError",
    "TARGETS",
    "Target",
    "UnsupportedNodeError",
    "compile",
    "from_nir",
    "get_target",
    "load_nir",
    "range_report",
    "save_nir",
    "trace",
]
