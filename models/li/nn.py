"""Leaky integrator (non-spiking readout) torch module."""

from __future__ import annotations

import nir

from ..base import SpikingNeuron
from ..lowering import check_decay, leaky_node, li_node

__all__ = ["LI"]


class LI(SpikingNeuron):
    r"""Leaky integrator: a non-spiking readout whose output is its membrane.

    .. math::
        U_t = \beta U_{t-1} + X_t, \qquad \text{output}_t = U_t.

    State variables: ``v`` (the membrane :math:`U`, zero at start).

    Integer-train mode (``grid_exp`` set by :class:`~spikeforge.models.qat.QSequential`): the
    ``int_li`` step of ``models/lif/spec.py`` on the grid :math:`2^g`,
    :math:`U_t = \mathrm{clip}_{24}(\mathrm{decay}(U_{t-1}, d) + X_t)`,
    :math:`d = \mathrm{round}((1-\beta) 4096)`; the output :math:`U_t` is exact (24-bit state
    times a power of two). ``to_nir`` exports :math:`\beta_q = (4096 - d)/4096`.

    Args:
        beta: Decay in (0, 1), scalar or per neuron.
        shape: Neuron shape (optional; required with ``learn_beta`` for a per-neuron beta).
        learn_beta: Make ``beta`` trainable.
        record: Keep the membrane in ``recorded["v"]``.

    Raises:
        ValueError: ``beta`` outside (0, 1).
    """

    state_names = ("v",)
    integer_train = True

    def __init__(self, beta=0.9, *, shape=None, learn_beta=False, record=False):
        super().__init__(None, shape=shape, record=record)
        self._add_value("beta", beta, learn_beta, decay=True)

    def update(self, x_t, state):
        u = self.integrate(state["v"], x_t, self.beta)
        return u, {"v": u}, u

    def to_nir(self, dt: float, method: str) -> nir.NIRNode:
        """Lower to ``nir.LI`` (``tau`` from ``beta`` per ``method``, ``r = 1/(1-beta)``).

        In integer-train mode ``beta_q`` is exported (``nir.I`` when ``beta_q = 1``).
        """
        if self.grid_exp is None:
            return li_node(check_decay("beta", self.np_param("beta")), dt, method)
        return leaky_node(self.quant_decay(self.beta), None, dt, method)
