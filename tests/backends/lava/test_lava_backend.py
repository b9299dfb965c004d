"""The Lava backend: spike-exact equality with the integer reference, in Lava's bit-accurate
simulator (``fixed_pt``), run by the ``.venv-lava`` worker.

Every neuron layer is probed and compared with ``assert_array_equal`` at every model step:
hand-built integer programs (LIF/CUBA MLP, conv, residual with user and balancing delays,
recurrent), torch networks compiled for ``loihi2`` (LIF with Lava's own LIF model, CUBA by
post-training quantization, ASN and NASN with graded spikes and with the binary expansion),
the bundled trained NASN digits model over 100 test samples, and hypothesis-generated random
small graphs (skips, delays, recurrence, mixed neuron kinds).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import spikeforge as sf
from spikeforge.backends.lava.emit import plan
from spikeforge.backends.projections import groups
from spikeforge.compiler.ir import Node
from tests.backends.reference import intnets

pytestmark = pytest.mark.lava


def neuron_names(prog) -> list[str]:
    return [m for m in groups(prog) if m != prog.input_name]


def assert_lava_equals_reference(prog, x, realization=None, native_lif=True) -> dict:
    """Run both backends; every neuron layer and the output must be identical. Returns the
    reference probes."""
    names = neuron_names(prog)
    ref = sf.run(prog, x, backend="reference", probes=names, realization=realization)
    lv = sf.run(prog, x, backend="lava", probes=names, realization=realization, native_lif=native_lif)
    for m in names:
        np.testing.assert_array_equal(lv.probes[m], ref.probes[m], err_msg=f"layer {m}")
    np.testing.assert_array_equal(lv.output, ref.output)
    assert lv.backend == "lava"
    return ref.probes


def kinds(prog, realization=None) -> dict[str, str]:
    meta, _ = plan(prog, realization)
    return {r["name"]: r["kind"] for r in meta["groups"]}


HAND_BUILT = {
    "lif-mlp": lambda: intnets.mlp_program(),
    "cuba-mlp": lambda: intnets.mlp_program(sizes=(10, 16, 4)),  # random du < 4095: current-based
    "lif-conv": lambda: intnets.conv_program(),
    "asn-conv": lambda: intnets.conv_program(hidden="int_asn"),
    "residual": lambda: intnets.residual_program(),
    "asn-residual": lambda: intnets.residual_program(hidden="int_asn", asn_kw={"alpha": 1, "D": 3}),
    "recurrent-lif": lambda: intnets.recurrent_program(),
    "recurrent-asn": lambda: intnets.recurrent_program(hidden="int_asn", asn_kw={"alpha": 0, "D": 2}),
}


@pytest.mark.parametrize("case", sorted(HAND_BUILT))
def test_hand_built_programs_spike_exact(case, lava_python):
    prog = HAND_BUILT[case]()
    x = np.random.default_rng(7).random((9, 3) + prog.input_shape) * 2.0
    probes = assert_lava_equals_reference(prog, x)
    assert any(np.any(v) for v in probes.values())
    if case == "cuba-mlp":
        assert np.any(prog.graph.nodes["n1"].params["du"] < 4095)


@pytest.mark.parametrize("realization", ["graded", "binary"])
def test_asn_graded_and_binary_expansion(realization, lava_python):
    prog = intnets.mlp_program(hidden="int_asn", asn_kw={"alpha": 1, "D": 5}, realization=realization)
    x = np.random.default_rng(1).random((8, 4) + prog.input_shape) * 2.0
    probes = assert_lava_equals_reference(prog, x, realization)
    assert np.unique(probes["n1"]).size > 2  # graded values occur
    meta, arrays = plan(prog, realization)
    syn = [s for s in meta["synapses"] if s["src"] == "n1"]
    # binary: D binary spikes per neuron on parallel axons, no payload bits
    assert all(s["num_message_bits"] == (0 if realization == "binary" else 3) for s in syn)
    assert all(arrays[s["weights"]].shape[1] == (5 * 32 if realization == "binary" else 32) for s in syn)


# ----------------------------------------------------------------------------- torch networks

torch = pytest.importorskip("torch")


def _compiled(net, x):
    from tests.test_integer_end_to_end import _init

    _init(net, seed=3).double()
    g = sf.trace(net, torch.from_numpy(x[:, :1]))
    return sf.compile(g, target="loihi2", calibration=x)


def test_lif_mlp_uses_lavas_own_lif(lava_python, rng):
    from spikeforge.models import LI, LIF, QSequential, QuantInput, QuantLinear

    net = QSequential(QuantInput(exp=-4, bits=8), QuantLinear(16, 24), LIF(beta=0.8, threshold=0.7, reset="zero"),
                      QuantLinear(24, 12), LIF(beta=0.9, threshold=1.0, reset="zero"), QuantLinear(12, 5), LI(beta=0.9))
    x = rng.uniform(0, 15, size=(12, 4, 16))
    prog = _compiled(net, x)
    k = kinds(prog)
    assert sorted(k.values()).count("lava_lif") == 2, k  # Lava's LIFReset and its bit-accurate model
    probes = assert_lava_equals_reference(prog, x)
    assert probes[[m for m, v in k.items() if v == "lava_lif"][0]].any()


@pytest.mark.parametrize("kind", ["ASN", "NASN"])
@pytest.mark.parametrize("realization", ["graded", "binary"])
def test_compiled_asn_nasn(kind, realization, lava_python, rng):
    from spikeforge.models import ASN, LI, LIF, NASN, QSequential, QuantInput, QuantLinear

    hidden = ASN(D=4, alpha=-1.2) if kind == "ASN" else NASN(D=4, alpha=0.6)
    net = QSequential(QuantInput(exp=-4, bits=8), QuantLinear(16, 24), hidden,
                      QuantLinear(24, 12, per_channel=True), LIF(beta=0.75, threshold=0.8, reset="subtract"), QuantLinear(12, 5), LI(beta=0.9))
    x = rng.uniform(0, 16, size=(6, 4, 16))
    prog = _compiled(net, x)
    probes = assert_lava_equals_reference(prog, x, realization)
    asn = [m for m, n in prog.graph.nodes.items() if n.op == "int_asn"][0]
    assert np.unique(probes[asn]).size > 2


def test_compiled_conv_net_uses_lavas_conv(lava_python, rng):
    from torch import nn

    from spikeforge.models import ASN, LI, LIF, QSequential, QuantConv2d, QuantInput, QuantLinear, Seq

    net = QSequential(
        QuantInput(exp=-4),
        Seq(QuantConv2d(2, 4, 3, padding=1)), ASN(D=3, alpha=-1.0),
        Seq(QuantConv2d(4, 6, (3, 2), padding=(1, 0), stride=(2, 1))), LIF(beta=0.8, threshold=0.6, reset="zero"),
        nn.Flatten(start_dim=2),
        QuantLinear(6 * 4 * 7, 5), LI(beta=0.9),
    )
    x = rng.uniform(0, 8, size=(5, 3, 2, 8, 8))
    prog = _compiled(net, x)
    meta, _ = plan(prog)
    assert sum(s["kind"] == "conv" for s in meta["synapses"]) == 2, [s["kind"] for s in meta["synapses"]]
    probes = assert_lava_equals_reference(prog, x)
    assert all(v.any() for k, v in probes.items() if prog.graph.nodes[k].op != "int_li")
    assert_lava_equals_reference(prog, x, native_lif=False)


def test_cuba_lif_by_post_training_quantization(lava_python, rng):
    from torch import nn

    from spikeforge.models import LI, CubaLIF

    net = nn.Sequential(nn.Linear(10, 16), CubaLIF(alpha=0.6, beta=0.85, threshold=0.5), nn.Linear(16, 4), LI(beta=0.9))
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                m.weight.mul_(3.0)
    x = rng.uniform(0, 1, size=(10, 3, 10))
    g = sf.trace(net, torch.from_numpy(x[:, :1]).float())
    prog = sf.compile(g, target="loihi2", calibration=x)
    cuba = [m for m, n in prog.graph.nodes.items() if n.op == "int_lif"][0]
    assert np.all(prog.graph.nodes[cuba].params["du"] < 4095)
    probes = assert_lava_equals_reference(prog, x)
    assert probes[cuba].any()


def test_compiled_mtc_integer(lava_python):
    """The multi-timescale conductance neuron's integer form (int_mtc, graded output)."""
    from tests.compiler.test_compile_mtc import _net, _x

    x = _x(T=120, B=2)
    prog = sf.compile(sf.trace(_net(), torch.from_numpy(x)), target="loihi2", calibration=x)
    mtc = [m for m, n in prog.graph.nodes.items() if n.op == "int_mtc"]
    assert mtc and kinds(prog)[mtc[0]] == "sf_mtc"
    probes = assert_lava_equals_reference(prog, x)
    assert np.unique(probes[mtc[0]]).size > 2  # graded output


@pytest.mark.slow
def test_trained_nasn_digits_100_samples(lava_python):
    from spikeforge.demo import digits_split, encode, load_model

    net, info = load_model()
    T = int(info["T"])
    xtr, _, xt, yt = digits_split(info["split_seed"], info["n_test"])
    g = sf.trace(net, torch.from_numpy(encode(xtr[:1], T)).float())
    prog = sf.compile(g, target="loihi2", calibration=encode(xtr[:256], T))
    x = encode(xt[:100], T)
    probes = assert_lava_equals_reference(prog, x)
    hidden = [m for m, n in prog.graph.nodes.items() if n.op == "int_asn"]
    assert hidden and all(probes[m].any() for m in hidden)


# ----------------------------------------------------------------------------- random graphs


def _random_program(seed: int, n_layers: int, skip: bool, delay: int, recurrent: bool, binary: bool):
    rng = np.random.default_rng(seed)
    I = int(rng.integers(2, 8))
    nodes = [intnets.input_node((I,), exp=-2, bits=int(rng.integers(1, 5)))]
    edges = []
    sizes = {"input": I}
    names = ["input"]
    for k in range(1, n_layers + 1):
        op = "int_li" if k == n_layers else str(rng.choice(["int_lif", "int_asn"]))
        H = int(rng.integers(1, 9))
        name = f"n{k}"
        kw = {}
        if op == "int_asn":
            kw = {"alpha": int(rng.integers(-1, 2)), "D": int(rng.integers(1, 5))}
        elif op == "int_lif":
            kw = {"reset": str(rng.choice(["zero", "subtract"])), "plain": bool(rng.integers(0, 2))}
        nodes.append(intnets.neuron(name, op, (H,), rng, **kw))
        sizes[name] = H
        srcs = [names[-1]]
        if skip and k >= 2:
            srcs.append(names[int(rng.integers(0, len(names) - 1))])
        if recurrent and op != "int_li" and rng.integers(0, 2):
            srcs.append(name)
        for j, s in enumerate(srcs):
            fc = f"fc{k}_{j}"
            nodes.append(intnets.dense(fc, sizes[s], H, rng))
            if j == 1 and delay:
                dn = f"d{k}"
                nodes.append(Node(dn, "delay", {"steps": rng.integers(0, delay + 1, size=(sizes[s],))}, {"balance": False}, (sizes[s],), (sizes[s],)))
                edges += [(s, dn), (dn, fc)]
            else:
                edges.append((s, fc))
            edges.append((fc, name))
        names.append(name)
    nodes.append(intnets.output_node((sizes[names[-1]],)))
    edges.append((names[-1], "output"))
    return intnets.program(nodes, edges, "binary" if binary else "graded")


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), n_layers=st.integers(1, 4), skip=st.booleans(), delay=st.integers(0, 3),
       recurrent=st.booleans(), binary=st.booleans(), T=st.integers(1, 7), B=st.integers(1, 3))
def test_random_small_graphs_spike_exact(seed, n_layers, skip, delay, recurrent, binary, T, B, lava_python):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cycles through several neurons warn about hardware time
        prog = _random_program(seed, n_layers, skip, delay, recurrent, binary)
    x = np.random.default_rng(seed + 1).random((T, B) + prog.input_shape) * 4.0
    assert_lava_equals_reference(prog, x)
