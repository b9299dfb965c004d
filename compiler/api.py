"""``compile``: NIR graph -> :class:`Program`, through the target's pass pipeline."""

from __future__ import annotations

import os
import warnings
from typing import Any

import nir

from .errors import SpikeforgeError
from .from_nir import from_nir
from .ir import Graph
from .passes import pipeline
from .program import Program

#: dt used when neither the caller nor the graph's metadata gives one (seconds; 1 ms).
DEFAULT_DT = 1e-3
#: Discretization used when neither the caller nor the graph's metadata gives one.
DEFAULT_METHOD = "exact"


def _resolve(name: str, given: Any, meta: dict, key: str, default: Any, where: str) -> Any:
    stored = meta.get(key)
    if given is None:
        return default if stored is None else type(default)(stored)
    if stored is not None and str(stored) != str(given) and not _close(stored, given):
        warnings.warn(f"{where}: {name}={given} given, but the graph's metadata says {key}={stored}; using {given}", stacklevel=3)
    return given


def _close(a: Any, b: Any) -> bool:
    try:
        return abs(float(a) - float(b)) <= 1e-12 * max(1.0, abs(float(b)))
    except (TypeError, ValueError):
        return False


def compile(
    graph: nir.NIRGraph | Graph | str | os.PathLike,
    target: str = "float",
    dt: float | None = None,
    method: str | None = None,
) -> Program:
    """Compile a NIR graph for a target.

    NIR stores no time step, so ``dt`` is a compile argument: when omitted, the value
    ``sf.trace`` recorded in the graph's metadata (``spikeforge.dt``) is used, else
    :data:`DEFAULT_DT` (1 ms). The same holds for ``method`` (``spikeforge.discretization``,
    default ``"exact"``; use ``"euler"`` for graphs exported by snnTorch). A warning is given
    when an explicit argument disagrees with the metadata.

    Args:
        graph: A ``nir.NIRGraph``, a working :class:`Graph`, or a path to a ``.nir`` file.
        target: ``"float"`` keeps float parameters (more targets join with the integer compiler).
        dt: Time step in the unit of the graph's time constants.
        method: ``"exact"`` (zero-order hold) or ``"euler"``.

    Returns:
        The compiled :class:`Program`.

    Raises:
        SpikeforgeError: Bad graph, unknown target or method.
    """
    if isinstance(graph, (str, os.PathLike)):
        from .nir_io import load_nir

        where = str(graph)
        graph = from_nir(load_nir(graph), where=where)
    elif isinstance(graph, nir.NIRGraph):
        graph = from_nir(graph)
    elif not isinstance(graph, Graph):
        raise SpikeforgeError(f"compile expects a nir.NIRGraph or a .nir path, got {type(graph).__name__}")
    where = str(graph.metadata.get("source", "graph"))
    meta = dict(graph.metadata)
    dt = float(_resolve("dt", dt, meta, "spikeforge.dt", DEFAULT_DT, where))
    method = str(_resolve("method", method, meta, "spikeforge.discretization", DEFAULT_METHOD, where))
    passes = pipeline(target, dt, method)
    for p in passes:
        graph = p.run(graph)
    return Program(graph=graph, target=target, dt=dt, method=method, passes=tuple(p.name for p in passes))
