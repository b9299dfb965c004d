"""sf.energy: op counts and joules against values computed by hand on a tiny network, graded
and binary-realised ASN events, float programs, the missing-probe error, and the CLI."""

from __future__ import annotations

import argparse
import dataclasses
import json

import numpy as np
import pytest

import spikeforge as sf
from spikeforge.backends.trace import Trace
from spikeforge.compiler.energy_tables import ENERGY_TABLES, PJ
from spikeforge.compiler.ir import Graph, Node
from spikeforge.compiler.program import Program
from spikeforge.compiler.targets import TARGETS, CoreLimits
from tests.backends.reference import intnets

LOIHI = ENERGY_TABLES["loihi2"]


def tiny(hidden: str = "int_lif", realization: str = "graded") -> Program:
    """input (2) -> fc1 [[1,0],[2,3],[0,4]] -> n1 (3) -> fc2 [[5,0,6]] -> n2 (1) -> output.

    Fan-out: input 0 -> n1 rows 0, 1; input 1 -> rows 1, 2; n1_0 -> n2, n1_1 -> nothing
    (zero weight), n1_2 -> n2."""
    rng = np.random.default_rng(0)
    w1 = np.array([[1, 0], [2, 3], [0, 4]])
    w2 = np.array([[5, 0, 6]])
    kw = {"alpha": 0, "D": 4} if hidden == "int_asn" else {}
    nodes = [
        intnets.input_node((2,)),
        Node("fc1", "int_dense", {"weight": w1, "wexp": np.zeros(3, np.int64)}, {}, (2,), (3,)),
        intnets.neuron("n1", hidden, (3,), rng, **kw),
        Node("fc2", "int_dense", {"weight": w2, "wexp": np.zeros(1, np.int64)}, {}, (3,), (1,)),
        intnets.neuron("n2", "int_lif", (1,), rng),
        intnets.output_node((1,)),
    ]
    edges = [("input", "fc1"), ("fc1", "n1"), ("n1", "fc2"), ("fc2", "n2"), ("n2", "output")]
    return intnets.program(nodes, edges, realization)


def tiny_trace(n1=((0, 1, 0), (1, 0, 1))) -> Trace:
    """A hand-written activity (T = 2, B = 1), model time."""
    x = np.array([[[1, 0]], [[1, 1]]], dtype=np.int64)
    s1 = np.array(n1, dtype=np.int64).reshape(2, 1, 3)
    s2 = np.array([[[0]], [[1]]], dtype=np.int64)
    return Trace(output=s2.astype(float), probes={"input": x, "n1": s1, "n2": s2}, backend="hand", hw_steps=4)


def test_hand_computed_counts_and_joules() -> None:
    prog = tiny()
    assert sf.activity_probes(prog) == ["input", "n1", "n2"]
    e = sf.energy(prog, tiny_trace(), target="loihi2")
    rec = {r.name: r for r in e.layers}
    # synaptic ops: input events x0 twice, x1 once, fan-out 2 each -> 6 into n1;
    # n1 events n1_0, n1_1, n1_2 once, fan-out 1, 0, 1 -> 2 into n2
    assert (rec["input"].events, rec["n1"].syn_ops, rec["n2"].syn_ops) == (3, 6, 2)
    assert e.syn_ops == 8 and rec["input"].syn_ops == 0
    # active updates: n1 t0 receives on rows 0, 1 (emits row 1) -> 2; t1 all 3 -> 5 of 6
    # n2: t0 receives nothing (n1_1 has no synapse), emits nothing -> idle; t1 active
    assert (rec["n1"].updates_active, rec["n1"].updates_idle) == (5, 1)
    assert (rec["n2"].updates_active, rec["n2"].updates_idle) == (1, 1)
    # messages (one core per layer, all in tile (0, 0)): input 3, n1 2 (n1_1 has no target), n2 0
    assert (rec["input"].messages, rec["n1"].messages, rec["n2"].messages) == (3, 2, 0)
    assert rec["input"].messages_by_hops == {0: 3} and rec["n1"].hops_ew == rec["n1"].hops_ns == 0
    assert rec["n1"].joules["synaptic"] == pytest.approx(6 * 23.6 * PJ, rel=1e-12)
    assert rec["n1"].joules["neuron"] == pytest.approx((5 * 81 + 1 * 52) * PJ, rel=1e-12)
    assert rec["n1"].joules["routing"] == pytest.approx(2 * 1.7 * PJ, rel=1e-12)
    dynamic = (8 * 23.6 + 6 * 81 + 2 * 52 + 5 * 1.7) * PJ
    static = 0.1 * 1 * 1 * 4 * 10e-6  # W x chips x samples x hardware steps x step time
    assert e.dynamic_joules == pytest.approx(dynamic, rel=1e-12)
    assert e.static_joules == pytest.approx(static, rel=1e-12)
    assert e.total_joules == pytest.approx(dynamic + static, rel=1e-12)
    assert e.per_inference_joules == pytest.approx(dynamic + static, rel=1e-12)
    # NeuroBench-style: binary input and spikes -> all ACs; sparsity over n1, n2 outputs
    assert (e.effective_acs, e.effective_macs) == (8.0, 0.0)
    assert e.activation_sparsity == pytest.approx(1 - 4 / 8)
    assert e.ann_macs == 6  # nonzero weights: 4 in fc1, 2 in fc2
    assert e.ann_joules == pytest.approx(6 * 4.6 * PJ) and e.snn_proxy_joules == pytest.approx(8 * 0.9 * PJ)


def test_hops_on_a_small_mesh() -> None:
    """2 neurons per core, 1 core per tile, 2x2 tiles: n1 on cores 0 (0,0) and 1 (1,0), n2 on core 2 (0,1)."""
    core = CoreLimits(neurons_per_core=2, synapse_memory_bits=10**6, fan_in_per_core=16, cores_per_chip=4, cores_per_tile=1, mesh=(2, 2))
    t = dataclasses.replace(TARGETS["loihi2"], name="mesh", core=core)
    e = sf.energy(tiny(), tiny_trace(), target=t)
    assert [(c.layer, c.start, c.stop, c.x, c.y) for c in e.mapping.cores] == [("n1", 0, 2, 0, 0), ("n1", 2, 3, 1, 0), ("n2", 0, 1, 0, 1)]
    rec = {r.name: r for r in e.layers}
    # input (injected at (0,0)): x0 -> core 0 only; x1 -> cores 0 and 1 (1 east-west hop)
    assert (rec["input"].messages, rec["input"].hops_ew, rec["input"].hops_ns, rec["input"].messages_by_hops) == (4, 1, 0, {0: 3, 1: 1})
    # n1_0 (0,0) -> (0,1): 1 NS hop; n1_2 (1,0) -> (0,1): 1 EW + 1 NS
    assert (rec["n1"].messages, rec["n1"].hops_ew, rec["n1"].hops_ns, rec["n1"].messages_by_hops) == (2, 1, 2, {1: 1, 2: 1})
    assert rec["input"].joules["routing"] == pytest.approx((4 * 1.7 + 3.0) * PJ, rel=1e-12)
    assert rec["n1"].joules["routing"] == pytest.approx((2 * 1.7 + 3.0 + 2 * 4.0) * PJ, rel=1e-12)


@pytest.mark.parametrize("realization", ["graded", "binary"])
def test_asn_events(realization) -> None:
    """ASN emissions (raw c - alpha) 2 at n1_0 and 3 at n1_1 (step 0), 1 at n1_2 (step 1): three
    graded spikes (payload 0 is no spike), or 2 + 3 + 1 binary spikes on virtual sub-steps."""
    prog = tiny("int_asn", realization)
    tr = tiny_trace(n1=((2, 3, 0), (0, 0, 1)))
    e = sf.energy(prog, tr)
    rec = {r.name: r for r in e.layers}
    # graded: events n1_0, n1_1, n1_2 -> 3 events; binary: 2 + 3 + 1 = 6 spikes
    want_events = 3 if realization == "graded" else 6
    assert rec["n1"].events == want_events
    assert rec["n1"].graded_events == (3 if realization == "graded" else 0)
    # syn ops into n2: fan-out (1, 0, 1): graded 1 + 0 + 1 = 2; binary 2*1 + 3*0 + 1*1 = 3
    want_ops = 2 if realization == "graded" else 3
    assert rec["n2"].syn_ops == want_ops
    assert rec["n2"].syn_ops_graded == (want_ops if realization == "graded" else 0)
    assert e.effective_macs == (want_ops if realization == "graded" else 0)


def test_float_program_counts_like_integer(rng) -> None:
    """A run of a real program: synaptic ops equal spikes x nonzero fan-out summed by hand."""
    from spikeforge.backends.projections import projections

    prog = intnets.mlp_program()
    x = rng.random((15, 3) + prog.input_shape) * 1.5
    tr = sf.run(prog, x, probes=sf.activity_probes(prog))
    e = sf.energy(prog, tr)
    want = 0
    for p in projections(prog):
        s = tr.probes[p.src].reshape(15, 3, -1) != 0
        want += int(sum(s[t, b] @ (p.matrix != 0).sum(axis=0) for t in range(15) for b in range(3)))
    assert e.syn_ops == want > 0
    # the same network with float parameters: counts follow its own spikes the same way
    g = prog.graph
    nodes = {k: n for k, n in g.nodes.items()}
    for k in ("fc1", "fc2", "fc3"):
        n = nodes[k]
        nodes[k] = Node(k, "affine", {"weight": np.asarray(n.params["weight"], float), "bias": np.zeros(n.out_shape)}, {}, n.in_shape, n.out_shape)
    for k in ("n1", "n2"):
        n = nodes[k]
        sh = n.out_shape
        nodes[k] = Node(k, "lif", {"a": np.full(sh, 0.5), "g": np.ones(sh), "v_threshold": np.full(sh, 50.0), "v_reset": np.zeros(sh)}, {"reset": "zero"}, sh, sh)
    n = nodes["n3"]
    nodes["n3"] = Node("n3", "li", {"a": np.full(n.out_shape, 0.5), "g": np.ones(n.out_shape)}, {}, n.in_shape, n.out_shape)
    nodes["input"] = Node("input", "input", {}, {}, g.nodes["input"].in_shape, g.nodes["input"].out_shape)
    fprog = Program(graph=Graph(nodes, g.edges, {}), target="float", dt=1.0, method="exact")
    ftr = sf.run(fprog, (x > 0.7).astype(float), probes=sf.activity_probes(fprog))
    fe = sf.energy(fprog, ftr)
    fwant = 0
    for p in projections(fprog):
        s = ftr.probes[p.src].reshape(15, 3, -1) != 0
        fwant += int((s.sum(axis=(0, 1)) * (p.matrix != 0).sum(axis=0)).sum())
    assert fe.syn_ops == fwant > 0
    assert fe.effective_macs == 0  # binary input, LIF spikes: all ACs


def test_missing_probe_is_one_clear_line() -> None:
    tr = tiny_trace()
    del tr.probes["n1"]
    with pytest.raises(sf.SpikeforgeError, match=r"lacks probe\(s\) n1; run it with sf.run\(prog, x, backend=..., probes=.*activity_probes\(prog\)\)") as ei:
        sf.energy(tiny(), tr)
    assert "\n" not in str(ei.value)
    with pytest.raises(sf.SpikeforgeError, match="target 'float' has no energy table"):
        sf.energy(tiny(), tiny_trace(), target="float")
    with pytest.raises(sf.SpikeforgeError, match="target 'float' has no core limits to map onto; targets with core limits: loihi2"):
        sf.energy(tiny(), tiny_trace(), target="float", table="loihi2")
    with pytest.raises(sf.SpikeforgeError, match="unknown energy table 'nope'; available: loihi, loihi2, horowitz45"):
        sf.energy(tiny(), tiny_trace(), table="nope")


def test_tables_and_outputs(tmp_path) -> None:
    e = sf.energy(tiny(), tiny_trace(), table="loihi")
    assert e.energy_table.name == "loihi" and e.dynamic_joules == pytest.approx((8 * 23.6 + 6 * 81 + 2 * 52 + 5 * 1.7) * PJ)
    h = sf.energy(tiny(), tiny_trace(), table="horowitz45")
    assert h.dynamic_joules == pytest.approx(8 * 0.9 * PJ) and h.static_joules == 0
    md = e.table()
    assert "| n1 | int_lif | 3 | 1 | 3 |" in md and "per inference" in md
    e.to_json(tmp_path / "e.json")
    d = json.loads((tmp_path / "e.json").read_text())
    assert d["total_joules"] == e.total_joules and d["syn_ops"] == 8 and d["layers"][1]["updates_active"] == 5
    assert any("ASSUMPTION" in a for a in d["energy_table"]["assumptions"])
    e.plot(tmp_path / "e.png")
    assert (tmp_path / "e.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.json", "e.png"]  # no temporary files left


def _cli(argv):
    from spikeforge import cli_energy

    p = argparse.ArgumentParser(prog="spikeforge")
    sub = p.add_subparsers(dest="command", required=True)
    cli_energy.add_parser(sub)
    a = p.parse_args(argv)
    return a.fn(a)


def test_cli_energy(tmp_path, rng, capsys) -> None:
    from spikeforge.cli import BadInput

    prog = intnets.mlp_program()
    prog.save(tmp_path / "p.h5")
    x = rng.random((8, 2) + prog.input_shape) * 1.5
    np.save(tmp_path / "x.npy", x)
    assert _cli(["energy", str(tmp_path / "p.h5"), "--input", str(tmp_path / "x.npy"), "-o", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "| n1 | int_lif |" in out and "wrote" in out
    d = json.loads((tmp_path / "out" / "energy.json").read_text())
    want = sf.energy(prog, sf.run(prog, x, probes=sf.activity_probes(prog)))
    assert d["total_joules"] == want.total_joules and d["syn_ops"] == want.syn_ops
    assert (tmp_path / "out" / "energy.png").exists() and "| core | layer |" in (tmp_path / "out" / "mapping.md").read_text()
    np.save(tmp_path / "bad.npy", x[:, :, :3])
    with pytest.raises(BadInput, match=r"input shape \(8, 2, 3\); expected \(T, B, 20\)"):
        _cli(["energy", str(tmp_path / "p.h5"), "--input", str(tmp_path / "bad.npy")])
    with pytest.raises(BadInput, match="--target float has no core limits"):
        _cli(["energy", str(tmp_path / "p.h5"), "--input", str(tmp_path / "x.npy"), "--target", "float"])


def test_every_neuron_op_has_an_event_rule() -> None:
    """A new neuron op (e.g. the SPE ops) must say how its output counts as events."""
    from spikeforge.compiler.energy import EVENT_KINDS
    from spikeforge.compiler.ir import NEURON_OPS

    assert NEURON_OPS - set(EVENT_KINDS) == set()
