r"""Parallel LIF networks: ``K`` independent branches, each a stack of LIF layers ending in one unit.

A branch ``k`` maps the input sequence ``x[t]`` (``t = 0 .. T-1``) through
``Linear -> LIF (-> Linear -> LIF)* `` to one LIF unit whose spike at the last step,
:math:`s_k[T-1] \in \{0, 1\}`, is the branch output (MODELS.md §5). The network output is

.. math::
    \hat y = \sum_k \alpha_k\, a_k\, s_k[T-1] + b,

with amplitude :math:`a_k`, readout :math:`\alpha_k` (a row of ``C`` values for ``C`` outputs)
and bias :math:`b`. Spikes are binary, so only the product :math:`a_k \alpha_k` matters; the
convex reconstruction sets :math:`a_k = \sqrt{\lVert z_k \rVert}`,
:math:`\alpha_k = z_k / \sqrt{\lVert z_k \rVert}` (``±sqrt(|z|)`` for one output).

The ``K`` branches are stored as ONE plain ``nn.Sequential`` of our layers, so ``sf.trace`` and
``sf.compile`` treat it like any other network: the first ``nn.Linear`` is dense
(``n_in -> K*h1``, every branch sees the whole input), every later ``nn.Linear`` is block
diagonal (zeros outside each branch's block, kept zero during training by :func:`apply_masks`),
and the last layer has ``K`` LIF units, one per branch. With ``qat=True`` the same stack is the
integer-train form (:class:`~spikeforge.models.qat.QSequential`: 8-bit signed input on the grid
``2^input_exp``, 8-bit weights with one exponent per output row), whose torch forward equals the
compiled ``loihi2`` program bit for bit.

The readout is applied to the last-step output spikes OUTSIDE the compiled program
(:meth:`ParallelSNN.readout`): a dot product of ``K`` bits with fixed weights. This is exact (no
LI neuron, whose leak would mix earlier steps into the last one), and it is where a host or an
on-chip accumulator would read the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..lif.nn import LIF

__all__ = ["BranchSpec", "parallel_lif", "branch_masks", "apply_masks", "mask_grads", "linears", "last_spikes",
           "ParallelSNN", "gather_branches", "concat_stacks"]


@dataclass(frozen=True)
class BranchSpec:
    """Architecture of one branch and its neurons.

    Attributes:
        n_in: Input channels.
        hidden: Widths of the hidden LIF layers of ONE branch (``()``: a branch is a single LIF
            unit fed by the input).
        beta: Membrane decay of every LIF neuron.
        threshold: Firing threshold of every LIF neuron.
        reset: ``"zero"`` (Loihi's reset, default) or ``"subtract"``.
        qat: Build the integer-train form (``QSequential``).
        input_exp: Input grid exponent of the integer-train form (``QuantInput``).
    """

    n_in: int
    hidden: tuple = ()
    beta: float = 0.9
    threshold: float = 1.0
    reset: str = "zero"
    qat: bool = False
    input_exp: int = -4

    def widths(self, K: int) -> list:
        """Widths of the stacked layers for ``K`` branches: ``[K*h1, ..., K*1]``."""
        return [K * h for h in self.hidden] + [K]


def _lif(spec: BranchSpec) -> LIF:
    return LIF(beta=spec.beta, threshold=spec.threshold, reset=spec.reset)


def parallel_lif(spec: BranchSpec, K: int) -> nn.Sequential:
    """Build the stacked network of ``K`` branches (weights: PyTorch's default init, masked).

    Args:
        spec: Branch architecture.
        K: Number of branches (``>= 1``).

    Returns:
        ``nn.Sequential(Linear, LIF, Linear, LIF, ...)`` (or its ``QSequential`` integer-train
        form with a leading ``QuantInput``) mapping ``(T, B, n_in)`` to ``(T, B, K)`` spikes.

    Raises:
        ValueError: ``K < 1``, a hidden width ``< 1`` or ``n_in < 1``.
    """
    if K < 1 or spec.n_in < 1 or any(int(h) < 1 for h in spec.hidden):
        raise ValueError(f"parallel_lif: need K >= 1, n_in >= 1 and hidden widths >= 1, got K={K}, {spec}")
    layers: list = []
    if spec.qat:
        from ..qat import QSequential, QuantInput, QuantLinear

        layers.append(QuantInput(exp=spec.input_exp, bits=8, signed=True))
        lin = lambda i, o: QuantLinear(i, o, per_channel=True)  # noqa: E731
    else:
        lin = nn.Linear
    prev = spec.n_in
    for w in spec.widths(K):
        layers += [lin(prev, w), _lif(spec)]
        prev = w
    net = QSequential(*layers) if spec.qat else nn.Sequential(*layers)
    apply_masks(net, branch_masks(spec, K))
    return net


def linears(net: nn.Sequential) -> list:
    """The ``nn.Linear`` layers of a parallel network, in order."""
    return [m for m in net if isinstance(m, nn.Linear)]


def branch_masks(spec: BranchSpec, K: int) -> list:
    """Weight masks per linear layer: ``None`` for the dense first layer, then block diagonals."""
    sizes = [spec.n_in] + spec.widths(K)
    per = [None] + list(spec.hidden) + [1]
    masks = [None]
    for i in range(1, len(sizes) - 1):
        a, b = per[i], per[i + 1]
        masks.append(torch.block_diag(*[torch.ones(b, a)] * K))
    return masks


@torch.no_grad()
def apply_masks(net: nn.Sequential, masks: list) -> None:
    """Zero every weight outside the branch blocks (in place)."""
    for lin, m in zip(linears(net), masks):
        if m is not None:
            lin.weight.mul_(m.to(lin.weight))


def mask_grads(net: nn.Sequential, masks: list) -> None:
    """Zero the gradients outside the branch blocks (call before the optimizer step)."""
    for lin, m in zip(linears(net), masks):
        if m is not None and lin.weight.grad is not None:
            lin.weight.grad.mul_(m.to(lin.weight.grad))


@torch.no_grad()
def last_spikes(net: nn.Module, x: np.ndarray, batch: int = 1024) -> np.ndarray:
    """Branch spikes at the last step, ``(B, K)`` uint8, of ``x`` shaped ``(T, B, n_in)`` (float64 run)."""
    net = net.double().eval()
    outs = []
    for i in range(0, x.shape[1], batch):
        xb = torch.from_numpy(np.ascontiguousarray(x[:, i:i + batch], dtype=np.float64))
        outs.append(net(xb)[-1].numpy())
    return np.concatenate(outs).astype(np.uint8)


@dataclass
class ParallelSNN:
    """A parallel LIF network with its last-step readout.

    Attributes:
        net: The branch stack (``parallel_lif`` layout), ``(T, B, n_in) -> (T, B, K)`` spikes.
        spec: Its branch architecture.
        amplitude: ``(K,)`` branch amplitudes :math:`a_k`.
        readout: ``(K, C)`` readout weights :math:`\\alpha_k`.
        bias: ``(C,)`` output bias.
        info: Free-form record of how it was made (solver, gap, dictionary size, ...).
    """

    net: nn.Sequential
    spec: BranchSpec
    amplitude: np.ndarray
    readout: np.ndarray
    bias: np.ndarray
    info: dict = field(default_factory=dict)

    @property
    def K(self) -> int:
        """Number of branches."""
        return int(self.readout.shape[0])

    @property
    def weights(self) -> np.ndarray:
        """Effective readout ``amplitude[:, None] * readout``, ``(K, C)``."""
        return self.amplitude[:, None] * self.readout

    def readout_from_spikes(self, s_last: np.ndarray) -> np.ndarray:
        """``ŷ = s_last @ weights + bias`` for last-step spikes ``(B, K)``: ``(B, C)`` float64."""
        return np.asarray(s_last, dtype=np.float64) @ self.weights + self.bias

    def predict(self, x: np.ndarray) -> np.ndarray:
        """``ŷ`` of the torch network, ``(B, C)``, for ``x`` shaped ``(T, B, n_in)``."""
        return self.readout_from_spikes(last_spikes(self.net, x))


def gather_branches(net: nn.Sequential, spec: BranchSpec, K: int, keep: Sequence[int]) -> nn.Sequential:
    """A new stack holding only branches ``keep`` (in that order) of a ``K``-branch stack.

    Args:
        net: Source stack (``parallel_lif(spec, K)`` layout).
        spec: Its branch architecture.
        K: Its number of branches.
        keep: Branch indices to copy (repetitions allowed).

    Returns:
        ``parallel_lif(spec, len(keep))`` with the kept branches' weights and biases (float64
        copies of the source parameters; exact).
    """
    keep = [int(k) for k in keep]
    if not keep:
        raise ValueError("gather_branches: no branch to keep (the solution is all zero; lower lambda)")
    if min(keep) < 0 or max(keep) >= K:
        raise ValueError(f"gather_branches: branch index out of range 0..{K - 1}: {keep}")
    new = parallel_lif(spec, len(keep)).double()
    per = list(spec.hidden) + [1]
    src_l, dst_l = linears(net), linears(new)
    with torch.no_grad():
        prev_per = None
        for i, (s, d) in enumerate(zip(src_l, dst_l)):
            h = per[i]
            rows = torch.tensor([k * h + j for k in keep for j in range(h)])
            w = s.weight.detach().to(torch.float64)[rows]
            if prev_per is not None:  # block diagonal: keep this branch's input block only
                cols = torch.tensor([k * prev_per + j for k in keep for j in range(prev_per)])
                w = w[:, cols]
            d.weight.copy_(w)
            if d.bias is not None:
                d.bias.copy_(s.bias.detach().to(torch.float64)[rows])
            prev_per = h
    apply_masks(new, branch_masks(spec, len(keep)))
    return new


def concat_stacks(nets: Sequence[nn.Sequential], spec: BranchSpec) -> nn.Sequential:
    """One stack holding the branches of several stacks, in order (float64, exact copies)."""
    Ks = [linears(n)[-1].out_features for n in nets]
    new = parallel_lif(spec, sum(Ks)).double()
    with torch.no_grad():
        for li, d in enumerate(linears(new)):
            ws = [linears(n)[li].weight.detach().to(torch.float64) for n in nets]
            bs = [linears(n)[li].bias.detach().to(torch.float64) for n in nets]
            d.weight.copy_(torch.cat(ws) if li == 0 else torch.block_diag(*ws))
            d.bias.copy_(torch.cat(bs))
    return new
