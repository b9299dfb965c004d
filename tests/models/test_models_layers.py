"""Seq, Recurrent and SumPool2d."""

import pytest
import torch
from torch import nn

from spikeforge.models import LIF, Recurrent, Seq, SumPool2d


def test_seq_applies_layer_per_step():
    torch.manual_seed(0)
    conv = nn.Conv2d(2, 3, 3, padding=1).double()
    x = torch.rand(4, 2, 2, 6, 6, dtype=torch.float64)
    y = Seq(conv)(x)
    assert y.shape == (4, 2, 3, 6, 6)
    for t in range(4):
        torch.testing.assert_close(y[t], conv(x[t]), rtol=0, atol=0)


def test_seq_flatten():
    x = torch.rand(3, 2, 4, 5, 5)
    assert Seq(nn.Flatten())(x).shape == (3, 2, 100)


def test_sumpool_is_exact_window_sum():
    x = torch.rand(2, 3, 6, 6, dtype=torch.float64)
    y = SumPool2d(2)(x)
    want = x.reshape(2, 3, 3, 2, 3, 2).sum(dim=(3, 5))
    torch.testing.assert_close(y, want, rtol=0, atol=1e-15)
    # any leading dims, stride and padding
    x5 = torch.rand(4, 2, 3, 7, 7, dtype=torch.float64)
    y5 = SumPool2d(3, stride=2, padding=1)(x5)
    ref = torch.nn.functional.avg_pool2d(x5.reshape(8, 3, 7, 7), 3, 2, 1, count_include_pad=True) * 9
    torch.testing.assert_close(y5, ref.reshape(4, 2, 3, 4, 4))


def test_recurrent_matches_loop():
    torch.manual_seed(1)
    n = 6
    rec = nn.Linear(n, n).double()
    layer = Recurrent(LIF(beta=0.75, record=True), rec).double()
    x = torch.rand(25, 3, n, dtype=torch.float64) * 1.2
    with torch.no_grad():
        s = layer(x)
        h = torch.zeros(3, n, dtype=torch.float64)
        prev = torch.zeros(3, n, dtype=torch.float64)
        want, us = [], []
        for t in range(25):
            u = 0.75 * h + (x[t] + rec(prev))
            prev = (u > 1.0).double()
            h = u - prev
            want.append(prev)
            us.append(u)
    assert torch.equal(s, torch.stack(want))
    assert torch.equal(layer.recorded["v"], torch.stack(us))
    assert layer.neuron_shape == (n,)
    assert 0 < s.sum() < s.numel()


def test_recurrent_rejects_bad_args():
    with pytest.raises(ValueError):
        Recurrent(LIF(), nn.Linear(3, 4))
    with pytest.raises(TypeError):
        Recurrent(nn.ReLU(), nn.Linear(3, 3))
    with pytest.raises(ValueError):
        Recurrent(LIF(), nn.Linear(3, 3))(torch.zeros(2, 1, 4))


def test_recurrent_to_nir_subgraph():
    import nir

    rec = nn.Linear(4, 4, bias=False)
    g = Recurrent(LIF(beta=0.5), rec).to_nir(1.0, "exact")
    assert isinstance(g, nir.NIRGraph)
    assert set(g.nodes) == {"input", "neuron", "rec", "output"}
    assert sorted(g.edges) == sorted(
        [("input", "neuron"), ("neuron", "rec"), ("rec", "neuron"), ("neuron", "output")]
    )
    assert isinstance(g.nodes["rec"], nir.Linear)
    assert isinstance(g.nodes["neuron"], nir.LIF)
    assert g.nodes["neuron"].v_threshold.shape == (4,)
