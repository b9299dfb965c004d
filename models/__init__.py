"""spikeforge neuron models.

The torch modules are loaded lazily (module-level ``__getattr__``) so that importing this
package, or its numpy-only submodules (``spikeforge.models.<neuron>.spec``), never imports torch.
"""

from importlib import import_module

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


def __getattr__(name):
    try:
        sub, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    value = getattr(import_module(f"{__name__}.{sub}"), attr)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
