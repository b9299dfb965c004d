"""AdLIF (Bittar & Garner 2022): the update equals MODELS.md's recurrence, adaptation slows
firing, surrogate gradients reach every trainable parameter."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spikeforge.models import AdLIF
from spikeforge.models.adlif.nn import RANGES


def test_forward_equals_models_md_recurrence():
    torch.manual_seed(0)
    m = AdLIF(alpha=0.9, beta_w=0.95, a=0.01, b=0.3, threshold=1.0, clamp=False).double()
    x = 6 * torch.rand(100, 2, 5, dtype=torch.float64)
    with torch.no_grad():
        s = m(x).numpy()
    u = w = sp = np.zeros((2, 5))
    want = []
    for t in range(100):
        w = 0.95 * w + 0.01 * u + 0.3 * sp
        u = 0.9 * (u - sp) + 0.1 * (x[t].numpy() - w)
        sp = (u > 1.0).astype(np.float64)
        want.append(sp)
    np.testing.assert_array_equal(s, np.stack(want))
    assert 0 < s.mean() < 1


def test_spike_triggered_adaptation_slows_firing():
    x = torch.full((400, 1, 1), 2.5, dtype=torch.float64)
    with torch.no_grad():
        plain = AdLIF(a=0.0, b=0.0).double()(x).sum()
        adapt = AdLIF(a=0.0, b=2.0).double()(x).sum()
    assert plain > 0 and adapt < 0.7 * plain


def test_learned_parameters_are_clamped_and_get_gradients():
    m = AdLIF(shape=(4,), learn=True).double()
    with torch.no_grad():
        m.alpha.fill_(2.0)
        m.b.fill_(-1.0)
    c = m.coefficients()
    assert float(c["alpha"].max()) == pytest.approx(RANGES["alpha"][1])
    assert float(c["b"].min()) == 0.0
    with torch.no_grad():
        m.alpha.fill_(math.exp(-1 / 10))
        m.b.fill_(0.5)
        m.a.fill_(0.01)
    x = 8 * torch.rand(80, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    m(x).sum().backward()
    for name in ("alpha", "beta_w", "a", "b"):
        g = getattr(m, name).grad
        assert g is not None and torch.isfinite(g).all() and g.abs().sum() > 0, name


def test_no_nir_lowering_yet():
    m = AdLIF(shape=(2,))
    with pytest.raises(NotImplementedError, match="AdLIF"):
        m.to_nir(1.0, "exact")
