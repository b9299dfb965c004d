"""Spike function: strict Heaviside forward, surrogate gradients equal their formulas."""

import math

import pytest
import torch

from spikeforge.models.surrogate import (
    SURROGATES,
    ATan,
    Boxcar,
    FastSigmoid,
    Surrogate,
    get_surrogate,
)

X = torch.linspace(-2.0, 2.0, 401, dtype=torch.float64)


def _grad(sur: Surrogate, x: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_(True)
    sur(x).sum().backward()
    return x.grad


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_forward_is_strict_heaviside(name):
    x = torch.tensor([-1.0, -1e-300, 0.0, 1e-300, 1.0], dtype=torch.float64)
    s = get_surrogate(name)(x)
    assert s.dtype == torch.float64
    assert s.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]


@pytest.mark.parametrize("a", [2.0, 0.5, 5.0])
def test_atan_gradient(a):
    want = (a / 2) / (1 + (math.pi * a * X / 2) ** 2)
    torch.testing.assert_close(_grad(ATan(a), X), want, rtol=1e-12, atol=0)


def test_atan_default_alpha_is_two():
    assert ATan().alpha == 2.0
    assert _grad(ATan(), torch.zeros(1, dtype=torch.float64)).item() == pytest.approx(1.0)


@pytest.mark.parametrize("k", [25.0, 3.0])
def test_fast_sigmoid_gradient(k):
    want = 1.0 / (k * X.abs() + 1.0) ** 2
    torch.testing.assert_close(_grad(FastSigmoid(k), X), want, rtol=1e-12, atol=0)
    assert FastSigmoid().slope == 25.0


@pytest.mark.parametrize("w", [1.0, 0.5])
def test_boxcar_gradient(w):
    want = (X.abs() < w / 2).double() / w
    torch.testing.assert_close(_grad(Boxcar(w), X), want, rtol=0, atol=0)
    assert Boxcar().width == 1.0


def test_boxcar_rejects_bad_width():
    with pytest.raises(ValueError):
        Boxcar(0.0)


def test_get_surrogate_accepts_name_instance_class():
    assert isinstance(get_surrogate("atan"), ATan)
    assert isinstance(get_surrogate("fast-sigmoid"), FastSigmoid)
    obj = Boxcar(2.0)
    assert get_surrogate(obj) is obj
    assert isinstance(get_surrogate(FastSigmoid), FastSigmoid)


def test_get_surrogate_rejects_unknown():
    with pytest.raises(ValueError, match="supported"):
        get_surrogate("sigmoidish")
    with pytest.raises(ValueError):
        get_surrogate(3.0)


def test_gradient_flows_through_upstream_ops():
    w = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    x = torch.tensor([0.3], dtype=torch.float64)
    ATan()(w * x - 0.5).sum().backward()
    u = 2.0 * 0.3 - 0.5
    assert w.grad.item() == pytest.approx(0.3 * 1.0 / (1 + (math.pi * u) ** 2))
