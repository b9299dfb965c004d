"""Projections: a hardware-time loop over the projections and the normative neuron steps
reproduces the integer reference exactly (every neuron node, every step)."""

from __future__ import annotations

import numpy as np
import pytest

from spikeforge.backends import run
from spikeforge.backends.projections import groups, projections
from tests.backends.reference import intnets


def _simulate(prog, x):
    """Hardware-time simulation from projections + spec steps (graded spikes)."""
    g = prog.graph
    T, B = x.shape[:2]
    TT = T + prog.max_depth
    inp = g.nodes[prog.input_name].attrs
    xi = intnets.quantize(x, inp["exp"], inp["bits"], inp["signed"]).astype(np.int64).reshape(T, B, -1)
    vals = {m: np.zeros((TT, B, int(np.prod(g.nodes[m].out_shape))), np.int64) for m in groups(prog)}
    vals[prog.input_name][:T] = xi
    projs = projections(prog)
    neurons = {m: intnets.Neuron(g.nodes[m], B) for m in groups(prog) if m != prog.input_name}
    for t in range(TT):
        for m, nrn in neurons.items():
            d = prog.depths[m]
            if not d <= t < d + T:
                continue
            a = np.zeros((B, int(np.prod(g.nodes[m].in_shape))), np.int64)
            for p in projs:
                s = t - 1 - p.delay
                if p.dst == m and s >= 0:
                    a += vals[p.src][s] @ p.matrix.T
            vals[m][t] = nrn(a).reshape(B, -1)
    return {m: vals[m][prog.depths[m] : prog.depths[m] + T] for m in neurons}


CASES = {
    "mlp-lif": lambda: intnets.mlp_program(),
    "mlp-asn": lambda: intnets.mlp_program(hidden="int_asn", asn_kw={"alpha": 1, "D": 4}),
    "conv-lif": lambda: intnets.conv_program(),
    "conv-asn": lambda: intnets.conv_program(hidden="int_asn"),
    "residual": lambda: intnets.residual_program(),
    "recurrent": lambda: intnets.recurrent_program(),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_projection_loop_equals_reference(case):
    prog = CASES[case]()
    rng = np.random.default_rng(3)
    x = rng.random((12, 2) + prog.input_shape) * 1.5
    names = [m for m in groups(prog) if m != prog.input_name]
    ref = run(prog, x, probes=names)
    got = _simulate(prog, x)
    for m in names:
        np.testing.assert_array_equal(got[m], ref.probes[m].reshape(got[m].shape), err_msg=m)
    assert any(ref.probes[m].any() for m in names)


def test_single_weighted_node_is_kept_as_linop():
    prog = intnets.mlp_program()
    ps = projections(prog)
    assert all(p.linop is not None and p.linop.op == "int_dense" for p in ps)
    # the matrix is the mantissa shifted by wexp, row by row
    for p in ps:
        w = np.asarray(p.linop.params["weight"]) << np.asarray(p.linop.params["wexp"])[:, None]
        np.testing.assert_array_equal(p.matrix, w)
