"""sf.verify: agreement per backend pair and layer, and the first divergence."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import spikeforge as sf
from spikeforge.backends import BACKENDS
from tests.backends.reference import intnets


def broken_runner(prog, x, probes=(), **kw):
    """The reference with one spike of layer n1 flipped at sample 1, step 3, neuron 5."""
    tr = sf.run(prog, x, backend="reference", probes=probes)
    tr.probes["n1"] = tr.probes["n1"].copy()
    tr.probes["n1"][3, 1, 5] ^= 1
    return tr


@pytest.fixture
def with_broken(monkeypatch):
    monkeypatch.setitem(BACKENDS, "broken", "tests.backends.test_verify:broken_runner")


def test_verify_reports_first_divergence(with_broken):
    prog = intnets.mlp_program()
    x = np.random.default_rng(0).random((6, 3) + prog.input_shape)
    rep = sf.verify(prog, x, backends=("reference", "broken"))
    assert not rep.ok and rep.exact
    d = rep.first_divergence
    assert (d.sample, d.node, d.neuron, d.step) == (1, "n1", (5,), 3)
    assert d.values["reference"] != d.values["broken"]
    assert rep.agreement[("reference", "broken")]["n1"] == 1 - 1 / (6 * 3 * 32)
    assert rep.agreement[("reference", "broken")]["n2"] == 1.0
    assert "MISMATCH" in rep.summary()


def test_verify_same_backend_twice_agrees():
    prog = intnets.conv_program()
    x = np.random.default_rng(0).random((4, 2) + prog.input_shape)
    rep = sf.verify(prog, x, backends=("reference", "reference"))
    assert rep.ok and rep.first_divergence is None
    assert all(v == 1.0 for v in rep.agreement[("reference", "reference")].values())


# ------------------------------------------------------------------ batches, samples, state, NIR data, raster


def test_verify_batches_equal_one_run_and_samples_subset():
    prog = intnets.mlp_program(hidden="int_asn", asn_kw={"alpha": 1, "D": 4})
    x = np.random.default_rng(2).random((7, 5) + prog.input_shape) * 2.0
    whole = sf.verify(prog, x, backends=("reference", "reference"), progress=False)
    parts = sf.verify(prog, x, backends=("reference", "reference"), batch=2, progress=False)
    assert whole.ok and parts.ok and parts.shape == (7, 5)
    for k, v in whole.traces["reference"].probes.items():
        np.testing.assert_array_equal(parts.traces["reference"].probes[k], v)
    np.testing.assert_array_equal(parts.traces["reference"].output, whole.traces["reference"].output)
    sub = sf.verify(prog, x, backends=("reference", "reference"), samples=3, batch=2, progress=False)
    assert sub.shape == (7, 3)
    np.testing.assert_array_equal(sub.traces["reference"].output, whole.traces["reference"].output[:, :3])


def test_verify_divergence_reports_every_backend_and_reference_membrane(with_broken):
    prog = intnets.mlp_program()
    x = np.random.default_rng(0).random((6, 3) + prog.input_shape)
    rep = sf.verify(prog, x, backends=("reference", "broken", "reference"), progress=False)
    d = rep.first_divergence
    assert (d.sample, d.node, d.neuron, d.step) == (1, "n1", (5,), 3)
    ref = sf.run(prog, x, probes=["n1"], record_v=["n1"])
    assert d.values == {"reference": float(ref.probes["n1"][3, 1, 5]), "broken": float(1 - ref.probes["n1"][3, 1, 5])}
    assert d.state == {"reference": float(ref.probes["n1.v"][3, 1, 5])}
    assert rep.mismatches[("reference", "broken")] == {"n1": 1, "n2": 0, "n3": 0, "<output>": 0}
    assert rep.to_dict()["first_divergence"]["neuron"] == [5]
    assert "membrane: reference=" in str(d)


def _flip(layer: str, i: int):
    def runner(prog, x, probes=(), **kw):
        tr = sf.run(prog, x, backend="reference", probes=probes)
        tr.probes[layer] = tr.probes[layer].copy()
        tr.probes[layer][4, 0, i] ^= 1
        return tr

    return runner


def test_verify_first_divergence_prefers_the_upstream_layer(monkeypatch):
    """Layers n2 (pair 1) and n1 (pair 2) wrong at the same sample and step: n1, the upstream one, is reported."""
    mod = sys.modules[__name__]
    for name, layer, i in (("wrong_n2", "n2", 2), ("wrong_n1", "n1", 7)):
        monkeypatch.setattr(mod, name, _flip(layer, i), raising=False)
        monkeypatch.setitem(BACKENDS, name, f"{__name__}:{name}")
    prog = intnets.mlp_program()
    x = np.random.default_rng(1).random((6, 2) + prog.input_shape)
    rep = sf.verify(prog, x, backends=("reference", "wrong_n2", "wrong_n1"), progress=False)
    d = rep.first_divergence
    assert (d.sample, d.node, d.neuron, d.step) == (0, "n1", (7,), 4)
    assert set(d.values) == {"reference", "wrong_n2", "wrong_n1"}
    assert d.values["reference"] == d.values["wrong_n2"] != d.values["wrong_n1"]


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"backends": ("reference", "nope")}, ("unknown backend 'nope'", "available:")),
        ({"backends": ("reference",)}, ("at least two",)),
        ({"probes": ["ghost"]}, ("ghost",)),
        ({"samples": 4}, ("samples=4",)),
        ({"batch": 0}, ("batch=0",)),
    ],
)
def test_verify_bad_arguments(kw, words):
    prog = intnets.mlp_program()
    x = np.zeros((3, 3) + prog.input_shape)
    kw = {"backends": ("reference", "reference"), **kw}
    with pytest.raises(sf.SpikeforgeError) as e:
        sf.verify(prog, x, progress=False, **kw)
    for w in words:
        assert w in str(e.value)


def test_verify_bad_input_shape():
    prog = intnets.mlp_program()
    with pytest.raises(sf.InputError, match="expects"):
        sf.verify(prog, np.zeros((3, 2, 7)), backends=("reference", "reference"), progress=False)


@pytest.mark.parametrize("make", [intnets.mlp_program, intnets.conv_program, lambda: intnets.mlp_program(hidden="int_asn", asn_kw={"alpha": 1, "D": 4})])
def test_traces_round_trip_through_nir_data_exactly(tmp_path, make):
    import nir

    from spikeforge.backends.verify import OUTPUT
    from spikeforge.backends.verify_io import read_traces, write_traces

    prog = make()
    x = np.random.default_rng(4).random((5, 3) + prog.input_shape) * 2.0
    rep = sf.verify(prog, x, backends=("reference", "reference"), progress=False)
    paths = write_traces(tmp_path, prog, rep.traces)
    gd = nir.read_data(str(paths["reference"]))
    assert isinstance(gd, nir.NIRGraphData) and set(gd.nodes) == set(rep.layers[:-1]) | {prog.output_name}
    for name, nd in gd.nodes.items():
        assert isinstance(nd, nir.NIRNodeData)
        for obs in nd.observables.values():
            assert isinstance(obs, nir.TimeGriddedData) and obs.dt == prog.dt and obs.n_samples == 3 and obs.n_time_steps == 5
    back = read_traces(paths["reference"], prog)
    tr = rep.traces["reference"]
    assert set(back) == set(tr.probes) | {OUTPUT}
    for k, v in tr.probes.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape
        np.testing.assert_array_equal(back[k], v)
    np.testing.assert_array_equal(back[OUTPUT], tr.output)


def test_binary_spikes_are_nir_bool_events(tmp_path):
    import nir

    from spikeforge.backends.verify_io import write_traces

    prog = intnets.mlp_program()
    x = np.random.default_rng(5).random((8, 2) + prog.input_shape)
    tr = sf.run(prog, x, probes=["n1"])
    p = write_traces(tmp_path, prog, {"reference": tr})["reference"]
    obs = nir.read_data(str(p)).nodes["n1"].observables["spikes"]
    assert obs.data.dtype == bool
    np.testing.assert_array_equal(obs.data, np.moveaxis(tr.probes["n1"], 1, 0).astype(bool))
    ev = obs.to_event(n_events=8 * 32)  # NIR's own conversion works on our files
    assert int((ev.idx >= 0).sum()) == int(tr.probes["n1"].sum())


def test_non_binary_values_in_a_binary_layer_are_an_error(tmp_path):
    from spikeforge.backends.verify_io import write_traces

    prog = intnets.mlp_program()
    tr = sf.run(prog, np.random.default_rng(5).random((4, 2) + prog.input_shape), probes=["n1"])
    tr.probes["n1"] = tr.probes["n1"] * 2
    with pytest.raises(sf.SpikeforgeError, match="n1"):
        write_traces(tmp_path, prog, {"reference": tr})
    assert not list(tmp_path.iterdir())


def test_raster_plot_written(tmp_path, with_broken):
    from spikeforge.backends.verify_plot import plot_raster

    prog = intnets.mlp_program()
    x = np.random.default_rng(0).random((6, 3) + prog.input_shape)
    rep = sf.verify(prog, x, backends=("reference", "broken"), progress=False)
    s0, n = plot_raster(rep, prog, tmp_path / "r.png")
    assert s0 == 1 and n == 2  # the divergent sample first; T=6 < 20 columns -> 2 samples side by side
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"
    assert plot_raster(rep, prog, tmp_path / "r0.png", sample=0, min_columns=1) == (0, 1)
    with pytest.raises(sf.InputError):
        plot_raster(rep, prog, tmp_path / "bad.png", sample=3)
    assert not (tmp_path / "bad.png").exists()
