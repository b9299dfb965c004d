"""``balance_delays``: explicit delays where paths of different hardware depth meet.

The residual graph below joins a path through one neuron layer with a path through three.
In hardware time each neuron reads its input one step late, so without balancing the join
would add values from different model steps. The pass must insert one delay of exactly two
steps on the short path, and the reference output must then equal a hand-written numpy
simulation of the zero-delay (model-time) network.
"""

from __future__ import annotations

import nir
import numpy as np
import pytest

import spikeforge as sf
from spikeforge.compiler.from_nir import from_nir
from spikeforge.compiler.passes import pipeline
from spikeforge.compiler.passes.balance import balance_delays
from spikeforge.compiler.timing import arrival_depths

DT = 1e-3
IN, H, OUT = 5, 6, 4


def _w(seed: int, *shape: int, scale: float = 1.0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape) * scale


def _lif(n: int, tau: float, th: float, v_leak: float = 0.0) -> nir.LIF:
    return nir.LIF(
        tau=np.full(n, tau), r=np.ones(n), v_leak=np.full(n, v_leak), v_threshold=np.full(n, th), v_reset=np.zeros(n)
    )


def residual_graph() -> nir.NIRGraph:
    """input -> fc1 -> L1 (depth 1) ---------------------------- j1 --\\
    input -> fa -> A1 -> fb -> A2 -> fc -> A3 (depth 3) ------- j3 ---> OUT (LIF) -> output
    """
    nodes = {
        "input": nir.Input(input_type={"input": np.array([IN])}),
        "fc1": nir.Affine(weight=_w(1, H, IN, scale=1.2), bias=np.full(H, 0.1)),
        "L1": _lif(H, 4e-3, 0.4, v_leak=0.05),
        "fa": nir.Affine(weight=_w(2, H, IN, scale=1.2), bias=np.full(H, 0.2)),
        "A1": _lif(H, 3e-3, 0.3),
        "fb": nir.Affine(weight=_w(3, H, H), bias=np.full(H, 0.1)),
        "A2": _lif(H, 5e-3, 0.3),
        "fc": nir.Affine(weight=_w(4, H, H), bias=np.full(H, 0.15)),
        "A3": _lif(H, 2e-3, 0.2),
        "j1": nir.Affine(weight=_w(5, OUT, H), bias=np.full(OUT, 0.05)),
        "j3": nir.Affine(weight=_w(6, OUT, H), bias=np.full(OUT, -0.05)),
        "OUT": _lif(OUT, 4e-3, 0.3),
        "output": nir.Output(output_type={"output": np.array([OUT])}),
    }
    edges = [
        ("input", "fc1"), ("fc1", "L1"), ("L1", "j1"), ("j1", "OUT"),
        ("input", "fa"), ("fa", "A1"), ("A1", "fb"), ("fb", "A2"), ("A2", "fc"), ("fc", "A3"), ("A3", "j3"), ("j3", "OUT"),
        ("OUT", "output"),
    ]
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _lif_step(v, x, tau, th, v_leak=0.0):
    """Exact (ZOH) LIF step with r=1 and hard reset to 0: returns (spikes, new state)."""
    a = np.exp(-DT / tau)
    u = a * v + (1 - a) * x + (1 - a) * v_leak
    s = (u > th).astype(float)
    return s, np.where(s > 0, 0.0, u)


def simulate_model_time(g: nir.NIRGraph, x: np.ndarray) -> dict[str, np.ndarray]:
    """Zero-delay simulation of :func:`residual_graph` (every layer sees step t at step t)."""
    n = g.nodes
    T, Bn = x.shape[:2]

    def aff(name, v):
        return v @ n[name].weight.T + n[name].bias

    state = {k: np.zeros((Bn, n[k].tau.size)) for k in ("L1", "A1", "A2", "A3", "OUT")}
    rec = {k: [] for k in state}

    def lif(name, inp):
        p = n[name]
        s, state[name] = _lif_step(state[name], inp, p.tau, p.v_threshold, p.v_leak)
        rec[name].append(s)
        return s

    for t in range(T):
        l1 = lif("L1", aff("fc1", x[t]))
        a1 = lif("A1", aff("fa", x[t]))
        a2 = lif("A2", aff("fb", a1))
        a3 = lif("A3", aff("fc", a2))
        lif("OUT", aff("j1", l1) + aff("j3", a3))
    return {k: np.stack(v) for k, v in rec.items()}


def test_inserts_one_delay_of_two_steps() -> None:
    prog = sf.compile(residual_graph(), dt=DT)
    g = prog.graph
    delays = g.by_op("delay")
    assert len(delays) == 1
    d = delays[0]
    assert d.attrs["balance"] is True
    np.testing.assert_array_equal(d.params["steps"], np.full((OUT,), 2))
    assert d.in_shape == d.out_shape == (OUT,)
    # it sits on the short path, between j1 and OUT
    assert g.preds(d.name) == ["j1"] and g.succs(d.name) == ["OUT"]
    assert sorted(g.preds("OUT")) == sorted(["j3", d.name])
    depth = prog.depths
    assert (depth["L1"], depth["A1"], depth["A2"], depth["A3"]) == (1, 1, 2, 3)
    assert depth["j1"] == 1 and depth[d.name] == 3 and depth["j3"] == 3
    assert depth["OUT"] == depth["output"] == prog.max_depth == 4
    # after balancing every join sees one depth
    _, incoming, base = arrival_depths(g)
    for v, preds in incoming.items():
        assert all(dp == base[v] for dp in preds.values()), v


def test_balanced_output_equals_model_time_simulation() -> None:
    g = residual_graph()
    rng = np.random.default_rng(7)
    x = (rng.random((40, 3, IN)) < 0.4).astype(float) * 1.5
    prog = sf.compile(g, dt=DT)
    tr = sf.run(prog, x, probes=["L1", "A1", "A2", "A3", "OUT"])
    want = simulate_model_time(g, x)
    for k, v in want.items():
        assert v.sum() > 0, f"{k} never spikes: the test would be vacuous"
        np.testing.assert_array_equal(tr.probes[k], v, err_msg=k)
    np.testing.assert_array_equal(tr.output, want["OUT"])


def test_unbalanced_graph_would_differ() -> None:
    """Without the pass the join mixes model steps (so the pass is what makes the test pass)."""
    g = residual_graph()
    x = (np.random.default_rng(7).random((40, 3, IN)) < 0.4).astype(float) * 1.5
    passes = [p for p in pipeline("float", DT, "exact") if p.name != "balance_delays"]
    work = from_nir(g)
    for p in passes:
        work = p.run(work)
    prog = sf.Program(graph=work, target="float", dt=DT, method="exact", passes=tuple(p.name for p in passes))
    assert not work.by_op("delay")
    out = sf.run(prog, x).output
    assert not np.array_equal(out, simulate_model_time(g, x)["OUT"])


def test_multi_input_output_node_is_balanced() -> None:
    """Two paths of depth 1 and 3 summed directly by the Output node."""
    g = residual_graph()
    del g.nodes["OUT"]
    g.edges[:] = [e for e in g.edges if "OUT" not in e] + [("j1", "output"), ("j3", "output")]
    x = (np.random.default_rng(3).random((25, 2, IN)) < 0.4).astype(float) * 1.5
    prog = sf.compile(g, dt=DT)
    (d,) = prog.graph.by_op("delay")
    np.testing.assert_array_equal(d.params["steps"], 2)
    sim = simulate_model_time(residual_graph(), x)
    n = g.nodes
    want = sim["L1"] @ n["j1"].weight.T + n["j1"].bias + sim["A3"] @ n["j3"].weight.T + n["j3"].bias
    np.testing.assert_allclose(sf.run(prog, x).output, want, rtol=1e-12, atol=1e-12)


def test_equal_depths_need_no_delay() -> None:
    g = residual_graph()
    # replace the long path by a single layer: both paths have depth 1
    g.nodes["fc"] = nir.Affine(weight=_w(9, H, IN), bias=np.zeros(H))
    g.edges[:] = [e for e in g.edges if e[0] not in ("fa", "A1", "fb", "A2") and e[1] not in ("fa", "A1", "fb", "A2")]
    g.edges += [("input", "fc")]
    for k in ("fa", "A1", "fb", "A2"):
        del g.nodes[k]
    prog = sf.compile(g, dt=DT)
    assert not prog.graph.by_op("delay")


def test_user_delay_counts_in_model_time_only() -> None:
    """An explicit NIR Delay of k steps delays by k in model time; it needs no balancing.

    ``input -> Delay(2 steps) -> fc -> lif`` joined with ``input -> fc -> lif`` at a sum:
    both paths have hardware depth 1, and the delayed path reads the input from two model
    steps earlier.
    """
    n = 3
    g = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([n])}),
            "d": nir.Delay(delay=np.full(n, 2 * DT)),
            "f1": nir.Affine(weight=np.eye(n), bias=np.full(n, 0.25)),
            "f2": nir.Affine(weight=2 * np.eye(n), bias=np.zeros(n)),
            "li": nir.LI(tau=np.full(n, 1e-2), r=np.ones(n), v_leak=np.zeros(n)),
            "output": nir.Output(output_type={"output": np.array([n])}),
        },
        edges=[("input", "d"), ("d", "f1"), ("input", "f2"), ("f1", "li"), ("f2", "li"), ("li", "output")],
        type_check=False,
    )
    prog = sf.compile(g, dt=DT)
    assert [d.attrs["balance"] for d in prog.graph.by_op("delay")] == [False]
    x = np.random.default_rng(0).normal(size=(10, 2, n))
    xd = np.concatenate([np.zeros((2, 2, n)), x[:-2]])
    a = np.exp(-DT / 1e-2)
    v, want = np.zeros((2, n)), []
    for t in range(10):
        v = a * v + (1 - a) * (xd[t] + 0.25 + 2 * x[t])
        want.append(v)
    np.testing.assert_allclose(sf.run(prog, x).output, np.stack(want), rtol=1e-12, atol=1e-14)


def test_pass_is_pure() -> None:
    work = from_nir(residual_graph())
    for p in pipeline("float", DT, "exact")[:-1]:
        work = p.run(work)
    edges, names = work.edges, set(work.nodes)
    out = balance_delays(work)
    assert work.edges == edges and set(work.nodes) == names
    assert len(out.nodes) == len(work.nodes) + 1


@pytest.mark.parametrize("depth_long", [2, 4])
def test_delay_size_follows_the_depth_difference(depth_long: int) -> None:
    """A chain of ``depth_long`` neuron layers joined with a single layer: delay = difference."""
    n = 3
    nodes = {"input": nir.Input(input_type={"input": np.array([n])}), "output": nir.Output(output_type={"output": np.array([n])})}
    edges = []
    prev = "input"
    for i in range(depth_long):
        nodes[f"w{i}"] = nir.Affine(weight=np.eye(n), bias=np.zeros(n))
        nodes[f"n{i}"] = _lif(n, 5e-3, 0.5)
        edges += [(prev, f"w{i}"), (f"w{i}", f"n{i}")]
        prev = f"n{i}"
    nodes["s"] = nir.Affine(weight=np.eye(n), bias=np.zeros(n))
    nodes["ns"] = _lif(n, 5e-3, 0.5)
    edges += [("input", "s"), ("s", "ns"), ("ns", "output"), (prev, "output")]
    prog = sf.compile(nir.NIRGraph(nodes=nodes, edges=edges, type_check=False), dt=DT)
    (d,) = prog.graph.by_op("delay")
    np.testing.assert_array_equal(d.params["steps"], depth_long - 1)
    assert prog.graph.preds(d.name) == ["ns"]
