"""spikeforge: a neuromorphic compiler for spiking neural networks.

Public API (stable names)::

    import spikeforge as sf
    g     = sf.trace(module, sample_input, dt=1.0)   # torch -> nir.NIRGraph
    g     = sf.load_nir(path); sf.save_nir(g, path)
    prog  = sf.compile(g, target="float")            # Program (float parameters)
    prog  = sf.compile(g, target="loihi2", calibration=x)  # integer Program (docs/integer.md)
    print(sf.range_report(prog))                     # range analysis of an integer Program
    prog.save(path); prog = sf.Program.load(path)
    trace = sf.run(prog, x, backend="reference")     # x: (T, B, *input_shape)
    rep   = sf.verify(prog, x, backends=("reference", "lava"))  # every layer, every step

Importing spikeforge does not import torch (only :func:`trace` does, on first use).
"""

from __future__ import annotations

from spikeforge.backends import Trace, run
from spikeforge.backends.verify import VerifyReport, verify
from spikeforge.compiler import (
    GraphError,
    InputError,
    NIRFileError,
    TARGETS,
    Program,
    QuantizationError,
    QuantizationWarning,
    SpikeforgeError,
    Target,
    compile,
    load_nir,
    range_report,
    save_nir,
    trace,
)

__version__ = "0.1.0"

__all__ = [
    "GraphError",
    "InputError",
    "NIRFileError",
    "Program",
    "QuantizationError",
    "QuantizationWarning",
    "SpikeforgeError",
    "TARGETS",
    "Target",
    "Trace",
    "VerifyReport",
    "__version__",
    "compile",
    "load_nir",
    "range_report",
    "run",
    "save_nir",
    "trace",
    "verify",
]
