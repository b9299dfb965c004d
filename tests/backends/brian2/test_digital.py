"""Brian2 digital backend == integer reference, spike for spike (``assert_array_equal``).

Every neuron node is probed (raw integers in model time), plus ``Trace.output`` and the
overflow warnings, for hand-built programs (``tests/backends/reference/intnets.py``: LIF and
CUBA-LIF MLPs, conv nets, a residual net with delays, recurrent nets; ASN/NASN), compiled torch
networks (ASN / NASN / I-LIF / LIF, graded and binary realizations), hypothesis-generated
random programs, a compiled MTC network (``int_mtc``) and the bundled trained NASN digits model.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spikeforge as sf
from spikeforge.backends import run
from spikeforge.backends.projections import groups
from spikeforge.compiler.errors import InputError, SpikeforgeError
from spikeforge.compiler.ir import Node
from tests.backends.reference import intnets

pytestmark = pytest.mark.brian2

REALIZATIONS = ("graded", "binary")


def neuron_names(prog) -> list[str]:
    return [m for m in groups(prog) if m != prog.input_name]


def assert_same(prog, x, realizations=REALIZATIONS, expect_warnings: bool | None = None) -> dict:
    """Reference vs Brian2 on every neuron node, the output and the warnings; returns the probes."""
    names = neuron_names(prog)
    ref = run(prog, x, probes=names)
    assert any(ref.probes[m].any() for m in names), "degenerate case: no activity"
    for r in realizations:
        got = run(prog, x, backend="brian2", probes=names, realization=r)
        assert got.backend == "brian2" and got.hw_steps == ref.hw_steps and got.depths == ref.depths
        for m in names:
            np.testing.assert_array_equal(got.probes[m], ref.probes[m], err_msg=f"{m} ({r})")
        np.testing.assert_array_equal(got.output, ref.output, err_msg=f"output ({r})")
        assert got.warnings == ref.warnings, r
    if expect_warnings is not None:
        assert bool(ref.warnings) == expect_warnings, ref.warnings
    return ref.probes


ASN = {"alpha": 1, "D": 4}


def cuba_program():
    """A CUBA-LIF MLP: every current decays (``du < 4095``), so the synaptic state matters."""
    prog = intnets.mlp_program(seed=2, sizes=(16, 20, 12, 4))
    rng = np.random.default_rng(2)
    for n in prog.graph.nodes.values():
        if n.op in ("int_lif", "int_li"):
            n.params["du"][...] = rng.choice([512, 1024, 2048, 3000], size=n.params["du"].shape)
    return prog

CASES = {
    "mlp-lif-zero": lambda: intnets.mlp_program(),
    "mlp-lif-subtract": lambda: intnets.mlp_program(reset="subtract", seed=1),
    "mlp-cuba": cuba_program,
    "mlp-asn": lambda: intnets.mlp_program(hidden="int_asn", asn_kw=ASN),
    "mlp-nasn": lambda: intnets.mlp_program(hidden="int_asn", asn_kw={"alpha": -2, "D": 7, "N": 7}, seed=4),
    "conv-lif": lambda: intnets.conv_program(),
    "conv-asn": lambda: intnets.conv_program(hidden="int_asn", asn_kw={"alpha": 0, "D": 3}),
    "residual-lif": lambda: intnets.residual_program(),
    "residual-asn": lambda: intnets.residual_program(hidden="int_asn", asn_kw=ASN, user_delay=3),
    "recurrent-lif": lambda: intnets.recurrent_program(),
    "recurrent-asn": lambda: intnets.recurrent_program(hidden="int_asn", asn_kw={"alpha": 0, "D": 2}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_handbuilt_programs_equal_reference(case):
    prog = CASES[case]()
    x = np.random.default_rng(3).random((10, 2) + prog.input_shape) * 1.5
    assert_same(prog, x)


def test_cuba_case_really_has_synaptic_decay():
    prog = CASES["mlp-cuba"]()
    du = np.concatenate([np.ravel(n.params["du"]) for n in prog.graph.nodes.values() if n.op == "int_lif"])
    assert (du < 4095).all()


def test_overflow_counts_equal_reference():
    """Wide inputs and heavy weights: currents wrap and voltages saturate; the counts agree."""
    prog = intnets.mlp_program(sizes=(30, 12, 3), input_q=(0, 12, False), seed=5)
    x = np.random.default_rng(0).integers(0, 4096, size=(8, 2, 30)).astype(float)
    assert_same(prog, x, expect_warnings=True)


def test_unbalanced_join_ignores_early_input():
    """A skip path shorter than the node's depth (no balancing delay): input arriving before the
    node starts is ignored, as in the reference."""
    rng = np.random.default_rng(7)
    nodes = [
        intnets.input_node((6,), exp=0, bits=1),
        intnets.dense("fc1", 6, 8, rng), intnets.neuron("n1", "int_lif", (8,), rng),
        intnets.dense("fc2", 8, 5, rng), intnets.neuron("n2", "int_lif", (5,), rng),
        intnets.dense("fcs", 6, 5, rng), intnets.output_node((5,)),
    ]
    edges = [("input", "fc1"), ("fc1", "n1"), ("n1", "fc2"), ("fc2", "n2"), ("input", "fcs"), ("fcs", "n2"), ("n2", "output")]
    prog = intnets.program(nodes, edges)
    assert prog.depths["n2"] == 2
    x = np.random.default_rng(1).random((9, 3, 6)) * 1.5
    assert_same(prog, x)


def test_delayed_input_and_delayed_graded_spikes():
    """Explicit delays right after the input (values up to 2^5 - 1) and after a graded layer."""
    rng = np.random.default_rng(11)
    nodes = [
        intnets.input_node((6,), exp=-3, bits=5),
        Node("d0", "delay", {"steps": np.array([0, 1, 2, 2, 3, 1])}, {"balance": False}, (6,), (6,)),
        intnets.dense("fc1", 6, 8, rng), intnets.neuron("n1", "int_asn", (8,), rng, alpha=-1, D=5),
        Node("d1", "delay", {"steps": np.full((8,), 2)}, {"balance": False}, (8,), (8,)),
        intnets.dense("fc2", 8, 4, rng), intnets.neuron("n2", "int_li", (4,), rng), intnets.output_node((4,)),
    ]
    edges = [("input", "d0"), ("d0", "fc1"), ("fc1", "n1"), ("n1", "d1"), ("d1", "fc2"), ("fc2", "n2"), ("n2", "output")]
    prog = intnets.program(nodes, edges)
    x = np.random.default_rng(4).random((10, 2, 6)) * 3
    probes = assert_same(prog, x)
    assert probes["n1"].max() > 1


def test_input_probe_and_clipped_input_warning():
    prog = intnets.mlp_program(input_q=(-1, 2, False))
    x = np.random.default_rng(2).random((6, 2, 20)) * 4
    ref = run(prog, x, probes=["input"])
    got = run(prog, x, backend="brian2", probes=["input"])
    np.testing.assert_array_equal(got.probes["input"], ref.probes["input"])
    assert got.warnings == ref.warnings and any("clipped" in k for k in got.warnings)


def _count_runs(monkeypatch) -> list:
    import brian2

    calls: list = []
    real = brian2.Network.run

    def run(self, duration, *a, **k):
        calls.append(duration)
        return real(self, duration, *a, **k)

    monkeypatch.setattr(brian2.Network, "run", run)
    return calls


def test_quiet_layers_start_early_and_one_layer_runs_as_one_segment(monkeypatch):
    """Without biases every layer is quiet at zero: it starts at step 0 (only the ends of the
    shallower layers split the run), and a single neuron layer is one ``Network.run``."""
    from spikeforge.backends.brian2 import digital, device

    prog = intnets.mlp_program(sizes=(12, 10, 6, 3), seed=3)
    for n in prog.graph.nodes.values():
        if "bias_mant" in n.params:
            n.params["bias_mant"][...] = 0
    x = np.random.default_rng(0).random((9, 2, 12)) * 1.5
    calls = _count_runs(monkeypatch)
    assert_same(prog, x)
    names = neuron_names(prog)
    with device.target("numpy"):
        dn = digital.build(prog, x)
    assert dn.early_start() == set(names)
    assert len(calls) == len(REALIZATIONS) * len({prog.depths[m] for m in names})  # one segment per distinct end
    one = intnets.program([intnets.input_node((12,), exp=0, bits=1), intnets.dense("fc", 12, 5, np.random.default_rng(1)),
                           intnets.neuron("n", "int_lif", (5,), np.random.default_rng(1), bias=(0, 1)), intnets.output_node((5,))],
                          [("input", "fc"), ("fc", "n"), ("n", "output")])
    calls.clear()
    assert_same(one, (np.random.default_rng(2).random((20, 3, 12)) < 0.5).astype(float), realizations=("graded",))
    assert len(calls) == 1


def test_biased_layers_keep_their_windows():
    """A bias integrates from the first step: such a node is not quiet and starts at its depth."""
    from spikeforge.backends.brian2 import digital, device

    prog = intnets.mlp_program(seed=1)
    x = np.random.default_rng(0).random((5, 1) + prog.input_shape)
    with device.target("numpy"):
        dn = digital.build(prog, x)
    biased = {m for m in neuron_names(prog) if np.any(prog.graph.nodes[m].params.get("bias_mant", 0))}
    assert biased and not (biased & dn.early_start())
    win, sched = dn.windows(), dn.schedule()
    assert all(sched[m] == win[m] for m in biased)


def test_generated_code_hoists_folds_and_renames():
    from spikeforge.backends.brian2 import device, generate
    from spikeforge.models import declare

    assert generate.fold_shifts("shl(a, 6) + shr(x - y, 16) + shl(b, k)") == "a * 64.0 + floor((x - y) * 1.52587890625e-05) + shl(b, k)"
    assert generate.brian_name("us") == "sf_us" and generate.brian_name("um") == "sf_um" and generate.brian_name("uus") == "uus"
    prog = intnets.mlp_program(seed=2)
    with device.target("numpy"):
        from brian2 import Clock, ms

        node = prog.graph.nodes["n1"]
        _, _, lay = generate.neuron_group(declare.find(node.op), node, 2, "graded", Clock(dt=1 * ms), "sfgtest")
    assert "shl(" not in lay.code.split("\n")[0] and "sfinv" in lay.code and not lay.quiet


# ----------------------------------------------------------------------------- compiled torch nets


torch = pytest.importorskip("torch")


def _compiled(net, x):
    g = sf.trace(net.double(), torch.from_numpy(x[:, :1]))
    return sf.compile(g, target="loihi2", calibration=x)


def _mlp(kind: str, D: int, seed: int):
    from spikeforge.models import ASN, ILIF, LI, LIF, NASN, QSequential, QuantInput, QuantLinear
    from tests.test_integer_end_to_end import _init

    hidden = {"ASN": lambda: ASN(D=D, alpha=-1.2), "NASN": lambda: NASN(D=D, alpha=0.6), "ILIF": lambda: ILIF(D=D),
              "LIF": lambda: LIF(beta=0.8, threshold=0.7, reset="subtract")}[kind]()
    return _init(QSequential(
        QuantInput(exp=-4, bits=8),
        QuantLinear(16, 24), hidden,
        QuantLinear(24, 12, per_channel=True), LIF(beta=0.75, threshold=0.8, reset="zero"),
        QuantLinear(12, 5), LI(beta=0.9),
    ), seed=seed)


@pytest.mark.parametrize("kind,D,T", [("ASN", 4, 4), ("NASN", 4, 1), ("NASN", 15, 3), ("ILIF", 1, 4), ("LIF", 1, 5)])
def test_compiled_torch_mlp_equals_reference(kind, D, T):
    net = _mlp(kind, D, seed=D + 10 * T)
    x = np.random.default_rng(D + T).uniform(0, 16, size=(T, 4, 16))
    prog = _compiled(net, x)
    assert {n.op for n in prog.graph.nodes.values()} >= {"int_lif", "int_li"}
    assert_same(prog, x)


def test_compiled_torch_conv_equals_reference():
    from spikeforge.models import ASN, LI, NASN, QSequential, QuantConv2d, QuantInput, QuantLinear, Seq, SumPool2d
    from tests.test_integer_end_to_end import _init

    net = _init(QSequential(
        QuantInput(exp=-4),
        Seq(QuantConv2d(2, 4, 3, padding=1)), ASN(D=4, alpha=-1.0),
        SumPool2d(2),
        Seq(QuantConv2d(4, 6, 3, padding=1, stride=2, per_channel=True)), NASN(D=4, alpha=0.6),
        torch.nn.Flatten(start_dim=2),
        QuantLinear(6 * 2 * 2, 5), LI(beta=0.9),
    ), seed=5)
    x = np.random.default_rng(5).uniform(0, 8, size=(3, 3, 2, 8, 8))
    assert_same(_compiled(net, x), x)


def test_trained_nasn_digits_model_equals_reference():
    """The bundled trained NASN digits model (``spikeforge demo``) on a few held-out digits."""
    import json

    from spikeforge.demo import INFO, MODEL, digits_split, encode
    from spikeforge.models.zoo import digits_net

    info = json.loads(INFO.read_text())
    net = digits_net("nasn", qat=True)
    net.load_state_dict(torch.load(MODEL, weights_only=True))
    net.eval()
    xtr, _, xte, yte = digits_split(info.get("split_seed", 0), info.get("n_test", 360))
    T = int(info.get("T", 1))
    g = sf.trace(net, torch.from_numpy(encode(xtr[:1], T)).float())
    prog = sf.compile(g, target="loihi2", calibration=encode(xtr[:256], T))
    x = encode(xte[:12], T)
    probes = assert_same(prog, x)
    assert np.unique(np.concatenate([v.ravel() for v in probes.values()])).size > 2  # graded spikes occur


def test_compiled_mtc_network_equals_reference():
    """A compiled MTC network (``int_mtc``: four tanh-table lookups per step, graded output every
    step) -> ``int_li`` readout; the declaration's table ``lut`` runs as a Brian2 ``TimedArray``,
    and the states ``us``/``um`` (Brian2 unit names) are renamed in the generated code."""
    from tests.compiler.test_compile_mtc import _net, _x

    x = _x(T=150)
    prog = sf.compile(sf.trace(_net(), torch.from_numpy(x)), target="loihi2", calibration=x)
    assert "int_mtc" in {n.op for n in prog.graph.nodes.values()}
    probes = assert_same(prog, x)
    mtc = [v for m, v in probes.items() if prog.graph.nodes[m].op == "int_mtc"][0]
    assert mtc.min() == 0 and mtc.max() == 256 and ((mtc > 0) & (mtc < 256)).any()  # the whole output range


# ----------------------------------------------------------------------------- random programs


@st.composite
def random_programs(draw):
    """input -> (dense -> neuron){1..3} -> int_li, random ops/params/sizes, optional self-recurrence."""
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    n_in = draw(st.integers(1, 8))
    L = draw(st.integers(1, 3))
    ops = draw(st.lists(st.sampled_from(["int_lif", "int_asn"]), min_size=L, max_size=L))
    widths = draw(st.lists(st.integers(1, 9), min_size=L, max_size=L))
    recurrent = draw(st.booleans())
    bits = draw(st.integers(1, 6))
    nodes = [intnets.input_node((n_in,), exp=-bits + 1, bits=bits)]
    edges = []
    prev, prev_n = "input", n_in
    for k, (op, w) in enumerate(zip(ops, widths), start=1):
        nodes.append(intnets.dense(f"fc{k}", prev_n, w, rng))
        kw = ({"alpha": int(rng.integers(-2, 2)), "D": int(rng.integers(1, 6))} if op == "int_asn"
              else {"reset": str(rng.choice(["zero", "subtract"])), "plain": bool(rng.integers(0, 2))})
        nodes.append(intnets.neuron(f"n{k}", op, (w,), rng, **kw))
        edges += [(prev, f"fc{k}"), (f"fc{k}", f"n{k}")]
        if recurrent and k == 1:
            nodes.append(intnets.dense("fcr", w, w, rng, wexp=(0, 1)))
            edges += [(f"n{k}", "fcr"), ("fcr", f"n{k}")]
        prev, prev_n = f"n{k}", w
    nodes += [intnets.dense("fco", prev_n, 2, rng), intnets.neuron("out", "int_li", (2,), rng), intnets.output_node((2,))]
    edges += [(prev, "fco"), ("fco", "out"), ("out", "output")]
    return intnets.program(nodes, edges), seed


@settings(max_examples=12, deadline=None)
@given(case=random_programs(), T=st.integers(1, 6), B=st.integers(1, 3))
def test_random_programs_equal_reference(case, T, B):
    prog, seed = case
    x = np.random.default_rng(seed).random((T, B) + prog.input_shape)
    names = neuron_names(prog)
    ref = run(prog, x, probes=names)
    for r in REALIZATIONS:
        got = run(prog, x, backend="brian2", probes=names, realization=r)
        for m in names:
            np.testing.assert_array_equal(got.probes[m], ref.probes[m], err_msg=f"{m} ({r})")
        np.testing.assert_array_equal(got.output, ref.output)
        assert got.warnings == ref.warnings


# ----------------------------------------------------------------------------- errors and isolation


def test_errors_are_clear():
    prog = intnets.mlp_program()
    x = np.zeros((3, 1, 20))
    with pytest.raises(SpikeforgeError, match="unknown option"):
        run(prog, x, backend="brian2", record_v=["n1"])
    with pytest.raises(SpikeforgeError, match="realization"):
        run(prog, x, backend="brian2", realization="payload")
    with pytest.raises(InputError, match="neuron and input nodes only"):
        run(prog, x, backend="brian2", probes=["fc1"])
    with pytest.raises(InputError, match="shape"):
        run(prog, np.zeros((3, 1, 7)), backend="brian2")
    g = prog.graph
    bad_node = Node("n1", "int_weird", dict(g.nodes["n1"].params), {}, (32,), (32,))
    bad = intnets.program([bad_node if n.name == "n1" else n for n in g.nodes.values()], g.edges)
    with pytest.raises(SpikeforgeError, match=r"node 'n1' has op 'int_weird'.*supported neuron ops.*int_asn, int_li, int_lif"):
        sf.backends.get_runner("brian2")(bad, x)
    big = intnets.mlp_program()
    big.graph.nodes["n1"].params["dv"][0] = 5000
    with pytest.raises(SpikeforgeError, match=r"'dv' must lie in \[0, 4095\]"):
        run(big, x, backend="brian2")


def test_float_program_is_refused_with_a_pointer_to_analog():
    from spikeforge.demo import DATA

    prog = sf.compile(sf.load_nir(DATA / "lif_digits.nir"), target="float")
    with pytest.raises(SpikeforgeError, match="brian2-analog"):
        run(prog, np.zeros((2, 1) + prog.input_shape), backend="brian2")


def test_backend_does_not_import_torch():
    code = (
        "import sys, numpy as np\n"
        "sys.path.insert(0, '.')\n"
        "from tests.backends.reference import intnets\n"
        "from spikeforge.backends import run\n"
        "p = intnets.mlp_program()\n"
        "run(p, np.ones((3, 1, 20)), backend='brian2', codegen='numpy')\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    from tests.conftest import ROOT

    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
