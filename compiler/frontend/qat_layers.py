"""Lowerings of the quantization-aware layers of :mod:`spikeforge.models.qat`.

``QuantLinear`` / ``QuantConv2d`` export their quantized effective weights divided by
``src_scale`` (so that in float NIR semantics ``W_exported @ (c/N) = W_eff @ c``), the quantized
bias and ``{"spikeforge.weight_quant": "per_layer" | "per_channel"}``; the compiler re-derives
the same integers (``docs/integer.md``). ``QuantInput`` becomes a dropped identity that carries
the input exponent to :func:`input_quant`, which ``trace`` writes into the graph metadata.
"""

from __future__ import annotations

import warnings
from typing import Dict, List, Tuple

import nir
import numpy as np
import torch

from ...models.qat import QuantConv2d, QuantInput, QuantLinear
from .registry import Context, dropped, register
from .torch_layers import conv2d_node, linear_node

__all__ = ["INPUT_KEYS", "input_quant"]

#: Graph metadata keys of the input quantizer (also carried by the dropped QuantInput node).
INPUT_KEYS = ("spikeforge.input_exp", "spikeforge.input_bits", "spikeforge.input_signed")
WEIGHT_QUANT = "spikeforge.weight_quant"


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().to(torch.float64).numpy().copy()


@register(QuantInput)
def _quant_input(m: QuantInput, ctx: Context) -> nir.NIRNode:
    node = dropped(np.array(ctx.in_shape(m), dtype=np.int64))
    node.metadata.update(dict(zip(INPUT_KEYS, (m.exp, m.bits, m.signed))))
    return node


@register(QuantLinear)
def _quant_linear(m: QuantLinear, ctx: Context) -> nir.NIRNode:
    b = m.quant_bias()
    return linear_node(m, ctx, _np(m.export_weight()), None if b is None else _np(b), {WEIGHT_QUANT: m.weight_quant})


@register(QuantConv2d)
def _quant_conv2d(m: QuantConv2d, ctx: Context) -> nir.NIRNode:
    b = m.quant_bias()
    bias = np.zeros(m.out_channels) if b is None else _np(b)
    return conv2d_node(m, ctx, _np(m.export_weight()), bias, {WEIGHT_QUANT: m.weight_quant})


def input_quant(nodes: Dict[str, nir.NIRNode], edges: List[Tuple[str, str]]) -> dict:
    """Graph metadata of the input quantizer: the ``QuantInput`` nodes fed by the graph input.

    Returns ``{"spikeforge.input_exp", "spikeforge.input_bits", "spikeforge.input_signed"}``
    when the input feeds only ``QuantInput`` nodes with one setting, else ``{}`` (with a
    warning when a ``QuantInput`` exists but does not quantize the whole input).
    """
    quant = {k: n for k, n in nodes.items() if INPUT_KEYS[0] in n.metadata}
    if not quant:
        return {}
    inputs = {k for k, n in nodes.items() if isinstance(n, nir.Input)}
    after_input = {b for a, b in edges if a in inputs}
    settings = {tuple(quant[k].metadata[key] for key in INPUT_KEYS) for k in after_input if k in quant}
    if after_input and after_input <= set(quant) and len(settings) == 1:
        return dict(zip(INPUT_KEYS, settings.pop()))
    warnings.warn(
        "trace: QuantInput does not quantize the whole network input (it must come first, with one "
        "setting); the input exponent is not written to the graph metadata",
        stacklevel=3,
    )
    return {}

