"""Torch counterparts of the integer primitives of :mod:`.quant` (for the integer-train forward).

Every function computes exactly what its numpy twin in ``models/quant.py`` computes (same float64
operations, same int64 arithmetic), on torch tensors and on any device, so the torch
integer-train forward of ``models.qat`` equals the integer program bit for bit
(``docs/integer.md``). Values keep their gradients through :func:`exact`, the straight-through
estimator whose forward value is exactly the quantized value in any dtype.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch

from . import quant
from .quant import BIAS_MANT_MAX, DECAY_BITS, DECAY_UNITY, STATE_MAX, VTH_MAX, ACT_SHIFT

__all__ = [
    "round_half_up", "decay", "decay_code", "decay_factor", "clip24", "pow2", "row_exps", "mantissa",
    "exact", "Grid", "quant_bias", "quant_threshold", "BIAS_MANT_MAX", "VTH_MAX", "ACT_SHIFT",
]


def round_half_up(x: torch.Tensor) -> torch.Tensor:
    """``floor(x + 1/2)`` as int64, computed in float64 (``quant.round_half_up``)."""
    return torch.floor(x.to(torch.float64) + 0.5).to(torch.int64)


def decay(x: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Loihi decay ``sign(x) * ((|x| * (4096 - d)) >> 12)`` on int64 tensors (``quant.decay``)."""
    return torch.sign(x) * torch.bitwise_right_shift(x.abs() * (DECAY_UNITY - d), DECAY_BITS)


def decay_code(beta: torch.Tensor) -> torch.Tensor:
    """12-bit decay code ``clip(round((1 - beta) * 4096), 0, 4095)`` (int64, ``quant.decay_code``)."""
    b = beta.detach().to(torch.float64)
    return torch.clamp(round_half_up((1.0 - b) * DECAY_UNITY), 0, DECAY_UNITY - 1)


def decay_factor(d: torch.Tensor) -> torch.Tensor:
    """Effective decay ``(4096 - d) / 4096`` of a code (float64, exact)."""
    return (DECAY_UNITY - d.to(torch.float64)) / DECAY_UNITY


def clip24(x: torch.Tensor) -> torch.Tensor:
    """Saturate int64 values to ``[-(2^23 - 1), 2^23 - 1]`` (``quant.clip24`` without the count)."""
    return torch.clamp(x, -STATE_MAX, STATE_MAX)


def pow2(e: torch.Tensor) -> torch.Tensor:
    """``2^e`` (float64, exact via ``np.ldexp``) for an integer tensor ``e``, on ``e``'s device."""
    e_np = e.detach().cpu().numpy().astype(np.int64)
    return torch.from_numpy(np.asarray(np.ldexp(np.ones(e_np.shape), e_np), dtype=np.float64)).to(e.device)


def row_exps(w64: torch.Tensor, per_layer: bool) -> torch.Tensor:
    """Canonical exponent per output row (axis 0) of float64 weights (``quant.row_exps``); int64."""
    rows = w64.detach().abs().reshape(w64.shape[0], -1)
    peak = rows.amax(dim=1) if rows.shape[1] else torch.zeros(w64.shape[0], dtype=torch.float64, device=w64.device)
    e = quant.row_exps(peak.cpu().numpy()[:, None], per_layer=per_layer)
    return torch.from_numpy(e).to(w64.device)


def mantissa(w64: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
    """``round(w / 2^e)`` with one exponent per row (``quant.mantissa``); int64."""
    scale = pow2(-e).reshape((-1,) + (1,) * (w64.dim() - 1))
    return round_half_up(w64.detach() * scale)


def exact(f: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Straight-through estimator: the value of ``q`` (exactly, in ``f``'s dtype), the gradient of ``f``.

    ``q + (f - f.detach())`` adds an exact zero to ``q``, so the forward value is bit-exact
    (unlike ``f + (q - f).detach()``, whose two roundings can move it off the grid).
    """
    q = q.detach().to(f.dtype)
    if not f.requires_grad:
        return q
    return q + (f - f.detach())


def quant_bias(b: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Bias on the grid ``2^grid`` (per output row), mantissa clamped to Lava's 13 bits; float64.

    ``round_half_up(b / 2^grid)`` clipped to ``[-4095, 4095]``, times ``2^grid``.
    """
    k = torch.clamp(round_half_up(b.detach().to(torch.float64) * pow2(-grid)), -BIAS_MANT_MAX, BIAS_MANT_MAX)
    return k.to(torch.float64) * pow2(grid)


def quant_threshold(theta: torch.Tensor, grid_exp: torch.Tensor) -> torch.Tensor:
    """Threshold ``clamp(round(theta / 2^(g+6)), 0, 2^17 - 1) * 2^(g+6)`` (float64) for grid ``g``."""
    e = grid_exp + ACT_SHIFT
    k = torch.clamp(round_half_up(theta.detach().to(torch.float64) * pow2(-e)), 0, VTH_MAX)
    return k.to(torch.float64) * pow2(e)


class Grid:
    """A membrane grid ``2^exp`` (per neuron, broadcastable) on one device.

    Args:
        exp: Integer exponents (``grid_exp = -p`` of ``docs/integer.md``), broadcastable to the
            neuron shape.
        device: Where the converted values live.
    """

    def __init__(self, exp: torch.Tensor, device: Optional[torch.device] = None):
        exp = torch.as_tensor(exp, dtype=torch.int64)
        device = exp.device if device is None else device
        self.exp = exp.to(device)
        self.scale = pow2(exp).to(device)
        self.inv = pow2(-exp).to(device)

    def to_int(self, x: torch.Tensor) -> torch.Tensor:
        """Membrane LSBs of real values ``x`` (round half up onto the grid); int64."""
        return round_half_up(x.detach().to(torch.float64) * self.inv)

    def to_real(self, k: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """Real values ``k * 2^exp`` of integers ``k``, in ``dtype``."""
        return (k.to(torch.float64) * self.scale).to(dtype)
