"""The reference executor: recurrent (step-by-step) segments, model time, probes, errors, I/O.

Recurrent graphs run step by step; the result must equal a hand-written model-time loop
(``U[t] = a*H[t-1] + g*(W x[t] + b + W_rec s[t-1]) + b_leak``; the recurrent edge carries
the previous step's spikes, as in snnTorch's RLeaky). Traces are in model time: a
hardware-time shift of each node by its depth is undone, and a neuron does not run (its
leak and upstream biases do not integrate) before its model step 0.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import nir
import numpy as np
import pytest

import spikeforge as sf
from spikeforge.backends.reference.runtime import run_reference

DT = 1e-3
IN, H, OUT = 4, 7, 3


def _lif(n: int, tau=4e-3, th=0.5, v_leak=0.0, reset=None) -> nir.LIF:
    return nir.LIF(
        tau=np.linspace(tau, 2 * tau, n), r=np.full(n, 1.5), v_leak=np.full(n, v_leak), v_threshold=np.linspace(th, 1.5 * th, n),
        v_reset=np.full(n, -0.1), metadata={"reset": reset} if reset else {},
    )


def recurrent_graph(pre_layer: bool = False, reset=None) -> nir.NIRGraph:
    """``input [-> fc0 -> pre] -> fc -> rec (LIF, w_rec all-to-all) -> fc2 -> li -> output``."""
    r = np.random.default_rng(11)
    nodes = {
        "input": nir.Input(input_type={"input": np.array([IN])}),
        "fc": nir.Affine(weight=r.normal(size=(H, IN)) * 1.5, bias=np.full(H, 0.1)),
        "rec": _lif(H, v_leak=0.05, reset=reset),
        "w_rec": nir.Linear(weight=r.normal(size=(H, H)) * 0.6),
        "fc2": nir.Affine(weight=r.normal(size=(OUT, H)), bias=np.full(OUT, 0.2)),
        "li": nir.LI(tau=np.full(OUT, 5e-3), r=np.ones(OUT), v_leak=np.zeros(OUT)),
        "output": nir.Output(output_type={"output": np.array([OUT])}),
    }
    edges = [("fc", "rec"), ("rec", "w_rec"), ("w_rec", "rec"), ("rec", "fc2"), ("fc2", "li"), ("li", "output")]
    if pre_layer:
        nodes["fc0"] = nir.Affine(weight=r.normal(size=(IN, IN)) * 1.5, bias=np.full(IN, 0.3))
        nodes["pre"] = _lif(IN, th=0.3, v_leak=0.1)
        edges = [("input", "fc0"), ("fc0", "pre"), ("pre", "fc")] + edges
    else:
        edges = [("input", "fc")] + edges
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def _disc(p: nir.LIF | nir.LI):
    a = np.exp(-DT / p.tau)
    return a, (1 - a) * p.r, (1 - a) * p.v_leak


def hand_loop(g: nir.NIRGraph, x: np.ndarray) -> dict[str, np.ndarray]:
    """Model-time (zero-delay) loop of :func:`recurrent_graph`."""
    n = g.nodes
    Bn = x.shape[1]
    st = {"pre": np.zeros((Bn, IN)), "rec": np.zeros((Bn, H)), "li": np.zeros((Bn, OUT))}
    s_rec = np.zeros((Bn, H))
    rec = {"pre": [], "rec": [], "li": []}

    def lif(name, inp):
        p = n[name]
        a, gg, b = _disc(p)
        u = a * st[name] + gg * inp + b
        s = (u > p.v_threshold).astype(float)
        subtract = p.metadata.get("reset") == "subtract"
        st[name] = np.where(s > 0, u - p.v_threshold if subtract else p.v_reset, u)
        rec[name].append(s)
        return s

    for t in range(x.shape[0]):
        h = x[t]
        if "pre" in n:
            h = lif("pre", h @ n["fc0"].weight.T + n["fc0"].bias)
        s_rec = lif("rec", h @ n["fc"].weight.T + n["fc"].bias + s_rec @ n["w_rec"].weight.T)
        a, gg, b = _disc(n["li"])
        st["li"] = a * st["li"] + gg * (s_rec @ n["fc2"].weight.T + n["fc2"].bias) + b
        rec["li"].append(st["li"])
    return {k: np.stack(v) for k, v in rec.items() if v}


def _x(T=50, Bn=3, seed=0) -> np.ndarray:
    return (np.random.default_rng(seed).random((T, Bn, IN)) < 0.5).astype(float)


@pytest.mark.parametrize("pre_layer", [False, True], ids=["cycle_at_depth1", "cycle_at_depth2"])
@pytest.mark.parametrize("reset", [None, "subtract"])
def test_recurrent_graph_matches_hand_loop(pre_layer: bool, reset) -> None:
    g = recurrent_graph(pre_layer, reset)
    x = _x()
    prog = sf.compile(g, dt=DT)
    assert prog.depths["rec"] == (2 if pre_layer else 1)
    probes = ["rec"] + (["pre"] if pre_layer else [])
    tr = sf.run(prog, x, probes=probes)
    want = hand_loop(g, x)
    for k in probes:
        assert 0 < want[k].mean() < 1, k
        np.testing.assert_array_equal(tr.probes[k], want[k], err_msg=k)
    np.testing.assert_allclose(tr.output, want["li"], rtol=1e-12, atol=1e-12)


def test_self_loop() -> None:
    """A neuron with an edge to itself (through nothing): s[t-1] adds to its input."""
    n = 3
    g = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([n])}),
            "lif": nir.LIF(tau=np.full(n, 4e-3), r=np.ones(n), v_leak=np.zeros(n), v_threshold=np.full(n, 0.4), v_reset=np.zeros(n)),
            "output": nir.Output(output_type={"output": np.array([n])}),
        },
        edges=[("input", "lif"), ("lif", "lif"), ("lif", "output")],
        type_check=False,
    )
    x = np.random.default_rng(1).uniform(0, 0.8, (30, 2, n))
    a = np.exp(-DT / 4e-3)
    v, s, want = np.zeros((2, n)), np.zeros((2, n)), []
    for t in range(30):
        u = a * v + (1 - a) * (x[t] + s)
        s = (u > 0.4).astype(float)
        v = np.where(s > 0, 0.0, u)
        want.append(s)
    np.testing.assert_array_equal(sf.run(sf.compile(g, dt=DT), x).output, np.stack(want))


def test_two_neuron_cycle_warns() -> None:
    """A loop through two neuron layers takes two hardware steps: the compiler says so."""
    n = 2
    g = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([n])}),
            "a": _lif(n),
            "b": _lif(n),
            "output": nir.Output(output_type={"output": np.array([n])}),
        },
        edges=[("input", "a"), ("a", "b"), ("b", "a"), ("b", "output")],
        type_check=False,
    )
    with pytest.warns(UserWarning, match="cycle through 2 neuron nodes"):
        prog = sf.compile(g, dt=DT)
    assert sf.run(prog, _x(10, 1)[..., :n]).output.shape == (10, 1, n)


def test_bias_and_leak_do_not_integrate_before_model_time_zero() -> None:
    """A deep layer sees exactly T steps of its bias and leak (not T + its depth)."""
    n = 2
    g = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([n])}),
            "f1": nir.Affine(weight=np.zeros((n, n)), bias=np.zeros(n)),
            "l1": nir.LIF(tau=np.full(n, 1e-2), r=np.ones(n), v_leak=np.full(n, 0.5), v_threshold=np.full(n, 0.12), v_reset=np.zeros(n)),
            "f2": nir.Affine(weight=np.zeros((n, n)), bias=np.ones(n)),
            "li": nir.LI(tau=np.full(n, 1e-2), r=np.ones(n), v_leak=np.full(n, 0.25)),
            "output": nir.Output(output_type={"output": np.array([n])}),
        },
        edges=[("input", "f1"), ("f1", "l1"), ("l1", "f2"), ("f2", "li"), ("li", "output")],
        type_check=False,
    )
    prog = sf.compile(g, dt=DT)
    T = 6
    tr = run_reference(prog, np.zeros((T, 1, n)), probes=["l1"], record_v=["l1"])
    a = np.exp(-DT / 1e-2)
    k = np.arange(1, T + 1)
    # LI: v_k = (1 - a^k) (v_leak + R * bias)
    np.testing.assert_allclose(tr.output[:, 0, 0], (1 - a**k) * 1.25, rtol=1e-12)
    # l1 (leak drive only): first membrane value is (1 - a) * v_leak
    np.testing.assert_allclose(tr.probes["l1.v"][0, 0, 0], (1 - a) * 0.5, rtol=1e-12)


def test_probes_are_in_model_time() -> None:
    g = recurrent_graph(pre_layer=True)
    prog = sf.compile(g, dt=DT)
    x = _x(20, 2)
    tr = sf.run(prog, x, probes=["input", "fc0", "pre", "fc", "rec", "li"])
    np.testing.assert_array_equal(tr.probes["input"], x)
    np.testing.assert_allclose(tr.probes["fc0"], x @ g.nodes["fc0"].weight.T + g.nodes["fc0"].bias, rtol=1e-12)
    np.testing.assert_array_equal(tr.probes["li"], tr.output)
    for k, v in tr.probes.items():
        assert v.shape[:2] == (20, 2), k
    assert tr.T == 20 and tr.backend == "reference"
    assert tr.hw_steps == 20 + prog.max_depth
    assert tr.depths["rec"] == prog.depths["rec"] and tr.depths["output"] == prog.max_depth


def test_input_shape_error() -> None:
    prog = sf.compile(recurrent_graph(), dt=DT)
    for bad in (np.zeros((5, 2, IN + 1)), np.zeros((5, IN)), np.zeros((5, 2, IN, 1))):
        with pytest.raises(sf.InputError) as e:
            sf.run(prog, bad)
        assert "\n" not in str(e.value) and str(IN) in str(e.value)


def test_non_finite_input_error() -> None:
    prog = sf.compile(recurrent_graph(), dt=DT)
    x = _x(5, 1)
    x[2, 0, 1] = np.nan
    with pytest.raises(sf.InputError, match="NaN"):
        sf.run(prog, x)


def test_unknown_probe_error() -> None:
    prog = sf.compile(recurrent_graph(), dt=DT)
    with pytest.raises(sf.InputError) as e:
        sf.run(prog, _x(5, 1), probes=["rec", "nonexistent"])
    msg = str(e.value)
    assert "nonexistent" in msg and "\n" not in msg


def test_unknown_backend_error() -> None:
    prog = sf.compile(recurrent_graph(), dt=DT)
    with pytest.raises(sf.SpikeforgeError, match="quantum"):
        sf.run(prog, _x(5, 1), backend="quantum")


def test_saved_and_loaded_program_gives_identical_traces(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = recurrent_graph(pre_layer=True, reset="subtract")
        # a residual join too, so the program holds a balancing delay
        g.nodes["skip"] = nir.Affine(weight=np.ones((OUT, IN)) * 0.1, bias=np.zeros(OUT))
        g.edges += [("pre", "skip"), ("skip", "li")]
        prog = sf.compile(g, dt=DT)
    assert prog.graph.by_op("delay")
    p = tmp_path / "prog.h5"
    prog.save(p)
    loaded = sf.Program.load(p)
    assert (loaded.target, loaded.dt, loaded.method, loaded.passes) == (prog.target, prog.dt, prog.method, prog.passes)
    assert loaded.depths == prog.depths
    assert set(loaded.graph.edges) == set(prog.graph.edges)
    for name, n in prog.graph.nodes.items():
        m = loaded.graph.nodes[name]
        assert (m.op, m.in_shape, m.out_shape, dict(m.attrs)) == (n.op, n.in_shape, n.out_shape, dict(n.attrs)), name
        for k, v in n.params.items():
            np.testing.assert_array_equal(m.params[k], v)
    x = _x(30, 2, seed=4)
    names = list(prog.graph.nodes)
    a, b = sf.run(prog, x, probes=names), sf.run(loaded, x, probes=names)
    np.testing.assert_array_equal(a.output, b.output)
    for k in names:
        np.testing.assert_array_equal(a.probes[k], b.probes[k], err_msg=k)
    # sf.run also takes the path
    np.testing.assert_array_equal(sf.run(p, x).output, a.output)


def test_run_is_deterministic_and_batch_independent() -> None:
    prog = sf.compile(recurrent_graph(pre_layer=True), dt=DT)
    x = _x(25, 4, seed=9)
    full = sf.run(prog, x).output
    np.testing.assert_array_equal(full, sf.run(prog, x).output)
    for bi in range(4):
        np.testing.assert_array_equal(sf.run(prog, x[:, bi : bi + 1]).output, full[:, bi : bi + 1])
