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

from ...models.lowering import check_decay, decay_to_tau, full, gain_for_decay
from .registry import Context, register

#: snnTorch neuron types (used by ``trace`` to pick the Euler discretization).
SNNTORCH_NEURONS = (snn.Leaky, snn.Synaptic, snn.RLeaky, snn.RSynaptic)


def _np(t) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        return t.detach().cpu().to(torch.float64).numpy()
    return np.asarray(t, dtype=np.float64)


def _spike(m, ctx: Context, shape):
    mech = getattr(m, "reset_mechanism", "subtract")
    vth = full(_np(m.threshold), shape)
    if mech == "subtract":
        return {"v_threshold": vth, "v_reset": np.zeros_like(vth)}, {"reset": "subtract"}
    if mech == "zero":
        return {"v_threshold": vth, "v_reset": np.zeros_like(vth)}, {}
    raise ctx.unsupported(m, f"reset_mechanism={mech!r}")


def _lif(m, ctx: Context, shape) -> nir.LIF:
    beta = check_decay("beta", full(_np(m.beta), shape))
    spike, meta = _spike(m, ctx, shape)
    return nir.LIF(tau=decay_to_tau(beta, ctx.dt, ctx.method), r=gain_for_decay(beta),
                   v_leak=np.zeros_like(beta), metadata=meta, **spike)


def _cuba(m, ctx: Context, shape) -> nir.CubaLIF:
    alpha = check_decay("alpha", full(_np(m.alpha), shape))
    beta = check_decay("beta", full(_np(m.beta), shape))
    spike, meta = _spike(m, ctx, shape)
    return nir.CubaLIF(tau_syn=decay_to_tau(alpha, ctx.dt, ctx.method),
                       tau_mem=decay_to_tau(beta, ctx.dt, ctx.method), r=gain_for_decay(beta),
                       v_leak=np.zeros_like(beta), w_in=gain_for_decay(alpha), metadata=meta, **spike)


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
        n = rec.out_features
        w = _np(rec.weight).copy()
        w_rec = nir.Linear(weight=w) if rec.bias is None else nir.Affine(weight=w, bias=_np(rec.bias).copy())
    else:
        v = _np(m.recurrent.V)
        if v.ndim == 0:
            raise ctx.unsupported(m, "scalar V (one-to-one recurrence needs a vector V)")
        n = v.shape[0]
        w_rec = nir.Linear(weight=np.diag(v))
    return nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type=np.array([n])),
            "neuron": neuron_fn(m, ctx, (n,)),
            "rec": w_rec,
            "output": nir.Output(output_type=np.array([n])),
        },
        edges=[("input", "neuron"), ("neuron", "rec"), ("rec", "neuron"), ("neuron", "output")],
        type_check=False,
    )


@register(snn.RLeaky)
def _rleaky(m, ctx: Context) -> nir.NIRNode:
    return _recurrent(m, ctx, _lif)


@register(snn.RSynaptic)
def _rsynaptic(m, ctx: Context) -> nir.NIRNode:
    return _recurrent(m, ctx, _cuba)
