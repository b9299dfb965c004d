"""``spikeforge demo``: the bundled NASN digits model, compiled for Loihi 2 and run end to end.

The bundled model is the integer-train NASN network of ``examples/asn_digits.py``
(64-128-10: 8-bit input, NASN hidden layer with T=1, D=4, leaky-integrator readout) trained on
scikit-learn's 8x8 digits. It ships as a state dict (``spikeforge/data/nasn_digits.pt``, loaded
with ``torch.load(..., weights_only=True)``) with ``nasn_digits.json`` (how it was trained, the
input encoding, its accuracies at training). The demo rebuilds the module, traces it to NIR,
compiles it for ``loihi2``, runs the integer reference backend on the held-out digits, checks
that every readout equals the torch integer-train forward bit for bit, and writes a report
(markdown and a plot of the graded hidden-layer spikes).

The float LIF model of the foundation issue (``lif_digits.nir``) is still bundled: it is the
post-training-quantization test case.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np

from spikeforge.compiler.fsutil import atomic_path

DATA = Path(__file__).parent / "data"
MODEL = DATA / "nasn_digits.pt"
INFO = DATA / "nasn_digits.json"


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


def _emission_plot(path: Path, e: np.ndarray, y: np.ndarray, D: int) -> None:
    """Hidden-layer graded spikes: per digit and neuron (heat map), and their histogram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = np.argsort(y, kind="stable")
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 1]})
    im = ax0.imshow(e[order].T, aspect="auto", cmap="viridis", vmin=0, vmax=D, interpolation="nearest")
    ax0.set_xlabel("held-out digit (sorted by label)")
    ax0.set_ylabel("hidden NASN neuron")
    ax0.set_title("graded spikes (payload 0..D) per digit, T=1")
    fig.colorbar(im, ax=ax0, label="spike payload")
    vals, cnt = np.unique(e, return_counts=True)
    ax1.bar(vals, cnt / e.size, color="tab:blue")
    ax1.set_xlabel("payload")
    ax1.set_ylabel("fraction of neuron-steps")
    ax1.set_title("payload histogram")
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def load_model():
    """The bundled integer-train NASN network with its trained weights, and its record."""
    import torch

    from spikeforge.models.zoo import digits_net

    info = json.loads(INFO.read_text())
    net = digits_net("nasn", qat=True)
    net.load_state_dict(torch.load(MODEL, map_location="cpu", weights_only=True))
    net.eval()
    return net, info


def run_demo(out_dir: str | os.PathLike = "out/demo", n_samples: int = 360, batch: int = 120) -> int:
    """Compile and run the bundled model; print a summary and write a report.

    Args:
        out_dir: Report folder.
        n_samples: How many held-out digits to run (at most 360).
        batch: Samples per reference run.

    Returns:
        Exit code (0 when the compiled program reproduces the integer-train forward exactly).
    """
    import torch
    from tqdm import tqdm

    import spikeforge as sf

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    net, info = load_model()
    T = int(info["T"])
    xtr, _, xt, yt = digits_split(info["split_seed"], info["n_test"])
    n = min(int(n_samples), len(yt))
    xt, yt = xt[:n], yt[:n]

    t0 = time.perf_counter()
    graph = sf.trace(net, torch.from_numpy(encode(xtr[:1], T)).float())
    prog = sf.compile(graph, target="loihi2", calibration=encode(xtr[:256], T))
    prog.save(out / "program.h5")
    t_compile = time.perf_counter() - t0

    with torch.no_grad():
        torch_out = net(torch.from_numpy(encode(xt, T)).float()).double().numpy()
    hidden = [k for k, v in prog.graph.nodes.items() if v.op in ("int_asn", "int_lif")]
    outs, emis, warns = [], [], {}
    t1 = time.perf_counter()
    for i in tqdm(range(0, n, batch), desc="integer reference backend", unit="batch", leave=False):
        tr = sf.run(prog, encode(xt[i : i + batch], T), backend="reference", probes=hidden)
        outs.append(tr.output)
        emis.append(np.concatenate([tr.probes[h].reshape(T, tr.output.shape[1], -1) for h in hidden], axis=-1))
        for k, c in tr.warnings.items():
            warns[k] = warns.get(k, 0) + c
    t_run = time.perf_counter() - t1
    output = np.concatenate(outs, axis=1)
    e = np.concatenate(emis, axis=1)
    acc = float((output.sum(0).argmax(-1) == yt).mean())
    acc_torch = float((torch_out.sum(0).argmax(-1) == yt).mean())
    identical = bool(np.array_equal(output, torch_out))
    D = int(next(v for v in prog.graph.nodes.values() if v.op == "int_asn").attrs["D"])

    rows = [
        ("model", f"{MODEL.name} ({info['architecture']})"),
        ("program", f"{len(prog.graph.nodes)} nodes, target={prog.target}, realization={prog.graph.metadata.get('realization')}"),
        ("compile time (trace + compile)", f"{t_compile:.2f} s"),
        ("samples", f"{n} held-out digits, T={T}"),
        ("integer reference accuracy", f"{acc:.4f}"),
        ("torch integer-train accuracy", f"{acc_torch:.4f}"),
        ("float accuracy (at training)", f"{info['float_test_accuracy']:.4f}"),
        ("readouts identical (reference == torch)", "yes" if identical else "NO"),
        ("graded spikes per sample (payload sum)", f"{e.sum() / n:.1f}"),
        ("spike messages per sample", f"{np.count_nonzero(e) / n:.1f}"),
        ("overflow warnings", "none" if not warns else "; ".join(f"{k} x{c}" for k, c in warns.items())),
        ("reference run time", f"{t_run:.2f} s ({1e3 * t_run / n:.2f} ms/sample)"),
    ]
    table = "| | |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)
    print("\nspikeforge demo\n" + table)
    _emission_plot(out / "spikes.png", e[0], yt, D)
    _atomic_write(out / "summary.md", "# spikeforge demo\n\n" + table + "\n\n![graded spikes](spikes.png)\n\n```\n" + prog.summary() + "\n```\n")
    print(f"\nreport: {out / 'summary.md'}, {out / 'spikes.png'}, program: {out / 'program.h5'}")
    return 0 if identical else 1
