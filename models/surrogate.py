"""Spike function with selectable surrogate gradients.

The forward pass of every surrogate is the same Heaviside step with the strict comparison of
``docs/semantics.md``: ``S = 1`` where ``x > 0`` (``x = U - V_th``) and ``0`` otherwise,
returned in the dtype of ``x``. Only the backward pass differs: it multiplies the incoming
gradient by a smooth pseudo-derivative ``h'(x)``.

Example:
    >>> spike = get_surrogate("atan")
    >>> s = spike(u - threshold)
"""

from __future__ import annotations

import math
from typing import Dict, Type, Union

import torch

__all__ = [
    "Surrogate",
    "ATan",
    "FastSigmoid",
    "Boxcar",
    "SURROGATES",
    "get_surrogate",
    "heaviside",
]


def heaviside(x: torch.Tensor) -> torch.Tensor:
    """Strict Heaviside step ``x > 0`` as a float tensor of ``x``'s dtype."""
    return (x > 0).to(x.dtype)


class _SpikeFunction(torch.autograd.Function):
    """Heaviside forward, ``grad * surrogate.grad(x)`` backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, surrogate: "Surrogate") -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return heaviside(x)

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor):
        (x,) = ctx.saved_tensors
        return grad_output * ctx.surrogate.grad(x), None


class Surrogate:
    """Base class: a callable spike function ``S = H(x)`` with a surrogate gradient.

    Subclasses implement :meth:`grad`, the pseudo-derivative ``h'(x)`` used in the backward
    pass. Calling the object applies the spike function.
    """

    name = "base"

    def grad(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        """Pseudo-derivative ``h'(x)`` evaluated elementwise."""
        raise NotImplementedError

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return _SpikeFunction.apply(x, self)

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({params})"


class ATan(Surrogate):
    r"""Arc-tangent surrogate (Fang et al. 2021; snnTorch's ``atan``).

    .. math::
        h'(x) = \frac{a / 2}{1 + \left(\frac{\pi a x}{2}\right)^2}

    Args:
        alpha: Sharpness ``a`` (default 2).
    """

    name = "atan"

    def __init__(self, alpha: float = 2.0):
        self.alpha = float(alpha)

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        a = self.alpha
        return (a / 2.0) / (1.0 + (math.pi * a * x / 2.0) ** 2)


class FastSigmoid(Surrogate):
    r"""Fast-sigmoid surrogate (Zenke & Ganguli 2018, SuperSpike).

    .. math::
        h'(x) = \frac{1}{(k \lvert x \rvert + 1)^2}

    Args:
        slope: Slope ``k`` (default 25).
    """

    name = "fast_sigmoid"

    def __init__(self, slope: float = 25.0):
        self.slope = float(slope)

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        return 1.0 / (self.slope * x.abs() + 1.0) ** 2


class Boxcar(Surrogate):
    r"""Rectangular (boxcar) surrogate of unit area.

    .. math::
        h'(x) = \frac{1}{w} \, \mathbb{1}\left[\lvert x \rvert < \frac{w}{2}\right]

    Args:
        width: Window width ``w`` (default 1).
    """

    name = "boxcar"

    def __init__(self, width: float = 1.0):
        if width <= 0:
            raise ValueError(f"boxcar width must be > 0, got {width}")
        self.width = float(width)

    def grad(self, x: torch.Tensor) -> torch.Tensor:
        return (x.abs() < self.width / 2.0).to(x.dtype) / self.width


SURROGATES: Dict[str, Type[Surrogate]] = {
    ATan.name: ATan,
    FastSigmoid.name: FastSigmoid,
    Boxcar.name: Boxcar,
}


def get_surrogate(name_or_obj: Union[str, Surrogate, Type[Surrogate]]) -> Surrogate:
    """Return a surrogate instance.

    Args:
        name_or_obj: A registry name (``"atan"``, ``"fast_sigmoid"``, ``"boxcar"``), a
            :class:`Surrogate` instance (returned as is) or a :class:`Surrogate` subclass
            (instantiated with its defaults).

    Raises:
        ValueError: Unknown name or unsupported object.
    """
    if isinstance(name_or_obj, Surrogate):
        return name_or_obj
    if isinstance(name_or_obj, type) and issubclass(name_or_obj, Surrogate):
        return name_or_obj()
    if isinstance(name_or_obj, str):
        key = name_or_obj.lower().replace("-", "_")
        if key in SURROGATES:
            return SURROGATES[key]()
        raise ValueError(
            f"unknown surrogate {name_or_obj!r}; supported: {sorted(SURROGATES)}"
        )
    raise ValueError(
        f"surrogate must be a name, a Surrogate instance or subclass, got {name_or_obj!r}"
    )
