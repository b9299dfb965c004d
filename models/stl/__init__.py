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

Importing this package does not import torch (the names below load lazily from their
submodules; ``encode`` is numpy only), so scans of ``spikeforge.models`` stay torch-free.
"""

from ..lazy import lazy_attributes

# public name -> submodule
_SUBMODULE = {
    "STL_TARGETS": "deploy", "CompiledSTL": "deploy", "compile_stl": "deploy", "run_compiled": "deploy",
    "rate_encode": "encode",
    "STL_BETA": "net", "STL_MODES": "net", "STL_SURROGATE_ALPHA": "net", "STL_THETA_INIT": "net", "STLMode": "net",
    "build_stl_net": "net", "set_stl_mode": "net", "stl_neuron": "net", "stl_neurons": "net", "stl_thresholds": "net",
    "plot_thresholds": "plot",
    "TEST_SEED": "train", "TrainConfig": "train", "TrainResult": "train", "stl_accuracy": "train",
    "stl_readout": "train", "train_stl": "train",
}

_LAZY = {name: (sub, name) for name, sub in _SUBMODULE.items()}
__all__ = sorted(_LAZY)
__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
