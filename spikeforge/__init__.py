"""spikeforge: a neuromorphic compiler for spiking neural networks.

Public API (stable names)::

    import spikeforge as sf
    g     = sf.trace(module, sample_input, dt=1.0)   # torch -> nir.NIRGraph
    g     = sf.load_nir(path); sf.save_nir(g, path)
    prog  = sf.compile(g, target="float")            # Program
    prog.save(path); prog = sf.Program.load(path)
    trace = sf.run(prog, x, backend="reference")     # x: (T, B, *input_shape)

Importing spikeforge does not import torch (only :func:`trace` does, on first use).
"""

from __future__ import annotations

from spikeforge.backends import Trace, run
from spikeforge.compiler import (
    GraphError,
    InputError,
    NIRFileError,
    Program,
    SpikeforgeError,
    compile,
    load_nir,
    save_nir,
    trace,
)

__version__ = "0.1.0"

__all__ = [
    "GraphError",
    "InputError",
    "NIRFileError",
    "Program",
    "SpikeforgeError",
    "Trace",
    "__version__",
    "compile",
    "load_nir",
    "run",
    "save_nir",
    "trace",
]
