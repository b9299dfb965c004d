"""Declarations of integer neurons: parameters, states and the update as statements (numpy only).

Each integer neuron keeps ONE normative ``step`` (numpy) in its ``spec.py``. Backends that
generate code (the Brian2 digital backend) need the same update as *statements* instead of a
Python function; a :class:`IntNeuronDecl` next to the normative step gives them, and a test
runs the statements with :func:`evaluate` against the step on random states, so the two can
never drift apart.

A spec module declares its neurons by a module-level ``DECLARATIONS`` tuple; :func:`find`
discovers them by scanning ``spikeforge.models.<package>.spec`` (numpy-only modules, see
``/work/shared/ARCHITECTURE.md``). A new neuron is one declaration: no backend changes.

The statement language (one statement per string, executed in order, per neuron):

* ``name = expr`` or ``name += expr``. Names: the declared per-neuron ``params`` (read only),
  ``constants`` (scalars computed from the node's attrs), ``states`` (start at 0, kept),
  ``counters`` (start at 0, accumulate overflow events), the synaptic input ``a`` (integer,
  read only), the output ``y`` (what the neuron emits this step) and temporaries (any other
  name assigned before use; no leading underscore, not one of :data:`RESERVED`).
* Arithmetic ``+ - *``, comparisons only inside :func:`gt`/:func:`ge`; every value is an
  integer held exactly in float64 (keep products below ``2^53``).
* Functions (:data:`FUNCTIONS`): ``decay(x, d)`` (Loihi 12-bit sign-magnitude decay),
  ``shl(x, k)`` / ``shr(x, k)`` (``x << k`` and the arithmetic, flooring ``x >> k``),
  ``wrap24(x)`` / ``clip24(x)`` (24-bit wrap and saturation of ``models/quant.py``),
  ``wraps24(x)`` / ``sats24(x)`` (1 where those would change ``x``, for the counters),
  ``gt(x, y)`` / ``ge(x, y)`` (1 or 0), ``clip(x, lo, hi)``, ``abs``, ``sign``, ``floor``.
* Tables: a name listed in ``tables`` is a 1-D integer param shared by all neurons, called as
  ``name(index)`` (the index is clipped to the table).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from .quant import DECAY_BITS, DECAY_UNITY, STATE_BITS, STATE_MAX

_M = float(2 ** (STATE_BITS - 1))


def decay(x, d):
    """``sign(x) * ((|x| * (4096 - d)) >> 12)`` on exact float64 integers."""
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.floor(np.abs(x) * (DECAY_UNITY - np.asarray(d, dtype=np.float64)) / DECAY_UNITY)


def shl(x, k):
    """``x << k`` (``k >= 0``): ``x * 2^k`` (``exp2`` of an integer is an exact power of two)."""
    return np.asarray(x, dtype=np.float64) * np.exp2(k)


def shr(x, k):
    """Arithmetic ``x >> k`` (floor; ``k >= 0``)."""
    return np.floor(np.asarray(x, dtype=np.float64) * np.exp2(np.negative(k)))


def wrap24(x):
    """Lava's 24-bit wrap of the current (``x > 2^23 -> x - 2^24``, ``x <= -2^23 -> x + 2^24``)."""
    x = np.asarray(x, dtype=np.float64)
    return x - 2 * _M * (x > _M) + 2 * _M * (x <= -_M)


def wraps24(x):
    """1 where :func:`wrap24` changes ``x``, else 0."""
    x = np.asarray(x, dtype=np.float64)
    return ((x > _M) | (x <= -_M)).astype(np.float64)


def clip24(x):
    """Saturate to ``[-(2^23 - 1), 2^23 - 1]``."""
    return np.clip(np.asarray(x, dtype=np.float64), -STATE_MAX, STATE_MAX)


def sats24(x):
    """1 where :func:`clip24` changes ``x``, else 0."""
    return (np.abs(np.asarray(x, dtype=np.float64)) > STATE_MAX).astype(np.float64)


def gt(x, y):
    """1 where ``x > y``, else 0."""
    return (np.asarray(x) > np.asarray(y)).astype(np.float64)


def ge(x, y):
    """1 where ``x >= y``, else 0."""
    return (np.asarray(x) >= np.asarray(y)).astype(np.float64)


#: The statement language's functions (numpy implementations on exact float64 integers).
FUNCTIONS: dict[str, Callable] = {
    "decay": decay, "shl": shl, "shr": shr, "wrap24": wrap24, "wraps24": wraps24, "clip24": clip24,
    "sats24": sats24, "gt": gt, "ge": ge, "clip": np.clip, "abs": np.abs, "sign": np.sign, "floor": np.floor,
}
#: Names a declaration may not use for its own variables (Brian2's and the language's).
RESERVED = frozenset({"i", "j", "t", "dt", "N", "e", "pi", "inf", "xi", "lastspike", "not_refractory", "t_in_timesteps",
                      "a", "y", "True", "False"}) | frozenset(FUNCTIONS)

_ASSIGN = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_]*)\s*(\+?=)\s*(.+?)\s*$")


@dataclass(frozen=True)
class IntNeuronDecl:
    """One integer neuron op: what a code-generating backend needs to run it.

    Attributes:
        op: The Program op (``int_lif``, ``int_asn``, ...).
        params: Per-neuron integer params read from ``node.params``: name -> (bits, signed).
        states: State variables -> bits (signed, zero at the start).
        update: The per-step statements (see the module docstring); they set ``y``.
        constants: Scalars from the node's attrs: name -> ``f(attrs)`` (may raise ValueError).
        counters: Overflow counters (incremented in ``update``) -> warning text; backends report
            ``"<node>: <text>"`` with the summed count, as the reference does.
        emission_max: For emitting neurons, ``f(attrs)`` -> the largest ``y`` (1 for binary
            spikes, ``D`` for graded ones: the binary realization sends that many binary
            events); ``None`` when ``y`` is a value sent every step (``int_li``'s voltage).
        tables: Names of 1-D integer params shared by all neurons, read as ``name(index)``.
        doc: One line for error messages and listings.
    """

    op: str
    params: Mapping[str, tuple[int, bool]]
    states: Mapping[str, int]
    update: tuple[str, ...]
    constants: Mapping[str, Callable[[Mapping], int]] = field(default_factory=dict)
    counters: Mapping[str, str] = field(default_factory=dict)
    emission_max: Callable[[Mapping], int] | None = None
    tables: tuple[str, ...] = ()
    doc: str = ""

    def __post_init__(self) -> None:
        names = [*self.params, *self.states, *self.constants, *self.counters, *self.tables]
        bad = sorted(set(names) & RESERVED) + sorted(n for n in names if n.startswith("_"))
        if bad or len(set(names)) != len(names):
            raise ValueError(f"declaration of {self.op}: reserved, private or duplicate names {bad or names}")
        for s in self.update:
            m = _ASSIGN.match(s)
            if not m:
                raise ValueError(f"declaration of {self.op}: not a statement: {s!r}")
            if m.group(1) in self.params or m.group(1) in self.constants or m.group(1) in self.tables or m.group(1) == "a":
                raise ValueError(f"declaration of {self.op}: assigns to read-only {m.group(1)!r}: {s!r}")

    @property
    def spiking(self) -> bool:
        """Whether ``y`` is an emission (spike or graded spike) rather than a value every step."""
        return self.emission_max is not None

    def statements(self) -> list[tuple[str, str, str]]:
        """The update as ``(target, op, expr)`` triples (``op`` is ``"="`` or ``"+="``)."""
        out = []
        for s in self.update:
            m = _ASSIGN.match(s)
            out.append((m.group(1), m.group(2), m.group(3)))
        return out

    def temporaries(self) -> list[str]:
        """Names assigned in ``update`` that are neither states, counters nor ``y``."""
        known = set(self.states) | set(self.counters) | {"y"}
        seen: list[str] = []
        for target, _, _ in self.statements():
            if target not in known and target not in seen:
                seen.append(target)
        return seen

    def constant_values(self, attrs: Mapping) -> dict[str, int]:
        """The constants for a node's attrs."""
        return {k: f(attrs) for k, f in self.constants.items()}


def hoist(decl: IntNeuronDecl, prefix: str = "inv") -> tuple[list[tuple[str, str, str]], dict[str, str]]:
    """Loop-invariant code motion: the update with every parameter-only subexpression moved out.

    A maximal subexpression whose names are all params and constants (``shl(bias_mant,
    bias_exp)``, ``du + 1``, ``shl(vth, 6)``) is the same at every step; a code-generating
    backend computes it once per neuron (with :data:`FUNCTIONS`, the same exact values) and
    reads it as one more per-neuron constant. Equal subexpressions share one name.

    Args:
        decl: The declaration.
        prefix: Names of the invariants are ``<prefix>0``, ``<prefix>1``, ... (must not clash).

    Returns:
        ``(statements, invariants)``: the ``(target, op, expr)`` triples with the invariants
        replaced by their names, and ``name -> expr`` of the invariants (in order).
    """
    fixed = set(decl.params) | set(decl.constants) | set(decl.tables)
    known = fixed | set(decl.states) | set(decl.counters) | set(decl.temporaries()) | {"a", "y"}
    inv: dict[str, str] = {}
    by_expr: dict[str, str] = {}

    def names(node) -> set[str]:
        return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} - set(FUNCTIONS)

    class _Hoist(ast.NodeTransformer):
        def generic_visit(self, node):
            if isinstance(node, (ast.Call, ast.BinOp, ast.UnaryOp)):
                used = names(node)
                if used and used <= fixed:
                    src = ast.unparse(node)
                    if src not in by_expr:
                        by_expr[src] = f"{prefix}{len(inv)}"
                        if by_expr[src] in known:
                            raise ValueError(f"declaration of {decl.op}: invariant name {by_expr[src]!r} clashes")
                        inv[by_expr[src]] = src
                    return ast.Name(id=by_expr[src], ctx=ast.Load())
            return super().generic_visit(node)

    out = []
    for target, op, expr in decl.statements():
        tree = _Hoist().visit(ast.parse(expr, mode="eval"))
        out.append((target, op, ast.unparse(tree)))
    return out, inv


def namespace(decl: IntNeuronDecl, params: Mapping, attrs: Mapping) -> dict:
    """The functions, params (float64), tables (callables) and constants of a declaration, for ``eval``."""
    ns: dict = dict(FUNCTIONS)
    for k in decl.params:
        ns[k] = np.asarray(params[k], dtype=np.float64)
    for k in decl.tables:
        tab = np.asarray(params[k], dtype=np.float64).reshape(-1)
        ns[k] = lambda idx, tab=tab: tab[np.clip(np.asarray(idx, dtype=np.int64), 0, tab.size - 1)]
    ns.update({k: float(v) for k, v in decl.constant_values(attrs).items()})
    return ns


def evaluate(decl: IntNeuronDecl, state: dict, a, params: Mapping, attrs: Mapping, counters: dict | None = None,
             hoisted: bool = False) -> np.ndarray:
    """Run one step of a declaration with numpy (in place on ``state``); return ``y``.

    Args:
        decl: The declaration.
        state: State name -> array (float64 or int64; updated in place as float64 values).
        a: Synaptic input (integers).
        params: Param name -> per-neuron arrays (and tables).
        attrs: The node's attrs (for the constants).
        counters: Counter name -> running count (incremented by the summed events).
        hoisted: Run the update of :func:`hoist` (invariants computed first), as the code
            generators do; the values are the same.

    Returns:
        ``y`` as int64.
    """
    a = np.asarray(a, dtype=np.float64)
    ns = namespace(decl, params, attrs)
    stmts = decl.statements()
    if hoisted:
        stmts, inv = hoist(decl)
        for k, expr in inv.items():
            ns[k] = eval(expr, {"__builtins__": {}}, ns)  # noqa: S307 - declarations are code of this package
    ns.update({k: np.asarray(state[k], dtype=np.float64) for k in decl.states})
    ns.update({k: np.zeros_like(a) for k in decl.counters})
    ns["a"], ns["y"] = a, np.zeros_like(a)
    for target, op, expr in stmts:
        val = eval(expr, {"__builtins__": {}}, ns)  # noqa: S307 - declarations are code of this package
        ns[target] = ns[target] + val if op == "+=" else val + np.zeros_like(a)
    for k in decl.states:
        state[k] = ns[k]
    if counters is not None:
        for k in decl.counters:
            counters[k] = counters.get(k, 0) + int(np.sum(ns[k]))
    y = ns["y"]
    if np.any(y != np.floor(y)):
        raise ValueError(f"declaration of {decl.op}: non-integer output")
    return y.astype(np.int64)


# ----------------------------------------------------------------------------- discovery

_REGISTRY: dict[str, IntNeuronDecl] = {}
_ERRORS: dict[str, str] = {}
_SCANNED = False


def _scan() -> None:
    global _SCANNED
    import spikeforge.models as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.ispkg:
            continue
        name = f"{pkg.__name__}.{info.name}.spec"
        # look for the file, not importlib.util.find_spec: that imports the package's __init__,
        # which may load torch (training recipes); only packages with a spec.py are imported
        if not any((Path(d) / info.name / "spec.py").is_file() for d in pkg.__path__):
            continue
        try:
            mod = importlib.import_module(name)
        except Exception as e:  # a neuron package under construction must not break the others
            _ERRORS[name] = f"{type(e).__name__}: {e}"
            continue
        for d in getattr(mod, "DECLARATIONS", ()):
            _REGISTRY.setdefault(d.op, d)
    _SCANNED = True


def find(op: str) -> IntNeuronDecl | None:
    """The declaration of an integer neuron op, or ``None`` (spec modules scanned once)."""
    if op not in _REGISTRY and not _SCANNED:
        _scan()
    return _REGISTRY.get(op)


def declared_ops() -> list[str]:
    """Every declared op (after a scan)."""
    if not _SCANNED:
        _scan()
    return sorted(_REGISTRY)


def scan_errors() -> dict[str, str]:
    """Spec modules that failed to import during the scan, with the error."""
    return dict(_ERRORS)


__all__ = ["FUNCTIONS", "RESERVED", "IntNeuronDecl", "declared_ops", "evaluate", "find", "hoist", "namespace", "scan_errors"]
