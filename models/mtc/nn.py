r"""Multi-timescale conductance neuron (MTC, MODELS.md §4) as a torch module.

Fulleda-Garcia et al. (arXiv 2605.11835), after the mixed-feedback neuron of Ribar & Sepulchre
(2019): a membrane :math:`U_m` and three low-passed copies :math:`U_f, U_s, U_{us}`
(:math:`\tau_f < \tau_s < \tau_{us}`), four tanh-shaped conductance currents and a saturating
graded output, with no reset and no surrogate gradient:

.. math::
    \tau_x \dot U_x = U_m - U_x \qquad (x \in \{f, s, us\})

.. math::
    I_x^{\pm} = \alpha_x^{\pm} \tanh(U_x - \delta_x^{\pm}), \qquad
    \tau_m \dot U_m = -(U_m - U_{rest}) + R I_{in}
        - R\,(-I_f^- + I_s^+ - I_s^- + I_{us}^+)

.. math::
    s = \min\big(\mathrm{ReLU}(U_m - U_{th}) / (U_{sat} - U_{th}),\ 1\big)

The fast negative conductance :math:`I_f^-` makes the neuron excitable, the slow positive
:math:`I_s^+` restores it (a spike), the slow negative :math:`I_s^-` and ultra-slow positive
:math:`I_{us}^+` make bursts or adaptation. The module *is* the forward-Euler discretization
with step ``dt`` (``k_x = dt / tau_x``; the filters are updated with the new membrane):

.. math::
    U_m[t] = (1 - k_m) U_m[t-1] + k_m R\, X[t] + k_m U_{rest}
        + k_m R \sum_x \pm \alpha_x \tanh(U_x[t-1] - \delta_x),
    \qquad U_x[t] = U_x[t-1] + k_x (U_m[t] - U_x[t-1]),

trained by plain BPTT through this recurrence (``models/mtc/spec.py`` has the same step in
numpy, the parameters of the discrete op ``mtc`` and the integer form ``int_mtc``). All
states start at zero.

State bit widths of the integer form (``int_mtc``, ``docs/integer.md``): ``um``, ``uf``,
``us``, ``uus`` signed 24-bit on the membrane grid; the graded output an unsigned 8-bit
fraction (``out / 256`` in ``[0, 1]``); ``tanh`` by a 513-entry 12-bit table.

Presets (:meth:`MTC.preset`, :data:`PRESETS`): ``"tonic"``, ``"phasic"`` and ``"bursting"``
firing under a step of constant input (:data:`PRESET_DRIVE`), with ``dt = 1`` and time
constants in steps.
"""

from __future__ import annotations

from typing import Iterable, Union

import nir
import numpy as np
import torch

from ..base import SpikingNeuron
from ..lowering import check_dt_method, full
from .spec import FEEDBACK

__all__ = ["MTC", "PRESETS", "PRESET_DRIVE", "PARAM_NAMES"]

#: Constructor parameters (continuous form), in order.
PARAM_NAMES = (
    "tau_m", "tau_f", "tau_s", "tau_us", "r", "u_rest",
    "alpha_fn", "alpha_sp", "alpha_sn", "alpha_usp",
    "delta_fn", "delta_sp", "delta_sn", "delta_usp", "u_th", "u_sat",
)
_TAUS = ("tau_m", "tau_f", "tau_s", "tau_us")

_BASE = dict(tau_m=2.0, tau_f=1.0, tau_s=20.0, tau_us=1000.0, r=1.0, u_rest=-1.0,
             alpha_fn=2.0, alpha_sp=2.0, alpha_sn=0.0, alpha_usp=0.0,
             delta_fn=0.0, delta_sp=0.0, delta_sn=0.0, delta_usp=0.0, u_th=0.5, u_sat=1.5)
#: Parameter sets (``dt = 1``) of the three firing regimes.
PRESETS = {
    # fast negative + slow positive only: a relaxation oscillator, regular events
    "tonic": dict(_BASE),
    # + a strong ultra-slow positive conductance centred at rest: a few events at onset, then it adapts
    "phasic": {**_BASE, "tau_us": 100.0, "alpha_usp": 4.0, "delta_usp": -1.0},
    # + slow negative and ultra-slow positive (Ribar & Sepulchre's burster): bursts of events
    "bursting": {**_BASE, "u_rest": -2.0, "alpha_sn": 1.5, "alpha_usp": 1.5, "delta_sn": -0.88, "delta_usp": -0.88},
}
#: Constant input step (``I_in``, from 0) that shows each preset's regime.
PRESET_DRIVE = {"tonic": 1.0, "phasic": 0.75, "bursting": 1.0}

_Value = Union[float, Iterable[float], np.ndarray, torch.Tensor]


class MTC(SpikingNeuron):
    r"""Multi-timescale conductance neuron (see the module docstring for the equations).

    Args:
        tau_m, tau_f, tau_s, tau_us: Membrane and filter time constants (in the unit of
            ``dt``; each ``>= dt``; ``tau_f < tau_s < tau_us`` for the intended regimes).
        r: Membrane resistance :math:`R` (input and conductance gain).
        u_rest: Resting potential :math:`U_{rest}`.
        alpha_fn, alpha_sp, alpha_sn, alpha_usp: Amplitudes :math:`\alpha \ge 0` of the fast
            negative, slow positive, slow negative and ultra-slow positive conductances.
        delta_fn, delta_sp, delta_sn, delta_usp: Their offsets :math:`\delta`.
        u_th, u_sat: Output threshold and saturation (:math:`U_{sat} > U_{th}`).
        dt: Time step of the forward-Euler form.
        shape: Neuron shape (required when learning scalar-initialised parameters).
        learn: Names of :data:`PARAM_NAMES` to train (each becomes a per-neuron
            ``nn.Parameter``), ``True`` for every parameter but the time constants, or ``()``.
        record: Keep the last run's membrane :math:`U_m` in ``recorded["v"]``.

    Every parameter is a scalar or an array broadcastable to the neuron shape. In the forward
    pass the time constants are clamped to ``>= dt`` and ``u_sat`` to ``>= u_th + 1e-3``
    (the exported values are the clamped ones).

    Raises:
        ValueError: Unknown names in ``learn``, a non-positive ``dt``, ``u_sat <= u_th``.
    """

    state_names = ("um", "uf", "us", "uus")
    integer_train = False

    def __init__(self, tau_m: _Value = 2.0, tau_f: _Value = 1.0, tau_s: _Value = 20.0, tau_us: _Value = 1000.0,
                 r: _Value = 1.0, u_rest: _Value = -1.0,
                 alpha_fn: _Value = 2.0, alpha_sp: _Value = 2.0, alpha_sn: _Value = 0.0, alpha_usp: _Value = 0.0,
                 delta_fn: _Value = 0.0, delta_sp: _Value = 0.0, delta_sn: _Value = 0.0, delta_usp: _Value = 0.0,
                 u_th: _Value = 0.5, u_sat: _Value = 1.5, dt: float = 1.0, *, shape=None,
                 learn: Union[bool, Iterable[str]] = (), record: bool = False):
        super().__init__(None, shape=shape, record=record)
        self.spiking = True  # graded events, no reset
        self.dt = float(dt)
        if not (self.dt > 0 and np.isfinite(self.dt)):
            raise ValueError(f"dt must be a positive finite number, got {dt}")
        if learn is True:
            learn = [n for n in PARAM_NAMES if n not in _TAUS]
        learn = set(learn or ())
        bad = learn - set(PARAM_NAMES)
        if bad:
            raise ValueError(f"MTC: cannot learn {sorted(bad)}; parameters are {list(PARAM_NAMES)}")
        values = dict(zip(PARAM_NAMES, (tau_m, tau_f, tau_s, tau_us, r, u_rest, alpha_fn, alpha_sp, alpha_sn,
                                        alpha_usp, delta_fn, delta_sp, delta_sn, delta_usp, u_th, u_sat)))
        for name in _TAUS:
            t = np.asarray(torch.as_tensor(values[name], dtype=torch.float64).numpy())
            if np.any(t < self.dt):
                raise ValueError(f"MTC: {name} must be >= dt = {self.dt:g} (forward Euler); got {t.min():g}")
        if np.any(np.asarray(torch.as_tensor(values["u_sat"], dtype=torch.float64) <= torch.as_tensor(values["u_th"], dtype=torch.float64))):
            raise ValueError("MTC: u_sat must be > u_th")
        for name in PARAM_NAMES:
            self._add_value(name, values[name], name in learn, full_shape=True)

    @classmethod
    def preset(cls, name: str, **overrides) -> "MTC":
        """An MTC with the parameters of :data:`PRESETS` ``[name]`` (``"tonic"``, ``"phasic"``,
        ``"bursting"``), updated by ``overrides`` (any constructor argument)."""
        if name not in PRESETS:
            raise ValueError(f"unknown MTC preset {name!r}; use one of {', '.join(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    # ------------------------------------------------------------------ dynamics
    def effective(self) -> dict:
        """The parameters as the forward pass uses them (time constants ``>= dt``, ``u_sat > u_th``)."""
        p = {k: getattr(self, k) for k in PARAM_NAMES}
        for k in _TAUS:
            p[k] = torch.clamp(p[k], min=self.dt)
        p["u_sat"] = torch.maximum(p["u_sat"], p["u_th"] + 1e-3)
        return p

    def discrete(self) -> dict:
        """Per-step coefficients (tensors) of the discrete op ``mtc`` (``models/mtc/spec.py``)."""
        p = self.effective()
        km = self.dt / p["tau_m"]
        d = {"a": 1.0 - km, "g": km * p["r"], "b": km * p["u_rest"],
             "kf": self.dt / p["tau_f"], "ks": self.dt / p["tau_s"], "kus": self.dt / p["tau_us"],
             "uth": p["u_th"], "usat": p["u_sat"]}
        for name, _, sign in FEEDBACK:
            d["g" + name] = sign * km * p["r"] * p["alpha_" + name]
            d["d" + name] = p["delta_" + name]
        return d

    def run(self, x: torch.Tensor, feedback=None) -> torch.Tensor:
        """Run over ``x`` shaped ``(T, B, *features)``; returns the graded output ``s``."""
        if feedback is not None:
            raise NotImplementedError("MTC inside Recurrent is not supported")
        self.check_input(x)
        p = self.discrete()
        um = torch.zeros_like(x[0])
        uf, us, uus = um, um, um
        span = p["usat"] - p["uth"]
        outs, ums = [], []
        for t in range(x.shape[0]):
            src = {"f": uf, "s": us, "us": uus}
            fb = 0.0
            for name, var, _ in FEEDBACK:
                fb = fb + p["g" + name] * torch.tanh(src[var] - p["d" + name])
            um = p["a"] * um + p["g"] * x[t] + p["b"] + fb
            uf = uf + p["kf"] * (um - uf)
            us = us + p["ks"] * (um - us)
            uus = uus + p["kus"] * (um - uus)
            outs.append(torch.clamp((um - p["uth"]) / span, 0.0, 1.0))
            if self.record:
                ums.append(um.detach())
        if self.record:
            self.recorded = {"v": torch.stack(ums)}
        return torch.stack(outs)

    def update(self, x_t, state):
        """One step (for callers that step manually): state ``{"um", "uf", "us", "uus"}``."""
        p = self.discrete()
        src = {"f": state["uf"], "s": state["us"], "us": state["uus"]}
        fb = 0.0
        for name, var, _ in FEEDBACK:
            fb = fb + p["g" + name] * torch.tanh(src[var] - p["d" + name])
        um = p["a"] * state["um"] + p["g"] * x_t + p["b"] + fb
        new = {"um": um}
        for var, key in (("f", "uf"), ("s", "us"), ("us", "uus")):
            new[key] = state[key] + p["k" + var] * (um - state[key])
        return torch.clamp((um - p["uth"]) / (p["usat"] - p["uth"]), 0.0, 1.0), new, um

    # ------------------------------------------------------------------ lowering
    def to_nir(self, dt: float, method: str) -> nir.NIRGraph:
        """Lower to a NIR subgraph of standard nodes, the model named in metadata.

        Nodes: ``membrane`` (``nir.LI`` with ``tau = tau_m``, ``r = R``, ``v_leak = U_rest``:
        the passive membrane), ``fast``/``slow``/``ultraslow`` (``nir.LI`` with ``tau_x``,
        ``r = 1``, ``v_leak = 0`` fed by the membrane: exactly the filters) and
        ``g_fast``/``g_slow``/``g_ultraslow`` (``nir.Scale`` of 0 back into the membrane:
        placeholders of the tanh conductances, which NIR cannot express). The membrane's
        metadata ``{"spikeforge.model": "MTC", "spikeforge.discretization": "euler",
        "alpha_*", "delta_*", "u_th", "u_sat"}`` carries the rest; spikeforge reads the whole
        subgraph back as one MTC node, plain NIR tools load it as a passive LI network.

        Time constants are rescaled from the module's ``dt`` to the graph's ``dt``.
        """
        check_dt_method(dt, method)
        shape = self._nir_shape()
        p = {k: self.np_param_value(v.detach()) for k, v in self.effective().items()}
        scale = float(dt) / self.dt
        meta = {"spikeforge.model": "MTC", "spikeforge.discretization": "euler"}
        for k in PARAM_NAMES:
            if k.startswith(("alpha_", "delta_")) or k in ("u_th", "u_sat"):
                meta[k] = p[k]
        n = np.array(list(shape), dtype=np.int64)
        zeros = full(0.0, shape)
        nodes = {
            "input": nir.Input(input_type=n.copy()),
            "membrane": nir.LI(tau=p["tau_m"] * scale, r=p["r"], v_leak=p["u_rest"], metadata=meta),
            "output": nir.Output(output_type=n.copy()),
        }
        edges = [("input", "membrane"), ("membrane", "output")]
        for var, key in (("fast", "tau_f"), ("slow", "tau_s"), ("ultraslow", "tau_us")):
            role = {"spikeforge.model": "MTC", "spikeforge.role": var}
            nodes[var] = nir.LI(tau=p[key] * scale, r=full(1.0, shape), v_leak=zeros.copy(), metadata=role)
            nodes["g_" + var] = nir.Scale(scale=zeros.copy(), metadata={**role, "spikeforge.role": f"{var} conductance (tanh)"})
            edges += [("membrane", var), (var, "g_" + var), ("g_" + var, "membrane")]
        return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)

    def extra_repr(self) -> str:
        parts = [f"dt={self.dt:g}"]
        if self.shape is not None:
            parts.append(f"shape={self.shape}")
        return ", ".join(parts)
