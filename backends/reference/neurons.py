"""Stateful neuron layers of the float reference backend, registered by op name.

A layer object holds the state of one neuron node for a batch and advances it over any
number of steps with the numba scans of :mod:`.kernels`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .kernels import leaky_scan, spiking_scan


class NeuronLayer:
    """State and parameters of one neuron node.

    Args:
        node: The discrete node (``lif``, ``cuba_lif``, ``li`` or ``cuba_li``).
        batch: Batch size.
        record: Keep the pre-reset membrane of spiking layers (``self.v_rec``).
    """

    spiking = True

    def __init__(self, node, batch: int, record: bool = False) -> None:
        self.node = node
        shape = node.out_shape
        self.n = int(np.prod(shape)) if shape else 1
        p = node.params

        def flat(k, default=0.0):
            v = p[k] if k in p else default  # a scalar broadcasts to any neuron shape
            return np.ascontiguousarray(np.broadcast_to(np.asarray(v, dtype=np.float64), shape or (1,)).reshape(-1))

        self.use_syn = "a_syn" in p
        self.a_syn, self.g_syn = flat("a_syn"), flat("g_syn", 1.0)
        self.a, self.g, self.b = flat("a"), flat("g"), flat("b")
        self.vth, self.vreset = flat("v_threshold"), flat("v_reset")
        self.subtract = node.attrs.get("reset", "zero") == "subtract"
        self.i = np.zeros((batch, self.n))
        self.v = np.zeros((batch, self.n))
        self.record = record
        self.v_recs: list[np.ndarray] = []

    def advance(self, x: np.ndarray) -> np.ndarray:
        """Advance over ``x`` shaped ``(T, B, *shape)``; return the outputs of the same shape."""
        T, B = x.shape[:2]
        xf = np.ascontiguousarray(x.reshape(T, B, self.n), dtype=np.float64)
        if self.spiking:
            v_rec = np.zeros((T, B, self.n)) if self.record else np.zeros((1, 1, 1))
            out = spiking_scan(
                xf, self.a_syn, self.g_syn, self.a, self.g, self.b, self.vth, self.vreset,
                self.subtract, self.use_syn, self.i, self.v, v_rec, self.record,
            )
            if self.record:
                self.v_recs.append(v_rec.reshape(x.shape))
        else:
            out = leaky_scan(xf, self.a_syn, self.g_syn, self.a, self.g, self.b, self.use_syn, self.i, self.v)
        return out.reshape(x.shape[:2] + tuple(self.node.out_shape))


class LeakyLayer(NeuronLayer):
    """Non-spiking layer: outputs its membrane."""

    spiking = False


#: op name -> layer class.
NEURONS: dict[str, Callable[..., NeuronLayer]] = {
    "lif": NeuronLayer,
    "cuba_lif": NeuronLayer,
    "li": LeakyLayer,
    "cuba_li": LeakyLayer,
}
