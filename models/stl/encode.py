"""Rate coding of pixel intensities into Bernoulli spike trains (STL digits input)."""

from __future__ import annotations

import numpy as np

__all__ = ["rate_encode"]


def rate_encode(p: np.ndarray, T: int, seed: int) -> np.ndarray:
    """Bernoulli rate code: at every step each input spikes with probability ``p``.

    For the 8x8 digits ``p = pixel / 16`` (what :func:`spikeforge.demo.digits_split` returns),
    so a pixel of 16 spikes at every step and a pixel of 0 never. The draw is seeded, so the
    same ``(p, T, seed)`` always gives the same spikes (torch and every compiled backend can
    be fed one identical input).

    Args:
        p: Spike probabilities in [0, 1], shape ``(B, *features)``.
        T: Number of time steps (>= 1).
        seed: Seed of the numpy generator.

    Returns:
        float32 array of 0/1 spikes, shape ``(T, B, *features)``.

    Raises:
        ValueError: ``T < 1`` or a probability outside [0, 1] (or not finite).
    """
    p = np.asarray(p, dtype=np.float64)
    if int(T) < 1:
        raise ValueError(f"rate_encode: T must be >= 1, got {T}")
    if p.size and not np.all(np.isfinite(p)):
        raise ValueError("rate_encode: probabilities must lie in [0, 1] (pixel / 16), got non-finite values")
    if p.size and (p.min() < 0.0 or p.max() > 1.0):
        raise ValueError(f"rate_encode: probabilities must lie in [0, 1] (pixel / 16), got range [{p.min():g}, {p.max():g}]")
    u = np.random.default_rng(seed).random((int(T),) + p.shape)
    return (u < p[None]).astype(np.float32)
