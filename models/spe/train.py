"""Training recipe of the SPE reproduction (``examples/spe_sequential.py``): sequential 8x8 digits.

Each 8x8 digit is fed row by row: ``T = 8`` steps of 8 pixels (:func:`rows`). The network
(:func:`seq_net`) is ``depth`` spiking layers ``Linear -> neuron`` (SPE around a base neuron,
or the base neuron alone) and a ``Linear -> LI`` readout whose membrane, averaged over the 8
steps, gives the class logits. :func:`train` runs Adam on the cross-entropy and records the
L2 norm of the first layer's weight gradient at every optimizer step (the quantity behind the
paper's "healthier gradients in deep stacks" claim).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from ..asn.nn import ASN
from ..layers import Seq
from ..li.nn import LI
from ..lif.nn import LIF
from .nn import SPE

__all__ = ["rows", "BASE_NEURONS", "seq_net", "TrainResult", "train", "accuracy"]

#: base neuron name -> factory(shape) of the base neuron.
BASE_NEURONS: dict[str, Callable[[tuple], nn.Module]] = {
    "lif": lambda shape: LIF(beta=0.9, threshold=1.0, reset="subtract"),
    "stl": lambda shape: LIF(beta=0.5, threshold=2.0, reset="zero", shape=shape, learn_threshold=True),
    "asn": lambda shape: ASN(D=4, beta=0.5),
}


def rows(x: np.ndarray) -> np.ndarray:
    """Digits ``(N, 64)`` -> row sequences ``(8, N, 8)``: step ``t`` sees row ``t``."""
    x = np.asarray(x)
    return np.ascontiguousarray(x.reshape(-1, 8, 8).transpose(1, 0, 2))


def seq_net(depth: int, hidden: int = 64, base: str = "lif", spe: bool = True, kappa: float = 0.5,
            seed: int = 0, n_in: int = 8, n_out: int = 10, readout_beta: float = 0.8) -> nn.Sequential:
    """``depth`` x (``Linear -> [SPE(]base[)]``) then ``Linear -> LI(readout_beta)``.

    Args:
        depth: Number of spiking layers (>= 1).
        hidden: Neurons per spiking layer.
        base: A key of :data:`BASE_NEURONS`.
        spe: Wrap each base neuron in :class:`SPE`.
        kappa: Initial SPE rate (one learnable ``k`` per layer).
        seed: Torch seed of the initial weights.
        n_in, n_out: Input features per step and classes.
        readout_beta: Decay of the LI readout.

    Raises:
        ValueError: ``depth < 1`` or an unknown ``base``.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    if base not in BASE_NEURONS:
        raise ValueError(f"unknown base neuron {base!r}; use one of {', '.join(BASE_NEURONS)}")
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(depth):
        layers.append(Seq(nn.Linear(width, hidden)))
        neuron = BASE_NEURONS[base]((hidden,))
        layers.append(SPE(neuron, kappa) if spe else neuron)
        width = hidden
    layers += [Seq(nn.Linear(width, n_out)), LI(readout_beta)]
    return nn.Sequential(*layers)


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        grad_norms: First-layer weight-gradient L2 norm at every optimizer step.
        losses: Training loss at every optimizer step.
        seconds: Wall time.
    """

    grad_norms: list = field(default_factory=list)
    losses: list = field(default_factory=list)
    seconds: float = 0.0


def _first_weight(net: nn.Module) -> torch.Tensor:
    for m in net.modules():
        if isinstance(m, nn.Linear):
            return m.weight
    raise ValueError("the network has no nn.Linear layer")


def logits(net: nn.Module, xs: torch.Tensor) -> torch.Tensor:
    """Class scores: the readout membrane averaged over time."""
    return net(xs).mean(0)


def train(net: nn.Module, x: np.ndarray, y: np.ndarray, epochs: int = 10, lr: float = 3e-3, batch: int = 64,
          seed: int = 0, progress: Callable | None = None) -> TrainResult:
    """Adam on the cross-entropy of :func:`logits` over row sequences ``x`` ``(8, N, 8)``.

    Args:
        net: The network (from :func:`seq_net`).
        x: Inputs ``(T, N, features)``.
        y: Labels ``(N,)``.
        epochs, lr, batch: Optimizer settings (cosine learning-rate decay over the epochs).
        seed: Seed of the batch order.
        progress: Optional wrapper of the epoch iterator (e.g. ``tqdm``).

    Returns:
        A :class:`TrainResult` with the first-layer gradient norm per step.
    """
    import time

    t0 = time.perf_counter()
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, epochs))
    dtype = next(net.parameters()).dtype
    xs, ys = torch.as_tensor(x, dtype=dtype), torch.as_tensor(y, dtype=torch.long)
    w0 = _first_weight(net)
    res = TrainResult()
    it = range(epochs) if progress is None else progress(range(epochs))
    for _ in it:
        net.train()
        for idx in torch.randperm(len(ys), generator=g).split(batch):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(logits(net, xs[:, idx]), ys[idx])
            loss.backward()
            res.grad_norms.append(float(w0.grad.norm()) if w0.grad is not None else 0.0)
            res.losses.append(float(loss.detach()))
            opt.step()
        sched.step()
    net.eval()
    res.seconds = time.perf_counter() - t0
    return res


@torch.no_grad()
def accuracy(net: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of correct argmax predictions of :func:`logits`."""
    dtype = next(net.parameters()).dtype
    pred = logits(net, torch.as_tensor(x, dtype=dtype)).argmax(1).numpy()
    return float(np.mean(pred == np.asarray(y)))
