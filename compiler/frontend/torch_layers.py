"""Lowerings of stateless ``torch.nn`` layers (and ``Seq`` / ``SumPool2d``)."""

from __future__ import annotations

import nir
import numpy as np
import torch
from torch import nn
from torch.nn.modules.utils import _pair, _single

from ...models.layers import Seq, SumPool2d
from .registry import Context, dropped, register

BATCHNORM = {"spikeforge.op": "batchnorm"}


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().to(torch.float64).numpy().copy()


def _arr(shape) -> np.ndarray:
    return np.array(shape, dtype=np.int64)


def _with_types(node: nir.NIRNode, m: nn.Module, ctx: Context) -> nir.NIRNode:
    """Set the node's input/output types from the shapes recorded on the sample."""
    node.input_type = {"input": _arr(ctx.in_shape(m))}
    node.output_type = {"output": _arr(ctx.out_shape(m))}
    return node


@register(Seq)
def _seq(m: Seq, ctx: Context) -> nir.NIRNode:
    return ctx.lower(m.module)


@register(nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.Identity)
def _drop(m: nn.Module, ctx: Context) -> nir.NIRNode:
    return dropped(_arr(ctx.in_shape(m)))


def linear_node(m: nn.Linear, ctx: Context, w: np.ndarray, b: np.ndarray | None, metadata: dict | None = None) -> nir.NIRNode:
    """``nir.Linear`` (no bias) or ``nir.Affine`` for a linear layer with weights ``w``, bias ``b``."""
    if len(ctx.in_shape(m)) != 1:
        raise ctx.unsupported(m, f"Linear on feature shape {ctx.in_shape(m)}; flatten to 1-D first")
    meta = dict(metadata or {})
    if b is None:
        return nir.Linear(weight=w, metadata=meta)
    return nir.Affine(weight=w, bias=b, metadata=meta)


@register(nn.Linear)
def _linear(m: nn.Linear, ctx: Context) -> nir.NIRNode:
    return linear_node(m, ctx, _np(m.weight), None if m.bias is None else _np(m.bias))


def _conv_common(m: nn.Module, ctx: Context):
    if m.padding_mode != "zeros":
        raise ctx.unsupported(m, f"padding_mode={m.padding_mode!r}; only 'zeros'")
    bias = _np(m.bias) if m.bias is not None else np.zeros(m.out_channels)
    return _np(m.weight), bias


@register(nn.Conv1d)
def _conv1d(m: nn.Conv1d, ctx: Context) -> nir.NIRNode:
    w, b = _conv_common(m, ctx)
    pad = m.padding if isinstance(m.padding, str) else int(_single(m.padding)[0])
    node = nir.Conv1d(input_shape=int(ctx.in_shape(m)[-1]), weight=w, stride=int(m.stride[0]),
                      padding=pad, dilation=int(m.dilation[0]), groups=int(m.groups), bias=b)
    return _with_types(node, m, ctx)


def conv2d_node(m: nn.Conv2d, ctx: Context, w: np.ndarray, b: np.ndarray, metadata: dict | None = None) -> nir.NIRNode:
    """``nir.Conv2d`` for a 2-d convolution with weights ``w`` and bias ``b`` (types set)."""
    pad = m.padding if isinstance(m.padding, str) else tuple(int(p) for p in _pair(m.padding))
    node = nir.Conv2d(input_shape=tuple(int(s) for s in ctx.in_shape(m)[-2:]), weight=w,
                      stride=tuple(int(s) for s in m.stride), padding=pad,
                      dilation=tuple(int(d) for d in m.dilation), groups=int(m.groups), bias=b,
                      metadata=dict(metadata or {}))
    return _with_types(node, m, ctx)


@register(nn.Conv2d)
def _conv2d(m: nn.Conv2d, ctx: Context) -> nir.NIRNode:
    w, b = _conv_common(m, ctx)
    return conv2d_node(m, ctx, w, b)


def _pool_args(m: nn.Module):
    k = _pair(m.kernel_size)
    s = _pair(m.stride) if m.stride is not None else k
    return _arr(k), _arr(s), _arr(_pair(m.padding))


@register(nn.AvgPool2d)
def _avgpool2d(m: nn.AvgPool2d, ctx: Context) -> nir.NIRNode:
    k, s, p = _pool_args(m)
    if m.ceil_mode:
        raise ctx.unsupported(m, "ceil_mode=True")
    if m.divisor_override is not None:
        raise ctx.unsupported(m, "divisor_override; use spikeforge.models.SumPool2d for sums")
    if np.any(p) and not m.count_include_pad:
        raise ctx.unsupported(m, "padding with count_include_pad=False")
    return _with_types(nir.AvgPool2d(kernel_size=k, stride=s, padding=p), m, ctx)


@register(SumPool2d)
def _sumpool2d(m: SumPool2d, ctx: Context) -> nir.NIRNode:
    k, s, p = _pool_args(m)
    return _with_types(nir.SumPool2d(kernel_size=k, stride=s, padding=p), m, ctx)


@register(nn.Flatten)
def _flatten(m: nn.Flatten, ctx: Context) -> nir.NIRNode:
    shape = ctx.in_shape(m)
    lead = ctx.offset(m)
    ndim = lead + len(shape)
    start = m.start_dim % ndim
    end = m.end_dim % ndim
    if start < lead:
        where = "inside Seq, start_dim must be >= 1" if lead == 1 else "on (T, B, ...), start_dim must be >= 2"
        raise ctx.unsupported(m, f"Flatten(start_dim={m.start_dim}) would merge time/batch dims; {where}")
    nir_end = -1 if end == ndim - 1 else end - lead
    return _with_types(nir.Flatten(input_type={"input": _arr(shape)}, start_dim=start - lead,
                                   end_dim=nir_end), m, ctx)


def _bn_scale_shift(m: nn.modules.batchnorm._BatchNorm, ctx: Context):
    if m.running_mean is None or m.running_var is None:
        raise ctx.unsupported(m, "BatchNorm without running statistics (track_running_stats=False)")
    scale = 1.0 / np.sqrt(_np(m.running_var) + float(m.eps))
    if m.weight is not None:
        scale = _np(m.weight) * scale
    shift = -_np(m.running_mean) * scale
    if m.bias is not None:
        shift = shift + _np(m.bias)
    return scale, shift


@register(nn.BatchNorm1d, nn.BatchNorm2d)
def _batchnorm(m: nn.Module, ctx: Context) -> nir.NIRNode:
    """BatchNorm (eval statistics) as a per-channel affine map tagged for folding."""
    if ctx.offset(m) != 1:
        raise ctx.unsupported(m, "BatchNorm on (T, B, ...) must be wrapped in Seq(...)")
    scale, shift = _bn_scale_shift(m, ctx)
    shape = ctx.in_shape(m)
    c = scale.shape[0]
    if len(shape) == 1:
        node = nir.Affine(weight=np.diag(scale), bias=shift, metadata=dict(BATCHNORM))
    elif len(shape) == 2:
        node = nir.Conv1d(input_shape=int(shape[1]), weight=scale.reshape(c, 1, 1), stride=1,
                          padding=0, dilation=1, groups=c, bias=shift, metadata=dict(BATCHNORM))
    else:
        node = nir.Conv2d(input_shape=tuple(int(s) for s in shape[1:]), weight=scale.reshape(c, 1, 1, 1),
                          stride=1, padding=0, dilation=1, groups=c, bias=shift, metadata=dict(BATCHNORM))
    return _with_types(node, m, ctx)
