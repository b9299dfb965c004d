"""spikeforge neuron models.

The torch modules are loaded lazily (module-level ``__getattr__``) so that importing this
package, or its numpy-only submodules (``spikeforge.models.<neuron>.spec``), never imports torch.
"""

from .lazy import lazy_attributes

# public name -> (submodule, attribute)
_LAZY = {
    "SpikingNeuron": ("base", "SpikingNeuron"),
    "LIF": ("lif.nn", "LIF"),
    "IF": ("if_.nn", "IF"),
    "LI": ("li.nn", "LI"),
    "CubaLIF": ("cuba.nn", "CubaLIF"),
    "ASN": ("asn.nn", "ASN"),
    "NASN": ("asn.nn", "NASN"),
    "ILIF": ("asn.nn", "ILIF"),
    "MTC": ("mtc.nn", "MTC"),
    "AdLIF": ("adlif.nn", "AdLIF"),
    "SPE": ("spe.nn", "SPE"),
    # STL (MODELS.md §2): recipe, ablation variants, deployment
    "STL_MODES": ("stl.net", "STL_MODES"),
    "build_stl_net": ("stl.net", "build_stl_net"),
    "stl_neuron": ("stl.net", "stl_neuron"),
    "train_stl": ("stl.train", "train_stl"),
    "STLTrainConfig": ("stl.train", "TrainConfig"),
    "rate_encode": ("stl.encode", "rate_encode"),
    "compile_stl": ("stl.deploy", "compile_stl"),
    "plot_thresholds": ("stl.plot", "plot_thresholds"),
    # convex parameter reconstruction of parallel SNNs (MODELS.md §5)
    "BranchSpec": ("convex.parallel", "BranchSpec"),
    "ParallelSNN": ("convex.parallel", "ParallelSNN"),
    "parallel_lif": ("convex.parallel", "parallel_lif"),
    "fit_convex": ("convex.train", "fit_convex"),
    "convex_cvx": ("convex.train", "cvx"),
    "convex_sg_cvx": ("convex.train", "sg_cvx"),
    "train_sg_parallel": ("convex.train", "train_sg"),
    "group_lasso": ("convex.lasso", "group_lasso"),
    "QuantInput": ("qat", "QuantInput"),
    "QuantLinear": ("qat", "QuantLinear"),
    "QuantConv2d": ("qat", "QuantConv2d"),
    "QSequential": ("qat", "QSequential"),
    "Seq": ("layers", "Seq"),
    "Recurrent": ("layers", "Recurrent"),
    "SumPool2d": ("layers", "SumPool2d"),
    "Surrogate": ("surrogate", "Surrogate"),
    "ATan": ("surrogate", "ATan"),
    "FastSigmoid": ("surrogate", "FastSigmoid"),
    "Boxcar": ("surrogate", "Boxcar"),
    "SURROGATES": ("surrogate", "SURROGATES"),
    "get_surrogate": ("surrogate", "get_surrogate"),
}

__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_attributes(__name__, _LAZY)
