"""The STL network and its ablations (MODELS.md §2; Sun et al., IEEE TCDS 2023).

Every variant has the same architecture and the same initialisation for a given seed::

    Linear(64, h1) -> LIF -> Linear(h1, h2) -> LIF -> ... -> Linear(h_last, 10) -> LI readout

with LIF neurons of decay ``beta = 0.5``, hard reset (to zero) and one threshold per neuron
(an ``nn.Parameter`` of the full layer shape) initialised at ``theta_init`` (2.0) plus an
optional uniform jitter, and the ATan surrogate with ``a = 2``. The variants differ only in
which parameters train (:data:`STL_MODES`):

* ``STL``: weights, biases and thresholds (synapse-threshold synergistic learning);
* ``SL``: weights and biases only (thresholds frozen at their initial value);
* ``TL``: thresholds only (every weight and bias, the readout's included, frozen at its
  initialisation).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping, Sequence

import torch
from torch import nn

from ..li.nn import LI
from ..lif.nn import LIF
from ..surrogate import ATan

__all__ = ["STLMode", "STL_MODES", "STL_BETA", "STL_THETA_INIT", "STL_SURROGATE_ALPHA",
           "stl_neuron", "build_stl_net", "set_stl_mode", "stl_neurons", "stl_thresholds"]

#: Membrane decay of the STL neurons (MODELS.md §2).
STL_BETA = 0.5
#: Initial threshold of every STL neuron.
STL_THETA_INIT = 2.0
#: ATan surrogate sharpness ``a``.
STL_SURROGATE_ALPHA = 2.0


@dataclass(frozen=True)
class STLMode:
    """Which parameter groups a variant trains.

    Attributes:
        name: ``"STL"``, ``"SL"`` or ``"TL"``.
        weights: Train the synaptic weights and biases (readout included).
        thresholds: Train the per-neuron thresholds.
        description: One line for tables and ``--help``.
    """

    name: str
    weights: bool
    thresholds: bool
    description: str


#: Mode name -> :class:`STLMode` (the ablation of MODELS.md §2).
STL_MODES: Mapping[str, STLMode] = MappingProxyType({
    m.name: m
    for m in (
        STLMode("STL", True, True, "weights and per-neuron thresholds trained jointly"),
        STLMode("SL", True, False, "weights only (thresholds frozen at their initial value)"),
        STLMode("TL", False, True, "thresholds only (weights frozen at their initialisation)"),
    )
})


def _mode(mode: str | STLMode) -> STLMode:
    if isinstance(mode, STLMode):
        return mode
    m = STL_MODES.get(str(mode))
    if m is None:
        raise ValueError(f"unknown STL mode {mode!r}; use one of {', '.join(STL_MODES)}")
    return m


def stl_neuron(n: int, theta: float | torch.Tensor = STL_THETA_INIT) -> LIF:
    """One STL layer of ``n`` LIF neurons: decay 0.5, hard reset to 0, a trainable threshold per neuron, ATan (a = 2).

    Args:
        n: Number of neurons.
        theta: Initial threshold, a scalar or a tensor of shape ``(n,)``.
    """
    return LIF(beta=STL_BETA, threshold=theta, reset="zero", shape=(int(n),), learn_threshold=True,
               surrogate=ATan(STL_SURROGATE_ALPHA))


def build_stl_net(mode: str | STLMode = "STL", hidden: Sequence[int] = (128, 64), n_in: int = 64, n_out: int = 10,
                  seed: int = 0, theta_init: float = STL_THETA_INIT, theta_jitter: float = 0.0,
                  readout_beta: float = 0.9) -> nn.Sequential:
    """Build the classifier for one variant; the same ``seed`` gives the same initial parameters in every mode.

    Args:
        mode: ``"STL"``, ``"SL"`` or ``"TL"`` (or an :class:`STLMode`).
        hidden: Widths of the spiking hidden layers (at least one).
        n_in: Input features.
        n_out: Classes (LI readout neurons).
        seed: Seed of the initialisation (torch's default generator is not touched).
        theta_init: Initial threshold (> 0).
        theta_jitter: Half-width of a uniform jitter added to the initial thresholds
            (``0 <= jitter < theta_init``).
        readout_beta: Decay of the LI readout.

    Returns:
        An ``nn.Sequential`` mapping ``(T, B, n_in)`` to readout membranes ``(T, B, n_out)``
        (classify by the argmax of their sum over time), with ``requires_grad`` set per mode.

    Raises:
        ValueError: Unknown mode, no hidden layer, or a bad threshold initialisation.
    """
    m = _mode(mode)
    hidden = [int(h) for h in hidden]
    if not hidden or min(hidden) < 1:
        raise ValueError(f"build_stl_net: hidden must list at least one positive width, got {hidden}")
    if not theta_init > 0 or not 0 <= theta_jitter < theta_init:
        raise ValueError(f"build_stl_net: need theta_init > 0 and 0 <= theta_jitter < theta_init, got {theta_init}, {theta_jitter}")
    gen = torch.Generator().manual_seed(int(seed))
    layers: list[nn.Module] = []
    width = int(n_in)
    for i, h in enumerate(hidden + [int(n_out)]):
        lin = nn.Linear(width, h)
        bound = 1.0 / width**0.5  # torch's default nn.Linear initialisation, drawn from our generator
        with torch.no_grad():
            lin.weight.uniform_(-bound, bound, generator=gen)
            lin.bias.uniform_(-bound, bound, generator=gen)
        layers.append(lin)
        width = h
        if i < len(hidden):
            theta = theta_init + theta_jitter * (2.0 * torch.rand(h, generator=gen) - 1.0)
            layers.append(stl_neuron(h, theta))
    layers.append(LI(beta=readout_beta))
    net = nn.Sequential(*layers)
    set_stl_mode(net, m)
    return net


def set_stl_mode(net: nn.Module, mode: str | STLMode) -> STLMode:
    """Set ``requires_grad`` of every parameter for ``mode``; returns the :class:`STLMode`.

    Thresholds are the ``threshold`` parameters of the LIF layers; everything else (the
    ``nn.Linear`` weights and biases) counts as weights.
    """
    m = _mode(mode)
    for name, p in net.named_parameters():
        p.requires_grad_(m.thresholds if name.endswith("threshold") else m.weights)
    return m


def stl_neurons(net: nn.Module) -> list[LIF]:
    """The LIF layers of ``net`` in order."""
    return [mod for mod in net.modules() if isinstance(mod, LIF)]


def stl_thresholds(net: nn.Module) -> list:
    """Per-layer thresholds as float64 numpy arrays (copies)."""
    return [n.threshold.detach().cpu().double().numpy().copy() for n in stl_neurons(net)]
