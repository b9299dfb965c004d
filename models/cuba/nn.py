"""Current-based leaky integrate-and-fire torch module."""

from __future__ import annotations

import nir

from ..base import SpikingNeuron
from ..lowering import check_decay, cuba_lif_node

__all__ = ["CubaLIF"]


class CubaLIF(SpikingNeuron):
    r"""Current-based LIF neuron (synaptic current, then membrane; sequential update).

    .. math::
        I_t = \alpha I_{t-1} + X_t, \qquad U_t = \beta H_{t-1} + I_t,
        \qquad S_t = \Theta(U_t - V_{th}) \;(U_t > V_{th}),

    and the reset acts on the membrane only (:math:`H_t = U_t - S_t V_{th}` for
    ``reset="subtract"``, :math:`H_t = v_{reset}` where :math:`S_t = 1` for ``"zero"``).

    State variables: ``i`` (synaptic current :math:`I`) and ``v`` (post-reset membrane
    :math:`H`), both zero at start. Output: spikes.

    Args:
        alpha: Synaptic decay in (0, 1), scalar or per neuron.
        beta: Membrane decay in (0, 1), scalar or per neuron.
        threshold: Firing threshold, scalar or per neuron.
        reset: ``"subtract"`` or ``"zero"``.
        v_reset: Reset potential for ``reset="zero"``.
        shape: Neuron shape (required with ``learn_threshold`` and a scalar threshold).
        learn_alpha: Make ``alpha`` trainable.
        learn_beta: Make ``beta`` trainable.
        learn_threshold: Make the threshold trainable, one per neuron.
        surrogate: Surrogate gradient (name or object).
        detach_reset: Stop gradients through the reset.
        record: Keep the pre-reset membrane in ``recorded["v"]``.

    Raises:
        ValueError: ``alpha`` or ``beta`` outside (0, 1), or bad ``reset``.
    """

    state_names = ("i", "v")

    def __init__(self, alpha=0.8, beta=0.9, threshold=1.0, reset="subtract", v_reset=0.0, *,
                 shape=None, learn_alpha=False, learn_beta=False, learn_threshold=False,
                 surrogate="atan", detach_reset=True, record=False):
        super().__init__(threshold, reset, v_reset, shape=shape, learn_threshold=learn_threshold,
                         surrogate=surrogate, detach_reset=detach_reset, record=record)
        self._add_value("alpha", alpha, learn_alpha, decay=True)
        self._add_value("beta", beta, learn_beta, decay=True)

    def update(self, x_t, state):
        i = self.alpha * state["i"] + x_t
        u = self.beta * state["v"] + i
        s = self.fire(u)
        return s, {"i": i, "v": self.reset_membrane(u, s)}, u

    def to_nir(self, dt: float, method: str) -> nir.CubaLIF:
        """Lower to ``nir.CubaLIF``: ``tau_syn``/``w_in`` from ``alpha``, ``tau_mem``/``r`` from ``beta``."""
        alpha = check_decay("alpha", self.np_param("alpha"))
        return cuba_lif_node(alpha, check_decay("beta", self.np_param("beta")), self.nir_spike_kwargs(), dt, method)
