r"""Adaptive leaky integrate-and-fire neuron (AdLIF) of Bittar & Garner (2022), MODELS.md §4.

Per step, with input current :math:`X_t` (the output of the preceding synapse, :math:`W x_t`):

.. math::
    w_t = \beta_w w_{t-1} + a\,u_{t-1} + b\,s_{t-1}

.. math::
    u_t = \alpha\,(u_{t-1} - \vartheta s_{t-1}) + (1 - \alpha)(X_t - w_t), \qquad
    s_t = \Theta(u_t - \vartheta)

(MODELS.md writes the reset as :math:`u_{t-1} - s_{t-1}` with :math:`\vartheta = 1`, the default.)
The spike has a surrogate gradient. The adaptation current :math:`w` couples to the membrane
(sub-threshold, ``a``) and to the spikes (spike-triggered, ``b``). As in the paper every
parameter may be trained per neuron and is then clamped to its range in the forward pass:
:math:`\alpha \in [e^{-1/5}, e^{-1/25}]`, :math:`\beta_w \in [e^{-1/60}, e^{-1/300}]`
(time constants of 5-25 and 60-300 steps), :math:`a \in [-1, 1]`, :math:`b \in [0, 2]`.

State variables (all zero at ``t = 0``): ``v`` (:math:`u`), ``w``, ``s`` (the previous spikes).
There is no NIR lowering or integer form yet (``to_nir`` raises).
"""

from __future__ import annotations

import math

import torch

from ..base import SpikingNeuron

__all__ = ["AdLIF", "RANGES"]

#: Parameter -> (low, high) clamp of the forward pass (Bittar & Garner 2022).
RANGES = {
    "alpha": (math.exp(-1 / 5), math.exp(-1 / 25)),
    "beta_w": (math.exp(-1 / 60), math.exp(-1 / 300)),
    "a": (-1.0, 1.0),
    "b": (0.0, 2.0),
}


class AdLIF(SpikingNeuron):
    r"""Adaptive LIF (see the module docstring for the equations).

    Args:
        alpha: Membrane decay :math:`\alpha` (default :math:`e^{-1/20}`).
        beta_w: Adaptation decay :math:`\beta_w` (default :math:`e^{-1/150}`).
        a: Sub-threshold coupling (default 0).
        b: Spike-triggered adaptation (default 0.5).
        threshold: Firing threshold :math:`\vartheta` (default 1).
        shape: Neuron shape (required with ``learn`` and scalar values).
        learn: Make ``alpha``, ``beta_w``, ``a`` and ``b`` trainable per neuron.
        clamp: Clamp the parameters to :data:`RANGES` in the forward pass (default true).
        surrogate: Surrogate gradient (name or object).
        detach_reset: Stop the gradient through the reset term.
        record: Keep the membrane :math:`u_t` in ``recorded["v"]``.
    """

    state_names = ("v", "w", "s")

    def __init__(self, alpha=math.exp(-1 / 20), beta_w=math.exp(-1 / 150), a=0.0, b=0.5, threshold=1.0, *,
                 shape=None, learn: bool = False, clamp: bool = True, surrogate="atan", detach_reset: bool = True,
                 record: bool = False):
        super().__init__(threshold, "subtract", shape=shape, surrogate=surrogate, detach_reset=detach_reset, record=record)
        self.clamp = bool(clamp)
        for name, value in (("alpha", alpha), ("beta_w", beta_w), ("a", a), ("b", b)):
            self._add_value(name, value, learn, full_shape=True)

    def coefficients(self) -> dict:
        """``alpha``, ``beta_w``, ``a``, ``b`` as the forward pass uses them (clamped)."""
        out = {}
        for k in ("alpha", "beta_w", "a", "b"):
            v = getattr(self, k)
            out[k] = torch.clamp(v, *RANGES[k]) if self.clamp else v
        return out

    def update(self, x_t, state):
        c = self.coefficients()
        u0, s0 = state["v"], state["s"]
        r = s0.detach() if self.detach_reset else s0
        w = c["beta_w"] * state["w"] + c["a"] * u0 + c["b"] * s0
        u = c["alpha"] * (u0 - self.threshold * r) + (1.0 - c["alpha"]) * (x_t - w)
        s = self.fire(u)
        return s, {"v": u, "w": w, "s": s}, u

    def to_nir(self, dt: float, method: str):
        """Not available yet: AdLIF has no NIR lowering (train-only baseline)."""
        raise NotImplementedError("AdLIF has no NIR lowering yet; it is a training baseline (MODELS.md §4)")

    def extra_repr(self) -> str:
        return super().extra_repr() + f", clamp={self.clamp}"
