"""Discretization, done once: continuous NIR neuron ODEs -> per-step decays and gains.

See ``docs/semantics.md``. For :math:`\\tau \\dot v = (v_{leak} - v) + R I`:

.. math::
    \\text{exact:}\\; a = e^{-\\Delta t/\\tau},\\; g = (1-a) R,\\; b = (1-a) v_{leak}
    \\qquad
    \\text{euler:}\\; a = 1 - \\Delta t/\\tau,\\; g = \\tfrac{\\Delta t}{\\tau} R,\\; b = \\tfrac{\\Delta t}{\\tau} v_{leak}

and the step is :math:`v \\leftarrow a v + g x + b`. ``IF``/``I`` (:math:`\\dot v = R I`) become
:math:`v \\leftarrow v + \\Delta t R x` under both methods. CubaLIF/CubaLI discretize the
synaptic current the same way (gain from ``w_in``) and update the membrane with the *new*
current (sequential update, as Loihi and snnTorch do). ``ASN`` nodes (ASN/NASN/I-LIF, see
``docs/integer.md``) become ``asn`` with ``a``, ``g``, ``b`` as LIF (or IF); their window
``alpha``, ``D``, ``N`` stay in the attrs. Delays become whole steps.
"""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np

from ...models.lowering import METHODS, discretize_tau
from ..errors import GraphError
from ..ir import Graph, Node



def _leaky(tau: np.ndarray, dt: float, method: str, node: Node, where: str, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Return (decay a, drive factor f) with f = 1 - a (exact) or dt/tau (euler)."""
    if np.any(tau <= 0):
        raise GraphError(f"{where}: node '{node.name}' ({node.op}) {what} must be > 0; got min {tau.min():g}")
    a, f = discretize_tau(tau, dt, method)
    if method == "euler" and np.any(f > 1.0):
        raise GraphError(
            f"{where}: node '{node.name}' ({node.op}) forward Euler is unstable: dt/{what} = {f.max():g} > 1; use a smaller dt or method='exact'"
        )
    return a, f


def _spiking(n: Node) -> dict:
    return {"v_threshold": n.params["v_threshold"], "v_reset": n.params["v_reset"]}


def _lif(n: Node, dt: float, m: str, where: str) -> Node:
    a, f = _leaky(n.params["tau"], dt, m, n, where, "tau")
    p = {"a": a, "g": f * n.params["r"], "b": f * n.params["v_leak"], **_spiking(n)}
    return n.replace(op="lif", params=p)


def _if(n: Node, dt: float, m: str, where: str) -> Node:
    r = n.params["r"]
    p = {"a": np.ones_like(r), "g": dt * r, "b": np.zeros_like(r), **_spiking(n)}
    return n.replace(op="lif", params=p)


def _li(n: Node, dt: float, m: str, where: str) -> Node:
    a, f = _leaky(n.params["tau"], dt, m, n, where, "tau")
    return n.replace(op="li", params={"a": a, "g": f * n.params["r"], "b": f * n.params["v_leak"]})


def _integrator(n: Node, dt: float, m: str, where: str) -> Node:
    r = n.params["r"]
    return n.replace(op="li", params={"a": np.ones_like(r), "g": dt * r, "b": np.zeros_like(r)})


def _cuba(n: Node, dt: float, m: str, where: str) -> dict:
    a_s, f_s = _leaky(n.params["tau_syn"], dt, m, n, where, "tau_syn")
    a, f = _leaky(n.params["tau_mem"], dt, m, n, where, "tau_mem")
    return {"a_syn": a_s, "g_syn": f_s * n.params["w_in"], "a": a, "g": f * n.params["r"], "b": f * n.params["v_leak"]}


def _cubalif(n: Node, dt: float, m: str, where: str) -> Node:
    return n.replace(op="cuba_lif", params={**_cuba(n, dt, m, where), **_spiking(n)})


def _cubali(n: Node, dt: float, m: str, where: str) -> Node:
    return n.replace(op="cuba_li", params=_cuba(n, dt, m, where))


def _asn(n: Node, dt: float, m: str, where: str) -> Node:
    """ASN/NASN/I-LIF (``docs/integer.md``): ``a``, ``g``, ``b`` as LIF (as IF without ``tau``)."""
    base = _lif(n, dt, m, where) if "tau" in n.params else _if(n, dt, m, where)
    return n.replace(op="asn", params={k: base.params[k] for k in ("a", "g", "b")})


def _mtc(n: Node, dt: float, m: str, where: str) -> Node:
    """MTC (``models/mtc/spec.py``): always its forward-Euler step (the model is defined by it),
    whatever ``method`` the other neurons use."""
    from ...models.mtc import spec

    P = n.params
    cond = spec.FEEDBACK
    try:
        p = spec.discretize(dt, P["tau_m"], P["r"], P["v_leak"], P["tau_f"], P["tau_s"], P["tau_us"],
                            {c: P["alpha_" + c] for c, _, _ in cond}, {c: P["delta_" + c] for c, _, _ in cond},
                            P["u_th"], P["u_sat"])
    except ValueError as e:
        raise GraphError(f"{where}: node '{n.name}' ({n.op}): {e}; use a smaller dt") from None
    return n.replace(op="mtc", params=p, attrs={**n.attrs, "discretization": "euler"})


def _spe(n: Node, dt: float, m: str, where: str) -> Node:
    """SPE (``models/spe/spec.py``): the base neuron (attr ``base``) discretized as usual, then
    ``lif`` -> ``spe_lif`` / ``asn`` -> ``spe_asn`` with ``kappa`` (a per-step rate) kept."""
    from ...models.spe.spec import FLOAT_OPS

    base = n.attrs.get("base")
    fn = DISCRETIZERS.get(base) if base != "SPE" else None
    if fn is None:
        raise GraphError(f"{where}: SPE node '{n.name}': base {base!r} cannot be discretized; supported: LIF, IF, ASN")
    attrs = {k: v for k, v in n.attrs.items() if k != "base"}
    params = {k: v for k, v in n.params.items() if k != "kappa"}
    d = fn(n.replace(op=base, params=params, attrs=attrs), dt, m, where)
    if d.op not in FLOAT_OPS:
        raise GraphError(f"{where}: SPE node '{n.name}': base op {d.op!r} unsupported; supported: {', '.join(FLOAT_OPS)}")
    return d.replace(op=FLOAT_OPS[d.op], params={**d.params, "kappa": n.params["kappa"]})


def _delay(n: Node, dt: float, m: str, where: str) -> Node:
    d = n.params["delay"] / dt
    steps = np.rint(d).astype(np.int64)
    if np.any(steps < 0):
        raise GraphError(f"{where}: node '{n.name}' (Delay) has a negative delay")
    if not np.allclose(d, steps, atol=1e-6):
        warnings.warn(f"{where}: node '{n.name}' delays are not whole multiples of dt={dt:g}; rounded to steps", stacklevel=2)
    return n.replace(op="delay", params={"steps": steps}, attrs={**n.attrs, "balance": False})


#: continuous op -> discretizer(node, dt, method, where) -> discrete node.
DISCRETIZERS: dict[str, Callable[[Node, float, str, str], Node]] = {
    "LIF": _lif,
    "IF": _if,
    "LI": _li,
    "I": _integrator,
    "CubaLIF": _cubalif,
    "CubaLI": _cubali,
    "ASN": _asn,
    "MTC": _mtc,
    "SPE": _spe,
    "Delay": _delay,
}


def make_discretize(dt: float, method: str = "exact") -> Callable[[Graph], Graph]:
    """Build the discretization pass for one time step and method.

    Args:
        dt: Time step, in the unit of the graph's time constants.
        method: ``"exact"`` (zero-order hold, default) or ``"euler"``.

    Returns:
        A pure pass ``graph -> graph``.
    """
    if method not in METHODS:
        raise GraphError(f"discretization method '{method}' unknown; use one of {', '.join(METHODS)}")
    if not (np.isfinite(dt) and dt > 0):
        raise GraphError(f"dt must be a positive finite number; got {dt}")

    def discretize(g: Graph) -> Graph:
        where = str(g.metadata.get("source", "graph"))
        nodes = {}
        for k, n in g.nodes.items():
            fn = DISCRETIZERS.get(n.op)
            nodes[k] = fn(n, dt, method, where) if fn else n
        return g.replace(nodes=nodes, metadata={**g.metadata, "dt": dt, "discretization": method})

    return discretize
