"""Witness networks and the deduplicated last-step spike-pattern dictionary.

A *witness* is one branch's weight set. Random Gaussian witnesses give CVX; witnesses copied
from surrogate-gradient-trained networks give SG-CVX. Each witness network is run to the last
step on the training set; its branch spikes ``s_k[T-1]`` over the ``n`` samples are one binary
column. The dictionary keeps each distinct non-constant column once and remembers one witness
branch that realises it. With the unpenalised bias of the Lasso, two further reductions lose
nothing: constant columns (all 0 or all 1) are absorbed by the bias, and a column ``s`` and its
complement ``1 - s`` are the same column up to sign and bias (``z (1 - s) = z - z s``, same
penalty), so only the first of the two is kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .parallel import BranchSpec, apply_masks, branch_masks, last_spikes, linears, parallel_lif

__all__ = ["gaussian_witnesses", "SpikeDictionary", "spike_dictionary"]


@torch.no_grad()
def gaussian_witnesses(spec: BranchSpec, K: int, seed: int, w_std: float = 1.0, b_std: float = 0.1):
    """``K`` random Gaussian witness branches (CVX sampling).

    Weights of every layer are ``N(0, w_std² / fan_in_per_branch)`` (``fan_in`` is ``n_in`` for the
    first layer, the branch's previous width after), biases ``N(0, b_std²)``.

    Args:
        spec: Branch architecture.
        K: Number of witnesses.
        seed: Random seed.
        w_std: Weight scale.
        b_std: Bias standard deviation.

    Returns:
        The witness stack (``parallel_lif(spec, K)``, float64).
    """
    g = torch.Generator().manual_seed(int(seed))
    net = parallel_lif(spec, K).double()
    fan = [spec.n_in] + list(spec.hidden)
    for lin, f in zip(linears(net), fan):
        lin.weight.copy_(torch.randn(lin.weight.shape, generator=g, dtype=torch.float64) * (w_std / np.sqrt(f)))
        lin.bias.copy_(torch.randn(lin.bias.shape, generator=g, dtype=torch.float64) * b_std)
    apply_masks(net, branch_masks(spec, K))
    return net


@dataclass
class SpikeDictionary:
    """Deduplicated spike patterns.

    Attributes:
        D: ``(n, p)`` uint8, distinct non-constant last-step spike columns.
        source: ``(p, 2)`` int, per column ``(witness net index, branch index)`` realising it.
        sampled: Witness branches run.
        constant: Of them, how many gave a constant column (dropped).
    """

    D: np.ndarray
    source: np.ndarray
    sampled: int
    constant: int

    @property
    def size(self) -> int:
        """Number of columns ``p``."""
        return int(self.D.shape[1])


def spike_dictionary(nets: list, x: np.ndarray) -> SpikeDictionary:
    """Run every witness stack on ``x`` ``(T, n, n_in)`` and deduplicate the last-step patterns.

    Columns are ordered by first appearance (net order, then branch order), so the dictionary and
    its sources are deterministic.
    """
    cols, src = [], []
    for i, net in enumerate(nets):
        s = last_spikes(net, x)
        cols.append(s)
        src += [(i, k) for k in range(s.shape[1])]
    S = np.concatenate(cols, axis=1)
    src = np.asarray(src, dtype=np.int64).reshape(-1, 2)
    n = S.shape[0]
    nonconst = np.flatnonzero((S.sum(axis=0) > 0) & (S.sum(axis=0) < n))
    canon = S[:, nonconst].T.copy()
    canon[canon[:, 0] == 1] ^= 1  # a column and its complement are one column once the bias is free
    packed = np.packbits(canon, axis=1)  # one row of bytes per column
    _, first = np.unique(packed, axis=0, return_index=True)
    keep = nonconst[np.sort(first)]
    return SpikeDictionary(D=np.ascontiguousarray(S[:, keep]), source=src[keep], sampled=S.shape[1],
                           constant=int(S.shape[1] - nonconst.size))
