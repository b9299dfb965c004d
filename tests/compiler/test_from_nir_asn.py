"""ASN / NASN / I-LIF in NIR form (``docs/integer.md``) and weight-quantization metadata."""

from __future__ import annotations

from pathlib import Path

import nir
import numpy as np
import pytest

import spikeforge as sf
from spikeforge.compiler.from_nir import from_nir
from spikeforge.compiler.passes.discretize import make_discretize


def _asn_if(meta: dict) -> nir.IF:
    return nir.IF(r=np.ones(3), v_threshold=np.full(3, 0.5), v_reset=np.zeros(3), metadata=meta)


def _graph(neuron, affine_meta=None) -> nir.NIRGraph:
    return nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([2])),
            "fc": nir.Affine(np.ones((3, 2)), np.zeros(3), metadata=dict(affine_meta or {})),
            "n": neuron,
            "output": nir.Output(np.array([3])),
        },
        edges=[("input", "fc"), ("fc", "n"), ("n", "output")],
        type_check=False,
    )


@pytest.mark.parametrize("model", ["ASN", "NASN", "ILIF"])
def test_asn_nodes(model: str, tmp_path: Path) -> None:
    meta = {"spikeforge.model": model, "alpha": -2, "D": 4, "N": 4, "reset": "subtract"}
    lif = nir.LIF(tau=np.full(3, 2.0), r=np.full(3, 1.5), v_leak=np.zeros(3), v_threshold=np.full(3, 0.5), v_reset=np.zeros(3), metadata=dict(meta))
    for neuron in (_asn_if(dict(meta)), lif):
        p = tmp_path / "g.nir"
        sf.save_nir(_graph(neuron, {"spikeforge.weight_quant": "per_channel"}), p)
        g = from_nir(sf.load_nir(p))
        n = g.nodes["n"]
        assert n.op == "ASN" and dict(n.attrs) == {"model": model, "alpha": -2, "D": 4, "N": 4}
        assert g.nodes["fc"].attrs["weight_quant"] == "per_channel"
        d = make_discretize(1.0, "exact")(g).nodes["n"]
        assert d.op == "asn" and set(d.params) == {"a", "g", "b"}
        if "tau" in n.params:
            np.testing.assert_allclose(d.params["a"], np.exp(-0.5))
            np.testing.assert_allclose(d.params["g"], (1 - np.exp(-0.5)) * 1.5)
        else:
            assert np.all(d.params["a"] == 1.0) and np.all(d.params["g"] == 1.0)


def test_plain_lif_unchanged() -> None:
    g = from_nir(_graph(nir.LIF(tau=np.ones(3), r=np.ones(3), v_leak=np.zeros(3), v_threshold=np.ones(3), v_reset=np.zeros(3))))
    assert g.nodes["n"].op == "LIF" and "weight_quant" not in g.nodes["fc"].attrs


@pytest.mark.parametrize(
    "meta, words",
    [
        ({"spikeforge.model": "XYZ", "D": 4}, ("'n'", "XYZ", "ASN, NASN, ILIF")),
        ({"spikeforge.model": "ASN"}, ("'n'", "lacks 'D'")),
        ({"spikeforge.model": "ASN", "D": 2.5}, ("'n'", "'D' must be an integer")),
        ({"spikeforge.model": "ASN", "D": 0}, ("'n'", "D and N must be >= 1")),
    ],
)
def test_bad_asn_metadata(meta: dict, words: tuple) -> None:
    with pytest.raises(sf.GraphError) as e:
        from_nir(_graph(_asn_if(meta)))
    assert "\n" not in str(e.value)
    for w in words:
        assert w in str(e.value)


def test_bad_weight_quant() -> None:
    with pytest.raises(sf.GraphError, match="spikeforge.weight_quant='per_pixel' unknown"):
        from_nir(_graph(_asn_if({"spikeforge.model": "ASN", "D": 4}), {"spikeforge.weight_quant": "per_pixel"}))


def test_float_asn_runs_on_the_reference() -> None:
    g = _graph(_asn_if({"spikeforge.model": "NASN", "alpha": 1, "D": 3, "N": 2}))
    x = np.random.default_rng(0).random((5, 2, 2)) * 2
    out = sf.run(sf.compile(g, dt=1.0), x).output
    assert np.all(out >= 0.5) and np.all(out <= 2.0)  # c / N with c in [alpha, alpha + D]
