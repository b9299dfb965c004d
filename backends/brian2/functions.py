"""The statement language of ``models/declare.py`` as Brian2 ``Function`` objects.

Each helper has the numpy implementation of :data:`spikeforge.models.declare.FUNCTIONS`
(exact float64 integer arithmetic) and a Cython implementation computing the same values in
C doubles. ``clip``, ``abs``, ``sign`` and ``floor`` are Brian2's own functions. The objects
are module-level singletons so that every network uses the same functions (and Brian2's
Cython cache finds the same code).
"""

from __future__ import annotations

import functools

from spikeforge.models import declare

#: name -> (number of arguments, Cython source defining ``sf_<name>``).
_CYTHON = {
    "decay": (2, """
cdef double sf_decay(double x, double d):
    cdef double m = floor(fabs(x) * (4096.0 - d) / 4096.0)
    if x < 0:
        return -m
    return m
"""),
    "shl": (2, """
from libc.math cimport ldexp
cdef double sf_shl(double x, double k):
    return ldexp(x, <int>k)
"""),
    "shr": (2, """
from libc.math cimport ldexp
cdef double sf_shr(double x, double k):
    return floor(ldexp(x, -<int>k))
"""),
    "wrap24": (1, """
cdef double sf_wrap24(double x):
    if x > 8388608.0:
        return x - 16777216.0
    if x <= -8388608.0:
        return x + 16777216.0
    return x
"""),
    "wraps24": (1, """
cdef double sf_wraps24(double x):
    if x > 8388608.0 or x <= -8388608.0:
        return 1.0
    return 0.0
"""),
    "clip24": (1, """
cdef double sf_clip24(double x):
    if x > 8388607.0:
        return 8388607.0
    if x < -8388607.0:
        return -8388607.0
    return x
"""),
    "sats24": (1, """
cdef double sf_sats24(double x):
    if x > 8388607.0 or x < -8388607.0:
        return 1.0
    return 0.0
"""),
    "gt": (2, """
cdef double sf_gt(double x, double y):
    if x > y:
        return 1.0
    return 0.0
"""),
    "ge": (2, """
cdef double sf_ge(double x, double y):
    if x >= y:
        return 1.0
    return 0.0
"""),
}

#: Names Brian2 already provides (its own implementations are used).
BUILTIN = ("clip", "abs", "sign", "floor")


@functools.lru_cache(maxsize=1)
def functions() -> dict:
    """name -> Brian2 ``Function`` for every helper of the statement language."""
    from brian2 import Function

    out = {}
    for name, (nargs, code) in _CYTHON.items():
        f = Function(declare.FUNCTIONS[name], arg_units=[1] * nargs, return_unit=1, arg_types=["any"] * nargs,
                     return_type="float", stateless=True)
        # the plain numpy function, without Brian2's per-call unit-checking wrapper (it formats
        # the whole result array into an error message on every call)
        f.implementations.add_numpy_implementation(declare.FUNCTIONS[name], discard_units=True)
        f.implementations.add_implementation("cython", code=code, name=f"sf_{name}")
        out[name] = f
    missing = set(declare.FUNCTIONS) - set(out) - set(BUILTIN)
    assert not missing, f"statement-language functions without a Brian2 implementation: {missing}"
    return out


__all__ = ["BUILTIN", "functions"]
