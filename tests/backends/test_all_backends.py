"""sf.verify across all three backends: reference == Lava (fixed_pt) == Brian2 digital, every
neuron layer at every step, on integer programs of each kind."""

from __future__ import annotations

import os

import numpy as np
import pytest

import spikeforge as sf
from tests.backends.reference import intnets

pytestmark = [pytest.mark.lava, pytest.mark.brian2]
os.environ.setdefault("SPIKEFORGE_BRIAN2_CODEGEN", "numpy")

CASES = {
    "lif-mlp": lambda: intnets.mlp_program(),
    "cuba-conv": lambda: intnets.conv_program(),
    "residual-delays": lambda: intnets.residual_program(),
    "recurrent-lif": lambda: intnets.recurrent_program(),
    "asn-graded": lambda: intnets.mlp_program(hidden="int_asn", asn_kw={"alpha": 1, "D": 4}),
    "nasn-binary": lambda: intnets.mlp_program(hidden="int_asn", asn_kw={"alpha": 0, "D": 3, "N": 3}, realization="binary"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_reference_lava_brian2_agree(case, lava_python):
    prog = CASES[case]()
    x = np.random.default_rng(11).random((8, 2) + prog.input_shape) * 2.0
    rep = sf.verify(prog, x, backends=("reference", "lava", "brian2"))
    assert rep.ok, rep.summary()
    assert set(rep.agreement) == {("reference", "lava"), ("reference", "brian2"), ("lava", "brian2")}
    assert any(np.any(v) for k, v in rep.traces["reference"].probes.items())


def test_mtc_integer_on_all_backends(lava_python):
    torch = pytest.importorskip("torch")
    from tests.compiler.test_compile_mtc import _net, _x

    x = _x(T=80, B=2)
    prog = sf.compile(sf.trace(_net(), torch.from_numpy(x)), target="loihi2", calibration=x)
    assert any(n.op == "int_mtc" for n in prog.graph.nodes.values())
    rep = sf.verify(prog, x, backends=("reference", "lava", "brian2"))
    assert rep.ok, rep.summary()
