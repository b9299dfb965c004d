r"""Data for the convex reproductions: first-last XOR sequences and the 8x8 digits (offline).

First-last XOR (ours; the paper's exact generator is not public). A sample is ``T`` steps of two
input channels. Two random bits ``a, b`` are shown as ``±1``: ``a`` on channel 0 at step 0,
``b`` on channel 1 at step ``T-1``. Every other entry is a distractor, Gaussian noise of standard
deviation ``noise``. The target is ``a XOR b``, read from the network at the last step, so a
branch must carry ``a`` across ``T-1`` steps of leak and noise. All values are rounded to the
grid ``2^-4`` (and clipped to ``±7.9375``) so that the float network and the compiled integer
program (input exponent -4, signed 8-bit) see exactly the same input.

Digits: scikit-learn's bundled 8x8 digits (no download), pixels ``k/16`` presented as a constant
current for ``T`` steps (``spikeforge.demo.digits_split`` / ``encode``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["INPUT_EXP", "first_last_xor", "digits", "targets", "classify", "accuracy"]

#: Input grid exponent of both tasks (values are multiples of 2^INPUT_EXP).
INPUT_EXP = -4
_LIM = 127 * 2.0**INPUT_EXP


def _on_grid(x: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(x * 2.0**-INPUT_EXP + 0.5) * 2.0**INPUT_EXP, -_LIM, _LIM)


def first_last_xor(n: int, T: int = 10, noise: float = 0.25, seed: int = 0) -> tuple:
    """``n`` first-last XOR sequences.

    Args:
        n: Number of samples.
        T: Steps per sequence (``>= 2``).
        noise: Standard deviation of the distractor noise.
        seed: Random seed.

    Returns:
        ``(x, y)``: ``x`` float64 ``(T, n, 2)`` on the ``2^-4`` grid, ``y`` int ``(n,)`` in {0, 1}.

    Raises:
        ValueError: ``T < 2`` or ``n < 1``.
    """
    if T < 2 or n < 1:
        raise ValueError(f"first_last_xor: need T >= 2 and n >= 1, got T={T}, n={n}")
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, 2, n), rng.integers(0, 2, n)
    x = rng.normal(0.0, noise, (T, n, 2))
    x[0, :, 0] = 2 * a - 1
    x[T - 1, :, 1] = 2 * b - 1
    return _on_grid(x), (a ^ b).astype(np.int64)


def digits(T: int = 4, seed: int = 0, n_test: int = 360) -> tuple:
    """The 8x8 digits as constant-current sequences: ``(x_train, y_train, x_test, y_test)``,
    ``x`` float64 ``(T, B, 64)`` (pixels in [0, 1], exact on the ``2^-4`` grid)."""
    from spikeforge.demo import digits_split, encode

    xtr, ytr, xte, yte = digits_split(seed, n_test)
    return encode(xtr, T), ytr, encode(xte, T), yte


def targets(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Regression targets: ``±1`` as one column for 2 classes, ``±1`` one-hot for more."""
    y = np.asarray(y)
    if n_classes == 2:
        return (2.0 * y - 1.0)[:, None]
    return 2.0 * np.eye(n_classes)[y] - 1.0


def classify(yhat: np.ndarray) -> np.ndarray:
    """Class from readout values ``(B, C)``: ``yhat > 0`` for one column, else the argmax."""
    yhat = np.asarray(yhat)
    return (yhat[:, 0] > 0).astype(np.int64) if yhat.shape[1] == 1 else yhat.argmax(axis=1)


def accuracy(yhat: np.ndarray, y: np.ndarray) -> float:
    """Fraction of samples classified correctly."""
    return float(np.mean(classify(yhat) == np.asarray(y)))
