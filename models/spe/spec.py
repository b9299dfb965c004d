"""SPE (self-prediction enhanced neuron): the float op and the normative integer step (numpy only).

MODELS.md §3 (Huang et al., arXiv 2601.21823; the paper's equations are not public, this is
spikeforge's form). Each neuron keeps a prediction current :math:`P` from its own input and
output history and adds it to the base neuron's membrane:

.. math::
    P_t = P_{t-1} + \\kappa\\,(X_t - Q_{t-1} - P_{t-1}), \\qquad
    U_t = \\beta H_{t-1} + X_t + P_t, \\qquad \\text{spike and reset as the base neuron},

with :math:`Q_t = V_{th} S_t` the charge the neuron's spikes removed (LIF: ``V_th * S``; ASN /
NASN / I-LIF, whose unit threshold is one membrane unit per spike: the spike count ``c``).
``kappa`` is in (0, 1) (``sigmoid(k)`` in torch). States start at zero.

**Float ops** (after ``discretize``; one per base): ``spe_lif`` (params of ``lif``: ``a``,
``g``, ``b``, ``v_threshold``, ``v_reset``, plus ``kappa``; attr ``reset``) and ``spe_asn``
(params of ``asn``: ``a``, ``g``, ``b`` plus ``kappa``; attrs ``alpha``, ``D``, ``N``). The
input current is ``X = g x + b`` (a bias moved into the neuron is input current):

.. code-block:: text

    X = g*x + b;  P = P + kappa*(X - Q - P);  U = (X + P) + a*H
    lif: S = U > vth; H = U - S*vth (subtract) or (S ? v_reset : U); Q = S*vth; out = S
    asn: c = clip(floor(U + 1/2), alpha, alpha + D); H = U - c; Q = c; out = c / N

**Integer ops** (``docs/integer.md``): ``int_spe_lif`` wraps ``int_lif`` (``models/lif/spec.py``)
and ``int_spe_asn`` wraps ``int_asn`` (``models/asn/spec.py``). The base op's own normative
``step`` runs unchanged with the prediction added to its bias; SPE adds two signed 24-bit
states, ``pr`` (the prediction) and ``q`` (the charge of the last emission), and one
parameter ``kc`` (unsigned 12-bit, ``kappa = kc / 4096``, the decays' rounding rule
``kc = clip(round_half_up(kappa * 4096), 0, 4095)``):

.. code-block:: text

    X  = drive(base)                                        # what the base adds to v this step
    pr = clip24(pr + ((kc * (X - q - pr) + 2^11) >> 12))    # saturations counted
    y  = base.step(state, a, params with bias += pr)
    q  = charge(base, y)

``int_lif``: ``X = wrap24(decay(u, du + 1) + (a << 6)) + (bias_mant << bias_exp)``, the bias
becomes ``bias_mant = (bias_mant << bias_exp) + pr``, ``bias_exp = 0`` (a 24-bit bias: our own
Lava process runs it), ``charge = y * (vth << 6)``. ``int_asn``: ``X = (a << 6) + bias``, the
bias becomes ``bias + pr``, ``charge = (y + alpha) << p``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..asn import spec as asn_spec
from ..lif import spec as lif_spec
from ..lif.spec import Counters
from ..quant import DECAY_BITS, DECAY_UNITY, clip24, round_half_up

__all__ = [
    "KAPPA_BITS", "FLOAT_OPS", "INT_OPS", "BASE_OF", "SPE_OPS", "STATE", "STATE_BITS", "PARAM_BITS",
    "base_op", "kappa_code", "kappa_factor", "float_init_state", "float_step", "init_state", "step", "Counters", "INT_BASES",
]

#: ``kappa`` is a 12-bit code like the decays: ``kappa = kc / 4096``.
KAPPA_BITS = DECAY_BITS
#: base float op -> SPE float op.
FLOAT_OPS = {"lif": "spe_lif", "asn": "spe_asn"}
#: SPE float op -> SPE integer op.
INT_OPS = {"spe_lif": "int_spe_lif", "spe_asn": "int_spe_asn"}
#: SPE op -> the base op it wraps.
BASE_OF = {"spe_lif": "lif", "spe_asn": "asn", "int_spe_lif": "int_lif", "int_spe_asn": "int_asn"}
#: Every SPE op.
SPE_OPS = frozenset(BASE_OF)
#: integer op -> state variables (all signed 24-bit).
STATE = {"int_spe_lif": ("u", "v", "pr", "q"), "int_spe_asn": ("v", "pr", "q")}
STATE_BITS = {"u": 24, "v": 24, "pr": 24, "q": 24}
#: integer op -> parameter -> (bits, signed).
PARAM_BITS = {
    "int_spe_lif": {**lif_spec.PARAM_BITS, "kc": (KAPPA_BITS, False)},
    "int_spe_asn": {**asn_spec.PARAM_BITS, "kc": (KAPPA_BITS, False)},
}


def base_op(op: str) -> str:
    """The base op of an SPE op (``spe_asn`` -> ``asn``), any other op unchanged: the compiler's
    rules for a base (grids, windows, biases) then apply to its SPE form too."""
    return BASE_OF.get(op, op)


def kappa_code(kappa) -> np.ndarray:
    """12-bit code ``kc = clip(round_half_up(kappa * 4096), 0, 4095)`` (int64)."""
    return np.clip(round_half_up(np.asarray(kappa, dtype=np.float64) * DECAY_UNITY), 0, DECAY_UNITY - 1)


def kappa_factor(kc) -> np.ndarray:
    """The realized ``kappa = kc / 4096`` (float64, exact)."""
    return np.asarray(kc, dtype=np.float64) / DECAY_UNITY


# ----------------------------------------------------------------------------- float ops


def float_init_state(op: str, batch: int, n: int) -> dict:
    """Zero float state ``{"h", "pr", "q"}`` shaped ``(batch, n)``."""
    if op not in ("spe_lif", "spe_asn"):
        raise ValueError(f"unknown SPE float op {op!r}; use spe_lif or spe_asn")
    return {k: np.zeros((batch, n)) for k in ("h", "pr", "q")}


def _fire_lif(u: np.ndarray, p: dict, attrs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    vth = p["v_threshold"]
    s = (u > vth).astype(np.float64)
    if attrs.get("reset", "zero") == "subtract":
        h = u - s * vth
    else:
        h = np.where(s > 0, p["v_reset"], u)
    return s, h, s * vth


def _fire_asn(u: np.ndarray, p: dict, attrs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    alpha, D, N = int(attrs.get("alpha", 0)), int(attrs["D"]), float(attrs.get("N", 1))
    c = np.clip(np.floor(u + 0.5), alpha, alpha + D)
    return c / N, u - c, c


#: SPE float op -> spike and reset of its base: ``(U, params, attrs) -> (out, H, Q)``.
FLOAT_FIRE: dict[str, Callable] = {"spe_lif": _fire_lif, "spe_asn": _fire_asn}


def float_step(op: str, state: dict, x: np.ndarray, p: dict, attrs) -> np.ndarray:
    """One step of a float SPE op (in place on ``state = {"h", "pr", "q"}``); returns the output.

    Args:
        op: ``"spe_lif"`` or ``"spe_asn"``.
        state: Post-reset membrane ``h``, prediction ``pr``, last charge ``q`` (float64 ``(B, N)``).
        x: Input ``(B, N)``.
        p: Parameters (see the module docstring) broadcastable to ``(N,)``.
        attrs: ``reset`` (lif) or ``alpha``, ``D``, ``N`` (asn).
    """
    X = p["g"] * x + p["b"]
    pr = state["pr"] + p["kappa"] * (X - state["q"] - state["pr"])
    u = (X + pr) + p["a"] * state["h"]
    out, h, q = FLOAT_FIRE[op](u, p, attrs)
    state.update(h=h, pr=pr, q=q)
    return out


# ----------------------------------------------------------------------------- integer ops


@dataclass(frozen=True)
class IntBase:
    """How an integer SPE op wraps its base op's normative step.

    Attributes:
        base: The base op (``int_lif``, ``int_asn``).
        drive: ``(state, a, params) -> X``: what the base adds to its membrane this step
            (membrane LSBs), without changing ``state``.
        inject: ``(params, pr) -> params``: the base's params with ``pr`` added to its bias.
        step: ``(state, a, params, attrs, counters) -> y``: the base's normative step.
        charge: ``(y, params, attrs) -> Q``: the charge the emission removed (membrane LSBs).
    """

    base: str
    drive: Callable
    inject: Callable
    step: Callable
    charge: Callable


def _lif_drive(state: dict, a: np.ndarray, p: dict) -> np.ndarray:
    return lif_spec.current(state["u"], a, p)[0] + lif_spec.bias(p)


def _lif_inject(p: dict, pr: np.ndarray) -> dict:
    return {**p, "bias_mant": lif_spec.bias(p) + pr, "bias_exp": np.zeros_like(pr)}


def _lif_step(state, a, p, attrs, c):
    return lif_spec.step(state, a, p, reset=str(attrs.get("reset", "zero")), spiking=True, counters=c)


def _lif_charge(y, p, attrs):
    return y * lif_spec.threshold(p)


def _asn_drive(state: dict, a: np.ndarray, p: dict) -> np.ndarray:
    return asn_spec.drive(a, p)


def _asn_inject(p: dict, pr: np.ndarray) -> dict:
    return {**p, "bias": np.asarray(p["bias"], np.int64) + pr}


def _asn_step(state, a, p, attrs, c):
    return asn_spec.step(state, a, p, int(attrs.get("alpha", 0)), int(attrs["D"]), c)


def _asn_charge(y, p, attrs):
    return np.left_shift(y + int(attrs.get("alpha", 0)), np.asarray(p["p"], np.int64))


#: integer SPE op -> its base.
INT_BASES: dict[str, IntBase] = {
    "int_spe_lif": IntBase("int_lif", _lif_drive, _lif_inject, _lif_step, _lif_charge),
    "int_spe_asn": IntBase("int_asn", _asn_drive, _asn_inject, _asn_step, _asn_charge),
}


def init_state(op: str, batch: int, n: int) -> dict:
    """Zero integer state of ``op`` shaped ``(batch, n)`` (int64)."""
    return {k: np.zeros((batch, n), np.int64) for k in STATE[op]}


def step(op: str, state: dict, a: np.ndarray, p: dict, attrs, counters: Counters | None = None) -> np.ndarray:
    """Advance one step of ``int_spe_lif`` / ``int_spe_asn`` (in place on ``state``).

    Args:
        op: The integer SPE op.
        state: :data:`STATE` ``[op]`` int64 arrays ``(B, N)``.
        a: Synaptic input ``(B, N)`` (integers).
        p: The base's parameters and ``kc``, broadcastable to ``(N,)``.
        attrs: The base's attrs (``reset``; or ``alpha``, ``D``).
        counters: Receives wrap / saturation counts (the prediction's saturations included).

    Returns:
        The base's emission (spikes 0/1, or ASN's ``c - alpha`` in ``[0, D]``), int64.
    """
    try:
        base = INT_BASES[op]
    except KeyError:
        raise ValueError(f"unknown SPE integer op {op!r}; use one of {', '.join(INT_BASES)}") from None
    c = counters if counters is not None else Counters()
    a = np.asarray(a, dtype=np.int64)
    x = base.drive(state, a, p)
    kc = np.asarray(p["kc"], np.int64)
    half = 1 << (KAPPA_BITS - 1)
    pr, ns = clip24(state["pr"] + np.right_shift(kc * (x - state["q"] - state["pr"]) + half, KAPPA_BITS))
    c.saturate += ns
    state["pr"] = pr
    y = base.step(state, a, base.inject(p, pr), attrs, c)
    state["q"] = base.charge(y, p, attrs)
    return y


# ----------------------------------------------------------------------------- declarations
# The same updates as statements (``models/declare.py``) for code-generating backends (Brian2);
# ``tests/models/test_spe_spec.py`` runs them against :func:`step` on random states. Largest
# product: a 12-bit code times a difference below 2^26 (< 2^38): exact in float64.

from ..declare import IntNeuronDecl  # noqa: E402

_PRED = (
    "pr_in = pr + shr(kc * (x - q - pr) + 2048, 12)",
    "n_sat += sats24(pr_in)",
    "pr = clip24(pr_in)",
)


def _declaration(op: str, base: IntNeuronDecl, drive: str, charge: str, doc: str) -> IntNeuronDecl:
    """``base``'s declaration with the prediction inserted: the base's statements are reused.

    The one base statement that adds the drive ``drive`` (synaptic current plus bias) to the
    membrane gets ``x = drive``, the prediction update, and then the same statement with
    ``x + pr`` in place of the drive; ``charge`` (the ``q`` of the next step) comes last.
    """
    update: list[str] = []
    for stmt in base.update:
        update += [f"x = {drive}", *_PRED, stmt.replace(drive, "x + pr")] if drive in stmt else [stmt]
    if sum(drive in stmt for stmt in base.update) != 1:
        raise AssertionError(f"{op}: the drive {drive!r} must appear in exactly one statement of {base.op}")
    return IntNeuronDecl(
        op=op,
        params=PARAM_BITS[op],
        states={k: 24 for k in STATE[op]},
        update=(*update, charge),
        constants=base.constants,
        counters=base.counters,
        emission_max=base.emission_max,
        doc=doc,
    )


_LIF_DECL = next(d for d in lif_spec.DECLARATIONS if d.op == "int_lif")
_ASN_DECL = next(d for d in asn_spec.DECLARATIONS if d.op == "int_asn")

DECLARATIONS = (
    _declaration("int_spe_lif", _LIF_DECL, "u + shl(bias_mant, bias_exp)", "q = y * shl(vth, 6)",
                 "SPE around Lava's LIF (spikes 0/1; prediction current pr)"),
    _declaration("int_spe_asn", _ASN_DECL, "shl(a, 6) + bias", "q = shl(c, p)",
                 "SPE around the ASN / NASN / I-LIF (graded spikes c - alpha in [0, D]; prediction current pr)"),
)
