"""Integer primitives of the integer-train / spike-infer form (numpy only, no torch).

The normative definitions of ``docs/integer.md``: one rounding rule (round half up), shifts,
Loihi's 12-bit sign-magnitude decay, 24-bit wrap and saturation, canonical power-of-two
weight exponents. The torch integer-train forward, the compiler and every backend use these
functions (or are tested against them).
"""

from __future__ import annotations

import numpy as np

#: Bits of a weight mantissa (signed): values in ``[-WEIGHT_MAX, WEIGHT_MAX]``.
WEIGHT_BITS = 8
WEIGHT_MAX = 2 ** (WEIGHT_BITS - 1) - 1
#: Width of currents and voltages (signed).
STATE_BITS = 24
STATE_MAX = 2 ** (STATE_BITS - 1) - 1
#: Decay codes are 12-bit: the factor is ``(4096 - d) / 4096``.
DECAY_BITS = 12
DECAY_UNITY = 2**DECAY_BITS
#: Loihi MSB-aligns synaptic input and thresholds by this shift.
ACT_SHIFT = 6
#: Lava LIF threshold mantissa (unsigned 17-bit) and bias (13-bit signed mantissa, 3-bit exponent).
VTH_MAX = 2**17 - 1
BIAS_MANT_MAX = 2**12 - 1
BIAS_EXP_MAX = 7

__all__ = [
    "WEIGHT_BITS", "WEIGHT_MAX", "STATE_BITS", "STATE_MAX", "DECAY_BITS", "DECAY_UNITY", "ACT_SHIFT",
    "VTH_MAX", "BIAS_MANT_MAX", "BIAS_EXP_MAX",
    "round_half_up", "shift", "decay", "decay_code", "decay_factor", "wrap24", "clip24",
    "canonical_exp", "row_exps", "mantissa", "grid_exp_of", "on_grid_exp", "bias_split",
]


def round_half_up(x) -> np.ndarray:
    """``floor(x + 1/2)`` as int64, computed in float64 (exact for ``|x| < 2^52``)."""
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5).astype(np.int64)


def shift(x, k) -> np.ndarray:
    """``x << k`` where ``k >= 0``, arithmetic ``x >> -k`` (floor) where ``k < 0``; int64."""
    x = np.asarray(x, dtype=np.int64)
    k = np.asarray(k, dtype=np.int64)
    return np.where(k >= 0, np.left_shift(x, np.maximum(k, 0)), np.right_shift(x, np.maximum(-k, 0)))


def decay(x, d) -> np.ndarray:
    """Loihi decay: ``sign(x) * ((|x| * (4096 - d)) >> 12)`` (truncation toward zero); int64."""
    x = np.asarray(x, dtype=np.int64)
    y = np.right_shift(np.abs(x) * (DECAY_UNITY - np.asarray(d, dtype=np.int64)), DECAY_BITS)
    return np.sign(x) * y


def decay_code(beta) -> np.ndarray:
    """12-bit decay code ``d = round((1 - beta) * 4096)`` clipped to ``[0, 4095]``; int64."""
    return np.clip(round_half_up((1.0 - np.asarray(beta, dtype=np.float64)) * DECAY_UNITY), 0, DECAY_UNITY - 1)


def decay_factor(d) -> np.ndarray:
    """Effective decay ``(4096 - d) / 4096`` of a code (float64, exact)."""
    return (DECAY_UNITY - np.asarray(d, dtype=np.float64)) / DECAY_UNITY


def wrap24(x) -> tuple[np.ndarray, int]:
    """Lava's 24-bit wrap of the current; returns ``(wrapped, number of wrapped elements)``."""
    x = np.asarray(x, dtype=np.int64)
    m = 2 ** (STATE_BITS - 1)
    hi, lo = x > m, x <= -m
    y = np.where(hi, x - 2 * m, x)
    y = np.where(lo, x + 2 * m, y)
    return y, int(np.count_nonzero(hi) + np.count_nonzero(lo))


def clip24(x) -> tuple[np.ndarray, int]:
    """Saturate to ``[-(2^23 - 1), 2^23 - 1]``; returns ``(clipped, number saturated)``."""
    x = np.asarray(x, dtype=np.int64)
    n = int(np.count_nonzero(np.abs(x) > STATE_MAX))
    return np.clip(x, -STATE_MAX, STATE_MAX), n


def canonical_exp(max_abs: float, mant_max: int = WEIGHT_MAX) -> int:
    """Smallest integer ``e`` with ``max_abs <= mant_max * 2^e`` (``0`` when ``max_abs == 0``).

    Exact: the candidate from ``log2`` is corrected with exact float comparisons.
    """
    m = float(max_abs)
    if m == 0.0:
        return 0
    if not np.isfinite(m):
        raise ValueError(f"cannot quantize a non-finite value ({m})")
    e = int(np.ceil(np.log2(m / mant_max)))
    while m > mant_max * 2.0**e:
        e += 1
    while m <= mant_max * 2.0 ** (e - 1):
        e -= 1
    return e


def row_exps(w, per_layer: bool = False, mant_max: int = WEIGHT_MAX) -> np.ndarray:
    """Canonical exponent per output row (axis 0) of ``w``; with ``per_layer`` their maximum.

    Rows that are all zero get the exponent of the layer (or 0 when the whole layer is zero).
    """
    w = np.asarray(w, dtype=np.float64)
    rows = np.abs(w.reshape(w.shape[0], -1)).max(axis=1) if w.size else np.zeros(w.shape[0])
    layer = canonical_exp(rows.max() if rows.size else 0.0, mant_max)
    if per_layer:
        return np.full(w.shape[0], layer, dtype=np.int64)
    return np.array([canonical_exp(r, mant_max) if r > 0 else layer for r in rows], dtype=np.int64)


def mantissa(w, e) -> np.ndarray:
    """``round(w / 2^e)`` with ``e`` broadcast along axis 0 (one exponent per row); int64."""
    w = np.asarray(w, dtype=np.float64)
    e = np.asarray(e, dtype=np.int64).reshape((-1,) + (1,) * (w.ndim - 1)) if np.ndim(e) else np.asarray(e)
    return round_half_up(np.ldexp(w, -e))


def grid_exp_of(x, limit: int = 30) -> int | None:
    """The largest ``e`` (``<= limit``) with every ``x / 2^e`` an integer, or ``None`` if none is
    (values off every dyadic grid down to ``2^-60``). Zeros only give ``limit``."""
    x = np.asarray(x, dtype=np.float64).ravel()
    x = x[x != 0]
    if x.size == 0:
        return limit
    for e in range(limit, -61, -1):
        y = np.ldexp(x, -e)
        if np.all(y == np.floor(y)):
            return e
    return None


def on_grid_exp(x, bits: int, signed: bool) -> int:
    """Input exponent for calibration data ``x`` stored in ``bits`` (see ``docs/integer.md``).

    The coarsest grid holding every value exactly if its largest magnitude fits, else the
    canonical exponent for the mantissa range.
    """
    x = np.asarray(x, dtype=np.float64)
    mmax = 2 ** (bits - 1) - 1 if signed else 2**bits - 1
    peak = float(np.abs(x).max()) if x.size else 0.0
    e = grid_exp_of(x, limit=0)
    if e is not None and peak <= mmax * 2.0**e:
        return e
    return canonical_exp(peak, mmax)


def bias_split(b) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split integer biases into Lava's ``bias_mant << bias_exp`` (13-bit mantissa, 3-bit exp).

    Returns ``(mant, exp, ok)``: the smallest exponent that fits the mantissa range; ``ok`` is
    false where no exact representation exists (too large, or low bits lost).
    """
    b = np.asarray(b, dtype=np.int64)
    mant = b.copy()
    exp = np.zeros_like(b)
    for _ in range(BIAS_EXP_MAX):
        big = np.abs(mant) > BIAS_MANT_MAX
        if not big.any():
            break
        mant = np.where(big, mant >> 1, mant)
        exp = np.where(big, exp + 1, exp)
    ok = (np.abs(mant) <= BIAS_MANT_MAX) & (np.left_shift(mant, exp) == b)
    return mant, exp, ok
