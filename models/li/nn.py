"""Leaky integrator (non-spiking readout) torch module."""

from __future__ import annotations

import nir

from ..base import SpikingNeuron
from ..lowering import check_decay, li_node

__all__ = ["LI"]


class LI(SpikingNeuron):
    r"""Leaky integrator: a non-spiking readout whose output is its membrane.

    .. math::
        U_t = \beta U_{t-1} + X_t, \qquad \text{output}_t = U_t.

    State variables: ``v`` (the membrane :math:`U`, zero at start).

    Args:
        beta: Decay in (0, 1), scalar or per neuron.
        shape: Neuron shape (optional; required with ``learn_beta`` for a per-neuron beta).
        learn_beta: Make ``beta`` trainable.
        record: Keep the membrane in ``recorded["v"]``.

    Raises:
        ValueError: ``beta`` outside (0, 1).
    """

    state_names = ("v",)

    def __init__(self, beta=0.9, *, shape=None, learn_beta=False, record=False):
        super().__init__(None, shape=shape, record=record)
        self._add_value("beta", beta, learn_beta, decay=True)

    def update(self, x_t, state):
        u = self.beta * state["v"] + x_t
        return u, {"v": u}, u

    def to_nir(self, dt: float, method: str) -> nir.LI:
        """Lower to ``nir.LI`` (``tau`` from ``beta`` per ``method``, ``r = 1/(1-beta)``)."""
        return li_node(check_decay("beta", self.np_param("beta")), dt, method)
