"""Stateless ops of the reference backend, registered by op name.

Each function takes a node and an input ``(N, *in_shape)`` (N = steps x batch) and returns
``(N, *out_shape)``. All of them are instantaneous in hardware time.

Integer programs (``docs/integer.md``) use the ``int_*`` synapses here on int64 arrays, and
``sumpool2d`` / ``flatten`` / ``output`` / ``identity`` unchanged (they are exact on int64).
Integer products are exact: a float64 (BLAS) product is used only where every partial sum
is provably below ``2^53``, otherwise an int64 product.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from spikeforge.compiler.errors import SpikeforgeError

from .int_kernels import int_event_dense, quantize_rows, sparse_binary_int
from .kernels import event_affine

StatelessOp = Callable[[object, np.ndarray], np.ndarray]
#: op name -> function(node, x) -> y.
STATELESS: dict[str, StatelessOp] = {}


def op(*names: str):
    """Decorator: register a stateless op."""

    def deco(fn: StatelessOp) -> StatelessOp:
        for n in names:
            STATELESS[n] = fn
        return fn

    return deco


@op("input", "output", "identity")
def _identity(node, x: np.ndarray) -> np.ndarray:
    return x


#: Inputs at most this dense (fraction of nonzeros) and binary take the event-driven path.
EVENT_DENSITY = 0.25


def sparse_binary(x: np.ndarray) -> bool:
    """Whether ``x`` holds only 0/1 with at most :data:`EVENT_DENSITY` ones."""
    nz = np.count_nonzero(x)
    return nz <= EVENT_DENSITY * x.size and np.count_nonzero(x == 1.0) == nz


@op("affine")
def _affine(node, x: np.ndarray) -> np.ndarray:
    w = node.params["weight"]
    x2 = x.reshape(x.shape[0], -1)
    if x2.size >= 4096 and sparse_binary(x2):
        # spikes: add the weight rows of active inputs only (about 2x faster at 10% activity)
        return event_affine(np.ascontiguousarray(x2, dtype=np.float64), np.ascontiguousarray(w.T), np.ascontiguousarray(np.broadcast_to(node.params["bias"], (w.shape[0],)), dtype=np.float64))
    return x2 @ w.T + node.params["bias"]


@op("scale")
def _scale(node, x: np.ndarray) -> np.ndarray:
    return x * node.params["scale"]


@op("threshold")
def _threshold(node, x: np.ndarray) -> np.ndarray:
    return (x > node.params["threshold"]).astype(np.float64)


@op("flatten")
def _flatten(node, x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0], *node.out_shape)


def _windows(x: np.ndarray, kernel, stride, padding, dilation) -> np.ndarray:
    """(N, C, *S) -> (N, C, *S_out, *kernel) strided windows (zero padding)."""
    nd = len(kernel)
    pad = [(0, 0), (0, 0)] + [(p, p) for p in padding]
    xp = np.pad(x, pad) if any(padding) else x
    eff = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    w = sliding_window_view(xp, eff, axis=tuple(range(2, 2 + nd)))
    idx = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride) + tuple(slice(None, None, d) for d in dilation)
    return w[idx]


def _conv_core(node, x: np.ndarray, w: np.ndarray, matmul) -> np.ndarray:
    """Grouped convolution ``(N, Cin, *S) -> (N, *S_out, Cout)`` (channels last, no bias).

    ``matmul(cols, gi)`` multiplies the im2col rows ``(N, *S_out, Cin_g * K)`` of group ``gi``
    by that group's kernel ``(Cin_g * K, Cout_g)``.
    """
    nd = w.ndim - 2
    groups = node.attrs["groups"]
    win = _windows(x, w.shape[2:], node.attrs["stride"], node.attrs["padding"], node.attrs["dilation"])
    n = x.shape[0]
    spatial = win.shape[2 : 2 + nd]
    cin_g = w.shape[1]
    outs = []
    for gi in range(groups):
        wg = win[:, gi * cin_g : (gi + 1) * cin_g]
        # (N, Cg, *S, *K) -> (N, *S, Cg * K)
        perm = (0, *range(2, 2 + nd), 1, *range(2 + nd, 2 + 2 * nd))
        cols = np.ascontiguousarray(wg.transpose(perm)).reshape(n, *spatial, -1)
        outs.append(matmul(cols, gi))
    return np.concatenate(outs, axis=-1)


@op("conv1d", "conv2d")
def _conv(node, x: np.ndarray) -> np.ndarray:
    w = node.params["weight"]
    cout_g = w.shape[0] // node.attrs["groups"]

    def matmul(cols, gi):
        return cols @ w[gi * cout_g : (gi + 1) * cout_g].reshape(cout_g, -1).T

    y = _conv_core(node, x, w, matmul) + node.params["bias"]
    return np.moveaxis(y, -1, 1)


def _pool(node, x: np.ndarray) -> np.ndarray:
    k = node.attrs["kernel_size"]
    win = _windows(x, k, node.attrs["stride"], node.attrs["padding"], (1, 1))
    return win.sum(axis=(-2, -1))


@op("sumpool2d")
def _sumpool(node, x: np.ndarray) -> np.ndarray:
    return _pool(node, x)


@op("avgpool2d")
def _avgpool(node, x: np.ndarray) -> np.ndarray:
    k = node.attrs["kernel_size"]
    return _pool(node, x) / float(k[0] * k[1])


# ----------------------------------------------------------------------------- integer ops

#: Integers of magnitude below this are exact in float64, and so is every partial sum of a
#: product whose terms' magnitudes add up to less.
EXACT_F64 = 2**53


def input_range(bits: int, signed: bool) -> tuple[int, int]:
    """Integer range of the input: ``[0, 2^bits - 1]`` unsigned, ``[-(2^(bits-1) - 1),
    2^(bits-1) - 1]`` signed (the mantissa range of :func:`spikeforge.models.quant.on_grid_exp`)."""
    hi = 2 ** (int(bits) - 1) - 1 if signed else 2 ** int(bits) - 1
    return (-hi if signed else 0), hi


def clipped_input_warning(prog, clipped: int) -> dict[str, int]:
    """The counted warning for ``clipped`` input values of an integer program (empty when 0),
    worded once for every backend."""
    if not clipped:
        return {}
    n = prog.graph.nodes[prog.input_name]
    kind = "signed" if n.attrs.get("signed", False) else "unsigned"
    return {f"{n.name}: input values clipped to the {int(n.attrs['bits'])}-bit {kind} range": int(clipped)}


def overflow_warnings(name: str, wraps: int, saturations: int) -> dict[str, int]:
    """The counted overflow warnings of neuron node ``name`` (only non-zero counts)."""
    from spikeforge.models.lif.spec import OVERFLOW_TEXT

    counts = {"wrap": int(wraps), "saturate": int(saturations)}
    return {f"{name}: {OVERFLOW_TEXT[k]}": c for k, c in counts.items() if c}


def quantize_input(x: np.ndarray, exp: int, bits: int, signed: bool, out: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """The ``input`` node's quantization: ``x_int = round_half_up(x / 2^exp)`` clipped to ``bits``.

    Equal to ``clip(spikeforge.models.quant.round_half_up(ldexp(x, -exp)), lo, hi)`` with the
    range of :func:`input_range` (computed in one compiled pass; values far out of range clip
    instead of overflowing int64).

    Args:
        x: Real input values (finite).
        exp: Input exponent (real = int * 2^exp).
        bits: Input width.
        signed: Whether the input is signed.
        out: Optional int64 array of ``x``'s shape to write into.

    Returns:
        ``(x_int, n)``: int64 values and the number of values that were clipped.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    lo, hi = input_range(bits, signed)
    if out is None:
        out = np.empty(x.shape, np.int64)
    if out.shape != x.shape or out.dtype != np.int64 or not out.flags.c_contiguous:
        raise ValueError("out must be a C-contiguous int64 array of the input's shape")
    rows = x.shape[0] if x.ndim else 1
    x2 = x.reshape(rows, -1)
    o2 = out.reshape(rows, -1)
    n = int(quantize_rows(x2, float(np.ldexp(1.0, -int(exp))), float(lo), float(hi), o2))
    return out, n


def shift_last(y: np.ndarray, k: np.ndarray) -> np.ndarray:
    """:func:`spikeforge.models.quant.shift` with per-column ``k`` along the last axis of ``y``."""
    if not k.size or not np.any(k):
        return y
    if np.all(k >= 0):
        return np.left_shift(y, k)
    return np.where(k >= 0, np.left_shift(y, np.maximum(k, 0)), np.right_shift(y, np.maximum(-k, 0)))


class _IntWeights:
    """A weighted node's integer matrix prepared once.

    Attributes:
        wt: ``(K, M)`` int64 (transposed weights; for convolutions all groups' rows).
        wt_f: ``wt`` as float64.
        colsum: Largest column sum of ``|wt|`` (the exactness bound of a float64 product).
        wexp: Shift per output ``(M,)``.
        wt_event: ``wt`` for the event-driven path (int32 where exact, else int64).
        groups, groups_f: Convolutions only: each group's ``(Cin_g * K, Cout_g)`` kernel.
    """

    def __init__(self, node, wt: np.ndarray) -> None:
        self.wt = np.ascontiguousarray(wt, dtype=np.int64)
        self.wt_f = self.wt.astype(np.float64)
        self.colsum = int(np.abs(self.wt).sum(axis=0).max()) if self.wt.size else 0
        # binary inputs: no partial sum exceeds colsum, so int32 accumulation is exact below 2^31
        self.wt_event = self.wt.astype(np.int32) if self.colsum < 2**31 else self.wt
        wexp = node.params.get("wexp", np.zeros(self.wt.shape[1], np.int64))
        self.wexp = np.ascontiguousarray(np.broadcast_to(_int_array(node, "wexp", wexp), (self.wt.shape[1],)))

    def matmul(self, x: np.ndarray) -> np.ndarray:
        """Exact ``x @ wt`` for integer ``x`` ``(..., K)``."""
        return exact_matmul(x, self.wt, self.wt_f, self.colsum)


def exact_matmul(x: np.ndarray, wt: np.ndarray, wt_f: np.ndarray, colsum: int) -> np.ndarray:
    """Exact integer product ``x @ wt`` (int64): float64 BLAS when the bound allows, else int64.

    Args:
        x: Integer array ``(..., K)``.
        wt: ``(K, M)`` int64.
        wt_f: ``wt`` as float64.
        colsum: ``max_m sum_k |wt[k, m]|``.
    """
    xmax = int(np.abs(x).max()) if x.size else 0
    if xmax * colsum < EXACT_F64:
        return (x.astype(np.float64) @ wt_f).astype(np.int64)
    return np.asarray(x, dtype=np.int64) @ wt


def _int_array(node, key: str, v) -> np.ndarray:
    v = np.asarray(v)
    if v.dtype.kind == "f" and (not np.all(np.isfinite(v)) or np.any(v != np.floor(v))):
        raise SpikeforgeError(f"node '{node.name}' ({node.op}): parameter '{key}' holds non-integer values")
    if v.dtype.kind not in "fiub":
        raise SpikeforgeError(f"node '{node.name}' ({node.op}): parameter '{key}' has dtype {v.dtype}, expected integers")
    return v.astype(np.int64)


#: Prepared weights by node identity (the node is kept to make the id safe); small LRU.
_PREPARED: dict[tuple[int, str], tuple[object, _IntWeights]] = {}
_PREPARED_MAX = 256


def _prepared(node, kind: str) -> _IntWeights:
    key = (id(node), kind)
    hit = _PREPARED.get(key)
    if hit is not None and hit[0] is node:
        return hit[1]
    if "weight" not in node.params:
        raise SpikeforgeError(f"node '{node.name}' ({node.op}) lacks the parameter 'weight'")
    w = _int_array(node, "weight", node.params["weight"])
    if kind == "dense":
        if w.ndim != 2:
            raise SpikeforgeError(f"node '{node.name}' (int_dense): weight must be 2-d (out, in), got shape {w.shape}")
        prep = _IntWeights(node, w.T)
    else:
        groups = int(node.attrs.get("groups", 1))
        cout_g = w.shape[0] // groups
        # per group (K, Cout_g); the bound is the max over all output channels
        prep = _IntWeights(node, w.reshape(w.shape[0], -1).T)
        prep.groups = [np.ascontiguousarray(w[g * cout_g : (g + 1) * cout_g].reshape(cout_g, -1).T) for g in range(groups)]
        prep.groups_f = [g.astype(np.float64) for g in prep.groups]
    if len(_PREPARED) >= _PREPARED_MAX:
        _PREPARED.pop(next(iter(_PREPARED)))
    _PREPARED[key] = (node, prep)
    return prep


@op("int_dense")
def _int_dense(node, x: np.ndarray) -> np.ndarray:
    """``a = shift(W_int @ s, wexp)`` per output row (exact int64)."""
    p = _prepared(node, "dense")
    x2 = np.ascontiguousarray(x.reshape(x.shape[0], -1), dtype=np.int64)
    if x2.size >= 4096 and sparse_binary_int(x2, int(EVENT_DENSITY * x2.size)):
        # spikes: add the weight rows of active inputs only
        y = int_event_dense(x2, p.wt_event).astype(np.int64, copy=False)
    else:
        y = p.matmul(x2)
    return shift_last(y, p.wexp)


@op("int_conv1d", "int_conv2d")
def _int_conv(node, x: np.ndarray) -> np.ndarray:
    """Convolution (zero padding) of integer mantissas, shifted by ``wexp`` per output channel."""
    p = _prepared(node, "conv")

    def matmul(cols, gi):
        return exact_matmul(cols, p.groups[gi], p.groups_f[gi], p.colsum)

    y = _conv_core(node, np.asarray(x, dtype=np.int64), node.params["weight"], matmul)
    return np.moveaxis(shift_last(y, p.wexp), -1, 1)
