"""STL: synapse-threshold synergistic learning (Sun et al., IEEE TCDS 2023); ../shared/MODELS.md §2.

LIF neurons with decay 0.5, hard reset and one trainable threshold per neuron (initialised at
2.0), trained jointly with the weights through the ATan surrogate (a = 2). The ablations train
the weights only (SL) or the thresholds only (TL). This package holds the recipe:

* :func:`build_stl_net` / :data:`STL_MODES` / :func:`stl_neuron`: the network and its variants;
* :func:`rate_encode`: the seeded Bernoulli rate code (p = pixel / 16 per step);
* :func:`train_stl` / :class:`TrainConfig`: the training recipe; :func:`stl_readout`,
  :func:`stl_accuracy`: evaluation;
* :func:`compile_stl` / :func:`run_compiled`: post-training quantization for ``loihi2``
  (per-neuron ``vth``) or ``loihi2-shared-threshold`` (thresholds folded into row scales);
* :func:`plot_thresholds`: the learned threshold distribution per layer.

``examples/stl_digits.py`` runs the ablation on scikit-learn's 8x8 digits; ``docs/stl.md``
describes the recipe.
"""

from .deploy import STL_TARGETS, CompiledSTL, compile_stl, run_compiled
from .encode import rate_encode
from .net import (STL_BETA, STL_MODES, STL_SURROGATE_ALPHA, STL_THETA_INIT, STLMode, build_stl_net, set_stl_mode,
                  stl_neuron, stl_neurons, stl_thresholds)
from .plot import plot_thresholds
from .train import TEST_SEED, TrainConfig, TrainResult, stl_accuracy, stl_readout, train_stl

__all__ = [
    "STL_BETA", "STL_MODES", "STL_SURROGATE_ALPHA", "STL_TARGETS", "STL_THETA_INIT", "TEST_SEED",
    "CompiledSTL", "STLMode", "TrainConfig", "TrainResult",
    "build_stl_net", "compile_stl", "plot_thresholds", "rate_encode", "run_compiled", "set_stl_mode",
    "stl_accuracy", "stl_neuron", "stl_neurons", "stl_readout", "stl_thresholds", "train_stl",
]
