"""MTC (multi-timescale conductance neuron): discretization and the normative integer step.

numpy only (no torch): imported by the compiler, the reference backend and the Lava/Brian2
ports. MODELS.md §4 (Fulleda-Garcia et al.; Ribar & Sepulchre 2019). Continuous form:

.. math::
    \\tau_x \\dot U_x = U_m - U_x \\quad (x \\in \\{f, s, us\\},\\ \\tau_f < \\tau_s < \\tau_{us})

    \\tau_m \\dot U_m = -(U_m - U_{rest}) + R I_{in}
        + R\\big[\\alpha_f^- \\tanh(U_f - \\delta_f^-) - \\alpha_s^+ \\tanh(U_s - \\delta_s^+)
        + \\alpha_s^- \\tanh(U_s - \\delta_s^-) - \\alpha_{us}^+ \\tanh(U_{us} - \\delta_{us}^+)\\big]

    s = \\min\\big(\\mathrm{ReLU}(U_m - U_{th}) / (U_{sat} - U_{th}),\\ 1\\big)

i.e. ``-R * sum(±I_x)`` with ``I_x = alpha_x tanh(U_x - delta_x)`` for the fast negative,
slow positive, slow negative and ultra-slow positive conductances (all ``alpha >= 0``).

**Discrete float form** (op ``mtc``; the model is *defined* by this forward-Euler step with
``k_x = dt / tau_x``, whatever discretization method the rest of the graph uses). Per step,
with input ``X`` and the states of the previous step (all zero at ``t = 0``):

.. math::
    F = g_{fn} \\tanh(U_f - d_{fn}) + g_{sp} \\tanh(U_s - d_{sp}) + g_{sn} \\tanh(U_s - d_{sn})
        + g_{usp} \\tanh(U_{us} - d_{usp})

    U_m \\leftarrow a U_m + g X + b + F, \\qquad
    U_x \\leftarrow U_x + k_x (U_m - U_x) \\ (\\text{with the new } U_m), \\qquad
    s = \\mathrm{clip}\\big((U_m - u_{th}) / (u_{sat} - u_{th}), 0, 1\\big)

with ``a = 1 - k_m``, ``g = k_m R``, ``b = k_m U_rest``, ``g_fn = k_m R alpha_fn``,
``g_sp = -k_m R alpha_sp``, ``g_sn = k_m R alpha_sn``, ``g_usp = -k_m R alpha_usp`` and
``d_x = delta_x`` (:func:`discretize`). With ``tau_f = dt`` the fast filter is the membrane
of the previous step (an instantaneous fast conductance, one step late).

**Integer form** (op ``int_mtc``, ``docs/integer.md``): every voltage on the membrane grid
``2^-p`` (signed 24-bit), the input MSB-aligned by ``<< 6`` as on Loihi, ``tanh`` by a
:data:`LUT_SIZE`-entry table, the graded output as an unsigned :data:`OUT_BITS`-bit integer:

.. code-block:: text

    T_x  = tanh_lut(U_src(x) - d_x)                         # x in fn, sp, sn, usp; src = f, s, s, us
    F    = (g_fn T_fn + g_sp T_sp + g_sn T_sn + g_usp T_usp + 2^11) >> 12
    U_m  = clip24(decay(U_m, dm) + (a << 6) + bias + F)
    U_x  = U_x + ((U_m - U_x) * k_x + 2^15) >> 16            # x in f, s, us (stays within 24 bits)
    out  = clip(((U_m - th) * oscale + 2^(oshift-1)) >> oshift, 0, 2^OUT_BITS)

    tanh_lut(y): i = (y + 2^(ishift-1)) >> ishift;  lut[min(i, K)] if i >= 0 else -lut[min(-i, K)]

``>>`` is the arithmetic (floor) shift; ``decay`` is Loihi's 12-bit sign-magnitude decay of
``models/quant.py``. The real output is ``out / 2^OUT_BITS``.

State bit widths: ``um``, ``uf``, ``us``, ``uus`` signed 24-bit (the filters are convex
combinations of membrane values, so they never leave the 24-bit range). Parameters
(:data:`PARAM_BITS`, per neuron, int64): ``dm`` unsigned 12-bit decay code;
``kf``, ``ks``, ``kus`` rate codes in ``[0, 2^16]`` (17-bit unsigned; rate = k / 2^16);
``gfn``, ``gsp``, ``gsn``, ``gusp`` signed 24-bit feedback gains (membrane LSBs per unit tanh);
``dfn``, ``dsp``, ``dsn``, ``dusp``, ``th``, ``bias`` signed 24-bit (membrane LSBs);
``oscale`` unsigned 17-bit, ``oshift`` in ``[1, 62]`` (output multiplier ``2^OUT_BITS / (u_sat - u_th)``);
``ishift = p - LUT_FRAC >= 1`` (LUT index shift) and ``p`` (the grid); ``lut`` the
:data:`LUT_SIZE` table (unsigned 12-bit, shared by every neuron).
"""

from __future__ import annotations

import numpy as np

from ..lif.spec import OVERFLOW_TEXT, Counters
from ..quant import ACT_SHIFT, clip24, decay, decay_code, round_half_up

__all__ = [
    "STATE", "STATE_BITS", "PARAM_BITS", "FLOAT_PARAMS", "INT_PARAMS", "FEEDBACK", "FILTERS",
    "LUT_FRAC", "LUT_RANGE", "LUT_SIZE", "LUT_BITS", "LUT_ONE", "OUT_BITS", "OUT_MAX", "RATE_BITS",
    "tanh_lut", "lut_error", "lut_tanh", "discretize", "float_step", "quantize_params",
    "init_state", "step", "Counters",
]

#: op name -> state variables (all signed 24-bit).
STATE = {"int_mtc": ("um", "uf", "us", "uus")}
STATE_BITS = {"um": 24, "uf": 24, "us": 24, "uus": 24}
#: parameter -> (bits, signed).
PARAM_BITS = {
    "dm": (12, False), "kf": (17, False), "ks": (17, False), "kus": (17, False),
    "gfn": (24, True), "gsp": (24, True), "gsn": (24, True), "gusp": (24, True),
    "dfn": (24, True), "dsp": (24, True), "dsn": (24, True), "dusp": (24, True),
    "th": (24, True), "bias": (24, True), "oscale": (17, False), "oshift": (6, False), "ishift": (6, False),
}
#: The four conductances: (name, filtered voltage it reads, sign of its contribution to U_m).
FEEDBACK = (("fn", "f", +1), ("sp", "s", -1), ("sn", "s", +1), ("usp", "us", -1))
#: The three filtered voltages.
FILTERS = ("f", "s", "us")
#: Parameters of the discrete float op ``mtc``.
FLOAT_PARAMS = ("a", "g", "b", "kf", "ks", "kus", "gfn", "gsp", "gsn", "gusp", "dfn", "dsp", "dsn", "dusp", "uth", "usat")
#: Per-neuron parameters of ``int_mtc`` (besides ``p`` and the table ``lut``).
INT_PARAMS = tuple(PARAM_BITS)

#: LUT index resolution: one entry per ``2^-LUT_FRAC`` of the tanh argument.
LUT_FRAC = 7
#: The table covers arguments ``[0, LUT_RANGE]`` (odd symmetry gives the negative side; beyond, it saturates).
LUT_RANGE = 4
#: Entries of the table (``LUT_RANGE * 2^LUT_FRAC + 1`` = 513).
LUT_SIZE = LUT_RANGE * 2**LUT_FRAC + 1
#: Table values are ``round(tanh * 2^LUT_BITS)`` (unsigned 12-bit, at most 4093).
LUT_BITS = 12
LUT_ONE = 2**LUT_BITS
#: The graded output is ``out / 2^OUT_BITS`` with ``out`` in ``[0, 2^OUT_BITS]``.
OUT_BITS = 8
OUT_MAX = 2**OUT_BITS
#: Filter rates are codes ``k * 2^RATE_BITS``.
RATE_BITS = 16


def tanh_lut() -> np.ndarray:
    """The tanh table: ``round(2^12 tanh(i / 2^7))`` for ``i = 0 .. 512`` (int64, 513 entries)."""
    i = np.arange(LUT_SIZE, dtype=np.float64)
    return round_half_up(np.tanh(np.ldexp(i, -LUT_FRAC)) * LUT_ONE)


def lut_tanh(y: np.ndarray) -> np.ndarray:
    """``tanh(y)`` as the integer form computes it (float in, float out): nearest table entry
    (round half up), odd symmetry, saturation beyond ``LUT_RANGE``; for error analysis."""
    lut = tanh_lut()
    i = np.floor(np.ldexp(np.asarray(y, dtype=np.float64), LUT_FRAC) + 0.5).astype(np.int64)
    k = np.minimum(np.abs(i), LUT_SIZE - 1)
    return np.sign(i) * lut[k] / LUT_ONE


def lut_error(n: int = 200001, span: float = 8.0) -> float:
    """Largest ``|lut_tanh(y) - tanh(y)|`` over ``n`` points of ``[-span, span]`` (about 0.0039:
    half an index step of ``2^-7`` times the slope 1 at 0, plus the 12-bit value rounding)."""
    y = np.linspace(-span, span, n)
    return float(np.abs(lut_tanh(y) - np.tanh(y)).max())


def discretize(dt, tau_m, r, v_leak, tau_f, tau_s, tau_us, alpha, delta, u_th, u_sat) -> dict[str, np.ndarray]:
    """Forward-Euler parameters of the float op ``mtc`` (see the module docstring).

    Args:
        dt: Time step.
        tau_m, r, v_leak: Membrane time constant, resistance, resting potential.
        tau_f, tau_s, tau_us: Filter time constants (each ``>= dt``).
        alpha: ``{"fn", "sp", "sn", "usp"} ->`` conductance amplitudes (``>= 0``).
        delta: The same keys -> offsets.
        u_th, u_sat: Output threshold and saturation (``u_sat > u_th``).

    Returns:
        ``{name: float64 array}`` for :data:`FLOAT_PARAMS`.

    Raises:
        ValueError: A time constant below ``dt`` (forward Euler would overshoot) or ``u_sat <= u_th``.
    """
    f = lambda v: np.asarray(v, dtype=np.float64)  # noqa: E731
    dt = float(dt)
    out = {}
    for name, tau in (("m", tau_m), ("f", tau_f), ("s", tau_s), ("us", tau_us)):
        tau = f(tau)
        if np.any(~np.isfinite(tau)) or np.any(tau < dt):
            raise ValueError(f"MTC: tau_{name} must be >= dt = {dt:g} (forward Euler); got min {tau.min():g}")
        out["k" + name] = dt / tau
    if np.any(f(u_sat) <= f(u_th)):
        raise ValueError("MTC: u_sat must be > u_th")
    km, R = out.pop("km"), f(r)
    p = {"a": 1.0 - km, "g": km * R, "b": km * f(v_leak), "kf": out["kf"], "ks": out["ks"], "kus": out["kus"]}
    for name, _, sign in FEEDBACK:
        p["g" + name] = sign * km * R * f(alpha[name])
        p["d" + name] = f(delta[name])
    p["uth"], p["usat"] = f(u_th), f(u_sat)
    return p


def float_step(state: dict, x: np.ndarray, p: dict) -> np.ndarray:
    """One step of the float op ``mtc`` (in place on ``state = {"um", "uf", "us", "uus"}``); returns ``s``."""
    src = {"f": state["uf"], "s": state["us"], "us": state["uus"]}
    fb = 0.0
    for name, var, _ in FEEDBACK:
        fb = fb + p["g" + name] * np.tanh(src[var] - p["d" + name])
    um = p["a"] * state["um"] + p["g"] * x + p["b"] + fb
    state["um"] = um
    for var in FILTERS:
        key = "u" + var
        state[key] = state[key] + p["k" + var] * (um - state[key])
    return np.clip((um - p["uth"]) / (p["usat"] - p["uth"]), 0.0, 1.0)


def quantize_params(fp: dict, p: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Integer parameters of ``int_mtc`` from the float ``mtc`` parameters on grid ``2^-p``.

    The input gain ``g`` must already be folded into the weights (``g = 1``). Values beyond
    their bits are clipped; the second return value names each clipped quantity (for the
    compiler's range report).

    Args:
        fp: Float parameters (:data:`FLOAT_PARAMS`, broadcastable to ``p``'s shape).
        p: Membrane grid per neuron (real = int * 2^-p), ``p >= LUT_FRAC + 1``.

    Returns:
        ``(params, clipped)``: ``params`` holds :data:`INT_PARAMS`, ``p`` and ``lut`` (int64).
    """
    p = np.asarray(p, dtype=np.int64)
    shape = p.shape
    full = lambda k: np.broadcast_to(np.asarray(fp[k], dtype=np.float64), shape)  # noqa: E731
    grid = lambda k: round_half_up(np.ldexp(full(k), p))  # noqa: E731
    out: dict[str, np.ndarray] = {"dm": decay_code(full("a"))}
    for var in FILTERS:
        out["k" + var] = np.clip(round_half_up(np.ldexp(full("k" + var), RATE_BITS)), 0, 2**RATE_BITS)
    for name, _, _ in FEEDBACK:
        out["g" + name] = grid("g" + name)
        out["d" + name] = grid("d" + name)
    out["th"] = grid("uth")
    out["bias"] = grid("b")
    span = np.ldexp(full("usat") - full("uth"), p)  # u_sat - u_th in membrane LSBs
    # oscale / 2^oshift = 2^OUT_BITS / span with oscale in (2^15, 2^16] (17-bit unsigned)
    oshift = np.maximum(1, RATE_BITS + np.floor(np.log2(span)).astype(np.int64) - OUT_BITS)
    out["oshift"] = oshift
    out["oscale"] = round_half_up(np.ldexp(np.float64(OUT_MAX) / span, oshift))
    out["ishift"] = p - LUT_FRAC
    clipped = {}
    for k, (bits, signed) in PARAM_BITS.items():
        lo, hi = (-(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
        if k.startswith("k"):
            hi = 2**RATE_BITS
        if np.any(out[k] < lo) or np.any(out[k] > hi):
            clipped[k] = f"[{lo}, {hi}]"
            out[k] = np.clip(out[k], lo, hi)
    out = {k: np.ascontiguousarray(v, dtype=np.int64) for k, v in out.items()}
    out["p"] = p.copy()
    out["lut"] = tanh_lut()
    return out, clipped


def init_state(batch: int, n: int) -> dict:
    """Zero state ``{"um", "uf", "us", "uus"}`` shaped ``(batch, n)`` (int64)."""
    return {k: np.zeros((batch, n), np.int64) for k in STATE["int_mtc"]}


def _lookup(y: np.ndarray, ishift: np.ndarray, lut: np.ndarray) -> np.ndarray:
    i = np.right_shift(y + np.left_shift(np.int64(1), ishift - 1), ishift)
    k = np.minimum(np.abs(i), lut.shape[0] - 1)
    return np.where(i >= 0, lut[k], -lut[k])


def step(state: dict, a: np.ndarray, p: dict, counters: Counters | None = None) -> np.ndarray:
    """Advance one ``int_mtc`` step (in place on ``state``); return the graded output.

    Args:
        state: ``{"um", "uf", "us", "uus"}`` int64 arrays ``(B, N)``.
        a: Synaptic input ``(B, N)`` (integers).
        p: :data:`INT_PARAMS` broadcastable to ``(N,)``, and ``lut`` (the table).
        counters: Receives the membrane saturation count.

    Returns:
        ``out`` in ``[0, 2^OUT_BITS]`` (int64, ``(B, N)``); the real output is ``out / 2^OUT_BITS``.
    """
    c = counters if counters is not None else Counters()
    a = np.asarray(a, dtype=np.int64)
    P = {k: np.asarray(p[k], dtype=np.int64) for k in INT_PARAMS}
    lut = np.asarray(p["lut"], dtype=np.int64)
    src = {"f": state["uf"], "s": state["us"], "us": state["uus"]}
    acc = np.zeros(np.broadcast_shapes(a.shape, state["um"].shape), np.int64)
    for name, var, _ in FEEDBACK:
        acc = acc + P["g" + name] * _lookup(src[var] - P["d" + name], P["ishift"], lut)
    fb = np.right_shift(acc + (1 << (LUT_BITS - 1)), LUT_BITS)
    um, ns = clip24(decay(state["um"], P["dm"]) + np.left_shift(a, ACT_SHIFT) + P["bias"] + fb)
    c.saturate += ns
    state["um"] = um
    half = 1 << (RATE_BITS - 1)
    for var in FILTERS:
        key = "u" + var
        state[key] = state[key] + np.right_shift((um - state[key]) * P["k" + var] + half, RATE_BITS)
    sh = P["oshift"]
    out = np.right_shift((um - P["th"]) * P["oscale"] + np.left_shift(np.int64(1), sh - 1), sh)
    return np.clip(out, 0, OUT_MAX)


# ----------------------------------------------------------------------------- declaration
# The same update as statements (``models/declare.py``), for code-generating backends (Brian2).
# ``tests/models/test_declare.py`` runs them against :func:`step` on random states. The table
# lookup ``lut(k)`` clips its index to the table (``min(|i|, LUT_SIZE - 1)`` of :func:`_lookup`);
# the odd symmetry is ``sign(i) * lut(|i|)`` (``lut[0] = 0``). Largest products: a 24-bit gain
# times a 12-bit entry (four summed, < 2^38), a 25-bit difference times a 17-bit code (< 2^42):
# exact in float64.

from ..declare import IntNeuronDecl  # noqa: E402


DECLARATIONS = (
    IntNeuronDecl(
        op="int_mtc",
        params=PARAM_BITS,
        states=STATE_BITS,
        constants={"omax": lambda attrs: 1 << int(attrs.get("out_bits", OUT_BITS))},
        counters={"n_sat": OVERFLOW_TEXT["saturate"]},
        tables=("lut",),
        update=(
            "half = shl(1, ishift - 1)",
            *(f"k_{name} = shr(u{var} - d{name} + half, ishift)" for name, var, _ in FEEDBACK),
            "acc = " + " + ".join(f"g{name} * sign(k_{name}) * lut(abs(k_{name}))" for name, _, _ in FEEDBACK),
            f"fb = shr(acc + {1 << (LUT_BITS - 1)}, {LUT_BITS})",
            f"um_in = decay(um, dm) + shl(a, {ACT_SHIFT}) + bias + fb",
            "n_sat += sats24(um_in)",
            "um = clip24(um_in)",
            *(f"u{v} = u{v} + shr((um - u{v}) * k{v} + {1 << (RATE_BITS - 1)}, {RATE_BITS})" for v in FILTERS),
            "y = clip(shr((um - th) * oscale + shl(1, oshift - 1), oshift), 0, omax)",
        ),
        emission_max=None,
        doc="MTC multi-timescale conductance neuron (graded output 0 .. 2^out_bits every step)",
    ),
)
