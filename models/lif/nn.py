"""Leaky integrate-and-fire torch module."""

from __future__ import annotations

import nir

from ..base import SpikingNeuron
from ..lowering import check_decay, leaky_node, lif_node

__all__ = ["LIF"]


class LIF(SpikingNeuron):
    r"""Leaky integrate-and-fire neuron.

    Per step, with input current :math:`X_t`:

    .. math::
        U_t = \beta H_{t-1} + X_t, \qquad S_t = \Theta(U_t - V_{th}) \;(U_t > V_{th}),

    .. math::
        H_t = U_t - S_t V_{th} \;(\text{reset="subtract"}) \quad\text{or}\quad
        H_t = \begin{cases} v_{reset} & S_t = 1 \\ U_t & S_t = 0 \end{cases}
        \;(\text{reset="zero"}).

    State variables: ``v`` (the post-reset membrane :math:`H`, zero at start). Output: spikes.

    Integer-train mode (``grid_exp`` set by :class:`~spikeforge.models.qat.QSequential`): Lava's
    bit-accurate LIF of ``models/lif/spec.py`` on the membrane grid :math:`2^g`,
    :math:`U_t = \mathrm{clip}_{24}(\mathrm{decay}(H_{t-1}, d) + X_t)` with
    :math:`d = \mathrm{round}((1-\beta) 4096)`, the threshold quantized to
    :math:`\theta_q = \mathrm{clamp}(\mathrm{round}(V_{th} / 2^{g+6}), 0, 2^{17}-1)\, 2^{g+6}`,
    reset to 0 (``v_reset`` must be 0) or by subtracting :math:`\theta_q`; ``to_nir`` then
    exports :math:`\beta_q = (4096 - d)/4096` and :math:`\theta_q`. State: ``v`` signed
    24-bit in grid units. (The current wrap of the spec, an overflow the backends count, is
    not modelled.)

    Args:
        beta: Membrane decay in (0, 1), scalar or per neuron.
        threshold: Firing threshold, scalar or per neuron.
        reset: ``"subtract"`` or ``"zero"``.
        v_reset: Reset potential for ``reset="zero"``.
        shape: Neuron shape (required with ``learn_threshold`` and a scalar threshold).
        learn_beta: Make ``beta`` trainable.
        learn_threshold: Make the threshold trainable, one per neuron (STL).
        surrogate: Surrogate gradient (name or object).
        detach_reset: Stop gradients through the reset.
        record: Keep the pre-reset membrane in ``recorded["v"]``.

    Raises:
        ValueError: ``beta`` outside (0, 1), or bad ``reset``.
    """

    state_names = ("v",)
    integer_train = True

    def __init__(self, beta=0.9, threshold=1.0, reset="subtract", v_reset=0.0, *, shape=None,
                 learn_beta=False, learn_threshold=False, surrogate="atan", detach_reset=True,
                 record=False):
        super().__init__(threshold, reset, v_reset, shape=shape, learn_threshold=learn_threshold,
                         surrogate=surrogate, detach_reset=detach_reset, record=record)
        self._add_value("beta", beta, learn_beta, decay=True)

    def update(self, x_t, state):
        u = self.integrate(state["v"], x_t, self.beta)
        th = self.active_threshold(x_t)
        s = self.fire(u, th)
        return s, {"v": self.reset_membrane(u, s, th)}, u

    def to_nir(self, dt: float, method: str) -> nir.NIRNode:
        """Lower to ``nir.LIF`` (``tau`` from ``beta`` per ``method``, ``r = 1/(1-beta)``).

        In integer-train mode ``beta_q`` and ``theta_q`` are exported (``nir.IF`` when
        ``beta_q = 1``).
        """
        if self.grid_exp is None:
            return lif_node(check_decay("beta", self.np_param("beta")), self.nir_spike_kwargs(), dt, method)
        return leaky_node(self.quant_decay(self.beta), self.nir_spike_kwargs(), dt, method)
