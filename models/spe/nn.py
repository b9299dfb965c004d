r"""SPE: the self-prediction enhanced spiking neuron (MODELS.md §3) as a torch wrapper.

:class:`SPE` wraps a base neuron (:class:`~spikeforge.models.LIF`, an STL-LIF, i.e. a LIF with
``learn_threshold=True``, :class:`~spikeforge.models.IF`, or an adaptive neuron
:class:`~spikeforge.models.ASN` / ``NASN`` / ``ILIF``) and adds a prediction current
:math:`P` that each neuron computes from its own input and output history:

.. math::
    P_t = P_{t-1} + \kappa (X_t - Q_{t-1} - P_{t-1}), \qquad
    U_t = \beta H_{t-1} + X_t + P_t, \qquad S_t, H_t = \text{the base's spike and reset},

with :math:`\kappa = \mathrm{sigmoid}(k)` and :math:`Q_t = V_{th} S_t` the charge the spikes
removed (the base's threshold times its spikes; ASN/NASN/I-LIF: the spike count
:math:`c_t = N S_t`, one membrane unit per spike). :math:`P` is a leaky integrator of the
neuron's input minus its own output: it gives the loss a continuous gradient path through
:math:`X` besides the surrogate of the spike, which is the paper's argument for healthier
gradients in deep stacks. The base neuron's ``update`` runs unchanged with input
:math:`X_t + P_t`.

``k`` is one learnable scalar per layer (default) or one per neuron (``per_neuron=True``,
needs the neuron shape); initial :math:`\kappa` = ``kappa`` (default 0.5). The charge
:math:`Q` follows the base's ``detach_reset`` (detached by default, like the reset).

Lowering (:meth:`SPE.to_nir`): a NIR subgraph of standard nodes, the model in metadata::

    input ──► neuron (the base's nir.LIF / nir.IF, metadata spikeforge.model = "SPE")  ──► output
      │          ▲   │
      │          │   └─► feedback (nir.Scale, -V_th per spike) ─┐
      └─► prediction (nir.LI: decay 1 - kappa, gain kappa) ◄─────┘
                 └──────────────────────────────────────────► neuron

``prediction`` is exactly :math:`P` (``nir.LI`` with ``tau`` from the decay
:math:`1-\kappa` and ``r = 1``, so its discrete gain is :math:`\kappa`), fed by the input and
by the neuron's own spikes through ``feedback``; its output adds to the neuron's input. Plain
NIR tools load it as that network of standard nodes; spikeforge reads the subgraph back as one
SPE node (``compiler/from_nir.py``), whose exact timing (P of the same step) is the op's.

Integer form: ``int_spe_lif`` / ``int_spe_asn`` in ``models/spe/spec.py`` (the base's
normative step plus a signed 24-bit prediction ``pr`` and charge ``q``, ``kappa`` a 12-bit
code). SPE has no integer-train mode (post-training quantization only).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import nir
import numpy as np
import torch
from torch import nn

from ..asn.nn import AdaptiveNeuron
from ..base import SpikingNeuron
from ..if_.nn import IF
from ..lif.nn import LIF
from ..lowering import decay_to_tau, full

__all__ = ["SPE", "BASES"]


def _charge_threshold(base: SpikingNeuron, out: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return out * base.active_threshold(like)


def _charge_count(base: SpikingNeuron, out: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return out * base.N if base.N != 1 else out


def _feedback_threshold(base: SpikingNeuron, node: nir.NIRNode) -> np.ndarray:
    return -np.asarray(node.v_threshold, dtype=np.float64)


def _feedback_count(base: SpikingNeuron, node: nir.NIRNode) -> np.ndarray:
    return full(-float(base.N), base._nir_shape())


#: base neuron type -> (charge(base, out, like) -> Q, NIR feedback scale(base, node)). Lookup by MRO.
BASES: dict[type, tuple[Callable, Callable]] = {
    LIF: (_charge_threshold, _feedback_threshold),
    IF: (_charge_threshold, _feedback_threshold),
    AdaptiveNeuron: (_charge_count, _feedback_count),
}


def _base_rules(base: nn.Module) -> tuple[Callable, Callable]:
    for cls in type(base).__mro__:
        if cls in BASES:
            return BASES[cls]
    names = ", ".join(sorted(t.__name__ for t in BASES))
    raise TypeError(f"SPE cannot wrap {type(base).__name__}; supported bases: {names} (and their subclasses)")


class SPE(SpikingNeuron):
    r"""Self-prediction enhanced neuron around ``base`` (equations: module docstring).

    Args:
        base: The base neuron module (LIF, STL-LIF, IF, ASN, NASN, ILIF).
        kappa: Initial prediction rate :math:`\kappa \in (0, 1)`; ``k = logit(kappa)``.
        learn_kappa: Train ``k`` (default).
        per_neuron: One ``k`` per neuron instead of one per layer (needs ``shape`` or the
            base's ``shape``).
        shape: Neuron shape (default: the base's).
        record: Keep the last run's pre-reset membrane ``U`` in ``recorded["v"]`` and the
            prediction in ``recorded["p"]``.

    Raises:
        TypeError: An unsupported base.
        ValueError: ``kappa`` outside (0, 1), or ``per_neuron`` without a shape.
    """

    integer_train = False

    def __init__(self, base: SpikingNeuron, kappa: float = 0.5, *, learn_kappa: bool = True,
                 per_neuron: bool = False, shape: Optional[Sequence[int]] = None, record: bool = False):
        shape = shape if shape is not None else base.shape
        super().__init__(None, shape=shape, record=record)
        self._charge, self._feedback = _base_rules(base)
        self.spiking = True
        self.base = base
        self.reset_mode = base.reset_mode
        self.detach_reset = base.detach_reset
        kap = np.asarray(kappa, dtype=np.float64)
        if not np.all((kap > 0) & (kap < 1)):
            raise ValueError(f"SPE: kappa must lie in (0, 1), got {kap.ravel()[:5].tolist()}")
        k = torch.logit(torch.as_tensor(kap, dtype=torch.float64)).to(torch.get_default_dtype())
        if per_neuron:
            if self.shape is None:
                raise ValueError("SPE: per_neuron=True needs the neuron shape: pass shape=(...) or a base with shape")
            k = k.expand(self.shape).clone()
        if learn_kappa:
            self.k = nn.Parameter(k.clone())
        else:
            self.register_buffer("k", k.clone())
        self.state_names = tuple(base.state_names) + ("pr", "q")

    @property
    def kappa(self) -> torch.Tensor:
        """:math:`\\kappa = \\mathrm{sigmoid}(k)`."""
        return torch.sigmoid(self.k)

    def check_input(self, x: torch.Tensor) -> None:
        super().check_input(x)
        self.base.check_input(x)

    def update(self, x_t, state):
        q, pr = state["q"], state["pr"]
        pr = pr + self.kappa * (x_t - q - pr)
        out, bstate, u = self.base.update(x_t + pr, {k: state[k] for k in self.base.state_names})
        q = self._charge(self.base, out.detach() if self.detach_reset else out, x_t)
        return out, {**bstate, "pr": pr, "q": q}, u

    def run(self, x: torch.Tensor, feedback=None) -> torch.Tensor:
        """Run over ``x`` shaped ``(T, B, *features)`` (no ``feedback``: SPE inside ``Recurrent``
        is not supported)."""
        if feedback is not None:
            raise NotImplementedError("SPE inside Recurrent is not supported")
        self.check_input(x)
        state = self.init_state(x[0])
        outs, us, ps = [], [], []
        for t in range(x.shape[0]):
            out, state, u = self.update(x[t], state)
            outs.append(out)
            if self.record:
                us.append(u.detach())
                ps.append(state["pr"].detach())
        if self.record:
            self.recorded = {"v": torch.stack(us), "p": torch.stack(ps)}
        return torch.stack(outs)

    def to_nir(self, dt: float, method: str) -> nir.NIRGraph:
        """Lower to the NIR subgraph of the module docstring (``kappa`` also in the neuron's
        metadata, exactly, with ``spikeforge.model = "SPE"`` and ``spikeforge.base``)."""
        shape = self._nir_shape()
        self.base.neuron_shape = shape
        node = self.base.to_nir(dt, method)
        kappa = self.np_param_value(self.kappa.detach())
        old = dict(getattr(node, "metadata", None) or {})
        base_model = str(old.get("spikeforge.model", type(node).__name__))
        meta = {**old, "spikeforge.model": "SPE", "spikeforge.base": base_model, "kappa": kappa}
        node.metadata = meta
        n = np.array(list(shape), dtype=np.int64)
        role = lambda r: {"spikeforge.model": "SPE", "spikeforge.role": r}  # noqa: E731
        nodes = {
            "input": nir.Input(input_type=n.copy()),
            "neuron": node,
            "prediction": nir.LI(tau=decay_to_tau(1.0 - kappa, dt, method), r=full(1.0, shape),
                                 v_leak=full(0.0, shape), metadata=role("prediction")),
            "feedback": nir.Scale(scale=self._feedback(self.base, node), metadata=role("spike feedback")),
            "output": nir.Output(output_type=n.copy()),
        }
        edges = [("input", "neuron"), ("input", "prediction"), ("prediction", "neuron"),
                 ("neuron", "feedback"), ("feedback", "prediction"), ("neuron", "output")]
        return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)

    def extra_repr(self) -> str:
        k = self.kappa.detach()
        return f"kappa={float(k.mean()):.3g}" + ("" if k.dim() == 0 else f" (per neuron, {tuple(k.shape)})")
