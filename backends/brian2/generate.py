"""Brian2 objects generated from neuron declarations (``models/declare.py``).

Nothing here knows a particular neuron: a declaration's params, states, counters and
constants become the variables of one ``NeuronGroup`` (float64, every value an exact
integer); its update statements become the group's ``run_regularly`` code (one step per
hardware step, scheduled in Brian2's ``groups`` slot), followed by ``a = 0`` to consume the
synaptic input. The emission ``y`` triggers the synapses: through the threshold ``y != 0``
(one graded event, payload ``y``), or, in the binary realization of graded spikes, through the
custom events ``b<k>: y > k`` for ``k < emission_max`` (``y`` binary events per step).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from spikeforge.compiler.errors import SpikeforgeError
from spikeforge.models import declare

from .functions import functions

#: Per-step schedule slot of the neuron updates (before thresholds and synaptic propagation).
UPDATE_WHEN = "groups"


def binary_events(decl: declare.IntNeuronDecl, attrs, realization: str) -> int:
    """Number of binary events per step the group sends (0: one graded event ``y != 0``)."""
    if realization != "binary" or not decl.spiking:
        return 0
    k = int(decl.emission_max(attrs))
    return k if k > 1 else 0


def brian_name(name: str) -> str:
    """The Brian2 variable of a declaration name: the name itself, or ``sf_<name>`` where Brian2
    reserves it (a unit such as ``us`` or ``um``, a function, a constant: ``Equations`` refuses those)."""
    from brian2 import Equations

    try:
        Equations.check_identifier(name)
    except (SyntaxError, ValueError):
        return f"sf_{name}"
    return name


def _rename(code: str, names) -> str:
    """Rewrite the declaration names of ``code`` (whole identifiers) to their Brian2 variables."""
    mapping = {n: brian_name(n) for n in names}
    mapping = {k: v for k, v in mapping.items() if k != v}
    if not mapping:
        return code
    return re.sub(r"\b[A-Za-z_][A-Za-z0-9_]*\b", lambda m: mapping.get(m.group(0), m.group(0)), code)


def fold_shifts(expr: str) -> str:
    """``shl(x, k)`` -> ``x * 2^k`` and ``shr(x, k)`` -> ``floor(x * 2^-k)`` for literal ``k``:
    the same exact values (a power-of-two scaling of an integer below ``2^53``), a multiply
    instead of a call to ``ldexp`` / ``exp2`` per neuron and step."""
    import ast

    class _Fold(ast.NodeTransformer):
        def visit_Call(self, node):
            self.generic_visit(node)
            if (isinstance(node.func, ast.Name) and node.func.id in ("shl", "shr") and len(node.args) == 2
                    and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, int)
                    and 0 <= node.args[1].value <= 62):
                k = node.args[1].value
                scale = ast.Constant(float(2.0**k if node.func.id == "shl" else 2.0**-k))
                prod = ast.BinOp(node.args[0], ast.Mult(), scale)
                return prod if node.func.id == "shl" else ast.Call(ast.Name("floor", ast.Load()), [prod], [])
            return node

    return ast.unparse(_Fold().visit(ast.parse(expr, mode="eval")))


def _rewrite_tables(code: str, tables) -> str:
    """``name(expr)`` -> ``name((expr) * second)``: a table is a 1-D TimedArray of dt 1 s."""
    for name in tables:
        out, pos = [], 0
        for m in re.finditer(rf"\b{re.escape(name)}\s*\(", code):
            if m.start() < pos:
                continue
            depth, k = 1, m.end()
            while depth and k < len(code):
                depth += {"(": 1, ")": -1}.get(code[k], 0)
                k += 1
            out.append(code[pos : m.end()] + "(" + _rewrite_tables(code[m.end() : k - 1], tables) + ") * second)")
            pos = k
        code = "".join(out) + code[pos:]
    return code


def param_values(node, key: str, bits_signed, shape) -> np.ndarray:
    """A per-neuron integer param (int64, flat), range-checked against its declared bits."""
    from spikeforge.backends.reference.neurons import int_param

    v = np.asarray(int_param(node, key, shape)).reshape(-1)
    bits, signed = bits_signed
    lo, hi = (-(2 ** (bits - 1) - 1), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    if v.size and (v.min() < lo or v.max() > hi):
        raise SpikeforgeError(f"node '{node.name}' ({node.op}): parameter '{key}' must lie in [{lo}, {hi}] ({bits}-bit "
                              f"{'signed' if signed else 'unsigned'}), got [{v.min()}, {v.max()}]")
    return v


def param_array(node, key: str, bits_signed, shape, batch: int) -> np.ndarray:
    """A per-neuron integer param, range-checked against its declared bits, tiled over the batch."""
    return np.tile(param_values(node, key, bits_signed, shape).astype(np.float64), batch)


@dataclass
class Layout:
    """What :func:`neuron_group` generated for one node (for readers and tests).

    Attributes:
        code: The ``run_regularly`` code (Brian2 names, invariants hoisted).
        shared: Per-neuron values that are uniform over the node, held as one shared scalar.
        invariants: Hoisted parameter-only subexpressions (``declare.hoist``): name -> expr.
        quiet: Whether zero state and zero input stay zero with no emission and no counted
            overflow (checked on the node's own params): the group may then run before its
            first model step without changing anything.
    """

    code: str
    shared: tuple[str, ...]
    invariants: dict
    quiet: bool


def _is_quiet(decl: declare.IntNeuronDecl, node, params: dict) -> bool:
    n = next(iter(params.values())).size if params else 1
    state = {k: np.zeros(n) for k in decl.states}
    counts: dict = {}
    try:
        y = declare.evaluate(decl, state, np.zeros(n), {**params, **{t: node.params[t] for t in decl.tables}}, node.attrs, counts)
    except Exception:  # noqa: BLE001 - not provably quiet: keep the exact windows
        return False
    return not y.any() and not any(v.any() for v in state.values()) and not any(counts.values())


def neuron_group(decl: declare.IntNeuronDecl, node, batch: int, realization: str, clock, name: str, value_events: bool = False):
    """The ``NeuronGroup`` of one integer neuron node (``batch`` copies, batch-major).

    The update is the declaration's with its parameter-only subexpressions hoisted
    (:func:`spikeforge.models.declare.hoist`, computed once here with the numpy functions), and
    every per-neuron value that is the same for all neurons of the node held as a shared
    scalar (numpy code then does scalar instead of array arithmetic). Params no statement
    reads any more are range-checked but not stored.

    With ``value_events`` (a graded source with delayed projections) the group also has the
    events ``v<k>: y == k`` for ``k = 1 .. emission_max``: Brian2 runs delayed ``on_pre`` code at
    delivery, when ``y_pre`` has moved on, so a delayed graded spike travels as the event of
    its value.

    Returns:
        ``(group, events, layout)``: the group, its number of binary events per step and the
        :class:`Layout`.

    Raises:
        SpikeforgeError: Bad constants (attrs) or params out of their declared ranges.
    """
    from brian2 import NeuronGroup, TimedArray, second

    shape = tuple(node.out_shape or ())
    n = int(np.prod(shape)) if shape else 1
    try:
        consts = decl.constant_values(node.attrs)
    except (KeyError, TypeError, ValueError) as e:
        raise SpikeforgeError(f"node '{node.name}' ({node.op}): bad attrs for {decl.doc or decl.op}: {e}") from None
    params = {p: param_values(node, p, bs, shape) for p, bs in decl.params.items()}
    stmts, inv = declare.hoist(decl, prefix="sfinv")
    ns_np = declare.namespace(decl, {**params, **{t: node.params[t] for t in decl.tables}}, node.attrs)
    values = {p: v.astype(np.float64) for p, v in params.items()}
    for k, expr in inv.items():
        values[k] = np.broadcast_to(np.asarray(eval(expr, {"__builtins__": {}}, ns_np), dtype=np.float64), (n,))  # noqa: S307
    used = {m.group(0) for _, _, e in stmts for m in re.finditer(r"[A-Za-z_][A-Za-z0-9_]*", e)}
    values = {k: v for k, v in values.items() if k in used}
    shared = tuple(k for k, v in values.items() if v.size and (v == v[0]).all())
    bn = brian_name
    lines = ["y : 1", "a : 1"]
    lines += [f"{bn(s)} : 1" for s in decl.states]
    lines += [f"{bn(c)} : 1" for c in decl.counters]
    lines += [f"{bn(p)} : 1 (constant)" for p in values if p not in shared]
    lines += [f"{bn(c)} : 1 (shared, constant)" for c in [*consts, *shared]]
    ns = dict(functions())
    for tname in decl.tables:
        tab = np.asarray(node.params[tname], dtype=np.float64).reshape(-1)
        ns[bn(tname)] = TimedArray(tab, dt=1 * second, name=f"{name}_{tname}")
    k = binary_events(decl, node.attrs, realization)
    kw = {"events": {f"b{j}": f"y > {j}" for j in range(k)}} if k else {"threshold": "y != 0", "reset": ""}
    if value_events and not k and decl.spiking:
        kw["events"] = {f"v{j}": f"y == {j}" for j in range(1, int(decl.emission_max(node.attrs)) + 1)}
    g = NeuronGroup(batch * n, "\n".join(lines), clock=clock, name=name, namespace=ns, **kw)
    for p, v in values.items():
        setattr(g, bn(p), float(v[0]) if p in shared else np.tile(v, batch))
    for c, v in consts.items():
        setattr(g, bn(c), float(v))
    names = [*decl.params, *decl.states, *decl.counters, *consts, *decl.tables, *decl.temporaries(), *inv]
    body = "\n".join(f"{t} {op} {fold_shifts(e)}" for t, op, e in stmts)
    code = _rewrite_tables(_rename(body, names), [bn(t) for t in decl.tables]) + "\na = 0"
    g.run_regularly(code, when=UPDATE_WHEN, name=f"{name}_update")
    return g, k, Layout(code, shared, inv, _is_quiet(decl, node, params))


def clear_events(group) -> None:
    """Empty a group's spike and event spaces (a deactivated group must not re-send its last events)."""
    for key, var in group.variables.items():
        if key.startswith("_") and key.endswith("space"):
            var.get_value()[-1] = 0


__all__ = ["UPDATE_WHEN", "Layout", "binary_events", "brian_name", "clear_events", "neuron_group", "param_array", "param_values"]
