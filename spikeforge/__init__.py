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
    trace = sf.run(prog, x, probes=sf.activity_probes(prog))    # input + every neuron layer
    e     = sf.energy(prog, trace, target="loihi2")  # EnergyReport: per-layer ops and joules
    e.total_joules, e.per_inference_joules, e.layers, e.mapping   # mapping: MappingReport
    print(e.table()); e.to_json("energy.json"); e.plot("energy.png")
    m     = sf.map_program(prog, target="loihi2")    # cores, chips, per-core utilisation

Importing spikeforge does not import torch (only :func:`trace` does, on first use).
"""

from __future__ import annotations

from spikeforge.backends import Trace, run
from spikeforge.backends.verify import VerifyReport, verify
from spikeforge.compiler import (
    EnergyReport,
    GraphError,
    MappingReport,
    InputError,
    NIRFileError,
    TARGETS,
    Program,
    QuantizationError,
    QuantizationWarning,
    SpikeforgeError,
    Target,
    activity_probes,
    compile,
    energy,
    load_nir,
    map_program,
    range_report,
    save_nir,
    trace,
)

__version__ = "0.1.0"

__all__ = [
    "EnergyReport",
    "GraphError",
    "MappingReport",
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
    "activity_probes",
    "compile",
    "energy",
    "load_nir",
    "map_program",
    "range_report",
    "run",
    "save_nir",
    "trace",
    "verify",
]
