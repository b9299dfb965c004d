"""``verify_integer``: an integer Program holds integer ops with integer parameters in range.

The last pass of every integer pipeline (and usable on a loaded Program). It rejects any
op outside the integer node format of ``docs/integer.md``, any parameter that is not an
integer array (a float left behind), a missing parameter, and any value beyond the target's
bit widths. Each failure is one :class:`~spikeforge.compiler.errors.QuantizationError` line
naming the node and the parameter.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import QuantizationError
from ..ir import Graph
from ..targets import LOIHI2, Target
from .issues import where

#: Every op of an integer program.
INT_PROGRAM_OPS = frozenset({"input", "output", "flatten", "sumpool2d", "delay", "int_dense", "int_conv1d", "int_conv2d", "int_lif", "int_li", "int_asn", "int_mtc", "int_spe_lif", "int_spe_asn"})


def _mtc_ranges(t: Target) -> dict[str, tuple[int, int]]:
    """``int_mtc`` parameter ranges (``models/mtc/spec.py``, ``PARAM_BITS``)."""
    from ...models.mtc.spec import LUT_ONE, PARAM_BITS, RATE_BITS

    r = {}
    for k, (bits, signed) in PARAM_BITS.items():
        r[k] = (-(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    for k in ("kf", "ks", "kus"):
        r[k] = (0, 2**RATE_BITS)
    r["dm"] = (0, t.decay_max)
    r["oshift"] = (1, 62)
    r["ishift"] = (1, t.state_bits - 1)
    r["p"] = (1, t.state_bits - 1 + 8)
    r["lut"] = (0, LUT_ONE)
    return r


def param_ranges(t: Target) -> dict[str, dict[str, tuple[int, int]]]:
    """op -> parameter -> inclusive ``(lo, hi)`` for target ``t``."""
    lif = {
        "du": (0, t.decay_max),
        "dv": (0, t.decay_max),
        "bias_mant": (-t.bias_mant_max, t.bias_mant_max),
        "bias_exp": (0, t.bias_exp_max),
        "vth": (0, t.vth_max),
        "p": (-(2**20), 2**20),
    }
    syn = {"weight": (-t.weight_max, t.weight_max), "wexp": (0, t.weight_exp_range[1])}
    asn = {"dv": (0, t.decay_max), "bias": (-t.asn_bias_max, t.asn_bias_max), "p": (1, t.state_bits - 1)}
    kc = {"kc": (0, t.decay_max)}  # SPE's kappa code: 12 bits like the decays (models/spe/spec.py)
    return {
        "int_dense": syn,
        "int_conv1d": syn,
        "int_conv2d": syn,
        "int_lif": lif,
        "int_li": lif,
        "int_asn": asn,
        "int_spe_lif": {**lif, **kc},
        "int_spe_asn": {**asn, **kc},
        "int_mtc": _mtc_ranges(t),
        "delay": {"steps": (0, 2**31)},
    }


def make_verify_integer(target: Target = LOIHI2) -> Callable[[Graph], Graph]:
    """Build the verifier for a target's bit widths."""
    ranges = param_ranges(target)

    def verify_integer(g: Graph) -> Graph:
        """Check the integer node format (returns ``g`` unchanged).

        Raises:
            QuantizationError: Names the node, the parameter and what is wrong.
        """
        w_ = where(g)
        for n in g.nodes.values():
            if n.op not in INT_PROGRAM_OPS:
                raise QuantizationError(f"{w_}: node '{n.name}' has op '{n.op}', which is not part of the integer program format; allowed: {', '.join(sorted(INT_PROGRAM_OPS))}")
            for k, v in n.params.items():
                a = np.asarray(v)
                if a.dtype.kind not in "iu":
                    raise QuantizationError(f"{w_}: node '{n.name}' ({n.op}) parameter '{k}' has dtype {a.dtype}: a non-integer value is left in an integer program")
            for k, (lo, hi) in ranges.get(n.op, {}).items():
                if k not in n.params:
                    raise QuantizationError(f"{w_}: node '{n.name}' ({n.op}) lacks the integer parameter '{k}'")
                a = np.asarray(n.params[k])
                if a.size and (a.min() < lo or a.max() > hi):
                    bad = a.min() if a.min() < lo else a.max()
                    raise QuantizationError(f"{w_}: node '{n.name}' ({n.op}) parameter '{k}' = {int(bad)} is beyond the limit [{lo}, {hi}]")
            if not target.per_neuron_threshold and "vth" in n.params and np.unique(np.asarray(n.params["vth"])).size > 1:
                raise QuantizationError(
                    f"{w_}: node '{n.name}' ({n.op}) has {np.unique(np.asarray(n.params['vth'])).size} different thresholds 'vth', "
                    f"but target '{target.name}' allows one per layer (fold_thresholds supports: lif, cuba_lif, spe_lif)"
                )
            if n.op == "input":
                missing = [k for k in ("exp", "bits", "signed") if k not in n.attrs]
                if missing:
                    raise QuantizationError(f"{w_}: input node '{n.name}' lacks the attrs {', '.join(missing)} of its integer grid")
        return g

    return verify_integer


#: The verifier for Loihi 2's widths.
verify_integer = make_verify_integer(LOIHI2)

__all__ = ["INT_PROGRAM_OPS", "make_verify_integer", "param_ranges", "verify_integer"]
