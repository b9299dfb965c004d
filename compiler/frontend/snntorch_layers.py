"""Lowerings of snnTorch neurons (``Leaky``, ``Synaptic``, ``RLeaky``, ``RSynaptic``).

Mapped as snnTorch's own ``export_to_nir`` does, with the trace's ``dt``: ``tau = dt/(1-beta)``,
``r = 1/(1-beta)``, ``tau_syn = dt/(1-alpha)``, ``w_in = 1/(1-alpha)``; snnTorch's parameters
assume forward Euler, so :func:`trace` records ``"euler"`` when any of them is present.
Reset by subtraction (snnTorch's default) is flagged with ``metadata={"reset": "subtract"}``.
Imported only when snnTorch is already loaded.
"""

from __future__ import annotations

import nir
import numpy as np
import snntorch as snn
import torch

from ...models.lowering import check_decay, cuba_lif_node, full, lif_node, recurrent_graph, spike_fields
from .registry import Context, register

#: snnTorch neuron types (used by ``trace`` to pick the Euler discretization).
SNNTORCH_NEURONS = (snn.Leaky, snn.Synaptic, snn.RLeaky, snn.RSynaptic)


def _np(t) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().cpu().to(torch.float64).numpy()
    return np.asarray(t, dtype=np.float64)


def _spike(m, ctx: Context, shape):
    mech = getattr(m, "reset_mechanism", "subtract")
    if mech not in ("subtract", "zero"):
        raise ctx.unsupported(m, f"reset_mechanism={mech!r}")
    vth = full(_np(m.threshold), shape)
    return spike_fields(vth, np.zeros_like(vth), mech)


def _lif(m, ctx: Context, shape) -> nir.LIF:
    return lif_node(check_decay("beta", full(_np(m.beta), shape)), _spike(m, ctx, shape), ctx.dt, ctx.method)


def _cuba(m, ctx: Context, shape) -> nir.CubaLIF:
    alpha = check_decay("alpha", full(_np(m.alpha), shape))
    beta = check_decay("beta", full(_np(m.beta), shape))
    return cuba_lif_node(alpha, beta, _spike(m, ctx, shape), ctx.dt, ctx.method)


@register(snn.Leaky)
def _leaky(m, ctx: Context) -> nir.NIRNode:
    return _lif(m, ctx, ctx.out_shape(m))


@register(snn.Synaptic)
def _synaptic(m, ctx: Context) -> nir.NIRNode:
    return _cuba(m, ctx, ctx.out_shape(m))


def _recurrent(m, ctx: Context, neuron_fn) -> nir.NIRGraph:
    if m.all_to_all:
        rec = m.recurrent
        if not isinstance(rec, torch.nn.Linear):
            raise ctx.unsupported(m, f"recurrent layer {type(rec).__name__}; only Linear")
        w, b = _np(rec.weight).copy(), None if rec.bias is None else _np(rec.bias).copy()
    else:
        v = _np(m.recurrent.V)
        if v.ndim == 0:
            raise ctx.unsupported(m, "scalar V (one-to-one recurrence needs a vector V)")
        w, b = np.diag(v), None
    return recurrent_graph(neuron_fn(m, ctx, (w.shape[0],)), w, b)


@register(snn.RLeaky)
def _rleaky(m, ctx: Context) -> nir.NIRNode:
    return _recurrent(m, ctx, _lif)


@register(snn.RSynaptic)
def _rsynaptic(m, ctx: Context) -> nir.NIRNode:
    return _recurrent(m, ctx, _cuba)
