r"""Adaptive spiking neurons: ``ASN``, ``NASN`` and ``ILIF`` (MODELS.md §1) as torch modules.

Inputs are sequences ``(T, B, *features)``; ``T`` is the sequence length (MODELS.md's default
usage is ``T = 1`` with ``D = 4``). Defaults: ``D = 4``, ``beta = 0.5`` (``beta = 1``: no
decay), ``alpha = 0``. Per step, with input :math:`X_t` and the post-reset membrane
:math:`H_{t-1}` (zero at start):

.. math::
    U_t = \beta H_{t-1} + X_t, \qquad
    c_t = \mathrm{clip}\big(\lfloor U_t + \tfrac12 \rfloor,\; \alpha_{int},\; \alpha_{int} + D\big),
    \qquad H_t = U_t - c_t,

with :math:`\alpha_{int} = \lfloor \alpha + \tfrac12 \rfloor` (round half up, float64). The
output is :math:`S_t = c_t` (ASN, I-LIF) or :math:`S_t = c_t / N` (NASN, whose reset
:math:`N S_t = c_t` is the same). This is MODELS.md's :math:`U = H + X`,
:math:`H = \beta (U - S)` with the decay applied when the membrane is read at the next step.

Integer-train mode (``grid_exp = -p`` set by :class:`~spikeforge.models.qat.QSequential`): the
``int_asn`` step of ``models/asn/spec.py`` on the membrane grid :math:`2^{-p}`,
:math:`U_t = \mathrm{clip}_{24}(\mathrm{decay}(H_{t-1}, d) + X_t)` with
:math:`d = \mathrm{round}((1 - \beta) 4096)` (truncating sign-magnitude decay), then the same
rounding (``(U + 2^{p-1}) >> p``), window and soft reset. State bit widths (``models/asn/spec.py``):
the membrane ``v`` signed 24-bit in grid units; parameters ``dv`` unsigned 12-bit, ``bias``
signed 24-bit, ``p >= 1``. ``to_nir`` then exports :math:`\beta_q = (4096 - d)/4096`.

Gradients (straight-through): :math:`\partial S / \partial U = 1` inside the window
:math:`\alpha_{int} \le U \le \alpha_{int} + D` and 0 outside;
:math:`\partial S / \partial \alpha = \gamma` outside the window and 0 inside, with
:math:`\gamma` = ``alpha_grad_scale`` (default 0.1: the window shift is one scalar per layer
that receives the summed gradient of every clipped neuron, so it is damped to move slowly).
"""

from __future__ import annotations

import nir
import numpy as np
import torch
from torch import nn

from .. import qtorch
from ..base import SpikingNeuron
from ..lowering import full, leaky_node
from ..quant import STATE_MAX, round_half_up

__all__ = ["ASN", "NASN", "ILIF", "AdaptiveNeuron"]


class _Window(torch.autograd.Function):
    """``c = clip(floor(U + 1/2), a, a + D)`` with the straight-through rules of the module docstring."""

    @staticmethod
    def forward(ctx, u: torch.Tensor, alpha: torch.Tensor, D: int, scale: float) -> torch.Tensor:
        a = torch.floor(alpha.detach().to(torch.float64) + 0.5)
        c = torch.minimum(torch.maximum(torch.floor(u.to(torch.float64) + 0.5), a), a + D)
        inside = (u >= a) & (u <= a + D)
        ctx.save_for_backward(inside)
        ctx.scale = scale
        ctx.alpha_shape = alpha.shape
        return c.to(u.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (inside,) = ctx.saved_tensors
        g_u = grad * inside.to(grad.dtype) if ctx.needs_input_grad[0] else None
        g_a = None
        if ctx.needs_input_grad[1]:
            g_a = (grad * (~inside).to(grad.dtype)).sum().mul(ctx.scale).reshape(ctx.alpha_shape)
        return g_u, g_a, None, None


class AdaptiveNeuron(SpikingNeuron):
    r"""Common base of :class:`ASN`, :class:`NASN` and :class:`ILIF` (see the module docstring).

    Args:
        D: Window width, the largest spike count per step (default 4, MODELS.md's default).
        beta: Membrane decay in (0, 1] (default 0.5; ``1`` = no decay), scalar or per neuron.
        alpha: Initial window shift (a float; the forward uses its round-half-up integer).
        N: Output normalisation (NASN); ``None`` means 1 for ASN/I-LIF and ``D`` for NASN.
        shape: Neuron shape (optional).
        learn_alpha: Make ``alpha`` a trainable scalar ``nn.Parameter`` (per layer).
        learn_beta: Make ``beta`` trainable.
        alpha_grad_scale: Factor :math:`\gamma` of the straight-through gradient of ``alpha``.
        detach_reset: Stop the gradient through the reset :math:`H = U - c` (the default, as
            the other neurons; otherwise :math:`\partial H/\partial U = 0` inside the window).
        record: Keep the pre-reset membrane ``U`` in ``recorded["v"]``.

    Raises:
        ValueError: ``D < 1``, ``N < 1``, or ``beta`` outside (0, 1].
    """

    state_names = ("v",)
    integer_train = True
    #: The ``spikeforge.model`` metadata of the NIR export.
    model_name = "ASN"
    #: Default of ``N`` when ``None`` is given: ``1`` or ``"D"``.
    default_n = 1

    def __init__(self, D: int = 4, beta=0.5, alpha: float = 0.0, N=None, *, shape=None,
                 learn_alpha: bool = True, learn_beta: bool = False, alpha_grad_scale: float = 0.1,
                 detach_reset: bool = True, record: bool = False):
        super().__init__(None, shape=shape, detach_reset=detach_reset, record=record)
        self.spiking = True
        self.reset_mode = "subtract"
        if int(D) != D or D < 1:
            raise ValueError(f"D must be an integer >= 1, got {D}")
        self.D = int(D)
        n = (self.D if self.default_n == "D" else 1) if N is None else N
        if int(n) != n or n < 1:
            raise ValueError(f"N must be an integer >= 1, got {N}")
        self.N = int(n)
        self.alpha_grad_scale = float(alpha_grad_scale)
        b = np.asarray(torch.as_tensor(beta, dtype=torch.float64).detach().cpu().numpy())
        if not np.all(np.isfinite(b)) or np.any(b <= 0.0) or np.any(b > 1.0):
            raise ValueError(f"beta must lie in (0, 1]; got {b.ravel()[:5].tolist()}")
        self._add_value("beta", beta, learn_beta)
        a = torch.tensor(float(alpha), dtype=torch.get_default_dtype())
        if learn_alpha:
            self.alpha = nn.Parameter(a)
        else:
            self.register_buffer("alpha", a)

    @property
    def alpha_int(self) -> int:
        """The integer window shift ``round_half_up(alpha)`` used by the forward."""
        return int(round_half_up(float(self.alpha.detach())))

    def window(self, u: torch.Tensor) -> torch.Tensor:
        """``c = clip(round(U), alpha_int, alpha_int + D)`` with the straight-through gradients."""
        return _Window.apply(u, self.alpha, self.D, self.alpha_grad_scale)

    def check_integer(self) -> None:
        """Integer-train mode needs ``p = -grid_exp >= 1`` (one spike = ``2^p`` membrane LSBs)."""
        super().check_integer()
        g = torch.as_tensor(self.grid_exp)
        if bool(torch.any(g > -1)):
            raise ValueError(
                f"{type(self).__name__}: membrane grid exponent {int(g.max())} > -1 (p < 1): "
                "the weights before it are too large for one spike to be a whole number of LSBs"
            )

    def update(self, x_t, state):
        u = self.integrate(state["v"], x_t, self.beta)
        c = self.window(u)
        h = u - (c.detach() if self.detach_reset else c)
        if self.grid_exp is not None:  # keep H exactly clip24(U - c) (float64), also in float32
            hq = u.detach().to(torch.float64) - c.detach().to(torch.float64)
            lim = STATE_MAX * qtorch.pow2(torch.as_tensor(self.grid_exp, dtype=torch.int64))
            h = qtorch.exact(h, torch.maximum(torch.minimum(hq, lim), -lim))
        return (c / self.N if self.N != 1 else c), {"v": h}, u

    def to_nir(self, dt: float, method: str) -> nir.NIRNode:
        """Lower to ``nir.LIF`` (``nir.IF`` when ``beta = 1``) with ``v_threshold = 0.5``,
        ``v_reset = 0`` and metadata ``{"spikeforge.model", "alpha", "D", "N", "reset": "subtract"}``.

        The decay is ``beta``, or ``beta_q = (4096 - d)/4096`` in integer-train mode.
        """
        shape = self._nir_shape()
        meta = {"spikeforge.model": self.model_name, "alpha": self.alpha_int, "D": self.D, "N": self.N,
                "reset": "subtract"}
        spike = ({"v_threshold": full(0.5, shape), "v_reset": full(0.0, shape)}, meta)
        return leaky_node(self.quant_decay(self.beta), spike, dt, method)

    def extra_repr(self) -> str:
        parts = [f"D={self.D}", f"N={self.N}", f"alpha_int={self.alpha_int}"]
        if self.shape is not None:
            parts.append(f"shape={self.shape}")
        return ", ".join(parts)


class ASN(AdaptiveNeuron):
    r"""Adaptive spiking neuron: output :math:`c_t \in [\alpha_{int}, \alpha_{int} + D]`,
    learnable per-layer window shift :math:`\alpha` (see the module docstring for the equations,
    gradients and integer-train mode; arguments as :class:`AdaptiveNeuron`)."""

    model_name = "ASN"


class NASN(ASN):
    r"""Normalised ASN: output :math:`c_t / N` (default :math:`N = D`), reset by :math:`c_t`
    (arguments as :class:`AdaptiveNeuron`). The compiler folds :math:`1/N` into the next
    layer's weights."""

    model_name = "NASN"
    default_n = "D"


class ILIF(AdaptiveNeuron):
    r"""Integer LIF (SpikeYOLO's I-LIF): the ASN with a fixed window :math:`[0, D]`
    (:math:`\alpha = 0`, not trainable) and output :math:`c_t`.

    Args:
        D: Window width (default 4).
        beta: Membrane decay in (0, 1] (default 0.5).
        shape: Neuron shape (optional).
        learn_beta: Make ``beta`` trainable.
        detach_reset: Stop the gradient through the reset.
        record: Keep the pre-reset membrane in ``recorded["v"]``.
    """

    model_name = "ILIF"

    def __init__(self, D: int = 4, beta=0.5, *, shape=None, learn_beta: bool = False,
                 detach_reset: bool = True, record: bool = False):
        super().__init__(D, beta, 0.0, 1, shape=shape, learn_alpha=False, learn_beta=learn_beta,
                         detach_reset=detach_reset, record=record)
