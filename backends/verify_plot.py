"""Side-by-side raster plot of a :class:`~spikeforge.backends.verify.VerifyReport`.

One row per compared layer, one column per backend, for one sample: neurons (flattened)
against model-time steps. Binary spikes are black dots; graded spikes, membranes and the
output are heat maps. Elements where a backend differs from the first backend are circled in
red, and the first divergence is marked with a large red cross. Programs with very few steps
(the NASN digits model runs T=1) would give a one-pixel-wide raster, so for ``T`` below
``min_columns`` consecutive samples are shown side by side, separated by grey lines (none when ``T == 1``: each column is one sample).
"""

from __future__ import annotations

import os

import numpy as np

from spikeforge.compiler.ir import SPIKING_OPS

from .verify import OUTPUT, layer_values
from .verify_io import BINARY_OPS

#: Most neurons drawn per layer (larger layers show their first ones; the title says so).
MAX_NEURONS = 256


def _window(report, sample: int | None, min_columns: int) -> tuple[int, int]:
    """First sample and number of samples to draw."""
    T, B = report.shape
    if sample is None:
        sample = report.first_divergence.sample if report.first_divergence is not None else 0
    if not 0 <= sample < B:
        from spikeforge.compiler.errors import InputError

        raise InputError(f"sample {sample}: the report holds samples 0..{B - 1}")
    n = 1 if T >= min_columns else max(1, min(B - sample, -(-min_columns // max(T, 1))))
    return sample, n


def _panel(values: np.ndarray, s0: int, n: int, limit: int) -> np.ndarray:
    """``(neurons, n * T)``: samples ``s0..s0+n-1`` one after another on the time axis."""
    T = values.shape[0]
    v = values[:, s0 : s0 + n].reshape(T, n, -1)[..., :limit]
    return np.moveaxis(v, 0, 1).reshape(n * T, -1).T


def plot_raster(report, prog, path: str | os.PathLike, sample: int | None = None, min_columns: int = 20) -> tuple[int, int]:
    """Draw the raster of ``report`` and write it as a PNG (atomically).

    Args:
        report: A :class:`~spikeforge.backends.verify.VerifyReport` (with its traces).
        prog: The verified Program (layer ops decide how each layer is drawn).
        path: PNG file to write.
        sample: Sample to draw (default: the first divergence's, else 0).
        min_columns: Show consecutive samples until at least this many time columns.

    Returns:
        ``(first sample drawn, number of samples drawn)``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    from spikeforge.compiler.fsutil import atomic_path

    backends = list(report.traces)
    layers = list(report.layers)
    T, _ = report.shape
    s0, n = _window(report, sample, min_columns)
    ref = backends[0]
    d = report.first_divergence
    fig, axes = plt.subplots(len(layers), len(backends), figsize=(3.2 * len(backends) + 1.2, 2.3 * len(layers) + 0.8), squeeze=False)
    n_bad_total = 0
    for i, layer in enumerate(layers):
        op = None if layer == OUTPUT else prog.graph.nodes[layer].op
        binary = op in BINARY_OPS
        panels = {b: _panel(np.asarray(layer_values(report.traces[b], layer), dtype=np.float64), s0, n, MAX_NEURONS) for b in backends}
        lo = min(float(p.min(initial=0)) for p in panels.values())
        hi = max(float(p.max(initial=0)) for p in panels.values())
        full = int(np.prod(layer_values(report.traces[ref], layer).shape[2:], dtype=np.int64))
        for j, b in enumerate(backends):
            ax = axes[i, j]
            img = panels[b]
            if binary:
                yy, xx = np.nonzero(img)
                ax.scatter(xx, yy, s=4, c="black", marker="|" if img.shape[1] > 1 else "o", linewidths=0.8)
                ax.set_xlim(-0.5, img.shape[1] - 0.5)
                ax.set_ylim(img.shape[0] - 0.5, -0.5)
            else:
                im = ax.imshow(img, aspect="auto", interpolation="nearest", cmap="viridis", vmin=lo, vmax=hi if hi > lo else lo + 1)
                if j == len(backends) - 1:
                    fig.colorbar(im, ax=ax, fraction=0.05, pad=0.02)
            if b != ref:
                yy, xx = np.nonzero(img != panels[ref])
                n_bad_total += len(xx)
                ax.scatter(xx, yy, s=90, facecolors="none", edgecolors="white", linewidths=2.8, clip_on=False)
                ax.scatter(xx, yy, s=90, facecolors="none", edgecolors="red", linewidths=1.4, clip_on=False)
            if d is not None and d.node == layer and s0 <= d.sample < s0 + n and len(d.neuron) and (b != ref or len(backends) == 1):
                flat = int(np.ravel_multi_index(d.neuron, layer_values(report.traces[ref], layer).shape[2:]))
                if flat < img.shape[0]:
                    xy = ((d.sample - s0) * T + d.step, flat)
                    ax.plot(*xy, marker="x", color="red", markersize=14, mew=2.5, clip_on=False)
                    ax.annotate("first divergence", xy=xy, xytext=(0.55, 0.8), textcoords="axes fraction", color="red", fontsize=8,
                                bbox={"boxstyle": "round", "fc": "white", "ec": "red", "alpha": 0.9},
                                arrowprops={"arrowstyle": "->", "color": "red", "lw": 1.5})
            for k in range(1, n if T > 1 else 1):
                ax.axvline(k * T - 0.5, color="0.7", lw=0.5)
            kind = "spikes" if binary else ("graded spikes" if op in SPIKING_OPS else ("output" if layer == OUTPUT else "membrane"))
            if i == 0:
                ax.set_title(b, fontsize=11, fontweight="bold")
            if j == 0:
                shown = f" (first {img.shape[0]} of {full})" if img.shape[0] < full else ""
                ax.set_ylabel(f"{layer}\n{kind}{shown}\nneuron", fontsize=8)
            if T == 1 and n > 1:  # one column per sample: label columns by sample index
                ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos, s0=s0: f"{s0 + int(round(v))}"))
            if i == len(layers) - 1:
                ax.set_xlabel("step" if n == 1 else ("sample (T=1: one column each)" if T == 1 else f"step, samples {s0}..{s0 + n - 1} one after another"), fontsize=8)
            ax.tick_params(labelsize=7)
    what = f"sample {s0}" if n == 1 else f"samples {s0}..{s0 + n - 1} (T={T} each)"
    verdict = "all layers agree" if report.ok else f"MISMATCH: {n_bad_total} element(s) shown differ from {ref} (red circles; x = first divergence)"
    fig.suptitle(f"verify {' / '.join(backends)}, {what}\n{verdict}", fontsize=10, color="black" if report.ok else "red")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return s0, n


__all__ = ["plot_raster"]
