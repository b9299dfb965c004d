"""Base class of the torch neuron modules.

Every neuron module maps a sequence ``x`` shaped ``(T, B, *features)`` to an output sequence of
the same shape by looping a per-step update over time (``docs/semantics.md``). The discrete
parameters (decays ``beta``/``alpha``, ``threshold``) are torch buffers, or ``nn.Parameter``
when learnable; ``.double()`` converts them with the module.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from .lowering import check_decay, full, spike_fields
from .surrogate import Surrogate, get_surrogate

__all__ = ["SpikingNeuron", "State", "RESETS"]

State = Dict[str, torch.Tensor]
RESETS = ("subtract", "zero")
_Value = Union[float, Sequence[float], np.ndarray, torch.Tensor]


class SpikingNeuron(nn.Module):
    r"""Base of the discrete-time neuron modules.

    A subclass implements :meth:`update`, one time step

    .. math::
        (S_t, \mathrm{state}_t, U_t) = \mathrm{update}(X_t, \mathrm{state}_{t-1}),

    and :meth:`to_nir`. The spike rule is the strict :math:`S_t = \Theta(U_t - V_{th})`
    (``U > threshold``) with a surrogate gradient; the reset is

    .. math::
        H_t = U_t - S_t V_{th} \quad (\text{reset="subtract"}), \qquad
        H_t = S_t \, v_{reset} + (1 - S_t) U_t \quad (\text{reset="zero"}).

    State variables (all zero at ``t = 0``) are named in :attr:`state_names`.

    Args:
        threshold: Firing threshold ``V_th``: a scalar or an array broadcastable to the neuron
            shape. ``None`` for non-spiking modules.
        reset: ``"subtract"`` (default) or ``"zero"`` (hard reset to ``v_reset``).
        v_reset: Reset potential for ``reset="zero"``.
        shape: Neuron (feature) shape, without time and batch dimensions. Required when
            ``learn_threshold`` is true and ``threshold`` is a scalar.
        learn_threshold: Make the threshold an ``nn.Parameter`` of the full neuron shape
            (one trainable threshold per neuron, as in STL).
        surrogate: Surrogate gradient name or object (see :mod:`.surrogate`).
        detach_reset: Stop the gradient through the reset term (the forward is unchanged).
        record: Keep the last run's pre-reset membrane ``U`` in ``self.recorded["v"]``,
            shaped ``(T, B, *features)``.

    Attributes:
        neuron_shape: Feature shape seen by the last forward (or ``shape``), used by
            :meth:`to_nir`.
        recorded: Dict of recorded sequences of the last forward (when ``record``).
    """

    state_names: Tuple[str, ...] = ("v",)
    spiking: bool = True

    def __init__(
        self,
        threshold: Optional[_Value] = 1.0,
        reset: str = "subtract",
        v_reset: _Value = 0.0,
        *,
        shape: Optional[Sequence[int]] = None,
        learn_threshold: bool = False,
        surrogate: Union[str, Surrogate] = "atan",
        detach_reset: bool = True,
        record: bool = False,
    ):
        super().__init__()
        self.shape = tuple(int(s) for s in shape) if shape is not None else None
        self.neuron_shape: Optional[Tuple[int, ...]] = self.shape
        self.record = bool(record)
        self.recorded: Dict[str, torch.Tensor] = {}
        self.detach_reset = bool(detach_reset)
        if threshold is None:
            self.spiking = False
            self.reset_mode = None
            return
        if reset not in RESETS:
            raise ValueError(f"reset must be one of {RESETS}, got {reset!r}")
        self.reset_mode = reset
        self.surrogate = get_surrogate(surrogate)
        self._add_value("threshold", threshold, learn_threshold, full_shape=True)
        self._add_value("v_reset", v_reset, False)

    # ----------------------------------------------------------------- parameters
    def _add_value(self, name: str, value: _Value, learn: bool, full_shape: bool = False,
                   decay: bool = False) -> None:
        """Register ``value`` as a buffer, or as a trainable parameter when ``learn``.

        With ``full_shape`` a learnable value gets the full neuron shape (``shape`` is then
        required unless ``value`` already has more than zero dimensions).
        """
        t = torch.as_tensor(value, dtype=torch.get_default_dtype()).detach().clone()
        if decay:
            check_decay(name, t.numpy())
        if learn:
            target = self.shape if self.shape is not None else None
            if full_shape and target is None:
                if t.dim() == 0:
                    raise ValueError(
                        f"learn_{name}=True needs the neuron shape: pass shape=(...) "
                        f"or a {name} array of the full neuron shape"
                    )
                target = tuple(t.shape)
            if target is not None:
                t = t.expand(target).clone()
            setattr(self, name, nn.Parameter(t))
        else:
            self.register_buffer(name, t)

    # ----------------------------------------------------------------- dynamics
    def init_state(self, x_t: torch.Tensor) -> State:
        """Zero state for one step of input ``x_t`` shaped ``(B, *features)``."""
        return {name: torch.zeros_like(x_t) for name in self.state_names}

    def update(self, x_t: torch.Tensor, state: State) -> Tuple[torch.Tensor, State, torch.Tensor]:
        """One step: returns ``(output, new_state, U)`` with ``U`` the pre-reset membrane."""
        raise NotImplementedError

    def step(self, x_t: torch.Tensor, state: State) -> Tuple[torch.Tensor, State]:
        """One step: returns ``(output, new_state)``."""
        out, state, _ = self.update(x_t, state)
        return out, state

    def fire(self, u: torch.Tensor) -> torch.Tensor:
        """Spikes ``S = U > threshold`` (float 0/1) with the surrogate gradient."""
        return self.surrogate(u - self.threshold)

    def reset_membrane(self, u: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        """Membrane after the reset, ``H``, from pre-reset ``U`` and spikes ``S``."""
        r = s.detach() if self.detach_reset else s
        if self.reset_mode == "subtract":
            return u - r * self.threshold
        return u * (1.0 - r) + r * self.v_reset

    def check_input(self, x: torch.Tensor) -> None:
        """Check ``x`` is ``(T, B, *features)`` and remember the feature shape."""
        if x.dim() < 2:
            raise ValueError(
                f"{type(self).__name__} expects input shaped (T, B, *features), got {tuple(x.shape)}"
            )
        feat = tuple(x.shape[2:])
        if self.shape is not None and feat != self.shape:
            raise ValueError(
                f"{type(self).__name__} was built for neuron shape {self.shape}, got input {tuple(x.shape)}"
            )
        self.neuron_shape = feat

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the neuron over a sequence ``x`` shaped ``(T, B, *features)``."""
        return self.run(x)

    def run(self, x: torch.Tensor, feedback=None) -> torch.Tensor:
        """Run over ``x`` (T, B, ...); with ``feedback``, step t gets ``x[t] + feedback(out[t-1])``."""
        self.check_input(x)
        state = self.init_state(x[0])
        outs, us = [], []
        out = torch.zeros_like(x[0])
        for t in range(x.shape[0]):
            out, state, u = self.update(x[t] if feedback is None else x[t] + feedback(out), state)
            outs.append(out)
            if self.record:
                us.append(u.detach())
        if self.record:
            self.recorded = {"v": torch.stack(us)}
        return torch.stack(outs)

    # ----------------------------------------------------------------- lowering
    def _nir_shape(self) -> Tuple[int, ...]:
        if self.neuron_shape is None:
            raise ValueError(
                f"{type(self).__name__}: neuron shape unknown; pass shape=(...) or run forward once"
            )
        return self.neuron_shape

    def np_param(self, name: str, shape: Optional[Sequence[int]] = None) -> np.ndarray:
        """Parameter ``name`` as a float64 array of the full neuron shape."""
        value = getattr(self, name).detach().cpu().to(torch.float64).numpy()
        return full(value, self._nir_shape() if shape is None else shape)

    def nir_spike_kwargs(self) -> Tuple[dict, dict]:
        """``(kwargs, metadata)`` for the spiking part of a NIR neuron node.

        ``kwargs`` holds ``v_threshold`` and ``v_reset`` (zeros for reset by subtraction,
        which is flagged by ``metadata = {"reset": "subtract"}``).
        """
        v_reset = None if self.reset_mode == "subtract" else self.np_param("v_reset")
        return spike_fields(self.np_param("threshold"), v_reset, self.reset_mode)

    def to_nir(self, dt: float, method: str):  # pragma: no cover - abstract
        """Lower to a continuous-time NIR node (see ``docs/semantics.md``)."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        parts = []
        if self.spiking:
            parts.append(f"reset={self.reset_mode!r}")
            parts.append(f"surrogate={self.surrogate!r}")
        if self.shape is not None:
            parts.append(f"shape={self.shape}")
        return ", ".join(parts)
