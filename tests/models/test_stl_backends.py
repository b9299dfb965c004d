"""A TRAINED STL network, compiled for both threshold forms (per-neuron ``vth`` on ``loihi2``;
one ``vth`` per layer with the thresholds folded into row scales on ``loihi2-shared-threshold``),
runs spike for spike identically on the reference, Lava (fixed_pt) and Brian2 digital backends."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

import spikeforge as sf
from spikeforge.models.stl import (STL_TARGETS, TEST_SEED, TrainConfig, build_stl_net, compile_stl, rate_encode,
                                   stl_accuracy, stl_readout, stl_thresholds, train_stl)

pytestmark = [pytest.mark.lava, pytest.mark.brian2, pytest.mark.slow]
os.environ.setdefault("SPIKEFORGE_BRIAN2_CODEGEN", "numpy")
T = 8


@pytest.fixture(scope="module")
def trained():
    """An STL net trained briefly on the digits (thresholds jittered around 2.0 and learned)."""
    from spikeforge.demo import digits_split

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        xtr, ytr, xte, yte = digits_split(0, 360)
        net = build_stl_net("STL", hidden=(48, 24), seed=0, theta_jitter=0.2)
        init = stl_thresholds(net)
        res = train_stl(net, "STL", xtr, ytr, TrainConfig(T=T, epochs=5, lr=1e-2, progress=False))
    finally:
        torch.set_num_threads(n)
    acc = stl_accuracy(stl_readout(net, rate_encode(xte, T, TEST_SEED)), yte)
    return {"net": net, "init": init, "res": res, "acc": acc, "xtr": xtr, "xte": xte}


@pytest.mark.parametrize("target", STL_TARGETS)
def test_trained_stl_is_spike_exact_on_reference_lava_brian2(trained, target, lava_python):
    net = trained["net"]
    assert trained["acc"] > 0.6  # trained (chance is 0.1)
    assert any(not np.array_equal(a, b) for a, b in zip(trained["init"], trained["res"].thresholds))  # thresholds learned
    c = compile_stl(net, rate_encode(trained["xtr"][:256], T, 1), target)
    prog = c.program
    lif = [k for k, n in prog.graph.nodes.items() if n.op == "int_lif"]
    assert len(lif) == 2
    n_vth = [len(np.unique(prog.graph.nodes[k].params["vth"])) for k in lif]
    if target == "loihi2-shared-threshold":
        assert n_vth == [1, 1] and "fold_thresholds" in prog.passes
    else:
        assert min(n_vth) > 1  # one vth per neuron
    x = rate_encode(trained["xte"][:12], T, TEST_SEED).astype(np.float64)
    rep = sf.verify(prog, x, backends=("reference", "lava", "brian2"), progress=False)
    assert rep.ok, rep.summary()
    assert rep.first_divergence is None
    outs = {b: rep.traces[b].output for b in ("reference", "lava", "brian2")}
    np.testing.assert_array_equal(outs["reference"], outs["lava"])
    np.testing.assert_array_equal(outs["reference"], outs["brian2"])
    for k in lif:  # spikes compared in every hidden layer, and there are spikes to compare
        ref = rep.traces["reference"].probes[k]
        np.testing.assert_array_equal(ref, rep.traces["lava"].probes[k])
        np.testing.assert_array_equal(ref, rep.traces["brian2"].probes[k])
        assert 0 < ref.mean() < 1
    # the readout also equals a plain reference run of the program (what the example scores)
    np.testing.assert_array_equal(outs["reference"], sf.run(prog, x).output)
