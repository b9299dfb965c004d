"""sf.verify: agreement per backend pair and layer, and the first divergence."""

from __future__ import annotations

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
