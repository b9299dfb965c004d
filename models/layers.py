"""Sequence wrappers and layers: ``Seq``, ``Recurrent`` and ``SumPool2d``."""

from __future__ import annotations

from typing import Optional

import nir
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair

from .base import SpikingNeuron
from .lowering import recurrent_graph

__all__ = ["Seq", "Recurrent", "SumPool2d"]


class Seq(nn.Module):
    r"""Apply a stateless per-step layer to a sequence shaped ``(T, B, *features)``.

    The sequence is reshaped to ``(T*B, *features)``, passed through ``module`` (Conv1d/Conv2d,
    pooling, BatchNorm, Flatten, Dropout, ...) and reshaped back:

    .. math::
        y_t = f(x_t) \quad \text{for every } t.

    Args:
        module: The wrapped layer; it sees one batch of ``T*B`` samples.
    """

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2:
            raise ValueError(f"Seq expects (T, B, *features), got {tuple(x.shape)}")
        T, B = x.shape[:2]
        y = self.module(x.reshape(T * B, *x.shape[2:]))
        return y.reshape(T, B, *y.shape[1:])


class Recurrent(nn.Module):
    r"""Self-recurrent spiking layer.

    At each step the neuron receives its feed-forward input plus a linear map of its own
    spikes of the previous step:

    .. math::
        I_t = x_t + W_{rec} S_{t-1} (+ b_{rec}), \qquad S_{-1} = 0,

    and ``neuron.update(I_t, state)`` gives :math:`S_t`. State variables: the neuron's state
    plus the previous output :math:`S_{t-1}`.

    Args:
        neuron: A :class:`~spikeforge.models.base.SpikingNeuron` on a 1-D feature shape (N,).
        rec: ``nn.Linear(N, N)`` recurrent weights (bias optional).
    """

    def __init__(self, neuron: SpikingNeuron, rec: nn.Linear):
        super().__init__()
        if not isinstance(neuron, SpikingNeuron):
            raise TypeError(f"neuron must be a SpikingNeuron, got {type(neuron).__name__}")
        if not isinstance(rec, nn.Linear) or rec.in_features != rec.out_features:
            raise ValueError("rec must be a square nn.Linear(N, N)")
        self.neuron = neuron
        self.rec = rec

    @property
    def recorded(self):
        """The wrapped neuron's recordings of the last forward."""
        return self.neuron.recorded

    @property
    def neuron_shape(self):
        return self.neuron.neuron_shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[2] != self.rec.in_features:
            raise ValueError(
                f"Recurrent expects (T, B, {self.rec.in_features}), got {tuple(x.shape)}"
            )
        return self.neuron.run(x, feedback=self.rec)

    def to_nir(self, dt: float, method: str) -> nir.NIRGraph:
        """Lower to a NIR subgraph ``input -> neuron <-> rec``, ``neuron -> output``."""
        def np64(t):
            return None if t is None else t.detach().cpu().to(torch.float64).numpy().copy()

        if self.neuron.neuron_shape is None:
            self.neuron.neuron_shape = (self.rec.in_features,)
        return recurrent_graph(self.neuron.to_nir(dt, method), np64(self.rec.weight), np64(self.rec.bias))


class SumPool2d(nn.Module):
    r"""2-d sum pooling (average pooling times the window size, computed as an exact sum).

    .. math::
        y_{c,i,j} = \sum_{m,n} x_{c,\, s_h i + m - p_h,\, s_w j + n - p_w}

    Accepts ``(..., C, H, W)``; zero padding.

    Args:
        kernel_size: Window size.
        stride: Step (defaults to ``kernel_size``).
        padding: Zero padding on each side.
    """

    def __init__(self, kernel_size, stride: Optional[int] = None, padding=0):
        super().__init__()
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(stride) if stride is not None else self.kernel_size
        self.padding = _pair(padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        lead = x.shape[:-3]
        y = F.avg_pool2d(x.reshape(-1, *x.shape[-3:]), self.kernel_size, self.stride,
                         self.padding, count_include_pad=True, divisor_override=1)
        return y.reshape(*lead, *y.shape[1:])

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
