"""The STL training recipe: Adam on rate-coded digits, thresholds kept positive (MODELS.md §2).

The loss is the cross-entropy of the LI readout summed over time. Every epoch draws a fresh
Bernoulli encoding of the training set (seeded by ``seed`` and the epoch), mini-batches are
shuffled by a seeded generator, and the learning rate follows a cosine schedule. Weights and
thresholds share one learning rate (the paper trains them jointly, with no separate schedule).

After every optimiser step the trainable thresholds are projected onto ``[theta_min, inf)``
(default 0.05): a threshold at or below zero would make a neuron fire on any non-negative
membrane and cannot be folded into a shared per-layer threshold. How many thresholds sit on
that bound at the end is reported in :class:`TrainResult` (it is never hidden).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .encode import rate_encode
from .net import set_stl_mode, stl_neurons, stl_thresholds

__all__ = ["TrainConfig", "TrainResult", "train_stl", "stl_readout", "stl_accuracy", "TEST_SEED"]

#: Seed of the fixed Bernoulli encoding of evaluation data (torch and compiled runs share it).
TEST_SEED = 12345


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of :func:`train_stl` (the same for STL, SL and TL).

    Attributes:
        T: Time steps per sample (rate-code length).
        epochs: Passes over the training set.
        lr: Adam learning rate (weights and thresholds alike).
        batch: Mini-batch size.
        theta_min: Lower bound of the thresholds after every step (> 0).
        seed: Seed of the shuffling and of the training encodings.
        progress: Show a tqdm bar over epochs.
    """

    T: int = 8
    epochs: int = 30
    lr: float = 5e-3
    batch: int = 64
    theta_min: float = 0.05
    seed: int = 0
    progress: bool = True


@dataclass
class TrainResult:
    """What :func:`train_stl` did.

    Attributes:
        mode: The variant trained.
        losses: Mean training loss per epoch.
        initial_thresholds: Per-layer thresholds before training.
        thresholds: Per-layer thresholds after training.
        clamped: Number of thresholds on the ``theta_min`` bound at the end.
        seconds: Wall time of the training.
    """

    mode: str
    losses: list = field(default_factory=list)
    initial_thresholds: list = field(default_factory=list)
    thresholds: list = field(default_factory=list)
    clamped: int = 0
    seconds: float = 0.0


def train_stl(net: nn.Module, mode: str, x: np.ndarray, y: np.ndarray, cfg: TrainConfig = TrainConfig(),
              desc: str | None = None) -> TrainResult:
    """Train ``net`` (from :func:`~spikeforge.models.stl.build_stl_net`) in ``mode`` on ``(x, y)``.

    Args:
        net: The network; its ``requires_grad`` flags are set for ``mode`` here.
        mode: ``"STL"``, ``"SL"`` or ``"TL"``.
        x: Spike probabilities ``(N, features)`` in [0, 1] (``pixel / 16``).
        y: Integer labels ``(N,)``.
        cfg: Hyper-parameters.
        desc: Progress-bar label (default: the mode).

    Returns:
        A :class:`TrainResult`; ``net`` is trained in place and left in eval mode.

    Raises:
        ValueError: Mismatched ``x``/``y`` or ``theta_min <= 0``.
    """
    m = set_stl_mode(net, mode)
    if len(x) != len(y) or len(y) == 0:
        raise ValueError(f"train_stl: x and y must hold the same, non-zero number of samples, got {len(x)} and {len(y)}")
    if not cfg.theta_min > 0:
        raise ValueError(f"train_stl: theta_min must be > 0, got {cfg.theta_min}")
    res = TrainResult(mode=m.name, initial_thresholds=stl_thresholds(net))
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, cfg.epochs))
    gen = torch.Generator().manual_seed(int(cfg.seed))
    ys = torch.as_tensor(np.asarray(y), dtype=torch.long)
    neurons = stl_neurons(net) if m.thresholds else []
    t0 = time.perf_counter()
    net.train()
    for epoch in tqdm(range(cfg.epochs), desc=desc or m.name, unit="epoch", leave=False, disable=not cfg.progress):
        xs = torch.from_numpy(rate_encode(x, cfg.T, seed=cfg.seed * 100_003 + epoch + 1))
        total, count = 0.0, 0
        for idx in torch.randperm(len(ys), generator=gen).split(cfg.batch):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(net(xs[:, idx]).sum(0), ys[idx])
            loss.backward()
            opt.step()
            with torch.no_grad():
                for n in neurons:
                    n.threshold.clamp_(min=cfg.theta_min)
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        sched.step()
        res.losses.append(total / count)
    net.eval()
    res.seconds = time.perf_counter() - t0
    res.thresholds = stl_thresholds(net)
    res.clamped = int(sum(int(np.sum(t <= cfg.theta_min)) for t in res.thresholds)) if m.thresholds else 0
    return res


@torch.no_grad()
def stl_readout(net: nn.Module, spikes: np.ndarray) -> np.ndarray:
    """The readout ``(T, B, classes)`` of ``net`` for an encoded input ``(T, B, features)``, as float64."""
    net.eval()
    return net(torch.from_numpy(np.asarray(spikes, dtype=np.float32))).double().numpy()


def stl_accuracy(readout: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of a readout ``(T, B, classes)``: argmax over classes of the sum over time."""
    return float(np.mean(np.asarray(readout).sum(0).argmax(-1) == np.asarray(y)))
