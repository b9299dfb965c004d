"""Numpy helpers for lowering discrete neuron parameters to continuous-time NIR.

Implements the lowering table of ``docs/semantics.md`` (no torch import):

============  ==========================================  ===================================
parameter     ``exact``                                   ``euler``
============  ==========================================  ===================================
decay beta    ``tau = -dt/ln(beta)``, ``r = 1/(1-beta)``  ``tau = dt/(1-beta)``, ``r = 1/(1-beta)``
IF            ``r = 1/dt``                                same
============  ==========================================  ===================================

so that the ``discretize`` pass gives back ``a = beta`` and input gain ``g = 1``.
"""

from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np

METHODS = ("exact", "euler")

__all__ = ["METHODS", "full", "check_decay", "check_dt_method", "decay_to_tau", "discretize_tau", "gain_for_decay"]


def full(value, shape: Sequence[int]) -> np.ndarray:
    """Broadcast ``value`` to ``shape`` as a fresh contiguous float64 array."""
    arr = np.asarray(value, dtype=np.float64)
    try:
        return np.array(np.broadcast_to(arr, tuple(shape)), dtype=np.float64)
    except ValueError as exc:
        raise ValueError(
            f"parameter of shape {arr.shape} does not broadcast to neuron shape {tuple(shape)}"
        ) from exc


def check_decay(name: str, value) -> np.ndarray:
    """Return ``value`` as float64 array after checking every entry lies in (0, 1).

    Raises:
        ValueError: Some entry is outside the open interval (0, 1) or not finite.
    """
    arr = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0.0) or np.any(arr >= 1.0):
        bad = arr[~((arr > 0.0) & (arr < 1.0))]
        raise ValueError(f"{name} must lie in (0, 1); got {bad.ravel()[:5].tolist()}")
    return arr


def check_dt_method(dt: float, method: str) -> Tuple[float, str]:
    """Validate ``dt > 0`` and ``method in METHODS``."""
    if method not in METHODS:
        raise ValueError(f"unknown discretization method {method!r}; supported: {list(METHODS)}")
    dt = float(dt)
    if not (dt > 0.0 and np.isfinite(dt)):
        raise ValueError(f"dt must be a positive finite number, got {dt}")
    return dt, method


def discretize_tau(tau: np.ndarray, dt: float, method: str) -> Tuple[np.ndarray, np.ndarray]:
    """Per-step decay ``a`` and drive factor ``f`` of ``tau dv/dt = -v + ...`` (the one definition).

    ``exact``: ``a = exp(-dt/tau)``, ``f = 1 - a``; ``euler``: ``a = 1 - dt/tau``, ``f = dt/tau``.
    The ``discretize`` pass uses this; :func:`decay_to_tau` is its inverse for ``a``.
    """
    tau = np.asarray(tau, dtype=np.float64)
    if method == "exact":
        a = np.exp(-dt / tau)
        return a, 1.0 - a
    f = dt / tau
    return 1.0 - f, f


def decay_to_tau(decay: np.ndarray, dt: float, method: str) -> np.ndarray:
    """Time constant whose discretization with ``method`` gives back ``decay`` (inverse of :func:`discretize_tau`)."""
    dt, method = check_dt_method(dt, method)
    decay = np.asarray(decay, dtype=np.float64)
    if method == "exact":
        return -dt / np.log(decay)
    return dt / (1.0 - decay)


def gain_for_decay(decay: np.ndarray) -> np.ndarray:
    """Resistance (or ``w_in``) ``1/(1-decay)`` giving unit discrete input gain."""
    return 1.0 / (1.0 - np.asarray(decay, dtype=np.float64))
