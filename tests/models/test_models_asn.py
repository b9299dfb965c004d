"""ASN / NASN / ILIF torch modules: MODELS.md §1 forward, straight-through gradients, NIR export."""

from __future__ import annotations

import math

import nir
import numpy as np
import pytest
import torch

from spikeforge.models import ASN, ILIF, NASN, QSequential, QuantInput, QuantLinear


def models_md(x: np.ndarray, beta: float, alpha: float, D: int, N: int) -> np.ndarray:
    """MODELS.md §1 literally: U = H + X; S = clip(round(U), a, a + D) / N; H = beta (U - N S)."""
    a = math.floor(alpha + 0.5)
    H = np.zeros(x.shape[1:])
    out = []
    for xt in x:
        U = H + xt
        S = np.clip(np.floor(U + 0.5), a, a + D) / N
        H = beta * (U - N * S)
        out.append(S)
    return np.stack(out)


@pytest.mark.parametrize("cls, kw, N", [
    (ASN, dict(D=4, beta=0.5, alpha=-1.4), 1),
    (ASN, dict(D=1, beta=1.0, alpha=0.5), 1),
    (NASN, dict(D=4, beta=0.75, alpha=0.2), 4),
    (NASN, dict(D=15, beta=0.5, alpha=-2.0, N=5), 5),
    (ILIF, dict(D=4, beta=0.25), 1),
])
def test_float_forward_is_models_md(cls, kw, N, rng):
    x = rng.normal(0, 3, size=(6, 4, 7))
    m = cls(**kw).double()
    got = m(torch.from_numpy(x)).detach().numpy()
    want = models_md(x, kw.get("beta", 0.5), kw.get("alpha", 0.0), kw["D"], N)
    np.testing.assert_array_equal(got, want)


def test_defaults():
    for cls in (ASN, NASN, ILIF):
        m = cls()
        assert m.D == 4 and float(m.beta) == 0.5 and m.alpha_int == 0 and m.grid_exp is None
    assert NASN().N == 4 and ASN().N == 1 and ILIF().N == 1
    assert isinstance(ASN().alpha, torch.nn.Parameter) and ASN().alpha.dim() == 0
    assert not isinstance(ILIF().alpha, torch.nn.Parameter)
    assert isinstance(ASN(shape=(3,)).alpha, torch.nn.Parameter) and ASN(shape=(3,)).alpha.dim() == 0


@pytest.mark.parametrize("bad", [dict(D=0), dict(D=2.5), dict(beta=0.0), dict(beta=1.5), dict(N=0)])
def test_bad_arguments(bad):
    with pytest.raises(ValueError):
        ASN(**bad)


def test_round_half_up_at_window_edges():
    m = ASN(D=2, alpha=0.0).double()
    x = torch.tensor([-0.5, -0.4999, 0.5, 1.5, 2.5, 2.49, -3.0], dtype=torch.float64).reshape(1, 1, -1)
    np.testing.assert_array_equal(m(x).detach().numpy().ravel(), [0, 0, 1, 2, 2, 2, 0])


@pytest.mark.parametrize("cls, N", [(ASN, 1), (NASN, 4)])
def test_straight_through_gradients(cls, N):
    m = cls(D=4, alpha=-1.3, alpha_grad_scale=0.1).double()  # window [-1, 3]
    u = torch.tensor([-3.0, -1.0, -0.6, 0.0, 2.2, 3.0, 3.4, 9.0], dtype=torch.float64, requires_grad=True)
    out = m(u.reshape(1, 1, -1))
    out.sum().backward()
    inside = np.array([0, 1, 1, 1, 1, 1, 0, 0], dtype=float)
    np.testing.assert_array_equal(u.grad.numpy(), inside / N)
    assert m.alpha.grad.item() == pytest.approx(0.1 * (1 - inside).sum() / N)


def test_alpha_gradient_scaled_and_ilif_alpha_fixed():
    m = ASN(D=4, alpha_grad_scale=0.5).double()
    m(torch.full((1, 1, 3), 10.0, dtype=torch.float64)).sum().backward()
    assert m.alpha.grad.item() == pytest.approx(1.5)
    il = ILIF(D=4).double()
    x = torch.full((1, 1, 3), 10.0, dtype=torch.float64, requires_grad=True)
    il(x).sum().backward()
    assert il.alpha.grad is None and float(x.grad.abs().sum()) == 0.0


def test_gradient_flows_through_time_with_detached_reset():
    m = ASN(D=4, beta=0.5).double()
    x = torch.tensor([[[1.2]], [[0.7]]], dtype=torch.float64, requires_grad=True)
    m(x)[1].sum().backward()
    # U_1 = 0.5 (U_0 - c_0) + x_1 with c_0 detached: dU_1/dx_0 = 0.5, dU_1/dx_1 = 1 (inside)
    np.testing.assert_array_equal(x.grad.numpy().ravel(), [0.5, 1.0])


def _ran(m, shape=(2, 3)):
    m(torch.zeros(1, 1, *shape))
    return m


@pytest.mark.parametrize("method", ["exact", "euler"])
def test_to_nir_lif_form(method):
    n = _ran(NASN(D=4, beta=0.75, alpha=-1.2)).to_nir(1.0, method)
    assert isinstance(n, nir.LIF)
    assert n.metadata == {"spikeforge.model": "NASN", "alpha": -1, "D": 4, "N": 4, "reset": "subtract"}
    assert np.all(n.v_threshold == 0.5) and np.all(n.v_reset == 0) and n.v_threshold.shape == (2, 3)
    a = np.exp(-1.0 / n.tau) if method == "exact" else 1 - 1.0 / n.tau
    np.testing.assert_allclose(a, 0.75, rtol=1e-12)


def test_to_nir_if_when_no_decay_and_ilif_metadata():
    n = _ran(ILIF(D=3, beta=1.0)).to_nir(1e-3, "exact")
    assert isinstance(n, nir.IF)
    np.testing.assert_allclose(n.r, 1e3)
    assert n.metadata == {"spikeforge.model": "ILIF", "alpha": 0, "D": 3, "N": 1, "reset": "subtract"}


def test_to_nir_integer_mode_exports_quantized_decay():
    net = QSequential(QuantInput(-4), QuantLinear(3, 2), ASN(beta=0.3))
    net(torch.ones(1, 1, 3))
    n = net[2].to_nir(1.0, "exact")
    d = round(0.7 * 4096)  # round((1 - beta) * 4096) with float32 beta: 2867
    np.testing.assert_allclose(np.exp(-1.0 / n.tau), (4096 - d) / 4096, rtol=1e-12)
    assert net[2].grid_exp is not None


def test_nir_round_trip_keeps_metadata(tmp_path):
    n = _ran(ASN(D=4, alpha=2.6)).to_nir(1.0, "exact")
    g = nir.NIRGraph(nodes={"input": nir.Input(np.array([2, 3])), "asn": n, "output": nir.Output(np.array([2, 3]))},
                     edges=[("input", "asn"), ("asn", "output")], type_check=False)
    nir.write(tmp_path / "a.nir", g)
    back = nir.read(tmp_path / "a.nir").nodes["asn"]
    assert isinstance(back, nir.LIF)
    meta = {k: (v.decode() if isinstance(v, bytes) else v.item() if hasattr(v, "item") else v)
            for k, v in back.metadata.items()}
    assert meta == {"spikeforge.model": "ASN", "alpha": 3, "D": 4, "N": 1, "reset": "subtract"}
    np.testing.assert_array_equal(back.tau, n.tau)
