"""``compile``: NIR graph -> :class:`Program`, through the target's pass pipeline (float or integer)."""

from __future__ import annotations

import os
import warnings
from typing import Any

import nir

from .errors import SpikeforgeError
from .from_nir import from_nir
from .ir import Graph
from .passes import QuantOptions, pipeline
from .program import Program
from .targets import Target, get_target

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
    target: str | Target = "float",
    dt: float | None = None,
    method: str | None = None,
    calibration: Any = None,
    input_exp: int | None = None,
    input_bits: int | None = None,
    allow_saturation: bool = False,
    input_signed: bool | None = None,
) -> Program:
    """Compile a NIR graph for a target.

    NIR stores no time step, so ``dt`` is a compile argument: when omitted, the value
    ``sf.trace`` recorded in the graph's metadata (``spikeforge.dt``) is used, else
    :data:`DEFAULT_DT` (1 ms). The same holds for ``method`` (``spikeforge.discretization``,
    default ``"exact"``; use ``"euler"`` for graphs exported by snnTorch). A warning is given
    when an explicit argument disagrees with the metadata.

    Integer targets (``"loihi2"``, ``"loihi2-binary"``, ``"loihi2-shared-threshold"``; see
    :data:`~spikeforge.compiler.targets.TARGETS`) produce the integer program of
    ``docs/integer.md``. They need the input's fixed-point exponent: ``input_exp``, else the
    graph's ``spikeforge.input_exp`` metadata, else derived from ``calibration``.

    Args:
        graph: A ``nir.NIRGraph``, a working :class:`Graph`, or a path to a ``.nir`` file.
        target: Target name or :class:`~spikeforge.compiler.targets.Target`; ``"float"`` keeps
            float parameters.
        dt: Time step in the unit of the graph's time constants.
        method: ``"exact"`` (zero-order hold) or ``"euler"``.
        calibration: Integer targets: representative inputs ``(T, B, *input_shape)``; they fix
            the input grid when nothing else does, bound the input in the worst-case fan-in
            check, and drive the range analysis (``metadata["ranges"]``; post-training
            coarsening of float LIF nets).
        input_exp: Integer targets: input exponent (real input = integer * 2^input_exp).
        input_bits: Integer targets: input width (default: ``spikeforge.input_bits``, else 8).
        allow_saturation: Integer targets: a value beyond its bit width becomes a counted
            warning (recorded in ``metadata["quantization_warnings"]``) instead of a
            :class:`~spikeforge.compiler.errors.QuantizationError`.
        input_signed: Integer targets: whether the input is signed (default:
            ``spikeforge.input_signed``, else signed iff the calibration has negative values,
            else signed).

    Returns:
        The compiled :class:`Program`.

    Raises:
        SpikeforgeError: Bad graph, unknown target or method.
        QuantizationError: A value does not fit the integer target (one line: node, quantity,
            value, limit).
    """
    if isinstance(graph, (str, os.PathLike)):
        from .nir_io import load_nir

        where = str(graph)
        graph = from_nir(load_nir(graph), where=where)
    elif isinstance(graph, nir.NIRGraph):
        graph = from_nir(graph)
    elif not isinstance(graph, Graph):
        raise SpikeforgeError(f"compile expects a nir.NIRGraph or a .nir path, got {type(graph).__name__}")
    t = get_target(target)
    where = str(graph.metadata.get("source", "graph"))
    meta = dict(graph.metadata)
    dt = float(_resolve("dt", dt, meta, "spikeforge.dt", DEFAULT_DT, where))
    method = str(_resolve("method", method, meta, "spikeforge.discretization", DEFAULT_METHOD, where))
    given = [k for k, v in (("calibration", calibration), ("input_exp", input_exp), ("input_bits", input_bits), ("input_signed", input_signed)) if v is not None]
    if not t.integer and (given or allow_saturation):
        warnings.warn(f"{where}: {', '.join(given + (['allow_saturation'] if allow_saturation else []))} only apply to integer targets; ignored for '{t.name}'", stacklevel=2)
    opts = QuantOptions(calibration=calibration, input_exp=input_exp, input_bits=input_bits, input_signed=input_signed, allow_saturation=bool(allow_saturation))
    passes = pipeline(t, dt, method, opts)
    for p in passes:
        graph = p.run(graph)
    return Program(graph=graph, target=t.name, dt=dt, method=method, passes=tuple(p.name for p in passes))
