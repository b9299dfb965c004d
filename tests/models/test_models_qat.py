"""The torch integer-train forward (models.qat) IS the integer program of docs/integer.md.

The core proof: a ``QSequential`` with random weights runs in torch (float64 and float32) and,
separately, as a pure-numpy integer program whose integers are derived here by hand from the
module's parameters (models.quant) and stepped with the normative specs
(models/asn/spec.py, models/lif/spec.py), with the compiler's folds (ASN window shift into the
next bias through the bias-free synapse path, NASN's 1/N into the next weights). Every neuron
output must be identical (``assert_array_equal``).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from torch import nn

from spikeforge.models import (ASN, IF, ILIF, LI, LIF, NASN, CubaLIF, QSequential, QuantConv2d, QuantInput,
                               QuantLinear, Seq, SumPool2d)
from spikeforge.models import quant as Q
from spikeforge.models import qtorch
from spikeforge.models.asn import spec as asn_spec
from spikeforge.models.asn.nn import AdaptiveNeuron
from spikeforge.models.lif import spec as lif_spec

NEURONS = {"ASN": ASN, "NASN": NASN, "ILIF": ILIF}


# ---------------------------------------------------------------- numpy integer program (by hand)
def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().to(torch.float64).numpy()


def _conv_int(x: np.ndarray, w: np.ndarray, stride, padding) -> np.ndarray:
    """Integer 2-d convolution (zero padding), x (n, C, H, W), w (O, C, kh, kw); int64."""
    (sh, sw), (ph, pw) = stride, padding
    kh, kw = w.shape[2:]
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho, wo = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    out = np.zeros((x.shape[0], w.shape[0], ho, wo), np.int64)
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw]
            out += np.einsum("oc,nchw->nohw", w[:, :, i, j], patch)
    return out


def _lead(f, x: np.ndarray) -> np.ndarray:
    """Apply a per-sample op to (T, B, ...)."""
    T, B = x.shape[:2]
    y = f(x.reshape(T * B, *x.shape[2:]))
    return y.reshape(T, B, *y.shape[1:])


def _synapse(m, src: np.ndarray, offset: np.ndarray, s_exp: int, n_div: int):
    """Integer synapse: (a, bias in membrane LSBs, p), per output feature."""
    w = _np(m.weight) / n_div
    e = Q.row_exps(w, per_layer=not m.per_channel)
    mant = Q.mantissa(w, e)
    if isinstance(m, QuantConv2d):
        def syn(v):
            return _lead(lambda z: _conv_int(z, mant, m.stride, m.padding), v)
        rows = (-1, 1, 1)
    else:
        def syn(v):
            return np.einsum("oi,tbi->tbo", mant, v)
        rows = (-1,)
    a = syn(src)
    fold = syn(offset[None, None])[0, 0]  # the ASN window shift through the bias-free path
    b = np.zeros(len(e), np.int64)
    if m.bias is not None:
        b = np.clip(Q.round_half_up(np.ldexp(_np(m.bias), -(e + s_exp))), -Q.BIAS_MANT_MAX, Q.BIAS_MANT_MAX)
    feat = a.shape[2:]
    bias = np.left_shift(np.broadcast_to(b.reshape(rows), feat) + fold, Q.ACT_SHIFT)
    p = np.broadcast_to((Q.ACT_SHIFT - (e + s_exp)).reshape(rows), feat)
    return a, bias, p


def _steps(step, a, n):
    T, B = a.shape[:2]
    return np.stack([step(a[t].reshape(B, n)) for t in range(T)]).reshape(a.shape)


def int_program(net: QSequential, x: np.ndarray) -> list:
    """Each neuron's output (real values, float64) of the integer program of ``net``."""
    layers = [l.module if isinstance(l, Seq) else l for l in net]
    qin = layers[0]
    assert isinstance(qin, QuantInput)
    src = np.clip(Q.round_half_up(np.ldexp(x, -qin.exp)), qin.lo, qin.hi)
    offset = np.zeros(src.shape[2:], np.int64)
    s_exp, n_div, pending, outs = qin.exp, 1, None, []
    for m in layers[1:]:
        if isinstance(m, (QuantLinear, QuantConv2d)):
            pending = _synapse(m, src, offset, s_exp, n_div)
            continue
        if isinstance(m, SumPool2d):
            def pool(z, m=m):
                n, c = z.shape[:2]
                ones = np.ones((1, 1, *m.kernel_size), np.int64)
                y = _conv_int(z.reshape(n * c, 1, *z.shape[2:]), ones, m.stride, m.padding)
                return y.reshape(n, c, *y.shape[2:])
            src, offset = _lead(pool, src), pool(offset[None])[0]
            continue
        if isinstance(m, nn.Flatten):
            if pending is not None:  # between a synapse and its neuron: flatten the synaptic values
                a, bias, p = pending
                pending = (a.reshape(*a.shape[:2], -1), bias.reshape(-1), p.reshape(-1))
            else:
                src, offset = src.reshape(*src.shape[:2], -1), offset.reshape(-1)
            continue
        a, bias, p = pending
        pending = None
        feat = a.shape[2:]
        n = int(np.prod(feat))
        B = a.shape[1]
        beta = np.broadcast_to(_np(m.beta), feat) if hasattr(m, "beta") else np.ones(feat)
        dv = Q.decay_code(beta).ravel()
        if isinstance(m, AdaptiveNeuron):
            st = asn_spec.init_state(B, n)
            prm = dict(dv=dv, bias=bias.ravel(), p=p.ravel())
            em = _steps(partial(asn_spec.step, st, p=prm, alpha=m.alpha_int, D=m.D), a, n)
            outs.append((em + m.alpha_int) / m.N)
            src, offset = em, np.full(feat, m.alpha_int, np.int64)
            s_exp, n_div = 0, m.N
            continue
        mant, bexp, ok = Q.bias_split(bias.ravel())
        assert ok.all(), "bias not representable as Lava's mantissa << exponent"
        prm = dict(du=Q.DECAY_UNITY - 1, dv=dv, bias_mant=mant, bias_exp=bexp, vth=0)
        st = lif_spec.init_state(B, n)
        if isinstance(m, LI):
            v = _steps(partial(lif_spec.step, st, p=prm, spiking=False), a, n)
            outs.append(np.ldexp(v.astype(np.float64), -p))
            src = None
            continue
        theta = np.broadcast_to(_np(m.threshold), feat)
        prm["vth"] = np.clip(Q.round_half_up(np.ldexp(theta, -(Q.ACT_SHIFT - p))), 0, Q.VTH_MAX).ravel()
        s = _steps(partial(lif_spec.step, st, p=prm, reset=m.reset_mode), a, n)
        outs.append(s.astype(np.float64))
        src, offset, s_exp, n_div = s, np.zeros(feat, np.int64), 0, 1
    return outs


def torch_outputs(net: QSequential, x: np.ndarray, dtype: torch.dtype) -> list:
    """Each neuron's output of the torch forward (float64 arrays), run in ``dtype``."""
    outs = []
    hooks = [m.register_forward_hook(lambda mod, i, o: outs.append(o.detach().to(torch.float64).numpy()))
             for m in net.modules() if isinstance(m, (AdaptiveNeuron, LIF, IF, LI))]
    try:
        net.to(dtype)(torch.as_tensor(x, dtype=dtype))
    finally:
        for h in hooks:
            h.remove()
    return outs


def check_exact(net: QSequential, x: np.ndarray) -> list:
    ref = int_program(net.double(), x)  # .double() converts float32 parameters exactly
    for dtype in (torch.float64, torch.float32):
        got = torch_outputs(net, x, dtype)
        assert len(got) == len(ref)
        for k, (g, r) in enumerate(zip(got, ref)):
            want = r if dtype == torch.float64 else r.astype(np.float32).astype(np.float64)
            np.testing.assert_array_equal(g, want, err_msg=f"neuron {k}, {dtype}")
    return ref


def _init(net: nn.Module, seed: int, gain: float = 1.0) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (QuantLinear, QuantConv2d)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * gain / fan_in**0.5)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.3)
    return net


def _hidden(kind: str, D: int):
    cls = NEURONS[kind]
    return cls(D=D) if cls is ILIF else cls(D=D, alpha=-1.2)


# ---------------------------------------------------------------- the core proof
@pytest.mark.parametrize("T", [1, 4])
@pytest.mark.parametrize("D", [1, 4, 15])
@pytest.mark.parametrize("kind", ["ASN", "NASN", "ILIF"])
@pytest.mark.parametrize("per_channel", [False, True])
def test_mlp_bit_exact(kind, D, T, per_channel, rng):
    net = _init(QSequential(
        QuantInput(exp=-4, bits=8),
        QuantLinear(16, 24, per_channel=per_channel), _hidden(kind, D),
        QuantLinear(24, 12, per_channel=per_channel), LIF(beta=0.75, threshold=0.8, reset="subtract"),
        QuantLinear(12, 5), LI(beta=0.9),
    ), seed=D + 10 * T, gain=3.0)
    x = rng.uniform(0, 18, size=(T, 6, 16))  # some values clip at 255 * 2^-4
    ref = check_exact(net, x)
    assert np.unique(ref[0]).size >= min(D + 1, 3) and ref[1].any() and np.abs(ref[2]).max() > 0


@pytest.mark.parametrize("second", ["lif_zero", "if_subtract", "asn", "nasn"])
@pytest.mark.parametrize("T", [1, 4])
def test_mlp_second_layer_kinds_bit_exact(second, T, rng):
    layer = {"lif_zero": LIF(beta=0.5, threshold=torch.linspace(0.3, 1.5, 10), reset="zero"),
             "if_subtract": IF(threshold=0.6),
             "asn": ASN(D=4, beta=1.0, alpha=1.0),
             "nasn": NASN(D=3, beta=0.3)}[second]
    net = _init(QSequential(
        QuantInput(exp=-3, bits=6, signed=True),
        QuantLinear(8, 16), NASN(D=4, beta=0.6, alpha=-0.5),
        QuantLinear(16, 10, per_channel=True), layer,
        QuantLinear(10, 4, bias=False), LI(beta=0.5),
    ), seed=T, gain=3.0)
    x = rng.normal(0, 2, size=(T, 5, 8))
    ref = check_exact(net, x)
    assert np.unique(ref[1]).size > 1


@pytest.mark.parametrize("T", [1, 4])
@pytest.mark.parametrize("D", [1, 4, 15])
@pytest.mark.parametrize("per_channel", [False, True])
def test_conv_bit_exact(D, T, per_channel, rng):
    net = _init(QSequential(
        QuantInput(exp=-4),
        Seq(QuantConv2d(2, 4, 3, padding=1, per_channel=per_channel)), ASN(D=D, alpha=-1.0),
        SumPool2d(2),
        Seq(QuantConv2d(4, 6, 3, padding=1, stride=2, per_channel=per_channel)), NASN(D=D, alpha=0.6),
        nn.Flatten(start_dim=2),
        QuantLinear(6 * 2 * 2, 5, per_channel=per_channel), LI(beta=0.9),
    ), seed=D + T, gain=3.0)
    x = rng.uniform(0, 8, size=(T, 3, 2, 8, 8))
    ref = check_exact(net, x)
    assert np.unique(ref[0]).size >= min(D + 1, 3) and np.unique(ref[1]).size > 1


def test_conv_then_flatten_into_neuron_passes_the_grid(rng):
    """A per-channel grid survives Flatten (the neuron after it gets one exponent per feature)."""
    net = _init(QSequential(
        QuantInput(exp=-4),
        Seq(QuantConv2d(1, 3, 3, padding=1, per_channel=True)), nn.Flatten(start_dim=2), ILIF(D=4),
        QuantLinear(3 * 4 * 4, 4), LI(beta=0.9),
    ), seed=0, gain=3.0)
    x = rng.uniform(0, 8, size=(2, 3, 1, 4, 4))
    check_exact(net, x)
    assert net[3].grid_exp.shape == (48,)


def test_membrane_saturation_matches_the_spec(rng):
    """Large inputs saturate the 24-bit membrane identically in torch and in the spec."""
    net = _init(QSequential(QuantInput(exp=-6, bits=8), QuantLinear(4, 6), ILIF(D=15, beta=1.0),
                            QuantLinear(6, 3), LI(beta=0.5)), seed=3, gain=40.0)
    x = rng.uniform(0, 4, size=(4, 3, 4))
    check_exact(net, x)


# ---------------------------------------------------------------- primitives and STE
def test_qtorch_primitives_equal_quant(rng):
    w = np.concatenate([rng.normal(0, 1, (20, 7)), 127 * np.ldexp(1.0, np.arange(-3, 4))[:, None] * np.ones((7, 7)),
                        np.zeros((1, 7)), np.full((1, 7), 63.5 * 2.0**-3)])
    for per_layer in (False, True):
        e = Q.row_exps(w, per_layer=per_layer)
        et = qtorch.row_exps(torch.from_numpy(w), per_layer)
        np.testing.assert_array_equal(et.numpy(), e)
        np.testing.assert_array_equal(qtorch.mantissa(torch.from_numpy(w), et).numpy(), Q.mantissa(w, e))
    v = rng.integers(-2**23, 2**23, 1000)
    d = rng.integers(0, 4096, 1000)
    np.testing.assert_array_equal(qtorch.decay(torch.from_numpy(v), torch.from_numpy(d)).numpy(), Q.decay(v, d))
    beta = np.concatenate([rng.uniform(0, 1, 100), [0.0, 1.0, 0.5, 1 - 0.5 / 4096]])
    np.testing.assert_array_equal(qtorch.decay_code(torch.from_numpy(beta)).numpy(), Q.decay_code(beta))
    half = np.array([-2.5, -0.5, 0.5, 1.5, 2.4999999999999996])
    np.testing.assert_array_equal(qtorch.round_half_up(torch.from_numpy(half)).numpy(), Q.round_half_up(half))


def test_quant_input_values_and_identity_gradient():
    q = QuantInput(exp=-2, bits=4, signed=True)
    x = torch.tensor([0.125, -0.125, 0.3, 1.9, 9.0, -9.0], requires_grad=True)
    y = q(x)
    np.testing.assert_array_equal(y.detach().numpy(), [0.25, 0.0, 0.25, 1.75, 1.75, -1.75])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(6))


def test_quant_linear_values_and_straight_through_gradients():
    lin = QuantLinear(3, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, -0.5, 0.3], [0.01, 0.02, -0.03]]))
        lin.bias.copy_(torch.tensor([0.1, -10.0]))
    lin.src_exp, lin.src_scale = 0, 0.25
    x = torch.tensor([[0.25, 0.5, 1.0]], dtype=torch.float64, requires_grad=True)
    lin.double()
    y = lin(x)
    w = lin.weight.detach().double().numpy() / 4
    e = Q.row_exps(w, per_layer=True)
    w_eff = np.ldexp(Q.mantissa(w, e).astype(float), e[:, None])
    s = np.array([1.0, 2.0, 4.0])  # x / src_scale
    b = np.clip(Q.round_half_up(np.ldexp([0.1, -10.0], -e)), -4095, 4095) * np.ldexp(1.0, e)
    np.testing.assert_array_equal(y.detach().numpy()[0], w_eff @ s + b)
    np.testing.assert_array_equal(lin.grid_exp().numpy(), e - 6)
    np.testing.assert_array_equal(lin.export_weight().numpy(), w_eff * 4)
    g = torch.tensor([[1.0, -2.0]], dtype=torch.float64)
    y.backward(g)
    np.testing.assert_allclose(lin.weight.grad.numpy(), g.numpy().T @ s[None] / 4, rtol=1e-15)
    np.testing.assert_allclose(x.grad.numpy(), 4 * g.numpy() @ w_eff, rtol=1e-15)
    np.testing.assert_array_equal(lin.bias.grad.numpy(), g.numpy()[0])


def test_integer_mode_gradients_reach_every_parameter(rng):
    net = _init(QSequential(QuantInput(exp=-4), QuantLinear(8, 16), NASN(D=4),
                            QuantLinear(16, 8), LIF(beta=0.8, threshold=0.5, learn_threshold=True, shape=(8,)),
                            QuantLinear(8, 3), LI(beta=0.9, learn_beta=True)), seed=1, gain=3.0)
    net(torch.from_numpy(rng.uniform(0, 8, (4, 16, 8))).float()).sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


@pytest.mark.slow
def test_integer_train_learns(rng):
    torch.manual_seed(0)
    x = torch.from_numpy(rng.uniform(0, 4, (2, 64, 6))).float()
    y = (x[0, :, 0] > x[0, :, 1]).long()
    net = QSequential(QuantInput(exp=-4), QuantLinear(6, 32), NASN(D=4), QuantLinear(32, 2), LI(beta=0.9))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net(x).sum(0), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]


def test_float_mode_unchanged_after_a_plain_run():
    """Neurons outside QSequential (grid_exp None) keep the float forward."""
    lif = LIF(beta=0.9, threshold=1.0)
    assert lif.grid_exp is None
    x = torch.tensor([[[0.55]], [[0.55]]])
    np.testing.assert_array_equal(lif(x).numpy().ravel(), [0.0, 1.0])


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize("layers, err", [
    ((QuantInput(-4), QuantLinear(4, 4), nn.AvgPool1d(2)), TypeError),
    ((QuantInput(-4), QuantLinear(4, 4), nn.Linear(4, 4)), TypeError),
    ((QuantInput(-4), ASN()), TypeError),
    ((QuantLinear(4, 4), ASN()), TypeError),
    ((QuantInput(-4), QuantLinear(4, 4), LI(), QuantLinear(4, 4)), TypeError),
    ((QuantInput(-4), QuantLinear(4, 4), LIF(reset="zero", v_reset=0.5)), ValueError),
    ((QuantInput(-4), QuantLinear(4, 4), CubaLIF()), NotImplementedError),
])
def test_qsequential_rejects(layers, err):
    with pytest.raises(err):
        QSequential(*layers)(torch.ones(1, 2, 4))


def test_avgpool_is_an_error_with_a_hint():
    net = QSequential(QuantInput(-4), Seq(QuantConv2d(1, 2, 3)), ASN(), Seq(nn.AvgPool2d(2)))
    with pytest.raises(TypeError, match="SumPool2d"):
        net(torch.ones(1, 1, 1, 6, 6))


def test_asn_grid_must_give_p_at_least_one():
    net = QSequential(QuantInput(0), QuantLinear(2, 2), ASN())
    with torch.no_grad():
        net[1].weight.fill_(127 * 2.0**6)  # e = 6: grid_exp = 0
    with pytest.raises(ValueError, match="p < 1"):
        net(torch.ones(1, 1, 2))


def test_asn_reset_saturation_matches_the_spec():
    """alpha > 0 and U at the negative 24-bit limit: U - (c << p) passes 24 bits and saturates,
    in the torch state exactly as in the normative step."""
    neuron = ASN(D=4, alpha=3.0, beta=1.0)
    neuron.grid_exp = torch.tensor(-11, dtype=torch.int64)  # p = 11: one spike = 2048 LSBs
    a = np.array([[-2**17 + 1, -1000, 5]])  # synaptic inputs (a << 6 = X * 2^11)
    st = asn_spec.init_state(1, 3)
    c = lif_spec.Counters()
    e = asn_spec.step(st, a, dict(dv=0, bias=0, p=11), alpha=3, D=4, counters=c)
    x = torch.from_numpy(np.ldexp(a.astype(np.float64), 6 - 11))
    with torch.no_grad():
        out, state = neuron.step(x, neuron.init_state(x))
    np.testing.assert_array_equal(out.numpy(), e + 3)
    np.testing.assert_array_equal(np.ldexp(state["v"].numpy(), 11), st["v"])
    assert c.saturate == 1 and st["v"][0, 0] == -(2**23 - 1)
