"""Integer ASN / NASN / I-LIF: the normative step (numpy only).

MODELS.md §1 in the integer-train / spike-infer form of ``docs/integer.md``. One spike is
``2^p`` membrane LSBs; the synaptic input is MSB-aligned by ``<< 6`` as on Loihi.

.. math::
    U_t = \\mathrm{clip}_{24}\\big(\\mathrm{decay}(v_{t-1}, d_v) + (a_t \\ll 6) + b\\big)

    c_t = \\mathrm{clip}\\big((U_t + 2^{p-1}) \\gg p,\\; \\alpha,\\; \\alpha + D\\big),\\qquad
    v_t = \\mathrm{clip}_{24}\\big(U_t - (c_t \\ll p)\\big),\\qquad e_t = c_t - \\alpha \\in [0, D]

State bit widths: ``v`` signed 24-bit. Parameters: ``dv`` unsigned 12-bit, ``bias`` signed
24-bit, ``p`` (unit shift, ``1 <= p``, ``(alpha + D) << p`` within 24 bits); attrs ``alpha``,
``D`` (graded-spike width), ``N`` (NASN normalisation, folded into the next layer).
"""

from __future__ import annotations

import numpy as np

from ..lif.spec import OVERFLOW_TEXT, Counters
from ..quant import ACT_SHIFT, clip24, decay

STATE = {"int_asn": ("v",)}
STATE_BITS = {"v": 24}
PARAM_BITS = {"dv": (12, False), "bias": (24, True), "p": (5, False)}


def init_state(batch: int, n: int) -> dict:
    """Zero state ``{"v"}`` shaped ``(batch, n)`` (int64)."""
    return {"v": np.zeros((batch, n), np.int64)}


def drive(a: np.ndarray, p: dict) -> np.ndarray:
    """What a step adds to the decayed membrane: ``(a << 6) + bias`` (int64)."""
    return np.left_shift(np.asarray(a, dtype=np.int64), ACT_SHIFT) + np.asarray(p["bias"], np.int64)


def step(state: dict, a: np.ndarray, p: dict, alpha: int, D: int, counters: Counters | None = None) -> np.ndarray:
    """Advance one step (in place on ``state``); return the graded emission ``c - alpha``.

    Args:
        state: ``{"v"}`` int64 ``(B, N)``: the post-reset membrane, decayed at the next step.
        a: Synaptic input ``(B, N)`` (integers).
        p: ``dv``, ``bias``, ``p`` broadcastable to ``(N,)``.
        alpha: Integer firing-window shift.
        D: Window width (maximum emission).
        counters: Receives saturation counts.

    Returns:
        Emissions in ``[0, D]`` (int64, ``(B, N)``).
    """
    c_ = counters if counters is not None else Counters()
    unit = np.asarray(p["p"], dtype=np.int64)
    U, ns = clip24(decay(state["v"], p["dv"]) + drive(a, p))
    c_.saturate += ns
    c = np.clip(np.right_shift(U + np.left_shift(1, unit - 1), unit), alpha, alpha + D)
    v, nr = clip24(U - np.left_shift(c, unit))  # a window above U (alpha > 0) can push it past 24 bits
    c_.saturate += nr
    state["v"] = v
    return c - alpha


# ----------------------------------------------------------------------------- declaration
# The same update as statements (``models/declare.py``), for code-generating backends (Brian2).
# ``tests/models/test_declare.py`` runs them against :func:`step` on random states.

from ..declare import IntNeuronDecl  # noqa: E402

DECLARATIONS = (
    IntNeuronDecl(
        op="int_asn",
        params=PARAM_BITS,
        states=STATE_BITS,
        constants={"alpha": lambda attrs: int(attrs.get("alpha", 0)), "D": lambda attrs: int(attrs["D"])},
        counters={"n_sat": OVERFLOW_TEXT["saturate"]},
        update=(
            "U_in = decay(v, dv) + shl(a, 6) + bias",
            "n_sat += sats24(U_in)",
            "U = clip24(U_in)",
            "c = clip(shr(U + shl(1, p - 1), p), alpha, alpha + D)",
            "r = U - shl(c, p)",
            "n_sat += sats24(r)",
            "v = clip24(r)",
            "y = c - alpha",
        ),
        emission_max=lambda attrs: int(attrs["D"]),
        doc="ASN / NASN / I-LIF (graded spikes c - alpha in [0, D])",
    ),
)
