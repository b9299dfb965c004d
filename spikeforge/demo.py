"""``spikeforge demo``: the bundled default model, compiled and run end to end.

The bundled model (``spikeforge/data/lif_digits.nir``) is a 64-128-10 LIF network with a
leaky-integrator readout trained on scikit-learn's 8x8 digits by
``examples/train_default_model.py``; ``lif_digits.json`` beside it records how it was
trained, the input encoding and its torch accuracy on the held-out digits. The demo
compiles it, runs the reference backend on the held-out digits, checks the accuracy against
the torch figure, and writes a small report (markdown and a raster plot).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from spikeforge.compiler.fsutil import atomic_path

DATA = Path(__file__).parent / "data"
MODEL = DATA / "lif_digits.nir"
INFO = DATA / "lif_digits.json"


def digits_split(seed: int = 0, n_test: int = 360) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits, shuffled with ``seed``: (x_train, y_train, x_test, y_test).

    Pixels are scaled to [0, 1]. No download happens (the data ships with scikit-learn).
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    idx = np.random.default_rng(seed).permutation(len(d.target))
    x = d.data[idx].astype(np.float64) / 16.0
    y = d.target[idx]
    return x[:-n_test], y[:-n_test], x[-n_test:], y[-n_test:]


def encode(x: np.ndarray, T: int) -> np.ndarray:
    """Constant-current encoding: every step sees the pixel intensities, shape (T, B, 64)."""
    return np.repeat(x[None], T, axis=0)


def _atomic_write(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def _raster(path: Path, spikes: dict[str, np.ndarray], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(spikes), 1, figsize=(7, 1.8 + 1.6 * len(spikes)), squeeze=False)
    for ax, (name, s) in zip(axes[:, 0], spikes.items()):
        t, n = np.nonzero(s)
        ax.scatter(t, n, s=6, marker="|", color="k")
        ax.set_ylabel(f"node {name}\nneuron index")
        ax.set_xlim(-0.5, s.shape[0] - 0.5)
    axes[-1, 0].set_xlabel("model time step")
    fig.suptitle(title)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def run_demo(out_dir: str | os.PathLike = "out/demo", n_samples: int = 360, batch: int = 60) -> int:
    """Compile and run the bundled model; print a summary and write a report.

    Args:
        out_dir: Report folder.
        n_samples: How many held-out digits to run (at most 360).
        batch: Samples per reference run.

    Returns:
        Exit code (0 when the compiled program reproduces the torch accuracy).
    """
    from tqdm import tqdm

    import spikeforge as sf

    info = json.loads(INFO.read_text())
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    graph = sf.load_nir(MODEL)
    prog = sf.compile(graph, target="float")
    prog.save(out / "program.h5")
    t_compile = time.perf_counter() - t0

    _, _, xt, yt = digits_split(info["split_seed"], info["n_test"])
    n = min(int(n_samples), len(yt))
    xt, yt = xt[:n], yt[:n]
    spiking = [k for k, v in prog.graph.nodes.items() if v.op in ("lif", "cuba_lif")]
    preds, counts = [], {k: 0.0 for k in spiking}
    first = None
    t1 = time.perf_counter()
    for i in tqdm(range(0, n, batch), desc="reference backend", unit="batch", leave=False):
        x = encode(xt[i : i + batch], info["T"])
        tr = sf.run(prog, x, backend="reference", probes=spiking)
        preds.append(tr.output.sum(axis=0).argmax(axis=-1))
        for k in spiking:
            counts[k] += float(tr.probes[k].sum())
        if first is None:
            first = {k: tr.probes[k][:, 0].reshape(info["T"], -1) for k in spiking}
    t_run = time.perf_counter() - t1
    acc = float((np.concatenate(preds) == yt).mean())
    spikes_per_sample = sum(counts.values()) / n
    torch_acc = info.get("torch_test_accuracy")
    checked = torch_acc is not None and n == info["n_test"]  # the recorded figure is over all test digits
    same = not checked or abs(acc - torch_acc) < 1e-12

    rows = [
        ("model", f"{MODEL.name} ({info['architecture']})"),
        ("program", f"{len(prog.graph.nodes)} nodes, target={prog.target}, dt={prog.dt:g}, {prog.method} discretization"),
        ("compile time", f"{t_compile:.2f} s"),
        ("samples", f"{n} held-out digits, T={info['T']}"),
        ("reference accuracy", f"{acc:.4f}"),
        ("torch accuracy (at training)", "n/a" if torch_acc is None else f"{torch_acc:.4f}"),
        ("reference == torch", ("yes" if same else "NO") if checked else "not checked (subset of the test digits)"),
        ("spikes per sample", f"{spikes_per_sample:.1f}"),
        ("reference run time", f"{t_run:.2f} s ({1e3 * t_run / n:.2f} ms/sample)"),
    ]
    table = "| | |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)
    print("\nspikeforge demo\n" + table)
    _raster(out / "raster.png", first or {}, f"hidden-layer spikes, first held-out digit (label {int(yt[0])})")
    _atomic_write(out / "summary.md", "# spikeforge demo\n\n" + table + "\n\n![raster](raster.png)\n")
    print(f"\nreport: {out / 'summary.md'}, {out / 'raster.png'}, program: {out / 'program.h5'}")
    return 0 if same else 1
