r"""Quantization-aware training: a torch forward that *is* the integer program.

The modules fake-quantize with straight-through gradients (:func:`.qtorch.exact`: forward value
exactly the quantized one, gradient of the float expression), following ``docs/integer.md``:

* :class:`QuantInput` puts the input on the grid :math:`2^{e_{in}}` (``input_bits``).
* :class:`QuantLinear` / :class:`QuantConv2d` use 8-bit weight mantissas with canonical
  power-of-two exponents (per layer or per output row/channel), integer sources and a bias on
  the grid :math:`2^{e_{row} + s}` (13-bit mantissa).
* :class:`QSequential` chains them with neurons, telling each synapse its source exponent
  ``src_exp`` / scale ``src_scale`` and each neuron its membrane grid ``grid_exp``
  (:math:`e_{row} + s - 6`), so that every neuron follows its integer step exactly.

A trained ``QSequential`` traced with ``sf.trace`` exports the quantized values (weights, bias,
decays, thresholds, the input exponent), from which the compiler re-derives the same integers.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from . import qtorch
from .base import SpikingNeuron
from .layers import Seq, SumPool2d
from .quant import ACT_SHIFT

__all__ = ["QuantInput", "QuantLinear", "QuantConv2d", "QSequential"]


class QuantInput(nn.Module):
    r"""Input quantizer: :math:`x \mapsto \mathrm{clip}(\lfloor x / 2^{e} + \tfrac12 \rfloor) \, 2^{e}`.

    The clip range is ``[0, 2^bits - 1]`` (unsigned) or ``[-(2^(bits-1) - 1), 2^(bits-1) - 1]``
    (signed, symmetric as the weights). Gradient: straight through (identity).

    Args:
        exp: Input exponent :math:`e` (the source exponent of the first synapse); ``sf.trace``
            writes it to the graph metadata ``spikeforge.input_exp``.
        bits: Input width.
        signed: Signed inputs.
    """

    def __init__(self, exp: int, bits: int = 8, signed: bool = False):
        super().__init__()
        if int(exp) != exp or int(bits) != bits or bits < 1:
            raise ValueError(f"QuantInput needs an integer exp and bits >= 1, got exp={exp}, bits={bits}")
        self.exp, self.bits, self.signed = int(exp), int(bits), bool(signed)
        self.hi = 2 ** (self.bits - 1) - 1 if self.signed else 2**self.bits - 1
        self.lo = -self.hi if self.signed else 0

    @property
    def src_exp(self) -> int:
        """Source exponent of the values this module emits."""
        return self.exp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = torch.tensor(self.exp, device=x.device)
        k = torch.clamp(qtorch.round_half_up(x.detach().to(torch.float64) * qtorch.pow2(-e)), self.lo, self.hi)
        return qtorch.exact(x, k.to(torch.float64) * qtorch.pow2(e))

    def extra_repr(self) -> str:
        return f"exp={self.exp}, bits={self.bits}, signed={self.signed}"


class _QuantSynapse:
    """Shared weight/input/bias quantization of :class:`QuantLinear` and :class:`QuantConv2d`."""

    weight: torch.Tensor
    bias: Optional[torch.Tensor]

    def _init_quant(self, per_channel: bool) -> None:
        self.per_channel = bool(per_channel)
        self.src_exp = 0
        self._src_div = 1
        self._exp_cache: Optional[tuple] = None

    @property
    def weight_quant(self) -> str:
        """``"per_channel"`` or ``"per_layer"`` (the NIR metadata ``spikeforge.weight_quant``)."""
        return "per_channel" if self.per_channel else "per_layer"

    @property
    def src_scale(self) -> float:
        """Real value of one source unit besides ``2^src_exp``: ``1``, or ``1/N`` after a NASN."""
        return 1.0 / self._src_div

    @src_scale.setter
    def src_scale(self, value: float) -> None:
        n = round(1.0 / float(value))
        if n < 1 or abs(1.0 / n - float(value)) > 1e-12 * abs(float(value)):
            raise ValueError(f"src_scale must be 1/N for an integer N >= 1, got {value}")
        self._src_div = int(n)

    def _scaled_weight(self) -> torch.Tensor:
        """``W * src_scale`` (float64; computed as ``W / N``)."""
        return self.weight.detach().to(torch.float64) / self._src_div

    def weight_exps(self) -> torch.Tensor:
        """Canonical exponent per output row/channel of ``W * src_scale`` (int64, ``quant.row_exps``)."""
        w = self.weight
        key = (w.data_ptr(), w._version, w.device, w.dtype, self._src_div, self.per_channel)
        if self._exp_cache is None or self._exp_cache[0] != key:
            self._exp_cache = (key, qtorch.row_exps(self._scaled_weight(), per_layer=not self.per_channel))
        return self._exp_cache[1]

    def grid_exp(self) -> torch.Tensor:
        """Membrane grid exponent of the next neuron per output row/channel: ``e_row + src_exp - 6``."""
        return self.weight_exps() + self.src_exp - ACT_SHIFT

    def quant_weight(self) -> torch.Tensor:
        """``W_eff = m * 2^e`` (float64), the quantized ``W * src_scale``."""
        w = self._scaled_weight()
        e = self.weight_exps()
        return qtorch.mantissa(w, e).to(torch.float64) * qtorch.pow2(e).reshape((-1,) + (1,) * (w.dim() - 1))

    def quant_bias(self) -> Optional[torch.Tensor]:
        """Bias on the grid ``2^(e_row + src_exp)`` with a 13-bit mantissa (float64), or ``None``."""
        if self.bias is None:
            return None
        return qtorch.quant_bias(self.bias, self.weight_exps() + self.src_exp)

    def export_weight(self) -> torch.Tensor:
        """Weights for the NIR export: ``W_eff / src_scale`` (float64, exact: ``W_eff * N``)."""
        return self.quant_weight() * self._src_div

    def _quantized(self, x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
        """``(x_q, W_q, b_q)`` with exact quantized values and straight-through gradients."""
        e = torch.tensor(self.src_exp, device=x.device)
        xs = x * self._src_div if self._src_div != 1 else x
        s = qtorch.round_half_up(xs.detach().to(torch.float64) * qtorch.pow2(-e))
        x_q = qtorch.exact(xs, s.to(torch.float64) * qtorch.pow2(e))
        w = self.weight / self._src_div if self._src_div != 1 else self.weight
        w_q = qtorch.exact(w, self.quant_weight())
        b = self.quant_bias()
        return x_q, w_q, (None if b is None else qtorch.exact(self.bias, b))


class QuantLinear(_QuantSynapse, nn.Linear):
    r"""``nn.Linear`` with the integer-train forward :math:`y = W_{eff}\, s\, 2^{s_e} + b_q`.

    :math:`W_{eff} = Q(W \cdot \mathrm{src\_scale})` (8-bit mantissas, canonical exponents per
    layer or per output row, ``models.quant`` semantics, float64), the source integers
    :math:`s = \mathrm{round}(x / (\mathrm{src\_scale}\, 2^{s_e}))` and the bias :math:`b_q` on
    the grid :math:`2^{e_{row} + s_e}` (mantissa clamped to :math:`\pm 4095`). Gradients are
    straight through. Its state dict is that of ``nn.Linear``.

    Args:
        in_features: Input size.
        out_features: Output size.
        bias: Learn a bias.
        per_channel: One exponent per output row (else one per layer).

    Attributes:
        src_exp: Exponent :math:`s_e` of the source values (set by :class:`QSequential`:
            the ``QuantInput`` exponent, or 0 after a spiking layer). Default 0.
        src_scale: ``1.0``, or ``1/N`` after a NASN (set by :class:`QSequential`).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, per_channel: bool = False,
                 device=None, dtype=None):
        super().__init__(in_features, out_features, bias=bias, device=device, dtype=dtype)
        self._init_quant(per_channel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_q, w_q, b_q = self._quantized(x)
        return F.linear(x_q, w_q, b_q)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, per_channel={self.per_channel}"


class QuantConv2d(_QuantSynapse, nn.Conv2d):
    r"""``nn.Conv2d`` with the integer-train forward of :class:`QuantLinear` (exponents per
    layer or per output channel; zero padding only). Use it inside ``Seq`` on sequences.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias:
            As ``nn.Conv2d``.
        per_channel: One exponent per output channel (else one per layer).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, dilation=1,
                 groups: int = 1, bias: bool = True, per_channel: bool = False, device=None, dtype=None):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, padding=padding,
                         dilation=dilation, groups=groups, bias=bias, device=device, dtype=dtype)
        if self.padding_mode != "zeros":  # pragma: no cover - the constructor has no padding_mode
            raise ValueError("QuantConv2d supports zero padding only")
        self._init_quant(per_channel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_q, w_q, b_q = self._quantized(x)
        return self._conv_forward(x_q, w_q, b_q)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, per_channel={self.per_channel}"


_QUANT = (QuantLinear, QuantConv2d)
_PASS = (SumPool2d, nn.Flatten, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.Identity)


def _is_fx_tracing() -> bool:
    """Whether ``torch.fx`` symbolic tracing (nirtorch, inside ``sf.trace``) is running."""
    st = torch.fx._symbolic_trace
    fn = getattr(st, "is_fx_symbolic_tracing", None) or getattr(st, "is_fx_tracing", None)
    return bool(fn()) if fn is not None else False


class QSequential(nn.Sequential):
    r"""``nn.Sequential`` for the integer-train form: ``QuantInput``, quantized synapses, neurons.

    Before each layer runs, the forward records where the values come from: a
    :class:`QuantLinear` / :class:`QuantConv2d` gets ``src_exp`` (the ``QuantInput`` exponent,
    or 0 after a spiking neuron) and ``src_scale`` (``1/N`` after a NASN, else 1); each neuron
    gets ``grid_exp`` (int64, broadcastable to its shape) from the synapse before it:
    ``e_row + src_exp - 6`` per output row/channel. ``SumPool2d``, ``Flatten``, ``Dropout`` and
    ``Identity`` pass values and grids through; layers may be wrapped in ``Seq``.

    Raises:
        TypeError: A layer without an integer form (``AvgPool2d`` must become ``SumPool2d``
            with the ``1/k^2`` in the next weights; plain ``nn.Linear``; BatchNorm, ...), a
            neuron not fed by a quantized synapse, or a synapse with no quantized source
            (start with :class:`QuantInput`; nothing quantized follows a non-spiking ``LI``).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _is_fx_tracing():  # sf.trace: the grids were set by the sample run
            for layer in self:
                x = layer(x)
            return x
        src: Optional[Tuple[int, int]] = None  # (src_exp, N) of the current values
        grid: Optional[torch.Tensor] = None  # grid exponent of the current (synaptic) values
        for i, layer in enumerate(self):
            inner = layer.module if isinstance(layer, Seq) else layer
            where = f"QSequential[{i}] ({type(inner).__name__})"
            if isinstance(inner, QuantInput):
                src, grid = (inner.exp, 1), None
            elif isinstance(inner, _QUANT):
                if src is None:
                    raise TypeError(f"{where}: no quantized source; start with QuantInput and follow a spiking neuron")
                inner.src_exp, inner.src_scale = src[0], 1.0 / src[1]
            elif isinstance(inner, SpikingNeuron):
                if grid is None:
                    raise TypeError(f"{where}: a neuron must follow a QuantLinear/QuantConv2d")
                _set_grid(inner, grid)
                src = (0, getattr(inner, "N", 1)) if inner.spiking else None
                grid = None
            elif not isinstance(inner, _PASS):
                hint = "; use SumPool2d (and fold 1/k^2 into the next weights)" if isinstance(inner, nn.AvgPool2d) else ""
                raise TypeError(f"{where} has no integer-train form{hint}")
            y = layer(x)
            if isinstance(inner, _QUANT):
                g = inner.grid_exp()
                grid = g.reshape(-1, 1, 1) if isinstance(inner, QuantConv2d) else g
            elif isinstance(inner, nn.Flatten) and grid is not None:
                grid = grid.expand(x.shape[2:]).reshape(y.shape[2:])
            x = y
        return x


def _set_grid(neuron: SpikingNeuron, grid: torch.Tensor) -> None:
    """Give ``neuron`` the grid (keeping the same tensor object while unchanged)."""
    old = neuron.grid_exp
    if old is not None and old.shape == grid.shape and old.device == grid.device and torch.equal(old, grid):
        return
    neuron.grid_exp = grid
    neuron.check_integer()
