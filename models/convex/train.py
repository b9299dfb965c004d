r"""Training recipes: CVX, SG-CVX (convex reconstruction) and the plain surrogate-gradient baseline.

* :func:`fit_convex`: witnesses -> deduplicated dictionary -> certified group Lasso ->
  reconstructed :class:`~.parallel.ParallelSNN` (kept columns' witness branches, amplitude
  ``sqrt(‖z_j‖)``, readout ``z_j / sqrt(‖z_j‖)``, bias from the Lasso).
* :func:`cvx`: random Gaussian witnesses (:func:`~.dictionary.gaussian_witnesses`).
* :func:`train_sg`: the same parallel architecture trained end to end by BPTT with the ATan
  surrogate on the same squared loss (Adam, mini-batches); it also returns weight snapshots.
* :func:`sg_cvx`: witnesses = the branches of those surrogate-gradient snapshots, then
  :func:`fit_convex`. The Lasso is globally optimal over the sampled dictionary, so SG-CVX's
  training objective is never worse than the SG network's own readout refit on its final branches
  (they are in the dictionary), up to the path penalty.

No fine-tuning after the reconstruction is done here (the paper's optional step).
"""

from __future__ import annotations

import copy
import time
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .dictionary import SpikeDictionary, gaussian_witnesses, spike_dictionary
from .lasso import group_lasso, lambda_max
from .parallel import BranchSpec, ParallelSNN, apply_masks, branch_masks, concat_stacks, gather_branches, last_spikes, linears, mask_grads

__all__ = ["fit_convex", "cvx", "train_sg", "sg_cvx"]


def fit_convex(witnesses: Sequence[nn.Sequential], spec: BranchSpec, x: np.ndarray, Y: np.ndarray,
               lam_ratio: float = 1e-3, target_gap: float = 1e-7, method: str = "CVX") -> ParallelSNN:
    r"""Reconstruct a parallel SNN from witness stacks by a certified (group) Lasso.

    Args:
        witnesses: Witness stacks (``parallel_lif`` layout, any number of branches each).
        spec: Their branch architecture.
        x: Training inputs ``(T, n, n_in)``.
        Y: Targets ``(n, C)`` (:func:`~.tasks.targets`).
        lam_ratio: ``λ = lam_ratio · λ_max`` (``λ_max``: the smallest penalty with ``z = 0``).
        target_gap: Required absolute duality gap.
        method: Name recorded in ``info``.

    Returns:
        The reconstructed :class:`ParallelSNN`; ``info`` holds the dictionary size, ``λ``, the
        primal/dual objectives and gap, ``certified``, the Lasso result (``"lasso"``), the
        dictionary (``"dictionary"``) and ``pattern_mismatch`` (training samples whose
        reconstructed spikes differ from the dictionary columns: 0 unless float rounding differs
        between the witness and the reconstructed stacks).
    """
    t0 = time.perf_counter()
    big = concat_stacks(list(witnesses), spec)
    Kbig = linears(big)[-1].out_features
    dic: SpikeDictionary = spike_dictionary([big], x)
    if dic.size == 0:
        raise ValueError(f"{method}: every one of the {dic.sampled} witness branches spikes the same on all "
                         "training samples (constant columns only); change the witness scales")
    lam = lam_ratio * lambda_max(dic.D, Y)
    res = group_lasso(dic.D, Y, lam, target_gap=target_gap)
    keep = res.support
    if keep.size == 0:
        raise ValueError(f"{method}: the Lasso solution is all zero at lam_ratio={lam_ratio}; use a smaller ratio")
    branches = dic.source[keep, 1]
    net = gather_branches(big, spec, Kbig, branches)
    Zk = res.Z[keep]
    amp = np.sqrt(np.sqrt((Zk * Zk).sum(axis=1)))
    snn = ParallelSNN(net=net, spec=spec, amplitude=amp, readout=Zk / amp[:, None], bias=res.b.copy())
    s = last_spikes(net, x)
    snn.info = {
        "method": method, "sampled": dic.sampled, "constant": dic.constant, "dictionary": dic,
        "dict_size": dic.size, "kept": int(keep.size), "lambda": res.lam, "lam_ratio": lam_ratio,
        "primal": res.primal, "dual": res.dual, "gap": res.gap, "certified": res.certified,
        "solver_rounds": res.rounds, "solver_s": res.seconds, "lasso": res,
        "pattern_mismatch": int(np.any(s != dic.D[:, keep], axis=1).sum()),
        "fit_s": time.perf_counter() - t0,
    }
    return snn


def cvx(spec: BranchSpec, K: int, x: np.ndarray, Y: np.ndarray, seed: int = 0, w_std: float = 1.0,
        b_std: float = 0.1, lam_ratio: float = 1e-3, target_gap: float = 1e-7) -> ParallelSNN:
    """CVX: ``K`` random Gaussian witnesses, then :func:`fit_convex` (``info["fit_s"]`` includes sampling)."""
    t0 = time.perf_counter()
    w = gaussian_witnesses(spec, K, seed, w_std=w_std, b_std=b_std)
    snn = fit_convex([w], spec, x, Y, lam_ratio=lam_ratio, target_gap=target_gap, method="CVX")
    snn.info["fit_s"] = time.perf_counter() - t0
    return snn


def train_sg(spec: BranchSpec, K: int, x: np.ndarray, Y: np.ndarray, epochs: int = 100, lr: float = 0.01,
             seed: int = 0, batch: int = 64, w_std: float = 1.0, b_std: float = 0.1, snapshots: int = 0,
             desc: Optional[str] = "SG") -> tuple:
    r"""Plain surrogate-gradient training of the parallel architecture (BPTT, ATan surrogate).

    Loss: mean over samples of ``½‖ŷ - Y‖²`` with ``ŷ = s[T-1] A + b`` (``A``: ``(K, C)``
    readout, ``b``: bias, both trained). Adam with a cosine schedule over shuffled mini-batches; the
    branch weights start from the CVX witness distribution (:func:`gaussian_witnesses`, same
    ``seed``), the readout from ``N(0, 1/K)``.

    Args:
        spec: Branch architecture.
        K: Branches.
        x: ``(T, n, n_in)`` training inputs.
        Y: ``(n, C)`` targets.
        epochs: Passes over the training set.
        lr: Adam learning rate.
        seed: Seed of the initialisation and the shuffling.
        batch: Mini-batch size.
        w_std: Initial weight scale.
        b_std: Initial bias scale.
        snapshots: Number of weight snapshots to return (evenly spaced epochs, the last included).
        desc: tqdm label (``None``: no bar).

    Returns:
        ``(snn, snaps)``: the trained :class:`ParallelSNN` (amplitude 1, readout ``A``) and a list
        of float64 copies of the branch stack at the snapshot epochs.
    """
    t0 = time.perf_counter()
    g = torch.Generator().manual_seed(int(seed) + 1)
    net = gaussian_witnesses(spec, K, seed, w_std=w_std, b_std=b_std)
    masks = branch_masks(spec, K)
    C = Y.shape[1]
    A = nn.Parameter(torch.randn(K, C, generator=g, dtype=torch.float64) / np.sqrt(K))
    b = nn.Parameter(torch.zeros(C, dtype=torch.float64))
    opt = torch.optim.Adam(list(net.parameters()) + [A, b], lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(epochs, 1))
    xs, ys = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64)), torch.from_numpy(np.asarray(Y, dtype=np.float64))
    at = set(np.unique(np.linspace(epochs, 0, snapshots, endpoint=False).round().astype(int)).tolist()) if snapshots else set()
    snaps = []
    it = range(1, epochs + 1)
    for ep in (tqdm(it, desc=desc, unit="epoch", leave=False) if desc else it):
        net.train()
        for idx in torch.randperm(ys.shape[0], generator=g).split(batch):
            opt.zero_grad()
            s_last = net(xs[:, idx])[-1]
            loss = 0.5 * ((s_last @ A + b - ys[idx]) ** 2).sum(dim=1).mean()
            loss.backward()
            mask_grads(net, masks)
            opt.step()
            apply_masks(net, masks)
        sched.step()
        if ep in at:
            snaps.append(copy.deepcopy(net).double().eval())
    net.eval()
    snn = ParallelSNN(net=net, spec=spec, amplitude=np.ones(K), readout=A.detach().numpy().copy(),
                      bias=b.detach().numpy().copy(), info={"method": "SG", "fit_s": time.perf_counter() - t0})
    return snn, snaps


def sg_cvx(snaps: Sequence[nn.Sequential], spec: BranchSpec, x: np.ndarray, Y: np.ndarray, lam_ratio: float = 1e-3,
           target_gap: float = 1e-7) -> ParallelSNN:
    """SG-CVX: the branches of surrogate-gradient snapshots as witnesses, then :func:`fit_convex`."""
    if not snaps:
        raise ValueError("sg_cvx needs at least one surrogate-gradient snapshot (train_sg(..., snapshots>=1))")
    return fit_convex(list(snaps), spec, x, Y, lam_ratio=lam_ratio, target_gap=target_gap, method="SG-CVX")
