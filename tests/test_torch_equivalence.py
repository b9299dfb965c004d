"""Acceptance: torch module == trace -> compile(float) -> reference run, spike for spike.

For MLP, conv, recurrent and residual networks and every neuron model, the compiled
program's output and every neuron layer's spikes (probes, in model time) must equal the
float64 torch module's own. A spike may differ only where the torch membrane is within
1e-6 of the threshold (a floating-point tie); the number of such differences is printed
(expected: 0). Each spiking layer must actually spike, so the test cannot pass vacuously.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import spikeforge as sf
from spikeforge.models import IF, LI, LIF, CubaLIF, Recurrent, Seq, SumPool2d

T, B, IN = 30, 4, 6
NEAR = 1e-6
KINDS = ["lif_subtract", "lif_zero", "lif_zero_vreset", "if", "cuba", "per_neuron_th", "stl"]


def make_neuron(kind: str, shape, gen: torch.Generator) -> nn.Module:
    """One neuron layer of the given kind (all record their pre-reset membrane)."""
    if kind == "lif_subtract":
        return LIF(beta=0.8, threshold=1.0, record=True)
    if kind == "lif_zero":
        return LIF(beta=0.8, threshold=1.0, reset="zero", record=True)
    if kind == "lif_zero_vreset":
        return LIF(beta=0.75, threshold=0.75, reset="zero", v_reset=-0.25, record=True)
    if kind == "if":
        return IF(threshold=1.0, record=True)
    if kind == "cuba":
        return CubaLIF(alpha=0.5, beta=0.8, threshold=1.0, record=True)
    if kind == "per_neuron_th":
        th = 0.5 + torch.rand(shape, generator=gen)
        return LIF(beta=0.8, threshold=th, learn_threshold=True, record=True)
    if kind == "stl":  # STL-style: decay 0.5, hard reset, trainable per-neuron thresholds
        th = 1.0 + 0.2 * torch.randn(shape, generator=gen)
        return LIF(beta=0.5, threshold=th, reset="zero", learn_threshold=True, shape=shape, record=True)
    raise ValueError(kind)


# ------------------------------------------------------------------ networks
class MLP(nn.Module):
    def __init__(self, kind, gen, readout=False):
        super().__init__()
        self.fc1, self.n1 = nn.Linear(IN, 16), make_neuron(kind, (16,), gen)
        self.fc2, self.n2 = nn.Linear(16, 12), make_neuron(kind, (12,), gen)
        self.fc3 = nn.Linear(12, 5)
        self.n3 = LI(beta=0.9, record=True) if readout else make_neuron(kind, (5,), gen)

    def forward(self, x):
        return self.n3(self.fc3(self.n2(self.fc2(self.n1(self.fc1(x))))))


class Conv(nn.Module):
    def __init__(self, kind, gen):
        super().__init__()
        self.conv = Seq(nn.Conv2d(2, 4, 3, padding=1))
        self.n1 = make_neuron(kind, (4, 6, 6), gen)
        self.flat = Seq(nn.Flatten())
        self.fc = nn.Linear(4 * 6 * 6, 10)
        self.n2 = make_neuron(kind, (10,), gen)

    def forward(self, x):
        return self.n2(self.fc(self.flat(self.n1(self.conv(x)))))


class ConvPool(nn.Module):
    """Conv -> BatchNorm (eval) -> neuron -> sum pool -> avg pool -> flatten -> linear -> neuron."""

    def __init__(self, kind, gen):
        super().__init__()
        self.conv = Seq(nn.Conv2d(2, 4, 3, padding=1, bias=False))
        self.bn = Seq(nn.BatchNorm2d(4))
        self.n1 = make_neuron(kind, (4, 8, 8), gen)
        self.sum = Seq(SumPool2d(2))
        self.avg = Seq(nn.AvgPool2d(2))
        self.flat = Seq(nn.Flatten())
        self.drop = nn.Dropout(0.5)
        self.fc = nn.Linear(4 * 2 * 2, 8)
        self.n2 = make_neuron(kind, (8,), gen)
        bn = self.bn.module
        with torch.no_grad():
            bn.running_mean.uniform_(-0.2, 0.2, generator=gen)
            bn.running_var.uniform_(0.5, 1.5, generator=gen)
            bn.weight.uniform_(0.8, 1.2, generator=gen)
            bn.bias.uniform_(0.0, 0.3, generator=gen)

    def forward(self, x):
        y = self.n1(self.bn(self.conv(x)))
        return self.n2(self.fc(self.drop(self.flat(self.avg(self.sum(y))))))


class Rec(nn.Module):
    def __init__(self, kind, gen):
        super().__init__()
        self.fc1 = nn.Linear(IN, 12)
        self.r1 = Recurrent(make_neuron(kind, (12,), gen), nn.Linear(12, 12))
        self.fc2 = nn.Linear(12, 5)
        self.n2 = make_neuron(kind, (5,), gen)

    def forward(self, x):
        return self.n2(self.fc2(self.r1(self.fc1(x))))


class Residual(nn.Module):
    """n3 sums a depth-2 path and a depth-1 skip: the compiler must balance the delays."""

    def __init__(self, kind, gen):
        super().__init__()
        self.fc1, self.n1 = nn.Linear(IN, 12), make_neuron(kind, (12,), gen)
        self.fc2, self.n2 = nn.Linear(12, 12), make_neuron(kind, (12,), gen)
        self.fc3, self.skip = nn.Linear(12, 8), nn.Linear(12, 8, bias=False)
        self.n3 = make_neuron(kind, (8,), gen)

    def forward(self, x):
        s1 = self.n1(self.fc1(x))
        s2 = self.n2(self.fc2(s1))
        return self.n3(self.fc3(s2) + self.skip(s1))


NETS = {
    "mlp": (lambda k, g: MLP(k, g), ["n1", "n2", "n3"]),
    "mlp_li": (lambda k, g: MLP(k, g, readout=True), ["n1", "n2", "n3"]),
    "conv": (Conv, ["n1", "n2"]),
    "conv_pool": (ConvPool, ["n1", "n2"]),
    "recurrent": (Rec, ["r1.neuron", "n2"]),
    "residual": (Residual, ["n1", "n2", "n3"]),
}
IN_SHAPE = {"conv": (2, 6, 6), "conv_pool": (2, 8, 8)}


def _init_weights(model: nn.Module, gen: torch.Generator, gain: float = 2.0) -> None:
    """Strong random weights (std gain/sqrt(fan_in)) and small positive biases."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * gain / fan_in**0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.rand(m.bias.shape, generator=gen) * 0.3)


def _build(net: str, kind: str, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    factory, probes = NETS[net]
    model = factory(kind, gen)
    _init_weights(model, gen)
    model = model.double().eval()
    shape = IN_SHAPE.get(net, (IN,))
    x = torch.rand((T, B) + shape, generator=gen, dtype=torch.float64) * 2.0
    return model, x, probes


def _probe_modules(model: nn.Module, name: str):
    """(module whose output is the layer's spikes, neuron with threshold and recording)."""
    mod = model.get_submodule(name.split(".")[0])
    neuron = mod.neuron if isinstance(mod, Recurrent) else mod
    return mod, neuron


def _torch_run(model, x, probes):
    outs = {}
    handles = []
    for name in probes:
        mod, _ = _probe_modules(model, name)
        handles.append(mod.register_forward_hook(lambda m, a, o, n=name: outs.__setitem__(n, o.detach().numpy())))
    try:
        with torch.no_grad():
            y = model(x).numpy()
    finally:
        for h in handles:
            h.remove()
    return y, outs


def _spike_mismatches(name, got, want, neuron) -> int:
    """Count differing spikes; each must be a near-threshold tie in the torch membrane."""
    assert got.shape == want.shape, (name, got.shape, want.shape)
    diff = np.argwhere(got != want)
    if len(diff) == 0:
        return 0
    u = neuron.recorded["v"].numpy()
    th = np.broadcast_to(neuron.threshold.detach().numpy(), u.shape)
    gap = np.abs(u - th)[tuple(diff.T)]
    bad = diff[gap >= NEAR]
    assert len(bad) == 0, (
        f"{name}: {len(bad)} spike(s) differ away from threshold; first at (t, b, ...)={tuple(bad[0])}, "
        f"torch={want[tuple(bad[0])]}, compiled={got[tuple(bad[0])]}, |U-th|={gap[gap >= NEAR][0]:.3g}"
    )
    return len(diff)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("net", sorted(NETS))
def test_compiled_float_program_matches_torch(net, kind):
    model, x, probes = _build(net, kind)
    g = sf.trace(model, x)
    prog = sf.compile(g, target="float")
    tr = sf.run(prog, x.numpy(), backend="reference", probes=probes)
    y, want = _torch_run(model, x, probes)  # after trace: recordings are this run's

    assert tr.output.shape == y.shape
    n_diff = 0
    for name in probes:
        _, neuron = _probe_modules(model, name)
        got = np.asarray(tr.probes[name])
        if not neuron.spiking:
            np.testing.assert_allclose(got, want[name], rtol=1e-9, atol=1e-9, err_msg=name)
            continue
        spikes = want[name]
        assert 0 < spikes.sum() < spikes.size, f"{name}: layer does not spike usefully ({spikes.mean():.3f})"
        n_diff += _spike_mismatches(name, got, spikes, neuron)
    last = _probe_modules(model, probes[-1])[1]
    if last.spiking:
        n_diff += _spike_mismatches("output", np.asarray(tr.output), y, last)
    else:
        np.testing.assert_allclose(tr.output, y, rtol=1e-9, atol=1e-9)
    print(f"{net}/{kind}: {n_diff} near-threshold spike difference(s)")


@pytest.mark.parametrize("net", ["mlp", "residual"])
def test_equivalence_with_other_dt_and_euler(net):
    """The lowering table makes the program independent of dt and method."""
    model, x, probes = _build(net, "cuba", seed=3)
    y, _ = _torch_run(model, x, probes)
    for dt, method in [(1e-3, "exact"), (0.25, "euler")]:
        prog = sf.compile(sf.trace(model, x, dt=dt, method=method), target="float")
        out = sf.run(prog, x.numpy(), backend="reference").output
        _spike_mismatches("output", np.asarray(out), y, model.n3)


# ------------------------------------------------------------------ snnTorch
@pytest.mark.snntorch
def test_snntorch_leaky_zero_reset_network_matches():
    """snnTorch ``Leaky`` nets with ``reset_mechanism="zero"`` run identically after compiling.

    Only this snnTorch rule equals the NIR/Loihi one. snnTorch's reset by subtraction removes
    the threshold from the *undecayed* membrane one step late
    (``U_t = beta*U_{t-1} + X_t - S_{t-1}*th`` instead of ``beta*(U_{t-1} - S_{t-1}*th) + X_t``),
    and ``Synaptic``'s zero reset discards the whole step after a spike (``U_t = 0``); those
    nets are not expected to match spike for spike.
    """
    snn = pytest.importorskip("snntorch")
    gen = torch.Generator().manual_seed(5)

    def spike(x):  # snnTorch's default Heaviside returns float32; keep float64
        return (x > 0).to(x.dtype)

    def neuron():
        return snn.Leaky(beta=0.75, threshold=1.0, reset_mechanism="zero", init_hidden=True, spike_grad=spike)

    net = nn.Sequential(nn.Linear(IN, 10), neuron(), nn.Linear(10, 4), neuron())
    _init_weights(net, gen)
    net = net.double()
    x = torch.rand(T, B, IN, generator=gen, dtype=torch.float64) * 2.0

    g = sf.trace(net, x)
    assert g.metadata["spikeforge.discretization"] == "euler"
    tr = sf.run(sf.compile(g, target="float"), x.numpy(), backend="reference")

    for m in net.modules():
        if hasattr(m, "reset_mem"):
            m.reset_mem()
    with torch.no_grad():
        want = torch.stack([net(x[t]) for t in range(T)]).numpy()
    assert 0 < want.sum() < want.size
    np.testing.assert_array_equal(np.asarray(tr.output), want)
