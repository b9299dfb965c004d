"""spikeforge.models.convex: the certified group Lasso (gap recomputed here, independently of the
solver), the witness dictionary, the exact reconstruction, the parallel layout, the tasks, and the
trained reconstructed network's NIR file and compiled integer run."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import nir  # noqa: E402

import spikeforge as sf  # noqa: E402
from spikeforge.models.convex import lasso, tasks  # noqa: E402
from spikeforge.models.convex.dictionary import gaussian_witnesses, spike_dictionary  # noqa: E402
from spikeforge.models.convex.parallel import (  # noqa: E402
    BranchSpec, concat_stacks, gather_branches, last_spikes, linears, parallel_lif)
from spikeforge.models.convex.train import cvx, sg_cvx, train_sg  # noqa: E402

XOR_SPEC = BranchSpec(n_in=2)
XOR_KW = dict(w_std=2.0, b_std=0.1)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def xor_data():
    xtr, ytr = tasks.first_last_xor(256, T=10, noise=0.1, seed=1)
    xte, yte = tasks.first_last_xor(256, T=10, noise=0.1, seed=2)
    return xtr, ytr, xte, yte


@pytest.fixture(scope="module")
def xor_cvx(xor_data):
    torch.set_num_threads(1)
    xtr, ytr, _, _ = xor_data
    return cvx(XOR_SPEC, 300, xtr, tasks.targets(ytr, 2), seed=0, lam_ratio=0.03, target_gap=1e-7, **XOR_KW)


# ----------------------------------------------------------------------------- independent certificate
def _independent_gap(D, Y, Z, b, theta, lam):
    """Primal of the ORIGINAL problem (uncentred, with bias) and the dual value of theta, written
    from the definitions: P = ½‖DZ + 1bᵀ - Y‖² + λ Σ‖Z_j‖,  G = <Θ, Y> - ½‖Θ‖² for Θ with
    1ᵀΘ = 0 (the bias's dual constraint) and ‖D_jᵀΘ‖ ≤ λ."""
    D = D.astype(np.float64)
    R = D @ Z + b[None, :] - Y
    P = 0.5 * np.sum(R**2) + lam * np.sum(np.linalg.norm(Z, axis=1))
    G = np.sum(theta * Y) - 0.5 * np.sum(theta**2)
    feas = np.max(np.linalg.norm(D.T @ theta, axis=1))
    return P, G, feas, np.abs(theta.sum(axis=0)).max()


def test_xor_gap_certified_independently(xor_cvx, xor_data):
    _, ytr, _, _ = xor_data
    info = xor_cvx.info
    res, D = info["lasso"], info["dictionary"].D
    Y = tasks.targets(ytr, 2)
    P, G, feas, bias_dual = _independent_gap(D, Y, res.Z, res.b, res.theta, res.lam)
    assert feas <= res.lam * (1 + 1e-12), "the dual point is not feasible"
    assert bias_dual < 1e-9, "the dual point violates the bias constraint 1ᵀΘ = 0"
    assert -1e-9 <= P - G < 1e-6  # the bar: gap below 1e-6 on the XOR task
    assert P == pytest.approx(res.primal, rel=1e-12, abs=1e-12)
    assert G == pytest.approx(res.dual, rel=1e-12, abs=1e-12)
    assert info["certified"] and info["gap"] < 1e-6


def test_gap_bounds_suboptimality(xor_cvx, xor_data):
    """Weak duality: no perturbed (Z, b) has a primal value below P - gap."""
    _, ytr, _, _ = xor_data
    res, D = xor_cvx.info["lasso"], xor_cvx.info["dictionary"].D.astype(np.float64)
    Y = tasks.targets(ytr, 2)

    def primal(Z, b):
        return 0.5 * np.sum((D @ Z + b - Y) ** 2) + res.lam * np.sum(np.linalg.norm(Z, axis=1))

    P0 = primal(res.Z, res.b)
    rng = np.random.default_rng(0)
    for scale in (1e-1, 1e-3, 1e-5):
        for _ in range(50):
            Z = res.Z + scale * rng.standard_normal(res.Z.shape) * (rng.random(res.Z.shape) < 0.1)
            b = res.b + scale * rng.standard_normal(res.b.shape)
            assert primal(Z, b) >= P0 - res.gap - 1e-9


def test_certificate_rejects_a_bad_solution(xor_cvx, xor_data):
    """The gap is a real test: for Z = 0 (not optimal at lambda < lambda_max) it is large."""
    _, ytr, _, _ = xor_data
    D = xor_cvx.info["dictionary"].D
    Dc, Yc, _, _ = lasso.center(D, tasks.targets(ytr, 2))
    gap, *_ = lasso.duality_gap(Dc, Yc, np.zeros((D.shape[1], 1)), xor_cvx.info["lambda"])
    assert gap > 1.0


def test_lambda_max_gives_zero_and_group_lasso_certified():
    rng = np.random.default_rng(3)
    D = (rng.random((80, 40)) < 0.4).astype(np.uint8)
    Y = rng.standard_normal((80, 3))
    lmax = lasso.lambda_max(D, Y)
    r = lasso.group_lasso(D, Y, lmax * 1.0001)
    assert not np.any(r.Z) and r.certified
    r = lasso.group_lasso(D, Y, 0.05 * lmax, target_gap=1e-8)
    assert r.certified and r.gap <= 1e-8 and r.support.size > 0
    P, G, feas, bias_dual = _independent_gap(D, Y, r.Z, r.b, r.theta, r.lam)
    assert feas <= r.lam * (1 + 1e-12) and bias_dual < 1e-9 and P - G <= 1e-8
    # group sparsity: whole rows are zero or not
    assert np.all((r.Z != 0).all(axis=1) | (r.Z == 0).all(axis=1))


def test_group_lasso_bad_input():
    with pytest.raises(ValueError, match="lambda must be > 0"):
        lasso.group_lasso(np.ones((4, 2)), np.zeros(4), 0.0)
    with pytest.raises(ValueError, match="D has 4 rows but Y has 3"):
        lasso.group_lasso(np.ones((4, 2)), np.zeros(3), 1.0)


def test_uncertified_result_warns():
    rng = np.random.default_rng(4)
    D = (rng.random((60, 50)) < 0.5).astype(np.uint8)
    Y = rng.standard_normal((60, 2))
    with pytest.warns(RuntimeWarning, match="duality gap .* above the target"):
        r = lasso.group_lasso(D, Y, 1e-4 * lasso.lambda_max(D, Y), target_gap=1e-30, max_rounds=1, max_iter=2)
    assert not r.certified


# ----------------------------------------------------------------------------- dictionary and reconstruction
def test_dictionary_dedup_and_sources(xor_data):
    xtr = xor_data[0]
    nets = [gaussian_witnesses(XOR_SPEC, 60, s, **XOR_KW) for s in (0, 1)]
    dic = spike_dictionary(nets, xtr)
    n = xtr.shape[1]
    assert dic.sampled == 120 and 0 < dic.size <= 120 - dic.constant
    sums = dic.D.sum(axis=0)
    assert np.all((sums > 0) & (sums < n))  # no constant column
    canon = np.where(dic.D[0] == 1, 1 - dic.D, dic.D)  # complement-canonical form
    assert len({c.tobytes() for c in canon.T}) == dic.size  # distinct, also modulo complement
    for j, (i, k) in enumerate(dic.source):  # each source branch realises its column exactly
        np.testing.assert_array_equal(last_spikes(nets[i], xtr)[:, k], dic.D[:, j])
    all_cols = np.concatenate([last_spikes(n_, xtr) for n_ in nets], axis=1)
    for c in all_cols.T:  # every non-constant sampled column is represented
        if 0 < c.sum() < n:
            assert any(np.array_equal(c, d) or np.array_equal(1 - c, d) for d in dic.D.T)


def test_reconstruction_is_exact(xor_cvx, xor_data):
    xtr, ytr, _, _ = xor_data
    info, res = xor_cvx.info, xor_cvx.info["lasso"]
    keep = res.support
    assert info["kept"] == keep.size == xor_cvx.K and info["pattern_mismatch"] == 0
    np.testing.assert_array_equal(last_spikes(xor_cvx.net, xtr), info["dictionary"].D[:, keep])
    # amplitude and readout are ±sqrt(|z|) (one output), their product is z
    np.testing.assert_allclose(np.abs(xor_cvx.readout[:, 0]), xor_cvx.amplitude, rtol=1e-15)
    np.testing.assert_allclose(xor_cvx.weights, res.Z[keep], rtol=1e-14)
    D = info["dictionary"].D.astype(np.float64)
    np.testing.assert_allclose(xor_cvx.predict(xtr), D @ res.Z + res.b, atol=1e-12)


def test_cvx_solves_clean_xor():
    """The paper's claim on first-last XOR without distractor noise: 100% (train and test)."""
    xtr, ytr = tasks.first_last_xor(128, T=10, noise=0.0, seed=1)
    xte, yte = tasks.first_last_xor(256, T=10, noise=0.0, seed=2)
    m = cvx(XOR_SPEC, 200, xtr, tasks.targets(ytr, 2), seed=0, lam_ratio=0.03, **XOR_KW)
    assert m.info["certified"]
    assert tasks.accuracy(m.predict(xtr), ytr) == 1.0 and tasks.accuracy(m.predict(xte), yte) == 1.0


def test_sg_keeps_branches_separate_and_sg_cvx_runs():
    spec = BranchSpec(n_in=2, hidden=(3,))
    xtr, ytr = tasks.first_last_xor(64, T=6, noise=0.1, seed=5)
    Y = tasks.targets(ytr, 2)
    snn, snaps = train_sg(spec, 4, xtr, Y, epochs=3, lr=0.01, seed=0, snapshots=2, desc=None, **XOR_KW)
    assert len(snaps) == 2
    w = linears(snn.net)[1].weight.detach().numpy()
    assert w.shape == (4, 12)
    block = np.kron(np.eye(4), np.ones((1, 3)))
    assert not np.any(w[block == 0]) and np.all(w[block == 1] != 0)
    m = sg_cvx(snaps, spec, xtr, Y, lam_ratio=0.01)
    assert m.info["pattern_mismatch"] == 0 and m.info["gap"] >= -1e-9


def test_gather_and_concat_are_exact():
    spec = BranchSpec(n_in=3, hidden=(2, 2))
    x = np.random.default_rng(1).normal(0, 1.0, (6, 50, 3))
    a, b = gaussian_witnesses(spec, 5, 0, w_std=3.0), gaussian_witnesses(spec, 3, 1, w_std=3.0)
    sa, sb = last_spikes(a, x), last_spikes(b, x)
    both = concat_stacks([a, b], spec)
    np.testing.assert_array_equal(last_spikes(both, x), np.concatenate([sa, sb], axis=1))
    keep = [6, 0, 3, 3]
    g = gather_branches(both, spec, 8, keep)
    np.testing.assert_array_equal(last_spikes(g, x), np.concatenate([sa, sb], axis=1)[:, keep])
    with pytest.raises(ValueError, match="out of range"):
        gather_branches(both, spec, 8, [8])
    with pytest.raises(ValueError, match="K >= 1"):
        parallel_lif(spec, 0)


def test_xor_task_definition():
    x, y = tasks.first_last_xor(200, T=7, noise=0.3, seed=0)
    assert x.shape == (7, 200, 2) and y.shape == (200,)
    np.testing.assert_array_equal(x * 16, np.round(x * 16))  # on the 2^-4 grid
    a, b = (x[0, :, 0] > 0).astype(int), (x[6, :, 1] > 0).astype(int)
    np.testing.assert_array_equal(np.abs(x[0, :, 0]), 1.0)
    np.testing.assert_array_equal(np.abs(x[6, :, 1]), 1.0)
    np.testing.assert_array_equal(y, a ^ b)
    assert x[1:6].std() > 0.2  # distractors in between
    with pytest.raises(ValueError, match="T >= 2"):
        tasks.first_last_xor(3, T=1)


# ----------------------------------------------------------------------------- NIR and compiled program
def test_trained_reconstruction_nir_reads_with_plain_nir(xor_cvx, xor_data, tmp_path):
    x = torch.from_numpy(xor_data[0][:, :2])
    path = tmp_path / "convex_xor.nir"
    sf.save_nir(sf.trace(xor_cvx.net, x), path)
    g = nir.read(str(path))
    kinds = {type(n).__name__ for n in g.nodes.values()}
    assert {"LIF", "Affine"} <= kinds
    aff = [n for n in g.nodes.values() if isinstance(n, nir.Affine)]
    np.testing.assert_array_equal(aff[0].weight, linears(xor_cvx.net)[0].weight.detach().numpy())


def test_qat_reconstruction_compiles_bit_exact(xor_data):
    """Integer-train form: the dictionary IS the hardware's spike patterns; the compiled loihi2
    program's spikes equal the torch forward at every step, so compiled accuracy == torch accuracy."""
    xtr, ytr, xte, yte = xor_data
    spec = BranchSpec(n_in=2, qat=True)
    m = cvx(spec, 200, xtr, tasks.targets(ytr, 2), seed=0, lam_ratio=0.03, **XOR_KW)
    assert m.info["certified"] and m.info["pattern_mismatch"] == 0
    prog = sf.compile(sf.trace(m.net, torch.from_numpy(xtr[:, :1])), target="loihi2", calibration=xtr)
    tr = sf.run(prog, xte, backend="reference")
    with torch.no_grad():
        ref = m.net(torch.from_numpy(xte)).numpy()
    np.testing.assert_array_equal(tr.output, ref)
    assert not tr.warnings
    assert tasks.accuracy(m.readout_from_spikes(tr.output[-1]), yte) == tasks.accuracy(m.predict(xte), yte)
