"""Plot of the per-neuron thresholds: initial vs learned, one panel per layer (matplotlib, Agg)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from spikeforge.compiler.fsutil import atomic_path

__all__ = ["plot_thresholds"]


def plot_thresholds(initial: Sequence[np.ndarray], learned: Mapping[str, Sequence[Sequence[np.ndarray]]],
                    path: str | os.PathLike, title: str = "per-neuron thresholds") -> Path:
    """Histogram of the thresholds per layer: the initial ones and each variant's learned ones.

    Args:
        initial: Per-layer initial thresholds (the same for every variant and seed).
        learned: Variant name (``"STL"``, ``"TL"``, ...) -> per seed -> per layer thresholds;
            the seeds of one variant are pooled into one histogram. Every histogram is
            normalised to fractions of its neurons, so pooled seeds compare with one initial set.
        path: PNG file to write (atomically; its folder is created).
        title: Figure title.

    Returns:
        The written path.

    Raises:
        ValueError: No layers, or a variant whose layer count differs from ``initial``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(initial)
    if n == 0:
        raise ValueError("plot_thresholds: no layers to plot")
    for name, seeds in learned.items():
        if any(len(s) != n for s in seeds):
            raise ValueError(f"plot_thresholds: variant {name!r} has a layer count different from the {n} initial layers")
    fig, axes = plt.subplots(1, n, figsize=(5.2 * n, 3.8), squeeze=False)
    for i, ax in enumerate(axes[0]):
        pooled = {name: np.concatenate([np.ravel(s[i]) for s in seeds]) for name, seeds in learned.items() if seeds}
        values = [np.ravel(initial[i])] + list(pooled.values())
        lo = min(float(v.min()) for v in values)
        hi = max(float(v.max()) for v in values)
        bins = np.linspace(lo - 0.05, hi + 0.05, 41)
        init = np.ravel(initial[i])
        ax.hist(init, bins=bins, weights=np.full(init.size, 1.0 / init.size), color="0.6", alpha=0.8,
                label=f"initial (mean {init.mean():.2f})")
        for j, (name, v) in enumerate(pooled.items()):
            ax.hist(v, bins=bins, weights=np.full(v.size, 1.0 / v.size), histtype="step", lw=1.8, color=f"C{j}",
                    label=f"{name} learned (mean {v.mean():.2f}, std {v.std():.2f})")
        ax.set_xlabel("threshold")
        ax.set_ylabel("fraction of neurons")
        ax.set_title(f"hidden layer {i + 1} ({init.size} neurons)")
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return out
