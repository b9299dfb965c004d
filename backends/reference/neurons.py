"""Stateful neuron layers of the reference backend, registered by op name.

A layer object holds the state of one neuron node for a batch and advances it over any
number of steps with the numba scans of :mod:`.kernels` (float ops ``lif``, ``cuba_lif``,
``li``, ``cuba_li``, ``asn``) and :mod:`.int_kernels` (integer ops ``int_lif``, ``int_li``,
``int_asn``; ``docs/integer.md``). Integer layers take and return int64 arrays and count
current wraps and voltage saturations in :attr:`IntLayer.counts`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from spikeforge.compiler.errors import SpikeforgeError

from .int_kernels import int_asn_scan, int_lif_scan, int_mtc_scan
from .kernels import asn_scan, leaky_scan, mtc_scan, spiking_scan


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


class AsnLayer:
    """Float ASN / NASN / I-LIF layer (op ``asn``; ``docs/integer.md``, "NIR form").

    ``U = a*H + g*X + b; c = clip(floor(U + 1/2), alpha, alpha + D); H = U - c``; the output
    is ``c / N``. With ``record``, ``self.v_recs`` keeps ``U`` (before the reset).

    Args:
        node: The ``asn`` node (params ``a``, ``g``, ``b``; attrs ``alpha``, ``D``, ``N``).
        batch: Batch size.
        record: Keep ``U``.
    """

    spiking = True

    def __init__(self, node, batch: int, record: bool = False) -> None:
        self.node = node
        shape = tuple(node.out_shape or ())
        self.n = int(np.prod(shape)) if shape else 1
        p = node.params

        def flat(k, default=0.0):
            v = p[k] if k in p else default
            return np.ascontiguousarray(np.broadcast_to(np.asarray(v, dtype=np.float64), shape or (1,)).reshape(-1))

        self.a, self.g, self.b = flat("a"), flat("g", 1.0), flat("b")
        self.alpha = int(node.attrs.get("alpha", 0))
        self.D = int(node.attrs["D"])
        self.N = float(node.attrs.get("N", 1))
        self.h = np.zeros((batch, self.n))
        self.record = record
        self.v_recs: list[np.ndarray] = []

    def advance(self, x: np.ndarray) -> np.ndarray:
        """Advance over ``x`` shaped ``(T, B, *shape)``; return ``c / N`` of the same shape."""
        T, B = x.shape[:2]
        xf = np.ascontiguousarray(x.reshape(T, B, self.n), dtype=np.float64)
        u_rec = np.zeros((T, B, self.n)) if self.record else np.zeros((1, 1, 1))
        out = asn_scan(xf, self.a, self.g, self.b, self.alpha, self.D, self.N, self.h, u_rec, self.record)
        if self.record:
            self.v_recs.append(u_rec.reshape(x.shape))
        return out.reshape(x.shape[:2] + tuple(self.node.out_shape))


class MtcLayer:
    """Float MTC layer (op ``mtc``, ``models/mtc/spec.py``); outputs the graded ``s`` in ``[0, 1]``.

    With ``record``, ``self.v_recs`` keeps the membrane ``U_m``.

    Args:
        node: The ``mtc`` node (params ``spec.FLOAT_PARAMS``).
        batch: Batch size.
        record: Keep ``U_m``.
    """

    spiking = True

    def __init__(self, node, batch: int, record: bool = False) -> None:
        from spikeforge.models.mtc.spec import FLOAT_PARAMS

        self.node = node
        shape = tuple(node.out_shape or ())
        self.n = int(np.prod(shape)) if shape else 1
        self.P = np.ascontiguousarray(np.stack([
            np.broadcast_to(np.asarray(node.params[k], dtype=np.float64), shape or (1,)).reshape(-1) for k in FLOAT_PARAMS
        ]))
        self.state = np.zeros((4, batch, self.n))
        self.record = record
        self.v_recs: list[np.ndarray] = []

    def advance(self, x: np.ndarray) -> np.ndarray:
        """Advance over ``x`` shaped ``(T, B, *shape)``; return ``s`` of the same shape."""
        T, B = x.shape[:2]
        xf = np.ascontiguousarray(x.reshape(T, B, self.n), dtype=np.float64)
        rec = np.zeros((T, B, self.n)) if self.record else np.zeros((1, 1, 1))
        out = mtc_scan(xf, self.P, self.state, rec, self.record)
        if self.record:
            self.v_recs.append(rec.reshape(x.shape))
        return out.reshape(x.shape[:2] + tuple(self.node.out_shape))


# ----------------------------------------------------------------------------- integer layers


def int_param(node, key: str, shape: tuple[int, ...]) -> np.ndarray:
    """A per-neuron integer parameter, broadcast to ``shape`` and flattened (int64, contiguous).

    Raises:
        SpikeforgeError: The parameter is missing or holds non-integer values.
    """
    if key not in node.params:
        raise SpikeforgeError(f"node '{node.name}' ({node.op}) lacks the integer parameter '{key}' (docs/integer.md)")
    v = np.asarray(node.params[key])
    if v.dtype.kind == "f":
        if not np.all(np.isfinite(v)) or np.any(v != np.floor(v)):
            raise SpikeforgeError(f"node '{node.name}' ({node.op}): parameter '{key}' holds non-integer values")
    elif v.dtype.kind not in "iub":
        raise SpikeforgeError(f"node '{node.name}' ({node.op}): parameter '{key}' has dtype {v.dtype}, expected integers")
    try:
        v = np.broadcast_to(v.astype(np.int64), shape or (1,))
    except ValueError:
        raise SpikeforgeError(f"node '{node.name}' ({node.op}): parameter '{key}' of shape {v.shape} does not fit the neuron shape {shape}") from None
    return np.ascontiguousarray(v.reshape(-1))


def _check_range(node, key: str, v: np.ndarray, lo: int, hi: int) -> None:
    if v.size and (v.min() < lo or v.max() > hi):
        raise SpikeforgeError(f"node '{node.name}' ({node.op}): parameter '{key}' must lie in [{lo}, {hi}], got [{v.min()}, {v.max()}]")


class IntLayer:
    """Base of the integer neuron layers (int64 state, overflow counters).

    Attributes:
        counts: ``{"wrap": n, "saturate": n}`` accumulated over every step advanced.
        v_recs: With ``record``, the raw (pre-reset) voltage of each :meth:`advance` call.
    """

    spiking = True

    def __init__(self, node, batch: int, record: bool = False) -> None:
        self.node = node
        self.shape = tuple(node.out_shape or ())
        self.n = int(np.prod(self.shape)) if self.shape else 1
        self.batch = batch
        self.record = record
        self.v_recs: list[np.ndarray] = []
        self._counts = np.zeros((batch, 2), np.int64)

    @property
    def counts(self) -> dict[str, int]:
        """Current wraps and voltage saturations so far."""
        c = self._counts.sum(axis=0)
        return {"wrap": int(c[0]), "saturate": int(c[1])}

    def _prep(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        T, B = a.shape[:2]
        ai = np.ascontiguousarray(a.reshape(T, B, self.n), dtype=np.int64)
        rec = np.zeros((T, B, self.n), np.int64) if self.record else np.zeros((1, 1, 1), np.int64)
        return ai, rec

    def _finish(self, a: np.ndarray, out: np.ndarray, rec: np.ndarray) -> np.ndarray:
        if self.record:
            self.v_recs.append(rec.reshape(a.shape[:2] + self.shape))
        return out.reshape(a.shape[:2] + self.shape)


class IntLifLayer(IntLayer):
    """``int_lif``: Lava's bit-accurate LIF (``models/lif/spec.py``); outputs spikes 0/1.

    Args:
        node: The node (params ``du``, ``dv``, ``bias_mant``, ``bias_exp``, ``vth``; attr ``reset``).
        batch: Batch size.
        record: Keep the pre-reset voltage.
    """

    spiking = True

    def __init__(self, node, batch: int, record: bool = False) -> None:
        super().__init__(node, batch, record)
        P = {k: int_param(node, k, self.shape) for k in ("du", "dv", "bias_mant", "bias_exp", "vth")}
        _check_range(node, "du", P["du"], 0, 4095)
        _check_range(node, "dv", P["dv"], 0, 4095)
        _check_range(node, "bias_exp", P["bias_exp"], 0, 62)
        _check_range(node, "vth", P["vth"], 0, 2**40)
        self.du, self.dv = P["du"], P["dv"]
        self.bias = np.left_shift(P["bias_mant"], P["bias_exp"])
        self.vth6 = np.left_shift(P["vth"], 6)
        reset = node.attrs.get("reset", "zero")
        if reset not in ("zero", "subtract"):
            raise SpikeforgeError(f"node '{node.name}' ({node.op}): reset must be 'zero' or 'subtract', got {reset!r}")
        self.subtract = reset == "subtract"
        self.u = np.zeros((batch, self.n), np.int64)
        self.v = np.zeros((batch, self.n), np.int64)

    def advance(self, a: np.ndarray) -> np.ndarray:
        """Advance over the synaptic input ``a`` ``(T, B, *shape)``; return int64 of that shape."""
        ai, rec = self._prep(a)
        out = int_lif_scan(ai, self.du, self.dv, self.bias, self.vth6, self.subtract, self.spiking, self.u, self.v, rec, self.record, self._counts)
        return self._finish(a, out, rec)


class IntLiLayer(IntLifLayer):
    """``int_li``: the same update without spikes; outputs the raw voltage ``v``."""

    spiking = False


class IntAsnLayer(IntLayer):
    """``int_asn`` (``models/asn/spec.py``); outputs the graded emissions ``c - alpha`` in ``[0, D]``.

    Args:
        node: The node (params ``dv``, ``bias``, ``p``; attrs ``alpha``, ``D``, ``N``).
        batch: Batch size.
        record: Keep ``U`` (before the reset).
    """

    def __init__(self, node, batch: int, record: bool = False) -> None:
        super().__init__(node, batch, record)
        self.dv, self.bias, self.p = (int_param(node, k, self.shape) for k in ("dv", "bias", "p"))
        _check_range(node, "dv", self.dv, 0, 4095)
        _check_range(node, "p", self.p, 1, 40)
        try:
            self.alpha = int(node.attrs.get("alpha", 0))
            self.D = int(node.attrs["D"])
        except (KeyError, TypeError, ValueError):
            raise SpikeforgeError(f"node '{node.name}' (int_asn) needs integer attrs 'alpha' and 'D'") from None
        if self.D < 0:
            raise SpikeforgeError(f"node '{node.name}' (int_asn): D must be >= 0, got {self.D}")
        self.v = np.zeros((batch, self.n), np.int64)

    def advance(self, a: np.ndarray) -> np.ndarray:
        """Advance over the synaptic input ``a`` ``(T, B, *shape)``; return emissions of that shape."""
        ai, rec = self._prep(a)
        out = int_asn_scan(ai, self.dv, self.bias, self.p, np.int64(self.alpha), np.int64(self.D), self.v, rec, self.record, self._counts)
        return self._finish(a, out, rec)


class IntMtcLayer(IntLayer):
    """``int_mtc`` (``models/mtc/spec.py``); outputs the graded ``out`` in ``[0, 2^out_bits]``.

    Args:
        node: The node (params ``spec.INT_PARAMS``, ``p`` and the table ``lut``; attr ``out_bits``).
        batch: Batch size.
        record: Keep the membrane ``U_m``.
    """

    def __init__(self, node, batch: int, record: bool = False) -> None:
        from spikeforge.models.mtc.spec import INT_PARAMS, OUT_BITS

        super().__init__(node, batch, record)
        P = {k: int_param(node, k, self.shape) for k in INT_PARAMS}
        _check_range(node, "dm", P["dm"], 0, 4095)
        for k in ("kf", "ks", "kus"):
            _check_range(node, k, P[k], 0, 2**16)
        _check_range(node, "ishift", P["ishift"], 1, 40)
        _check_range(node, "oshift", P["oshift"], 1, 62)
        self.P = np.ascontiguousarray(np.stack([P[k] for k in INT_PARAMS]))
        if "lut" not in node.params:
            raise SpikeforgeError(f"node '{node.name}' (int_mtc) lacks the parameter 'lut' (the tanh table)")
        self.lut = np.ascontiguousarray(np.asarray(node.params["lut"], dtype=np.int64).reshape(-1))
        if self.lut.size < 1:
            raise SpikeforgeError(f"node '{node.name}' (int_mtc): empty tanh table 'lut'")
        self.out_max = np.int64(1) << int(node.attrs.get("out_bits", OUT_BITS))
        self.state = np.zeros((4, batch, self.n), np.int64)

    def advance(self, a: np.ndarray) -> np.ndarray:
        """Advance over the synaptic input ``a`` ``(T, B, *shape)``; return ``out`` of that shape."""
        ai, rec = self._prep(a)
        out = int_mtc_scan(ai, self.P, self.lut, self.out_max, self.state, rec, self.record, self._counts)
        return self._finish(a, out, rec)


from .spe import IntSpeLayer, SpeLayer  # noqa: E402 - they build on IntLayer above

#: op name -> layer class.
NEURONS: dict[str, Callable[..., object]] = {
    "lif": NeuronLayer,
    "cuba_lif": NeuronLayer,
    "li": LeakyLayer,
    "cuba_li": LeakyLayer,
    "asn": AsnLayer,
    "mtc": MtcLayer,
    "spe_lif": SpeLayer,
    "spe_asn": SpeLayer,
    "int_lif": IntLifLayer,
    "int_li": IntLiLayer,
    "int_asn": IntAsnLayer,
    "int_mtc": IntMtcLayer,
    "int_spe_lif": IntSpeLayer,
    "int_spe_asn": IntSpeLayer,
}
#: The integer neuron ops (``docs/integer.md``).
INT_NEURONS = frozenset({"int_lif", "int_li", "int_asn", "int_mtc", "int_spe_lif", "int_spe_asn"})
