"""Integer LIF / CUBA-LIF / LI: the normative step (numpy only), bit-exact to Lava's Loihi model.

Follows ``lava.proc.lif.models.PyLifModelBitAcc`` (lava-nc 0.10): current and voltage decays
by 12-bit codes in sign-magnitude, synaptic input and threshold MSB-aligned by ``<< 6``, the
current wrapped and the voltage saturated at 24 bits, reset to 0. ``reset="subtract"``
(subtract ``vth << 6``) is spikeforge's extension, run on Lava by our own process model.

.. math::
    u_t = \\mathrm{wrap}_{24}\\big(\\mathrm{decay}(u_{t-1}, d_u + 1) + (a_t \\ll 6)\\big)

    v_t = \\mathrm{clip}_{24}\\big(\\mathrm{decay}(h_{t-1}, d_v) + u_t + (b_m \\ll b_e)\\big),\\qquad
    s_t = v_t > (\\vartheta \\ll 6)

    h_t = 0 \\text{ (zero) or } v_t - s_t (\\vartheta \\ll 6) \\text{ (subtract) where } s_t,
    \\text{ else } v_t

State bit widths: ``u`` and ``v`` signed 24-bit. Parameters: ``du``, ``dv`` unsigned 12-bit,
``bias_mant`` signed 13-bit, ``bias_exp`` unsigned 3-bit, ``vth`` unsigned 17-bit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..quant import ACT_SHIFT, clip24, decay, wrap24

#: op name -> state variables (all signed 24-bit)
STATE = {"int_lif": ("u", "v"), "int_li": ("u", "v")}
STATE_BITS = {"u": 24, "v": 24}
PARAM_BITS = {"du": (12, False), "dv": (12, False), "bias_mant": (13, True), "bias_exp": (3, False), "vth": (17, False)}


#: The wording of the counted overflow warnings, one for every backend (``Counters`` field -> text).
OVERFLOW_TEXT = {"wrap": "current wrapped at 24 bits", "saturate": "voltage saturated at 24 bits"}


@dataclass
class Counters:
    """Overflow events of a run: current wraps and voltage saturations (never silent)."""

    wrap: int = 0
    saturate: int = 0
    extra: dict = field(default_factory=dict)


def init_state(batch: int, n: int) -> dict:
    """Zero state ``{"u", "v"}`` shaped ``(batch, n)`` (int64)."""
    return {"u": np.zeros((batch, n), np.int64), "v": np.zeros((batch, n), np.int64)}


def current(u: np.ndarray, a: np.ndarray, p: dict) -> tuple[np.ndarray, np.ndarray]:
    """The current update :math:`u_t = \\mathrm{wrap}_{24}(\\mathrm{decay}(u_{t-1}, d_u + 1) + (a_t \\ll 6))`.

    Returns:
        ``(u_t, wraps)``: the new current and the number of wrapped elements.
    """
    return wrap24(decay(u, np.asarray(p["du"]) + 1) + np.left_shift(np.asarray(a, dtype=np.int64), ACT_SHIFT))


def bias(p: dict) -> np.ndarray:
    """The bias in membrane LSBs, ``bias_mant << bias_exp`` (int64)."""
    return np.left_shift(np.asarray(p["bias_mant"], np.int64), np.asarray(p["bias_exp"], np.int64))


def threshold(p: dict) -> np.ndarray:
    """The threshold in membrane LSBs, ``vth << 6`` (int64)."""
    return np.left_shift(np.asarray(p["vth"], np.int64), ACT_SHIFT)


def step(state: dict, a: np.ndarray, p: dict, reset: str = "zero", spiking: bool = True, counters: Counters | None = None):
    """Advance one step (in place on ``state``) and return the output.

    Args:
        state: ``{"u", "v"}`` int64 arrays ``(B, N)``.
        a: Synaptic input ``(B, N)`` (integers).
        p: ``du``, ``dv``, ``bias_mant``, ``bias_exp``, ``vth`` broadcastable to ``(N,)``.
        reset: ``"zero"`` (Loihi) or ``"subtract"``.
        spiking: ``False`` for ``int_li`` (no spike, output ``v``).
        counters: Receives wrap / saturation counts.

    Returns:
        Spikes (0/1 int64) or, for ``int_li``, the voltage ``v``.
    """
    c = counters if counters is not None else Counters()
    u, nw = current(state["u"], a, p)
    v, ns = clip24(decay(state["v"], p["dv"]) + u + bias(p))
    c.wrap += nw
    c.saturate += ns
    state["u"] = u
    if not spiking:
        state["v"] = v
        return v.copy()
    th = threshold(p)
    s = v > th
    if reset == "zero":
        v = np.where(s, 0, v)
    elif reset == "subtract":
        v = np.where(s, v - th, v)
    else:
        raise ValueError(f"reset must be 'zero' or 'subtract', got {reset!r}")
    state["v"] = v
    return s.astype(np.int64)


# ----------------------------------------------------------------------------- declaration
# The same update as statements (``models/declare.py``), for code-generating backends (Brian2).
# ``tests/models/test_declare.py`` runs them against :func:`step` on random states.

from ..declare import IntNeuronDecl  # noqa: E402


def _subtract(attrs) -> int:
    reset = attrs.get("reset", "zero")
    if reset not in ("zero", "subtract"):
        raise ValueError(f"reset must be 'zero' or 'subtract', got {reset!r}")
    return int(reset == "subtract")


_LIF_COMMON = (
    "u_in = decay(u, du + 1) + shl(a, 6)",
    "n_wrap += wraps24(u_in)",
    "u = wrap24(u_in)",
    "v_in = decay(v, dv) + u + shl(bias_mant, bias_exp)",
    "n_sat += sats24(v_in)",
    "v_new = clip24(v_in)",
)
_COUNTERS = {"n_wrap": OVERFLOW_TEXT["wrap"], "n_sat": OVERFLOW_TEXT["saturate"]}

#: ``int_lif`` emits spikes (0/1); ``int_li`` emits its voltage every step.
DECLARATIONS = (
    IntNeuronDecl(
        op="int_lif",
        params=PARAM_BITS,
        states=STATE_BITS,
        constants={"subtract": _subtract},
        counters=_COUNTERS,
        update=_LIF_COMMON + (
            "y = gt(v_new, shl(vth, 6))",
            "v = v_new - y * (subtract * shl(vth, 6) + (1 - subtract) * v_new)",
        ),
        emission_max=lambda attrs: 1,
        doc="Lava bit-accurate LIF / CUBA-LIF (spikes 0/1)",
    ),
    IntNeuronDecl(
        op="int_li",
        params=PARAM_BITS,
        states=STATE_BITS,
        counters=_COUNTERS,
        update=_LIF_COMMON + ("v = v_new", "y = v"),
        emission_max=None,
        doc="LI / CUBA-LI readout (the voltage every step)",
    ),
)
