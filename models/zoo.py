"""Small ready-made networks used by the examples and ``spikeforge demo``.

``digits_net(kind, qat)`` builds the 64-128-10 digits classifiers of ``examples/asn_digits.py``:
a hidden layer of NASN (T=1, D=4) or LIF (T=4, Loihi's reset to zero) neurons and a leaky
integrator readout. With ``qat=True`` the network is the integer-train form
(:class:`~spikeforge.models.qat.QSequential` with an 8-bit input quantizer and 8-bit weights),
whose torch forward equals the compiled integer program bit for bit.
"""

from __future__ import annotations

from torch import nn

__all__ = ["DIGITS", "digits_net"]

#: Per kind: time steps, input exponent (pixels k/16 are exact on the 2^-4 grid), neuron factory.
DIGITS = {
    "nasn": {"T": 1, "D": 4, "input_exp": -4},
    "lif": {"T": 4, "input_exp": -4},
}


def _neuron(kind: str) -> nn.Module:
    from . import LIF, NASN

    if kind == "nasn":
        return NASN(D=DIGITS["nasn"]["D"])
    if kind == "lif":
        return LIF(beta=0.9, threshold=1.0, reset="zero")
    raise ValueError(f"unknown digits network kind {kind!r}; use one of {', '.join(DIGITS)}")


def digits_net(kind: str = "nasn", qat: bool = True, hidden: int = 128) -> nn.Module:
    """The 64-``hidden``-10 digits classifier.

    Args:
        kind: ``"nasn"`` or ``"lif"``.
        qat: Integer-train form (quantized input and weights) instead of plain float layers.
        hidden: Hidden-layer width.

    Returns:
        A module mapping ``(T, B, 64)`` pixel intensities in [0, 1] to ``(T, B, 10)`` readout
        membranes (classify by the argmax of their sum over time).
    """
    from . import LI, QSequential, QuantInput, QuantLinear

    if not qat:
        return nn.Sequential(nn.Linear(64, hidden), _neuron(kind), nn.Linear(hidden, 10), LI(beta=0.9))
    return QSequential(
        QuantInput(exp=DIGITS[kind]["input_exp"], bits=8, signed=False),
        QuantLinear(64, hidden),
        _neuron(kind),
        QuantLinear(hidden, 10),
        LI(beta=0.9),
    )
