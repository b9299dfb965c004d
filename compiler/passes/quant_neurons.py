"""Integer forms of the neuron nodes (``docs/integer.md``, "Neurons"), registered by float op.

Given the membrane grid ``p`` of each neuron (real value = integer * 2^-p):

* ``lif``/``cuba_lif`` -> ``int_lif``, ``li``/``cuba_li`` -> ``int_li``: ``dv = decay_code(a)``;
  ``du = 4095`` (plain: ``u = a << 6``) or ``decay_code(a_syn) - 1`` (CUBA: Lava decays the
  current by ``du + 1``); ``vth = round(theta * 2^(p-6))``; ``bias = round(b * 2^p)`` split into
  ``bias_mant << bias_exp`` after the ASN window shifts are added (:func:`finish_bias`).
* ``asn`` -> ``int_asn``: ``dv = decay_code(a)``, 24-bit ``bias = round(b * 2^p)``, ``p``.

Every range goes through :class:`~.issues.Issues`: a value beyond its bits is an error unless
``allow_saturation``; values off the grid of a quantization-aware node give a warning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ...models.quant import DECAY_UNITY, bias_split, decay_code, round_half_up
from ..ir import Node
from ..targets import Target
from .issues import Issues


@dataclass(frozen=True)
class Ctx:
    """What a neuron converter needs besides the node.

    Attributes:
        target: The target.
        issues: Range reporting.
        qat: The node's inputs were exported by quantization-aware training (off-grid values
            are reported); otherwise values are rounded silently (post-training quantization).
    """

    target: Target
    issues: Issues
    qat: bool


def on_grid(x: np.ndarray, p: np.ndarray) -> np.ndarray:
    """``x * 2^p`` (exact in float64)."""
    return np.ldexp(np.asarray(x, dtype=np.float64), np.asarray(p, dtype=np.int64))


def _rounded(name: str, what: str, x: np.ndarray, ctx: Ctx) -> np.ndarray:
    q = round_half_up(x)
    if ctx.qat and np.any(q != x):
        ctx.issues.warn(f"{ctx.issues.where}: node '{name}': {what} is not on the neuron's integer grid (quantization-aware export expected it to be); rounded")
    return q


def _full(n: Node, k: str) -> np.ndarray:
    return np.broadcast_to(np.asarray(n.params[k], dtype=np.float64), tuple(n.out_shape)).copy()


def _decays(n: Node, ctx: Ctx) -> dict[str, np.ndarray]:
    dv = decay_code(_full(n, "a"))
    if "a_syn" in n.params:
        du = np.clip(decay_code(_full(n, "a_syn")) - 1, 0, DECAY_UNITY - 1)
    else:
        du = np.full(dv.shape, DECAY_UNITY - 1, np.int64)
    return {"du": du, "dv": dv}


def _reset(n: Node, ctx: Ctx) -> str:
    reset = str(n.attrs.get("reset", "zero"))
    if reset == "zero":
        vr = _full(n, "v_reset")
        if np.any(vr != 0):
            ctx.issues.exceed(n.name, "reset value v_reset", f"{vr[vr != 0].ravel()[0]:g}", 0, "reset to 0 (Loihi's reset)")
    return reset


def _vth(n: Node, p: np.ndarray, ctx: Ctx) -> np.ndarray:
    th = _full(n, "v_threshold")
    vth = _rounded(n.name, "threshold", on_grid(th, p - ctx.target.act_shift), ctx)
    if np.any(vth < 0):
        ctx.issues.exceed(n.name, "threshold vth", int(vth.min()), f"[0, {ctx.target.vth_max}] (unsigned)", "clip it to 0")
    if np.any(vth > ctx.target.vth_max):
        ctx.issues.exceed(n.name, "threshold vth", int(vth.max()), f"{ctx.target.vth_max} ({ctx.target.vth_bits} bits)", "clip it to the limit")
    return np.clip(vth, 0, ctx.target.vth_max)


def _int_lif(n: Node, p: np.ndarray, ctx: Ctx) -> tuple[str, dict, dict]:
    params = {**_decays(n, ctx), "vth": _vth(n, p, ctx), "p": p}
    return "int_lif", params, {"reset": _reset(n, ctx)}


def _int_li(n: Node, p: np.ndarray, ctx: Ctx) -> tuple[str, dict, dict]:
    return "int_li", {**_decays(n, ctx), "vth": np.zeros(p.shape, np.int64), "p": p}, {}


def _int_asn(n: Node, p: np.ndarray, ctx: Ctx) -> tuple[str, dict, dict]:
    attrs = {k: int(n.attrs[k]) for k in ("alpha", "D", "N")}
    if "model" in n.attrs:
        attrs["model"] = str(n.attrs["model"])
    return "int_asn", {"dv": decay_code(_full(n, "a")), "p": p}, attrs


def _int_mtc(n: Node, p: np.ndarray, ctx: Ctx) -> tuple[str, dict, dict]:
    """``mtc`` -> ``int_mtc`` (``models/mtc/spec.py``, ``quantize_params``); the bias is set later."""
    from ...models.mtc.spec import LUT_FRAC, OUT_BITS, quantize_params

    params, clipped = quantize_params({k: _full(n, k) for k in n.params}, p)
    for k, lim in clipped.items():
        ctx.issues.exceed(n.name, f"MTC parameter {k}", "out of range", lim, "clip it to the limit")
    del params["bias"]
    return "int_mtc", params, {"out_bits": OUT_BITS, "lut_frac": LUT_FRAC}


def _int_spe(n: Node, p: np.ndarray, ctx: Ctx) -> tuple[str, dict, dict]:
    """``spe_lif``/``spe_asn`` -> ``int_spe_lif``/``int_spe_asn`` (``models/spe/spec.py``): the
    base's integer form plus ``kc = kappa_code(kappa)`` (12-bit, the decays' rounding rule)."""
    from ...models.spe.spec import BASE_OF, INT_OPS, kappa_code

    _, params, attrs = NEURON_FORMS[BASE_OF[n.op]](n, p, ctx)
    return INT_OPS[n.op], {**params, "kc": kappa_code(_full(n, "kappa"))}, attrs


Converter = Callable[[Node, np.ndarray, Ctx], tuple[str, dict, dict]]
#: float neuron op -> converter(node, p, ctx) -> (int op, params without the bias, attrs).
NEURON_FORMS: dict[str, Converter] = {
    "lif": _int_lif,
    "cuba_lif": _int_lif,
    "li": _int_li,
    "cuba_li": _int_li,
    "asn": _int_asn,
    "mtc": _int_mtc,
    "spe_lif": _int_spe,
    "spe_asn": _int_spe,
}


def bias_int(n: Node, p: np.ndarray, ctx: Ctx) -> np.ndarray:
    """The leak drive ``b`` on the membrane grid, ``round(b * 2^p)`` (int64)."""
    return _rounded(n.name, "bias", on_grid(_full(n, "b"), p), ctx)


def _nearest_split(b: np.ndarray, t: Target) -> tuple[np.ndarray, np.ndarray]:
    """The representable ``mant << exp`` nearest to ``b`` (clipped at the largest)."""
    exp = np.zeros(b.shape, np.int64)
    for _ in range(t.bias_exp_max):
        big = np.abs(round_half_up(np.ldexp(b.astype(np.float64), -exp))) > t.bias_mant_max
        if not big.any():
            break
        exp = np.where(big, exp + 1, exp)
    mant = np.clip(round_half_up(np.ldexp(b.astype(np.float64), -exp)), -t.bias_mant_max, t.bias_mant_max)
    return mant, exp


def finish_bias(name: str, op: str, b: np.ndarray, ctx: Ctx) -> dict[str, np.ndarray]:
    """The bias parameters of an integer neuron from its integer bias ``b``.

    ``int_lif``/``int_li``: Lava's ``bias_mant << bias_exp`` (13-bit mantissa, 3-bit exponent),
    exact, or the nearest representable value: silently for post-training nodes whose bias only
    loses low bits, with an issue when it is out of range or the node is quantization-aware;
    ``int_asn``: ``bias`` within 24 bits.
    """
    t = ctx.target
    if op in ("int_asn", "int_mtc", "int_spe_asn"):
        if np.any(np.abs(b) > t.asn_bias_max):
            ctx.issues.exceed(name, "bias", int(b[np.argmax(np.abs(b))]), f"±{t.asn_bias_max} ({t.asn_bias_bits} bits)", "clip it to the limit")
        return {"bias": np.clip(b, -t.asn_bias_max, t.asn_bias_max)}
    mant, exp, ok = bias_split(b)
    if ok.all():
        return {"bias_mant": mant, "bias_exp": exp}
    limit = t.bias_mant_max << t.bias_exp_max
    big = np.abs(b) > limit
    if big.any():
        ctx.issues.exceed(name, "bias", int(b[big].ravel()[0]), f"±{limit} ({t.bias_mant_bits}-bit mantissa << {t.bias_exp_bits}-bit exponent)", "clip it to the limit")
    elif ctx.qat:
        ctx.issues.exceed(
            name, "bias", int(b[~ok].ravel()[0]), f"{t.bias_mant_bits}-bit mantissa << {t.bias_exp_bits}-bit exponent (its low bits must be 0)",
            "round it to the nearest representable value",
        )
    mant2, exp2 = _nearest_split(b, t)
    return {"bias_mant": np.where(ok, mant, mant2), "bias_exp": np.where(ok, exp, exp2)}

__all__ = ["Ctx", "NEURON_FORMS", "bias_int", "finish_bias", "on_grid"]
