"""Apply the linear ops of a synapse path to constant maps (numpy; exact on int64).

Two kinds of pushes through a :class:`~.paths.Path` chain:

* :func:`push` applies the ops as the program computes them (sums, products): used to move a
  bias map or the ASN window shift ``alpha`` to a neuron, and for worst-case bounds.
  Weighted ops have no bias here (``L`` of ``docs/integer.md``: the bias-free synapse path);
  integer ones apply their mantissas and ``wexp`` shifts exactly in int64.
* :func:`push_labels` carries a per-element *label* (an exponent, a row index, a factor)
  forward through transparent nodes: a pooling window must hold one label (else
  :class:`LabelConflict`); elements nothing reaches are NaN.
"""

from __future__ import annotations

import warnings
from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ...models.quant import shift
from ..ir import Graph, Node

LinearOp = Callable[[Node, np.ndarray], np.ndarray]
#: op -> fn(node, x (N, *in_shape)) -> (N, *out_shape), bias-free.
LINEAR_OPS: dict[str, LinearOp] = {}


class LabelConflict(ValueError):
    """A pooling window mixes elements of different labels."""

    def __init__(self, node: str) -> None:
        super().__init__(node)
        self.node = node


def linear(*ops: str):
    """Decorator: register the bias-free linear map of ops."""

    def deco(fn: LinearOp) -> LinearOp:
        for op in ops:
            LINEAR_OPS[op] = fn
        return fn

    return deco


def windows(x: np.ndarray, kernel, stride, padding, dilation, fill=0) -> np.ndarray:
    """``(N, C, *S) -> (N, C, *S_out, *kernel)`` strided windows, padded with ``fill``."""
    nd = len(kernel)
    pad = [(0, 0), (0, 0)] + [(int(p), int(p)) for p in padding]
    xp = np.pad(x, pad, constant_values=fill) if any(padding) else x
    eff = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    w = sliding_window_view(xp, eff, axis=tuple(range(2, 2 + nd)))
    idx = (slice(None), slice(None)) + tuple(slice(None, None, s) for s in stride) + tuple(slice(None, None, d) for d in dilation)
    return w[idx]


@linear("delay", "identity", "output")
def _identity(node: Node, x: np.ndarray) -> np.ndarray:
    return x


@linear("flatten")
def _flatten(node: Node, x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0], *node.out_shape)


@linear("sumpool2d")
def _sumpool(node: Node, x: np.ndarray) -> np.ndarray:
    w = windows(x, node.attrs["kernel_size"], node.attrs["stride"], node.attrs["padding"], (1, 1))
    return w.sum(axis=(-2, -1))


def conv(x: np.ndarray, w: np.ndarray, attrs) -> np.ndarray:
    """Grouped convolution with zero padding, ``(N, Cin, *S) -> (N, Cout, *S_out)``, no bias.

    Integer inputs and weights give an exact int64 result.
    """
    nd = w.ndim - 2
    groups = int(attrs["groups"])
    win = windows(x, w.shape[2:], attrs["stride"], attrs["padding"], attrs["dilation"])
    n, spatial = x.shape[0], win.shape[2 : 2 + nd]
    cin_g, cout_g = w.shape[1], w.shape[0] // groups
    perm = (0, *range(2, 2 + nd), 1, *range(2 + nd, 2 + 2 * nd))  # (N, Cg, *S, *K) -> (N, *S, Cg, *K)
    outs = []
    for gi in range(groups):
        cols = np.ascontiguousarray(win[:, gi * cin_g : (gi + 1) * cin_g].transpose(perm)).reshape(n, *spatial, -1)
        outs.append(cols @ w[gi * cout_g : (gi + 1) * cout_g].reshape(cout_g, -1).T)
    return np.moveaxis(np.concatenate(outs, axis=-1), -1, 1)


def shift_rows(y: np.ndarray, wexp, axis: int = 1) -> np.ndarray:
    """``shift(y, wexp)`` with one shift per index of ``axis`` (rows / output channels)."""
    k = np.asarray(wexp, dtype=np.int64)
    k = k.reshape((-1,) + (1,) * (y.ndim - axis - 1))
    return shift(y, k)


@linear("affine")
def _affine(node: Node, x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0], -1) @ node.params["weight"].T


@linear("conv1d", "conv2d")
def _conv(node: Node, x: np.ndarray) -> np.ndarray:
    return conv(x, node.params["weight"], node.attrs)


@linear("int_dense")
def _int_dense(node: Node, x: np.ndarray) -> np.ndarray:
    y = np.asarray(x, np.int64).reshape(x.shape[0], -1) @ np.asarray(node.params["weight"], np.int64).T
    return shift_rows(y, node.params["wexp"], axis=1)


@linear("int_conv1d", "int_conv2d")
def _int_conv(node: Node, x: np.ndarray) -> np.ndarray:
    y = conv(np.asarray(x, np.int64), np.asarray(node.params["weight"], np.int64), node.attrs)
    return shift_rows(y, node.params["wexp"], axis=1)


def push(g: Graph, names, x: np.ndarray) -> np.ndarray:
    """Apply the ops of nodes ``names`` in order to one map ``x`` (no batch axis)."""
    y = np.asarray(x)[None]
    for k in names:
        n = g.nodes[k]
        y = LINEAR_OPS[n.op](n, y)
    return y[0]


def push_labels(g: Graph, chain, labels: np.ndarray) -> np.ndarray:
    """Carry per-element labels (float, NaN = none) forward through transparent nodes.

    Raises:
        LabelConflict: A pooling window holds two different labels (names the pooling node).
    """
    y = np.asarray(labels, dtype=np.float64)[None]
    for k in chain:
        n = g.nodes[k]
        if n.op == "sumpool2d":
            w = windows(y, n.attrs["kernel_size"], n.attrs["stride"], n.attrs["padding"], (1, 1), fill=np.nan)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows stay NaN
                lo, hi = np.nanmin(w, axis=(-2, -1)), np.nanmax(w, axis=(-2, -1))
            if np.any((lo != hi) & ~np.isnan(lo)):
                raise LabelConflict(k)
            y = lo
        else:
            y = LINEAR_OPS[n.op](n, y)
    return y[0]


def row_labels(node: Node, values: np.ndarray) -> np.ndarray:
    """A per-row (per output channel) array broadcast to the weighted node's output shape."""
    v = np.asarray(values, dtype=np.float64)
    shape = tuple(node.out_shape)
    return np.broadcast_to(v.reshape((-1,) + (1,) * (len(shape) - 1)), shape).copy()


def per_row(ids: np.ndarray, values: np.ndarray, nrows: int, rtol: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Gather per-element ``values`` by row id (``ids``, NaN = none) into one value per row.

    Returns:
        ``(row_values, conflict)``: NaN for rows no element maps to; ``conflict`` marks rows
        whose elements disagree (beyond ``rtol``).
    """
    ids = np.asarray(ids, dtype=np.float64).ravel()
    vals = np.broadcast_to(np.asarray(values, dtype=np.float64), np.shape(ids) if np.ndim(values) == 0 else np.shape(values)).ravel()
    ok = ~np.isnan(ids)
    r = ids[ok].astype(np.int64)
    v = vals[ok]
    lo = np.full(nrows, np.inf)
    hi = np.full(nrows, -np.inf)
    np.minimum.at(lo, r, v)
    np.maximum.at(hi, r, v)
    seen = np.isfinite(lo)
    conflict = seen & ~np.isclose(lo, hi, rtol=rtol, atol=0.0)
    return np.where(seen, lo, np.nan), conflict


__all__ = ["LINEAR_OPS", "LabelConflict", "conv", "shift_rows", "linear", "per_row", "push", "push_labels", "row_labels", "windows"]
