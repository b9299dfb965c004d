"""Trained convex reconstructions (CVX and SG-CVX on first-last XOR, CVX on digits) compiled for
loihi2: spike-exact reference == Lava == Brian2 digital, every layer at every step."""

from __future__ import annotations

import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import spikeforge as sf  # noqa: E402
from spikeforge.models.convex import tasks  # noqa: E402
from spikeforge.models.convex.parallel import BranchSpec  # noqa: E402
from spikeforge.models.convex.train import cvx, sg_cvx, train_sg  # noqa: E402

pytestmark = [pytest.mark.lava, pytest.mark.brian2, pytest.mark.slow]
os.environ.setdefault("SPIKEFORGE_BRIAN2_CODEGEN", "numpy")


def _xor_models():
    xtr, ytr = tasks.first_last_xor(128, T=10, noise=0.1, seed=1)
    Y = tasks.targets(ytr, 2)
    spec = BranchSpec(n_in=2)
    m_cvx = cvx(spec, 200, xtr, Y, seed=0, w_std=2.0, b_std=0.1, lam_ratio=0.03)
    _, snaps = train_sg(spec, 16, xtr, Y, epochs=10, lr=0.01, seed=0, w_std=2.0, b_std=0.1, snapshots=3, desc=None)
    m_sg = sg_cvx(snaps, spec, xtr, Y, lam_ratio=0.03)
    return xtr, {"cvx-xor": m_cvx, "sgcvx-xor": m_sg}


def _digits_model():
    xtr, ytr, _, _ = tasks.digits(T=4)
    xtr, ytr = xtr[:, :400], ytr[:400]
    m = cvx(BranchSpec(n_in=64), 200, xtr, tasks.targets(ytr, 10), seed=0, w_std=4.0, b_std=0.1, lam_ratio=0.1,
            target_gap=1e-6)
    return xtr, m


@pytest.fixture(scope="module")
def trained():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        xtr, models = _xor_models()
        dx, dm = _digits_model()
    finally:
        torch.set_num_threads(n)
    out = {k: (xtr, m) for k, m in models.items()}
    out["cvx-digits"] = (dx, dm)
    return out


@pytest.mark.parametrize("case", ["cvx-xor", "sgcvx-xor", "cvx-digits"])
def test_trained_reconstruction_spike_exact_on_all_backends(case, trained, lava_python):
    xtr, m = trained[case]
    assert m.info["kept"] > 0 and m.info["pattern_mismatch"] == 0
    prog = sf.compile(sf.trace(m.net, torch.from_numpy(xtr[:, :1])), target="loihi2", calibration=xtr)
    x = xtr[:, :3]
    rep = sf.verify(prog, x, backends=("reference", "lava", "brian2"))
    assert rep.ok, rep.summary()
    ref = rep.traces["reference"].output
    assert ref.shape == (x.shape[0], 3, m.K) and ref.any()  # the branches do spike
    for name in ("lava", "brian2"):
        np.testing.assert_array_equal(rep.traces[name].output, ref)
