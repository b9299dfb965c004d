"""The input's fixed-point grid (``docs/integer.md``, "Input").

``x_int = round(x / 2^exp)`` clipped to ``bits`` (unsigned when the input is non-negative).
The exponent comes from, in order: the ``input_exp`` compile argument, the graph metadata
``spikeforge.input_exp`` (written by ``QuantInput``), the calibration data
(:func:`spikeforge.models.quant.on_grid_exp`). The width from ``input_bits``, else
``spikeforge.input_bits``, else 8; signedness from ``input_signed``, else
``spikeforge.input_signed``, else the calibration data (signed if any value is negative),
else signed. The pass writes ``exp``, ``bits`` and ``signed`` into the attrs of the input node
and, with calibration data, their largest integer magnitude into ``metadata["input_peak"]``
(the input's bound in the worst-case fan-in check).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ...models.quant import on_grid_exp, round_half_up
from ..errors import InputError, SpikeforgeError
from ..ir import Graph
from .issues import Issues, where

#: Input width used when neither the caller nor the graph gives one.
DEFAULT_INPUT_BITS = 8


def int_range(bits: int, signed: bool) -> tuple[int, int]:
    """``(lo, hi)`` of an input integer: ``[0, 2^bits - 1]`` or ``[-(2^(bits-1) - 1), 2^(bits-1) - 1]``."""
    hi = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
    return (-hi if signed else 0), hi


def quantize_input(x: np.ndarray, exp: int, bits: int, signed: bool) -> np.ndarray:
    """The input node's rule: ``round_half_up(x / 2^exp)`` clipped to the range (int64)."""
    lo, hi = int_range(bits, signed)
    return np.clip(round_half_up(np.ldexp(np.asarray(x, dtype=np.float64), -int(exp))), lo, hi)


def check_calibration(g: Graph, x) -> np.ndarray:
    """Calibration data as float64 ``(T, B, *input_shape)``.

    Raises:
        InputError: Wrong shape, NaN/inf, or a graph without exactly one input.
    """
    ins = g.inputs
    if len(ins) != 1:
        raise InputError(f"{where(g)}: calibration needs exactly one input node, the graph has {len(ins)}")
    x = np.asarray(x, dtype=np.float64)
    want = tuple(g.nodes[ins[0]].out_shape)
    if x.ndim != 2 + len(want) or tuple(x.shape[2:]) != want or x.shape[0] < 1 or x.shape[1] < 1:
        raise InputError(f"{where(g)}: calibration data has shape {x.shape}; expected (T, B, {', '.join(map(str, want))})")
    if not np.all(np.isfinite(x)):
        raise InputError(f"{where(g)}: calibration data contains NaN or inf values")
    return x


def _meta(g: Graph, key: str):
    v = g.metadata.get(key)
    return None if v is None or (isinstance(v, str) and not v) else v


def make_input_grid(
    input_exp: int | None = None,
    input_bits: int | None = None,
    input_signed: bool | None = None,
    calibration: np.ndarray | None = None,
) -> Callable[[Graph], Graph]:
    """Build the pass fixing the input grid.

    Args:
        input_exp: Exponent (real = int * 2^exp), overriding the graph metadata.
        input_bits: Width of the input integers.
        input_signed: Whether they are signed.
        calibration: Representative inputs ``(T, B, *input_shape)``.

    Returns:
        A pure pass ``graph -> graph``.
    """

    def input_grid(g: Graph) -> Graph:
        w_ = where(g)
        x = None if calibration is None else check_calibration(g, calibration)
        bits = input_bits if input_bits is not None else _meta(g, "spikeforge.input_bits")
        bits = DEFAULT_INPUT_BITS if bits is None else int(bits)
        if not 1 <= bits <= 24:
            raise SpikeforgeError(f"{w_}: input_bits must be in [1, 24], got {bits}")
        signed = input_signed if input_signed is not None else _meta(g, "spikeforge.input_signed")
        if signed is None:
            signed = bool(x is not None and np.any(x < 0)) if x is not None else True
        signed = bool(signed)
        if signed and bits < 2:
            raise SpikeforgeError(f"{w_}: a signed input needs input_bits >= 2, got {bits}")
        exp = input_exp if input_exp is not None else _meta(g, "spikeforge.input_exp")
        if exp is None:
            if x is None:
                raise SpikeforgeError(
                    f"{w_}: integer targets need the input's fixed-point exponent: pass input_exp= (CLI --input-exp) "
                    "or calibration data (CLI --calibration), or export the model with QuantInput"
                )
            exp = on_grid_exp(x, bits, signed)
        if float(exp) != int(float(exp)):
            raise SpikeforgeError(f"{w_}: input_exp must be an integer, got {exp}")
        exp = int(float(exp))
        issues = Issues(w_)
        meta = dict(g.metadata)
        if x is not None:
            lo, hi = int_range(bits, signed)
            q = round_half_up(np.ldexp(x, -exp))
            n = int(np.count_nonzero((q < lo) | (q > hi)))
            if n:
                issues.warn(f"{w_}: {n} calibration input value(s) fall outside the {bits}-bit {'signed' if signed else 'unsigned'} input grid 2^{exp} and are clipped")
            meta["input_peak"] = int(np.abs(np.clip(q, lo, hi)).max())
        nodes = dict(g.nodes)
        for k in g.inputs:
            nodes[k] = nodes[k].replace(attrs={**nodes[k].attrs, "exp": exp, "bits": bits, "signed": signed})
        return issues.into(g.replace(nodes=nodes, metadata=meta))

    return input_grid


__all__ = ["DEFAULT_INPUT_BITS", "check_calibration", "int_range", "make_input_grid", "quantize_input"]
