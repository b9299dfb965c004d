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

import nir
import numpy as np

METHODS = ("exact", "euler")

__all__ = [
    "METHODS", "full", "check_decay", "check_dt_method", "decay_to_tau", "discretize_tau", "gain_for_decay",
    "spike_fields", "lif_node", "cuba_lif_node", "li_node", "leaky_node", "recurrent_graph",
]


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


# ---- NIR node builders: the one lowering of each discrete neuron (torch modules and snnTorch use these)
def spike_fields(v_threshold: np.ndarray, v_reset: np.ndarray, reset: str) -> Tuple[dict, dict]:
    """``(kwargs, metadata)`` for the spiking part of a NIR neuron node.

    Reset by subtraction is not a NIR 1.0.8 notion: it is written as ``v_reset = 0`` with
    ``metadata = {"reset": "subtract"}``.
    """
    vth = np.asarray(v_threshold, dtype=np.float64)
    if reset == "subtract":
        return {"v_threshold": vth, "v_reset": np.zeros_like(vth)}, {"reset": "subtract"}
    return {"v_threshold": vth, "v_reset": np.asarray(v_reset, dtype=np.float64)}, {}


def lif_node(beta: np.ndarray, spike: Tuple[dict, dict], dt: float, method: str) -> nir.LIF:
    """``nir.LIF`` for ``U = beta*H + X`` (``tau`` from ``beta`` per ``method``, ``r = 1/(1-beta)``)."""
    kwargs, meta = spike
    return nir.LIF(tau=decay_to_tau(beta, dt, method), r=gain_for_decay(beta), v_leak=np.zeros_like(beta),
                   metadata=meta, **kwargs)


def cuba_lif_node(alpha: np.ndarray, beta: np.ndarray, spike: Tuple[dict, dict], dt: float, method: str) -> nir.CubaLIF:
    """``nir.CubaLIF`` for ``I = alpha*I + X; U = beta*H + I`` (``w_in = 1/(1-alpha)``, ``r = 1/(1-beta)``)."""
    kwargs, meta = spike
    return nir.CubaLIF(tau_syn=decay_to_tau(alpha, dt, method), tau_mem=decay_to_tau(beta, dt, method),
                       r=gain_for_decay(beta), v_leak=np.zeros_like(beta), w_in=gain_for_decay(alpha),
                       metadata=meta, **kwargs)


def li_node(beta: np.ndarray, dt: float, method: str) -> nir.LI:
    """``nir.LI`` for ``U = beta*U + X``."""
    return nir.LI(tau=decay_to_tau(beta, dt, method), r=gain_for_decay(beta), v_leak=np.zeros_like(beta))


def leaky_node(beta: np.ndarray, spike: Tuple[dict, dict] | None, dt: float, method: str) -> nir.NIRNode:
    """``U = beta*H + X`` with ``beta`` in (0, 1] (e.g. a quantized decay ``(4096 - d)/4096``).

    Spiking (``spike`` given): ``nir.IF`` when every ``beta == 1``, else :func:`lif_node`.
    Non-spiking (``spike=None``): ``nir.I`` when every ``beta == 1``, else :func:`li_node`.

    Raises:
        ValueError: Some but not all entries are 1, or an entry is outside (0, 1].
    """
    beta = np.asarray(beta, dtype=np.float64)
    if np.all(beta == 1.0):
        dt, _ = check_dt_method(dt, method)
        r = np.full(beta.shape, 1.0 / dt)
        if spike is None:
            return nir.I(r=r)
        kwargs, meta = spike
        return nir.IF(r=r, metadata=meta, **kwargs)
    if np.any(beta == 1.0):
        raise ValueError("a decay of exactly 1 (no leak) for some neurons of a layer but not all cannot be lowered")
    beta = check_decay("beta", beta)
    return li_node(beta, dt, method) if spike is None else lif_node(beta, spike, dt, method)


def recurrent_graph(neuron: nir.NIRNode, weight: np.ndarray, bias: np.ndarray | None) -> nir.NIRGraph:
    """A self-recurrent layer as a NIR subgraph ``input -> neuron <-> rec``, ``neuron -> output``."""
    rec = nir.Linear(weight=weight) if bias is None else nir.Affine(weight=weight, bias=bias)
    n = weight.shape[0]
    return nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([n])),
            "neuron": neuron,
            "rec": rec,
            "output": nir.Output(output_type=np.array([n])),
        },
        edges=[("input", "neuron"), ("neuron", "rec"), ("rec", "neuron"), ("neuron", "output")],
        type_check=False,
    )
