"""Base class of the torch neuron modules.

Every neuron module maps a sequence ``x`` shaped ``(T, B, *features)`` to an output sequence of
the same shape by looping a per-step update over time (``docs/semantics.md``). The discrete
parameters (decays ``beta``/``alpha``, ``threshold``) are torch buffers, or ``nn.Parameter``
when learnable; ``.double()`` converts them with the module.

A neuron whose ``grid_exp`` is set (by :class:`~spikeforge.models.qat.QSequential`) runs in
*integer-train mode*: its membrane stays on the grid ``2^grid_exp`` and follows the integer
step of ``docs/integer.md`` exactly (straight-through gradients). With ``grid_exp = None``
(the default) it is the plain float neuron.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from . import qtorch
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
        grid_exp: ``None`` (float neuron) or an int64 tensor broadcastable to the neuron shape:
            the membrane grid exponent ``-p`` of the integer-train mode (set by ``QSequential``
            from the preceding quantized synapse: ``e_row + src_exp - 6``).
    """

    state_names: Tuple[str, ...] = ("v",)
    spiking: bool = True
    #: Whether the module implements the integer-train mode (``grid_exp``).
    integer_train: bool = False

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
        self.grid_exp: Optional[torch.Tensor] = None
        self._grid_cache: Optional[tuple] = None
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

    def fire(self, u: torch.Tensor, threshold: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Spikes ``S = U > threshold`` (float 0/1) with the surrogate gradient."""
        return self.surrogate(u - (self.threshold if threshold is None else threshold))

    def reset_membrane(self, u: torch.Tensor, s: torch.Tensor, threshold: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Membrane after the reset, ``H``, from pre-reset ``U`` and spikes ``S``."""
        r = s.detach() if self.detach_reset else s
        if self.reset_mode == "subtract":
            return u - r * (self.threshold if threshold is None else threshold)
        return u * (1.0 - r) + r * self.v_reset

    # ----------------------------------------------------------------- integer-train mode
    def check_integer(self) -> None:
        """Raise unless this neuron can run in integer-train mode (called when a grid is set)."""
        if not self.integer_train:
            raise NotImplementedError(
                f"{type(self).__name__} has no integer-train mode (supported: ASN, NASN, ILIF, LIF, IF, LI)"
            )
        if self.reset_mode == "zero" and bool(torch.any(self.v_reset != 0)):
            raise ValueError(
                f"{type(self).__name__}: the integer-train mode resets to zero (Loihi); v_reset must be 0"
            )

    def grid(self, like: torch.Tensor) -> Optional[qtorch.Grid]:
        """The membrane grid on ``like``'s device, or ``None`` in float mode (``grid_exp is None``)."""
        g = self.grid_exp
        if g is None:
            return None
        cache = self._grid_cache
        if cache is None or cache[0] is not g or cache[1] != like.device:
            self.check_integer()
            cache = (g, like.device, qtorch.Grid(g, like.device))
            self._grid_cache = cache
        return cache[2]

    def integrate(self, h: torch.Tensor, x_t: torch.Tensor, beta: Optional[torch.Tensor] = None) -> torch.Tensor:
        r"""Pre-spike membrane :math:`U = \beta H + X` (``beta=None``: no leak).

        In integer-train mode the value is the integer step on the grid,
        ``U = clip24(decay(H, d) + X)`` with ``d = decay_code(beta)`` (Loihi's truncating
        decay), ``H`` and ``X`` in grid units (``X`` rounded half up onto the grid); the
        gradient is that of the float expression.
        """
        u = x_t + (h if beta is None else beta * h)
        grid = self.grid(x_t)
        if grid is None:
            return u
        h_int = grid.to_int(h)
        if beta is not None:
            h_int = qtorch.decay(h_int, qtorch.decay_code(beta).to(h_int.device))
        return qtorch.exact(u, grid.to_real(qtorch.clip24(h_int + grid.to_int(x_t)), u.dtype))

    def active_threshold(self, like: torch.Tensor) -> torch.Tensor:
        """The threshold in use: ``threshold``, or in integer-train mode the quantized
        ``theta_q = clamp(round(theta / 2^(g+6)), 0, 2^17 - 1) * 2^(g+6)`` (straight-through)."""
        grid = self.grid(like)
        if grid is None:
            return self.threshold
        return qtorch.exact(self.threshold, qtorch.quant_threshold(self.threshold, grid.exp))

    def quant_decay(self, beta: torch.Tensor) -> np.ndarray:
        """Decay as the compiler will realize it: ``beta`` in float mode, else ``(4096 - d) / 4096``."""
        if self.grid_exp is None:
            return self.np_param_value(beta)
        return self.np_param_value(qtorch.decay_factor(qtorch.decay_code(beta)))

    def export_threshold(self) -> np.ndarray:
        """Threshold for the NIR export (full shape): ``theta`` or, in integer-train mode, ``theta_q``."""
        if self.grid_exp is None:
            return self.np_param("threshold")
        th = qtorch.quant_threshold(self.threshold, torch.as_tensor(self.grid_exp).to(self.threshold.device))
        return self.np_param_value(th)

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
        return self.np_param_value(getattr(self, name), shape)

    def np_param_value(self, value: torch.Tensor, shape: Optional[Sequence[int]] = None) -> np.ndarray:
        """A tensor broadcast to the full neuron shape as a float64 array."""
        value = value.detach().cpu().to(torch.float64).numpy()
        return full(value, self._nir_shape() if shape is None else shape)

    def nir_spike_kwargs(self) -> Tuple[dict, dict]:
        """``(kwargs, metadata)`` for the spiking part of a NIR neuron node.

        ``kwargs`` holds ``v_threshold`` (``theta_q`` in integer-train mode) and ``v_reset``
        (zeros for reset by subtraction, which is flagged by ``metadata = {"reset": "subtract"}``).
        """
        v_reset = None if self.reset_mode == "subtract" else self.np_param("v_reset")
        return spike_fields(self.export_threshold(), v_reset, self.reset_mode)

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
