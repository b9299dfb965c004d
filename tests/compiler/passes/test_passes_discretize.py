"""The ``discretize`` pass against the formulas of ``docs/semantics.md``.

For :math:`\\tau \\dot v = (v_{leak} - v) + R I`:

=========  ======================  =====================  ======================
method     decay ``a``             input gain ``g``       leak drive ``b``
=========  ======================  =====================  ======================
exact      ``exp(-dt/tau)``        ``(1 - a) * R``        ``(1 - a) * v_leak``
euler      ``1 - dt/tau``          ``dt/tau * R``         ``dt/tau * v_leak``
=========  ======================  =====================  ======================

``IF``/``I``: ``v = v + dt*R*x`` under both methods. ``CubaLIF``/``CubaLI``: the synaptic
current is discretized the same way with gain ``w_in``; the membrane then uses the new
current. ``Delay``: whole steps ``delay / dt``.
"""

from __future__ import annotations

import warnings

import nir
import numpy as np
import pytest

import spikeforge as sf
from spikeforge.compiler.from_nir import from_nir
from spikeforge.compiler.passes.discretize import make_discretize
from spikeforge.compiler.passes.shapes import infer_shapes

N = 4
DT = 1e-3
METHODS = ("exact", "euler")


def _p(lo: float, hi: float) -> np.ndarray:
    return np.linspace(lo, hi, N)


def _params() -> dict[str, np.ndarray]:
    return {
        "tau": _p(2e-3, 8e-3),
        "tau_syn": _p(1.5e-3, 4e-3),
        "tau_mem": _p(3e-3, 9e-3),
        "r": _p(0.5, 2.0),
        "v_leak": _p(-0.2, 0.3),
        "v_threshold": _p(0.5, 1.5),
        "v_reset": _p(-0.5, 0.0),
        "w_in": _p(1.0, 3.0),
    }


def _node(typ: str) -> nir.NIRNode:
    p = _params()
    return {
        "LIF": lambda: nir.LIF(tau=p["tau"], r=p["r"], v_leak=p["v_leak"], v_threshold=p["v_threshold"], v_reset=p["v_reset"]),
        "IF": lambda: nir.IF(r=p["r"], v_threshold=p["v_threshold"], v_reset=p["v_reset"]),
        "LI": lambda: nir.LI(tau=p["tau"], r=p["r"], v_leak=p["v_leak"]),
        "I": lambda: nir.I(r=p["r"]),
        "CubaLIF": lambda: nir.CubaLIF(
            tau_syn=p["tau_syn"], tau_mem=p["tau_mem"], r=p["r"], v_leak=p["v_leak"],
            v_threshold=p["v_threshold"], v_reset=p["v_reset"], w_in=p["w_in"],
        ),
        "CubaLI": lambda: nir.CubaLI(tau_syn=p["tau_syn"], tau_mem=p["tau_mem"], r=p["r"], v_leak=p["v_leak"], w_in=p["w_in"]),
    }[typ]()


def _graph(node: nir.NIRNode, n: int = N) -> nir.NIRGraph:
    return nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([n])}),
            "x": node,
            "output": nir.Output(output_type={"output": np.array([n])}),
        },
        edges=[("input", "x"), ("x", "output")],
        type_check=False,
    )


def _discretized(node: nir.NIRNode, dt: float, method: str):
    g = infer_shapes(from_nir(_graph(node, int(np.size(getattr(node, "delay", np.zeros(N)))))))
    return make_discretize(dt, method)(g).nodes["x"]


def _leaky(tau, dt, method):
    """(a, f): decay and drive factor (f = 1 - a for exact, dt/tau for euler), from the doc table."""
    if method == "exact":
        a = np.exp(-dt / tau)
        return a, 1.0 - a
    return 1.0 - dt / tau, dt / tau


def _close(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=0)


@pytest.mark.parametrize("method", METHODS)
def test_lif(method: str) -> None:
    p = _params()
    n = _discretized(_node("LIF"), DT, method)
    a, f = _leaky(p["tau"], DT, method)
    assert n.op == "lif" and n.attrs["reset"] == "zero"
    _close(n.params["a"], a)
    _close(n.params["g"], f * p["r"])
    _close(n.params["b"], f * p["v_leak"])
    _close(n.params["v_threshold"], p["v_threshold"])
    _close(n.params["v_reset"], p["v_reset"])


@pytest.mark.parametrize("method", METHODS)
def test_li(method: str) -> None:
    p = _params()
    n = _discretized(_node("LI"), DT, method)
    a, f = _leaky(p["tau"], DT, method)
    assert n.op == "li"
    _close(n.params["a"], a)
    _close(n.params["g"], f * p["r"])
    _close(n.params["b"], f * p["v_leak"])


@pytest.mark.parametrize("method", METHODS)
def test_if(method: str) -> None:
    """``dv/dt = R I``: ``v = v + dt*R*x`` under both methods."""
    p = _params()
    n = _discretized(_node("IF"), DT, method)
    assert n.op == "lif"
    _close(n.params["a"], np.ones(N))
    _close(n.params["g"], DT * p["r"])
    _close(n.params["b"], np.zeros(N))
    _close(n.params["v_threshold"], p["v_threshold"])
    _close(n.params["v_reset"], p["v_reset"])


@pytest.mark.parametrize("method", METHODS)
def test_integrator(method: str) -> None:
    p = _params()
    n = _discretized(_node("I"), DT, method)
    assert n.op == "li"
    _close(n.params["a"], np.ones(N))
    _close(n.params["g"], DT * p["r"])
    _close(n.params["b"], np.zeros(N))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("typ", ["CubaLIF", "CubaLI"])
def test_cuba(typ: str, method: str) -> None:
    p = _params()
    n = _discretized(_node(typ), DT, method)
    a_s, f_s = _leaky(p["tau_syn"], DT, method)
    a_m, f_m = _leaky(p["tau_mem"], DT, method)
    assert n.op == {"CubaLIF": "cuba_lif", "CubaLI": "cuba_li"}[typ]
    _close(n.params["a_syn"], a_s)
    _close(n.params["g_syn"], f_s * p["w_in"])
    _close(n.params["a"], a_m)
    _close(n.params["g"], f_m * p["r"])
    _close(n.params["b"], f_m * p["v_leak"])
    if typ == "CubaLIF":
        _close(n.params["v_threshold"], p["v_threshold"])


@pytest.mark.parametrize("method", METHODS)
def test_delay_whole_steps(method: str) -> None:
    n = _discretized(nir.Delay(delay=np.array([0.0, 1e-3, 2e-3, 5e-3])), DT, method)
    assert n.op == "delay" and n.attrs["balance"] is False
    np.testing.assert_array_equal(n.params["steps"], [0, 1, 2, 5])
    assert n.params["steps"].dtype.kind == "i"


def test_delay_not_a_multiple_of_dt_warns() -> None:
    with pytest.warns(UserWarning, match="not whole multiples"):
        n = _discretized(nir.Delay(delay=np.array([1.4e-3, 2.6e-3, 0.0, 1e-3])), DT, "exact")
    np.testing.assert_array_equal(n.params["steps"], [1, 3, 0, 1])


def test_negative_delay_is_an_error() -> None:
    with pytest.raises(sf.GraphError, match="negative"):
        _discretized(nir.Delay(delay=np.array([-1e-3, 0.0, 0.0, 0.0])), DT, "exact")


def test_snntorch_lowering_is_identity_under_euler() -> None:
    """snnTorch writes ``tau = dt/(1-beta)``, ``r = tau/dt``: Euler gives back ``a = beta, g = 1``."""
    beta = np.array([0.5, 0.8, 0.9, 0.95])
    dt = 1e-4
    tau = dt / (1 - beta)
    n = _discretized(nir.LIF(tau=tau, r=tau / dt, v_leak=np.zeros(N), v_threshold=np.ones(N), v_reset=np.zeros(N)), dt, "euler")
    np.testing.assert_allclose(n.params["a"], beta, rtol=1e-12)
    np.testing.assert_allclose(n.params["g"], 1.0, rtol=1e-12)


def test_exact_matches_the_ode_solution() -> None:
    """Zero-order hold is exact: an LI under constant input follows the analytic solution.

    ``tau dv/dt = v_leak - v + R x`` from ``v(0) = 0`` gives
    ``v(t) = (1 - exp(-t/tau)) (v_leak + R x)``, sampled at ``t = k dt`` (model time: the
    output at step k has seen k+1 steps of input).
    """
    p = _params()
    prog = sf.compile(_graph(_node("LI")), dt=DT, method="exact")
    x = np.full((20, 1, N), 0.7)
    y = sf.run(prog, x).output[:, 0]
    t = (np.arange(20)[:, None] + 1) * DT
    want = (1 - np.exp(-t / p["tau"])) * (p["v_leak"] + p["r"] * 0.7)
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-14)


def test_euler_matches_the_euler_recursion() -> None:
    p = _params()
    prog = sf.compile(_graph(_node("LI")), dt=DT, method="euler")
    x = np.random.default_rng(0).normal(size=(15, 2, N))
    y = sf.run(prog, x).output
    v = np.zeros((2, N))
    for t in range(15):
        v = v + DT / p["tau"] * (p["v_leak"] - v + p["r"] * x[t])
        np.testing.assert_allclose(y[t], v, rtol=1e-12, atol=1e-14)


def test_pass_is_pure() -> None:
    g = infer_shapes(from_nir(_graph(_node("LIF"))))
    before = {k: dict(n.params) for k, n in g.nodes.items()}
    g2 = make_discretize(DT, "exact")(g)
    assert g2 is not g
    assert g.nodes["x"].op == "LIF" and g2.nodes["x"].op == "lif"
    for k, params in before.items():
        for name, v in params.items():
            np.testing.assert_array_equal(g.nodes[k].params[name], v)
    assert g2.metadata["dt"] == DT and g2.metadata["discretization"] == "exact"


def test_dt_and_method_from_metadata_and_defaults() -> None:
    g = _graph(_node("LIF"))
    prog = sf.compile(g)
    assert (prog.dt, prog.method) == (sf.compiler.DEFAULT_DT, sf.compiler.DEFAULT_METHOD) == (1e-3, "exact")
    g.metadata = {"spikeforge.dt": 2e-4, "spikeforge.discretization": "euler"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prog = sf.compile(g)
    assert (prog.dt, prog.method) == (2e-4, "euler")
    np.testing.assert_allclose(prog.graph.nodes["x"].params["a"], 1 - 2e-4 / _params()["tau"], rtol=1e-14)
    with pytest.warns(UserWarning, match="metadata"):
        prog = sf.compile(g, dt=1e-3)
    assert prog.dt == 1e-3


@pytest.mark.parametrize("dt", [0.0, -1e-3, float("nan"), float("inf")])
def test_bad_dt(dt: float) -> None:
    with pytest.raises(sf.GraphError, match="dt"):
        make_discretize(dt, "exact")
