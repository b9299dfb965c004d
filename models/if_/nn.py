"""Integrate-and-fire torch module."""

from __future__ import annotations

import nir

from ..base import SpikingNeuron
from ..lowering import check_dt_method, full

__all__ = ["IF"]


class IF(SpikingNeuron):
    r"""Integrate-and-fire neuron (no leak).

    .. math::
        U_t = H_{t-1} + X_t, \qquad S_t = \Theta(U_t - V_{th}) \;(U_t > V_{th}),

    .. math::
        H_t = U_t - S_t V_{th} \;(\text{reset="subtract"}) \quad\text{or}\quad
        H_t = \begin{cases} v_{reset} & S_t = 1 \\ U_t & S_t = 0 \end{cases}
        \;(\text{reset="zero"}).

    State variables: ``v`` (post-reset membrane :math:`H`, zero at start). Output: spikes.

    Integer-train mode (``grid_exp`` set by :class:`~spikeforge.models.qat.QSequential`): the
    LIF integer step with no decay (``d = 0``) and the quantized threshold :math:`\theta_q`
    (see :class:`~spikeforge.models.LIF`), exported by ``to_nir``.

    Args:
        threshold: Firing threshold, scalar or per neuron.
        reset: ``"subtract"`` or ``"zero"``.
        v_reset: Reset potential for ``reset="zero"``.
        shape: Neuron shape (required with ``learn_threshold`` and a scalar threshold).
        learn_threshold: Make the threshold trainable, one per neuron.
        surrogate: Surrogate gradient (name or object).
        detach_reset: Stop gradients through the reset.
        record: Keep the pre-reset membrane in ``recorded["v"]``.
    """

    state_names = ("v",)
    integer_train = True

    def __init__(self, threshold=1.0, reset="subtract", v_reset=0.0, *, shape=None,
                 learn_threshold=False, surrogate="atan", detach_reset=True, record=False):
        super().__init__(threshold, reset, v_reset, shape=shape, learn_threshold=learn_threshold,
                         surrogate=surrogate, detach_reset=detach_reset, record=record)

    def update(self, x_t, state):
        u = self.integrate(state["v"], x_t)
        th = self.active_threshold(x_t)
        s = self.fire(u, th)
        return s, {"v": self.reset_membrane(u, s, th)}, u

    def to_nir(self, dt: float, method: str) -> nir.IF:
        """Lower to ``nir.IF`` with ``r = 1/dt`` (both methods: ``v += dt*r*x``)."""
        dt, _ = check_dt_method(dt, method)
        spike, meta = self.nir_spike_kwargs()
        return nir.IF(r=full(1.0 / dt, self._nir_shape()), metadata=meta, **spike)
