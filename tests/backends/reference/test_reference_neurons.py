"""Neuron scans of the reference backend against a plain Python loop of the documented update.

Discrete updates (``docs/semantics.md``), per neuron and step::

    i = a_syn*i + g_syn*x              (CUBA only)
    v = a*v + g*i + b                  (g*x without CUBA)
    s = v > v_th;  v = v - s*v_th (subtract) or (s ? v_reset : v) (zero)

LI / CUBA-LI output ``v`` and never reset.
"""

from __future__ import annotations

import nir
import numpy as np
import pytest

import spikeforge as sf
from spikeforge.backends.reference.neurons import NEURONS
from spikeforge.compiler.ir import Node

T, B = 40, 3
SHAPES = [(5,), (2, 3, 4)]


def _params(op: str, shape, seed: int = 0) -> dict[str, np.ndarray]:
    r = np.random.default_rng(seed)
    p = {
        "a": r.uniform(0.5, 1.0, shape),
        "g": r.uniform(0.2, 1.5, shape),
        "b": r.uniform(-0.05, 0.1, shape),
    }
    if op.startswith("cuba"):
        p["a_syn"] = r.uniform(0.3, 0.9, shape)
        p["g_syn"] = r.uniform(0.5, 1.5, shape)
    if op in ("lif", "cuba_lif"):
        p["v_threshold"] = r.uniform(0.5, 1.5, shape)
        p["v_reset"] = r.uniform(-0.3, 0.0, shape)
    return p


def python_loop(op: str, p: dict, x: np.ndarray, reset: str) -> tuple[np.ndarray, np.ndarray]:
    """Element-by-element loop; returns (output, pre-reset membrane)."""
    xs = x.reshape(x.shape[0], x.shape[1], -1)
    P = {k: np.broadcast_to(v, x.shape[2:]).reshape(-1) for k, v in p.items()}
    out = np.zeros_like(xs)
    vrec = np.zeros_like(xs)
    for bi in range(xs.shape[1]):
        for n in range(xs.shape[2]):
            i = v = 0.0
            for t in range(xs.shape[0]):
                inp = xs[t, bi, n]
                if "a_syn" in P:
                    i = P["a_syn"][n] * i + P["g_syn"][n] * inp
                    inp = i
                v = P["a"][n] * v + P["g"][n] * inp + P["b"][n]
                vrec[t, bi, n] = v
                if "v_threshold" in P:
                    s = v > P["v_threshold"][n]
                    out[t, bi, n] = float(s)
                    if s:
                        v = v - P["v_threshold"][n] if reset == "subtract" else P["v_reset"][n]
                else:
                    out[t, bi, n] = v
    return out.reshape(x.shape), vrec.reshape(x.shape)


CASES = [("lif", "zero"), ("lif", "subtract"), ("cuba_lif", "zero"), ("cuba_lif", "subtract"), ("li", None), ("cuba_li", None)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("op,reset", CASES)
def test_scan_matches_python_loop(op: str, reset, shape) -> None:
    p = _params(op, shape)
    x = np.random.default_rng(1).uniform(-0.5, 1.5, (T, B, *shape))
    attrs = {"reset": reset} if reset else {}
    node = Node("n", op, p, attrs, shape, shape)
    layer = NEURONS[op](node, B, record=True)
    y = layer.advance(x)
    want, vrec = python_loop(op, p, x, reset)
    if op in ("lif", "cuba_lif"):
        np.testing.assert_array_equal(y, want)
        np.testing.assert_allclose(np.concatenate(layer.v_recs), vrec, rtol=1e-12, atol=1e-12)
        assert 0 < y.mean() < 1, "the layer should spike sometimes"
    else:
        np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("op,reset", CASES)
def test_stepwise_equals_whole_scan(op: str, reset) -> None:
    """Advancing one step at a time (the recurrent path) equals one scan over all steps."""
    shape = (6,)
    p = _params(op, shape, seed=3)
    x = np.random.default_rng(4).uniform(-0.5, 1.5, (T, B, *shape))
    node = Node("n", op, p, {"reset": reset} if reset else {}, shape, shape)
    whole = NEURONS[op](node, B).advance(x)
    layer = NEURONS[op](node, B)
    steps = np.concatenate([layer.advance(x[t : t + 1]) for t in range(T)])
    chunks = NEURONS[op](node, B)
    chunked = np.concatenate([chunks.advance(x[:7]), chunks.advance(x[7:20]), chunks.advance(x[20:])])
    np.testing.assert_array_equal(steps, whole)
    np.testing.assert_array_equal(chunked, whole)


def test_scalar_parameters_broadcast_in_the_layer() -> None:
    shape = (2, 3)
    node = Node("n", "lif", {"a": np.array(0.9), "g": np.array(1.0), "b": np.array(0.0), "v_threshold": np.array(1.0), "v_reset": np.array(0.0)}, {"reset": "zero"}, shape, shape)
    x = np.random.default_rng(0).uniform(0, 0.6, (T, B, *shape))
    full = {k: np.full(shape, float(v)) for k, v in node.params.items()}
    want, _ = python_loop("lif", full, x, "zero")
    np.testing.assert_array_equal(NEURONS["lif"](node, B).advance(x), want)


def _single(node: nir.NIRNode, shape) -> nir.NIRGraph:
    return nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array(shape)}),
            "n": node,
            "output": nir.Output(output_type={"output": np.array(shape)}),
        },
        edges=[("input", "n"), ("n", "output")],
        type_check=False,
    )


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_compiled_if_and_integrator(shape) -> None:
    """IF / I compile to a = 1, g = dt*R and run like the loop (conv-shaped layers too)."""
    dt = 1e-3
    r = np.random.default_rng(0).uniform(200, 800, shape)
    th = np.random.default_rng(1).uniform(0.5, 1.0, shape)
    x = np.random.default_rng(2).uniform(0, 1, (T, B, *shape))
    y_if = sf.run(sf.compile(_single(nir.IF(r=r, v_threshold=th, v_reset=np.zeros(shape)), shape), dt=dt), x).output
    want, _ = python_loop("lif", {"a": np.ones(shape), "g": dt * r, "b": np.zeros(shape), "v_threshold": th, "v_reset": np.zeros(shape)}, x, "zero")
    np.testing.assert_array_equal(y_if, want)
    y_i = sf.run(sf.compile(_single(nir.I(r=r), shape), dt=dt), x).output
    np.testing.assert_allclose(y_i, np.cumsum(dt * r * x, axis=0), rtol=1e-12)


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_compiled_cubalif_conv_shaped(reset: str) -> None:
    """A (C, H, W) CUBA-LIF layer through the whole pipeline equals the loop of its discrete params."""
    shape = (2, 3, 3)
    n = nir.CubaLIF(
        tau_syn=np.full(shape, 2e-3), tau_mem=np.full(shape, 5e-3), r=np.full(shape, 2.0), v_leak=np.full(shape, 0.05),
        v_threshold=np.linspace(0.3, 0.8, 18).reshape(shape), v_reset=np.full(shape, -0.1), w_in=np.full(shape, 1.5),
        metadata={"reset": reset},
    )
    prog = sf.compile(_single(n, shape), dt=1e-3)
    x = np.random.default_rng(5).uniform(0, 1, (T, B, *shape))
    want, _ = python_loop("cuba_lif", dict(prog.graph.nodes["n"].params), x, reset)
    y = sf.run(prog, x).output
    np.testing.assert_array_equal(y, want)
    assert 0 < y.mean() < 1
