"""Verification traces in NIR's own data format (``nir.write_data`` / ``nir.read_data``).

One file per backend, ``traces_<backend>.h5``, holds a :class:`nir.NIRGraphData` whose nodes
are the Program's node names; each probed layer is a :class:`nir.NIRNodeData` with one
observable, a :class:`nir.TimeGriddedData` of shape ``(samples, steps, neurons)`` (NIR's
axis order; our traces are ``(T, B, *shape)``, so the file is transposed and flattened) and
``dt = prog.dt``:

* ``"spikes"``: binary spiking layers (``lif``, ``cuba_lif``, ``threshold``, ``int_lif``),
  stored as ``bool`` as NIR asks for binary events (a value other than 0/1 is an error);
* ``"spikes"``: graded spiking layers (``asn``, ``int_asn``): the payloads, in their dtype;
* ``"v"``: non-spiking neurons (``li``, ``cuba_li``, ``int_li``, ``mtc``, ...): the
  membrane (raw integers in integer programs);
* ``"output"``: the program's output node (dequantized, float64).

:func:`read_traces` restores ``(T, B, *shape)`` and the dtypes, so a read-back trace equals
the written one exactly.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from spikeforge.compiler.ir import SPIKING_OPS

from .verify import OUTPUT

#: Spiking ops whose spikes are binary (stored as bool).
BINARY_OPS = frozenset({"lif", "cuba_lif", "threshold", "int_lif"})


def observable_name(prog, layer: str) -> str:
    """The NIR observable a layer is stored as: ``spikes``, ``v`` or ``output``."""
    if layer == OUTPUT:
        return "output"
    return "spikes" if prog.graph.nodes[layer].op in SPIKING_OPS else "v"


def trace_path(folder: str | os.PathLike, backend: str) -> Path:
    """Where :func:`write_traces` puts a backend's traces."""
    return Path(folder) / f"traces_{backend}.h5"


def _to_nir(prog, layer: str, values: np.ndarray):
    import nir

    from spikeforge.compiler.errors import SpikeforgeError

    T, B = values.shape[:2]
    data = np.ascontiguousarray(np.moveaxis(values, 1, 0).reshape(B, T, -1))
    if layer != OUTPUT and prog.graph.nodes[layer].op in BINARY_OPS:
        if not np.isin(data, (0, 1)).all():
            raise SpikeforgeError(f"layer '{layer}' ({prog.graph.nodes[layer].op}): binary spikes hold values other than 0/1; cannot store them as NIR events")
        data = data.astype(bool)
    return nir.TimeGriddedData(data, float(prog.dt))


def graph_data(prog, trace, layers: list[str] | None = None):
    """A :class:`nir.NIRGraphData` of a trace: one node per probed layer and the output node.

    Args:
        prog: The Program that produced the trace.
        trace: A :class:`~spikeforge.backends.Trace`.
        layers: Layer names (default: every probe, then ``"<output>"``).
    """
    import nir

    layers = list(trace.probes) + [OUTPUT] if layers is None else list(layers)
    nodes = {}
    for layer in layers:
        if layer != OUTPUT and layer not in prog.graph.nodes:
            continue  # e.g. "<name>.v" membrane records: not a node of the graph
        values = trace.output if layer == OUTPUT else trace.probes[layer]
        name = prog.output_name if layer == OUTPUT else layer
        nodes.setdefault(name, nir.NIRNodeData({})).observables[observable_name(prog, layer)] = _to_nir(prog, layer, values)
    return nir.NIRGraphData(nodes)


def write_traces(folder: str | os.PathLike, prog, traces: dict, layers: list[str] | None = None) -> dict[str, Path]:
    """Write each backend's trace as a NIR graph-data file (atomically).

    Args:
        folder: Output folder (created if needed).
        prog: The Program.
        traces: Backend name -> :class:`~spikeforge.backends.Trace` (e.g. ``VerifyReport.traces``).
        layers: Layers to store (default: every probe and the output).

    Returns:
        Backend name -> the file written.
    """
    import nir

    from spikeforge.compiler.fsutil import atomic_path

    out = {}
    for backend, tr in traces.items():
        path = trace_path(folder, backend)
        gd = graph_data(prog, tr, layers)
        with atomic_path(path, suffix=".h5") as tmp:
            nir.write_data(tmp, gd)
        out[backend] = path
    return out


def read_traces(path: str | os.PathLike, prog) -> dict[str, np.ndarray]:
    """Read a file of :func:`write_traces` back as ``layer -> (T, B, *shape)`` arrays.

    The output node comes back as ``"<output>"`` (float64); binary spikes as int64 in integer
    programs and float64 in float programs (what the backends return).

    Raises:
        NIRFileError: Missing or unreadable file, or a node the Program does not have.
    """
    import nir

    from spikeforge.compiler.errors import NIRFileError

    from .reference.runtime import is_integer_program

    p = Path(path)
    if not p.exists():
        raise NIRFileError(f"{p}: no such file")
    try:
        gd = nir.read_data(str(p))
    except (OSError, KeyError, ValueError) as e:
        raise NIRFileError(f"{p}: not a NIR graph-data file ({e})") from None
    spike_dtype = np.int64 if is_integer_program(prog) else np.float64
    out = {}
    for name, nd in gd.nodes.items():
        if name not in prog.graph.nodes:
            raise NIRFileError(f"{p}: node '{name}' is not in the program; nodes: {', '.join(prog.graph.nodes)}")
        shape = tuple(prog.graph.nodes[name].out_shape or ())
        for obs_name, obs in nd.observables.items():
            if not isinstance(obs, nir.TimeGriddedData):
                raise NIRFileError(f"{p}: node '{name}' observable '{obs_name}' is {type(obs).__name__}; spikeforge traces are TimeGriddedData")
            data = obs.data.astype(spike_dtype) if obs.data.dtype == bool else obs.data
            B, T = data.shape[:2]
            out[OUTPUT if obs_name == "output" else name] = np.moveaxis(data.reshape((B, T) + shape), 0, 1)
    return out


__all__ = ["BINARY_OPS", "graph_data", "observable_name", "read_traces", "trace_path", "write_traces"]
