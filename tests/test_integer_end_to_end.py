"""Integer compilation end to end: torch integer-train forward == compiled integer program.

A ``QSequential`` (models.qat) is traced (``sf.trace``), compiled for ``loihi2``
(``sf.compile``) and run on the integer reference backend, with graded spikes and with the
binary expansion of graded spikes. Every neuron layer must equal the torch forward exactly
(``assert_array_equal``): spikes, ASN emissions (``(e + alpha) / N``) and the readout.
Also: hypothesis-generated random small networks, a trained network, and post-training
quantization of the bundled float LIF digits model (at most 1 point of accuracy lost).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import spikeforge as sf
from spikeforge.models import ASN, IF, ILIF, LI, LIF, NASN, QSequential, QuantConv2d, QuantInput, QuantLinear, Seq, SumPool2d
from spikeforge.models.asn.nn import AdaptiveNeuron
from spikeforge.models.base import SpikingNeuron

INT_NEURONS = ("int_asn", "int_lif", "int_li")


def _init(net: nn.Module, seed: int, gain: float = 3.0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (QuantLinear, QuantConv2d)):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * gain / m.weight[0].numel() ** 0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.3)
    return net


def torch_layers(net: QSequential, x: np.ndarray) -> list[np.ndarray]:
    """Outputs of every neuron module, in order, float64."""
    outs: list[np.ndarray] = []
    hooks = [m.register_forward_hook(lambda _m, _i, o: outs.append(o.detach().double().numpy()))
             for m in net.modules() if isinstance(m, SpikingNeuron)]
    try:
        with torch.no_grad():
            net.double()(torch.from_numpy(x))
    finally:
        for h in hooks:
            h.remove()
    return outs


def program_layers(prog, x: np.ndarray, realization: str) -> tuple[list[np.ndarray], np.ndarray, dict]:
    """Every integer neuron's values as real numbers, in program order, and the output."""
    names = [k for k, n in prog.graph.nodes.items() if n.op in INT_NEURONS]
    tr = sf.run(prog, x, backend="reference", probes=names, realization=realization)
    vals = []
    for k in names:
        n = prog.graph.nodes[k]
        raw = tr.probes[k]
        if n.op == "int_asn":
            vals.append((raw + n.attrs["alpha"]) / n.attrs["N"])
        elif n.op == "int_lif":
            vals.append(raw.astype(np.float64))
        else:
            vals.append(None)  # the readout voltage: compared through Trace.output
    return vals, tr.output, tr.warnings


def check_compiled_equals_torch(net: QSequential, x: np.ndarray, realizations=("graded", "binary")) -> list[np.ndarray]:
    ref = torch_layers(net, x)
    g = sf.trace(net, torch.from_numpy(x[:, :1]))
    prog = sf.compile(g, target="loihi2", calibration=x)  # bounds the input by its peak in the fan-in check
    assert prog.target == "loihi2"
    for realization in realizations:
        vals, out, warns = program_layers(prog, x, realization)
        assert len(vals) == len(ref), (len(vals), len(ref))
        for k, (v, r) in enumerate(zip(vals, ref)):
            if v is not None:
                np.testing.assert_array_equal(v, r, err_msg=f"layer {k}, {realization}")
        np.testing.assert_array_equal(out, ref[-1], err_msg=f"output, {realization}")
    return ref


def _hidden(kind: str, D: int) -> nn.Module:
    return {"ASN": lambda: ASN(D=D, alpha=-1.2), "NASN": lambda: NASN(D=D, alpha=0.6), "ILIF": lambda: ILIF(D=D)}[kind]()


@pytest.mark.parametrize("T", [1, 4])
@pytest.mark.parametrize("D", [1, 4, 15])
@pytest.mark.parametrize("kind", ["ASN", "NASN", "ILIF"])
def test_mlp_compiled_equals_integer_train(kind, D, T, rng):
    net = _init(QSequential(
        QuantInput(exp=-4, bits=8),
        QuantLinear(16, 24), _hidden(kind, D),
        QuantLinear(24, 12, per_channel=True), LIF(beta=0.75, threshold=0.8, reset="zero"),
        QuantLinear(12, 5), LI(beta=0.9),
    ), seed=D + 10 * T)
    x = rng.uniform(0, 16, size=(T, 6, 16))
    ref = check_compiled_equals_torch(net, x)
    assert np.unique(ref[0]).size >= min(D + 1, 3) and ref[1].any()  # graded values and spikes occur


@pytest.mark.parametrize("T", [1, 4])
@pytest.mark.parametrize("D", [1, 4, 15])
def test_conv_compiled_equals_integer_train(D, T, rng):
    net = _init(QSequential(
        QuantInput(exp=-4),
        Seq(QuantConv2d(2, 4, 3, padding=1)), ASN(D=D, alpha=-1.0),
        SumPool2d(2),
        Seq(QuantConv2d(4, 6, 3, padding=1, stride=2, per_channel=True)), NASN(D=D, alpha=0.6),
        nn.Flatten(start_dim=2),
        QuantLinear(6 * 2 * 2, 5), LI(beta=0.9),
    ), seed=D + T)
    x = rng.uniform(0, 8, size=(T, 3, 2, 8, 8))
    ref = check_compiled_equals_torch(net, x)
    assert np.unique(ref[0]).size >= min(D + 1, 3) and np.unique(ref[1]).size > 1


NEURON_CHOICES = {
    "ASN": lambda D, r: ASN(D=D, alpha=float(r.uniform(-2, 1)), beta=float(r.choice([1.0, 0.5, 0.8]))),
    "NASN": lambda D, r: NASN(D=D, alpha=float(r.uniform(-2, 1)), beta=float(r.choice([1.0, 0.5, 0.8]))),
    "ILIF": lambda D, r: ILIF(D=D, beta=float(r.choice([1.0, 0.75]))),
    "LIF-zero": lambda D, r: LIF(beta=float(r.uniform(0.3, 0.99)), threshold=float(r.uniform(0.3, 2)), reset="zero"),
    "LIF-subtract": lambda D, r: LIF(beta=float(r.uniform(0.3, 0.99)), threshold=float(r.uniform(0.3, 2)), reset="subtract"),
    "IF": lambda D, r: IF(threshold=float(r.uniform(0.3, 2))),
}


@settings(max_examples=20, deadline=None)
@given(
    kinds=st.lists(st.sampled_from(sorted(NEURON_CHOICES)), min_size=1, max_size=3),
    widths=st.lists(st.integers(1, 12), min_size=3, max_size=3),
    D=st.integers(1, 15),
    T=st.integers(1, 5),
    per_channel=st.booleans(),
    in_exp=st.integers(-6, 0),
    seed=st.integers(0, 2**16),
)
def test_random_small_networks_compiled_equal_integer_train(kinds, widths, D, T, per_channel, in_exp, seed):
    r = np.random.default_rng(seed)
    layers: list[nn.Module] = [QuantInput(exp=in_exp, bits=8)]
    n_in = int(r.integers(1, 10))
    prev = n_in
    for k, kind in enumerate(kinds):
        layers += [QuantLinear(prev, widths[k], per_channel=per_channel), NEURON_CHOICES[kind](D, r)]
        prev = widths[k]
    layers += [QuantLinear(prev, 3), LI(beta=float(r.uniform(0.2, 1.0)))]
    net = _init(QSequential(*layers), seed=seed, gain=float(r.uniform(1, 6)))
    x = r.uniform(0, 2.0 ** (in_exp + 5), size=(T, 4, n_in))  # peaks small enough for the 24-bit fan-in bound
    check_compiled_equals_torch(net, x)


@pytest.mark.slow
def test_trained_nasn_digits_compiled_equals_integer_train():
    """A briefly trained integer-train NASN digits net: the compiled program gives identical readouts."""
    from spikeforge.demo import digits_split
    from spikeforge.models.zoo import digits_net

    torch.manual_seed(0)
    xtr, ytr, xte, _ = digits_split(0, 360)
    net = digits_net("nasn", qat=True)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    xs, ys = torch.from_numpy(xtr[None]).float(), torch.from_numpy(ytr)
    for _ in range(3):
        for idx in torch.randperm(len(ys)).split(128):
            opt.zero_grad()
            nn.functional.cross_entropy(net(xs[:, idx]).sum(0), ys[idx]).backward()
            opt.step()
    assert isinstance(net[2], AdaptiveNeuron) and net[2].alpha.item() != 0.0  # alpha moved in training
    check_compiled_equals_torch(net, xte[None, :120])


@pytest.mark.slow
def test_post_training_quantization_of_float_lif_digits_loses_at_most_one_point():
    import json

    from spikeforge.demo import DATA, digits_split, encode

    info = json.loads((DATA / "lif_digits.json").read_text())
    xtr, _, xte, yte = digits_split(info["split_seed"], info["n_test"])
    T = info["T"]
    g = sf.load_nir(DATA / "lif_digits.nir")
    f = sf.compile(g, target="float")
    q = sf.compile(g, target="loihi2", calibration=encode(xtr[:256], T))
    acc = {}
    for name, prog in (("float", f), ("loihi2", q)):
        out = sf.run(prog, encode(xte, T)).output
        acc[name] = float((out.sum(0).argmax(-1) == yte).mean())
    assert acc["float"] == pytest.approx(info["torch_test_accuracy"])
    assert acc["loihi2"] >= acc["float"] - 0.01, acc
    assert all(n.op not in ("lif", "li") for n in q.graph.nodes.values())  # really integer
