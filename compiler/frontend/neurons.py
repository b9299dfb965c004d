"""Lowerings of spikeforge's own neuron modules and the ``Recurrent`` layer: their ``to_nir``."""

from __future__ import annotations

import nir
from torch import nn

from ...models.base import SpikingNeuron
from ...models.layers import Recurrent
from .registry import Context, register


@register(SpikingNeuron, Recurrent)
def _to_nir(m: nn.Module, ctx: Context) -> nir.NIRNode:
    return m.to_nir(ctx.dt, ctx.method)
