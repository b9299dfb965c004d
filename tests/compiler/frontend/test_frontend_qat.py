"""sf.trace of integer-train models: quantized values exported, input exponent in the metadata."""

from __future__ import annotations

import warnings

import nir
import numpy as np
import pytest
import torch
from torch import nn

import spikeforge as sf
from spikeforge.compiler.frontend.qat_layers import input_quant
from spikeforge.compiler.frontend.registry import dropped
from spikeforge.models import (ASN, LI, LIF, NASN, QSequential, QuantConv2d, QuantInput, QuantLinear, Seq,
                               SumPool2d)
from spikeforge.models import quant as Q


def _plain(v):
    v = v[()] if isinstance(v, np.ndarray) and v.shape == () else v
    v = v.decode() if isinstance(v, bytes) else v
    return v.item() if isinstance(v, np.generic) else v


def _mlp(per_channel=False):
    torch.manual_seed(0)
    return QSequential(QuantInput(exp=-4, bits=8), QuantLinear(8, 12, per_channel=per_channel), NASN(D=4, alpha=-0.7),
                       QuantLinear(12, 6), LIF(beta=0.8, threshold=0.7, reset="zero"),
                       QuantLinear(6, 3, bias=False), LI(beta=0.9))


def _nodes(g, cls):
    return [n for n in g.nodes.values() if isinstance(n, cls)]


def test_trace_fresh_model_sets_sources_and_writes_input_metadata():
    net = _mlp()
    g = sf.trace(net, torch.rand(2, 3, 8))  # never run before: the sample run sets the grids
    assert net[3].src_scale == 0.25 and net[3].src_exp == 0 and net[1].src_exp == -4
    assert g.metadata["spikeforge.input_exp"] == -4
    assert g.metadata["spikeforge.input_bits"] == 8 and g.metadata["spikeforge.input_signed"] is False
    assert not any(n.metadata.get("spikeforge.drop") for n in g.nodes.values())
    assert [type(g.nodes[b]).__name__ for a, b in g.edges if a == "input"] == ["Affine"]
    aff = _nodes(g, nir.Affine)
    assert [n.metadata for n in aff] == [{"spikeforge.weight_quant": "per_layer"}] * 2
    assert isinstance(_nodes(g, nir.Linear)[0], nir.Linear)
    lifs = _nodes(g, nir.LIF)
    assert lifs[0].metadata == {"spikeforge.model": "NASN", "alpha": -1, "D": 4, "N": 4, "reset": "subtract"}


@pytest.mark.parametrize("per_channel", [False, True])
def test_exported_weights_recover_the_same_integers(per_channel):
    net = _mlp(per_channel)
    g = sf.trace(net, torch.rand(1, 2, 8) * 8)
    aff = _nodes(g, nir.Affine)
    for node, layer, n_div in ((aff[0], net[1], 1), (aff[1], net[3], 4)):
        w = node.weight / n_div  # the compiler folds NASN's 1/N into the weights
        e = Q.row_exps(w, per_layer=node.metadata["spikeforge.weight_quant"] == "per_layer")
        np.testing.assert_array_equal(e, layer.weight_exps().numpy())
        np.testing.assert_array_equal(np.ldexp(Q.mantissa(w, e).astype(float), e[:, None]), w)  # on the grid
        np.testing.assert_array_equal(w, layer.quant_weight().numpy())
        k = np.ldexp(node.bias, -(e + layer.src_exp))
        assert np.all(k == np.round(k)) and np.all(np.abs(k) <= 4095)
    # the LIF exports theta_q and beta_q; its grid is the preceding layer's e_row - 6 (spiking source)
    lif = _nodes(g, nir.LIF)[1]
    gexp = net[4].grid_exp.numpy()
    np.testing.assert_array_equal(lif.v_threshold, np.clip(Q.round_half_up(np.ldexp(np.float32(0.7), -(gexp + 6))),
                                                           0, Q.VTH_MAX) * np.ldexp(1.0, gexp + 6))
    d = Q.decay_code(np.float32(0.8))
    np.testing.assert_allclose(np.exp(-1.0 / lif.tau), (4096 - d) / 4096, rtol=1e-12)


def test_conv_net_traces_and_round_trips(tmp_path):
    torch.manual_seed(1)
    net = QSequential(QuantInput(exp=-5, bits=7, signed=True), Seq(QuantConv2d(1, 4, 3, padding=1, per_channel=True)),
                      ASN(D=4, alpha=-1.0), SumPool2d(2), nn.Flatten(start_dim=2), nn.Dropout(0.2),
                      QuantLinear(4 * 4 * 4, 5), LI(beta=0.5))
    g = sf.trace(net, torch.randn(2, 2, 1, 8, 8))
    conv = _nodes(g, nir.Conv2d)[0]
    assert conv.metadata == {"spikeforge.weight_quant": "per_channel"}
    np.testing.assert_array_equal(conv.weight, net[1].module.quant_weight().numpy())
    nir.write(tmp_path / "q.nir", g)
    back = nir.read(tmp_path / "q.nir")
    meta = {k: _plain(v) for k, v in back.metadata.items()}
    assert (meta["spikeforge.input_exp"], meta["spikeforge.input_bits"], meta["spikeforge.input_signed"]) == (-5, 7, True)
    kinds = sorted(type(n).__name__ for n in back.nodes.values())
    assert kinds == sorted(["Input", "Conv2d", "LIF", "SumPool2d", "Flatten", "Affine", "LI", "Output"])
    asn = _nodes(back, nir.LIF)[0]
    assert _plain(asn.metadata["spikeforge.model"]) == "ASN" and _plain(asn.metadata["alpha"]) == -1
    assert _plain(_nodes(back, nir.Conv2d)[0].metadata["spikeforge.weight_quant"]) == "per_channel"


def test_trace_keeps_float_models_unchanged():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 3), LIF(beta=0.9, threshold=0.3))
    g = sf.trace(net, torch.rand(1, 1, 4))
    assert "spikeforge.input_exp" not in g.metadata
    np.testing.assert_array_equal(_nodes(g, nir.Affine)[0].weight, net[0].weight.detach().double().numpy())
    np.testing.assert_array_equal(_nodes(g, nir.LIF)[0].v_threshold, np.float32(0.3))


def test_input_quant_warns_when_not_at_the_input():
    q = dropped(np.array([2]))
    q.metadata.update({"spikeforge.input_exp": -3, "spikeforge.input_bits": 8, "spikeforge.input_signed": False})
    nodes = {"input": nir.Input(np.array([2])), "q": q, "a": nir.Linear(np.eye(2))}
    assert input_quant(nodes, [("input", "q"), ("q", "a")])["spikeforge.input_exp"] == -3
    with pytest.warns(UserWarning, match="QuantInput"):
        assert input_quant(nodes, [("input", "a"), ("input", "q"), ("q", "a")]) == {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert input_quant({"input": nodes["input"], "a": nodes["a"]}, [("input", "a")]) == {}
