"""STL vs SL vs TL on the 8x8 digits with rate-coded input (MODELS.md §2; Sun et al., IEEE TCDS 2023).

Synapse-threshold synergistic learning (STL) trains the synaptic weights and one threshold per
neuron jointly; the ablations train the weights only (SL, thresholds frozen at 2.0) or the
thresholds only (TL, weights frozen at their initialisation). The paper's claim: STL > SL and
STL > TL.

Set-up (the recipe lives in :mod:`spikeforge.models.stl`): scikit-learn's bundled 8x8 digits
(no download; 1437 train / 360 test), each pixel a Bernoulli spike train with p = pixel/16 per
step, T = 8 steps (a fresh draw every training epoch, one fixed seeded draw for testing);
``Linear(64, 128) - LIF - Linear(128, 64) - LIF - Linear(64, 10) - LI`` with LIF decay 0.5, hard
reset, per-neuron thresholds initialised at 2.0, ATan surrogate (a = 2); Adam with a cosine
schedule, cross-entropy of the readout summed over time. For every seed the three variants
start from the same initial parameters and see the same data order.

Every trained network is then compiled with post-training quantization for ``loihi2``
(per-neuron ``vth``) and ``loihi2-shared-threshold`` (one ``vth`` per layer; the per-neuron
thresholds folded into the rows of the weights) and run on the integer reference backend with
the same test spikes. For the first seed's STL network the script also checks, for both
targets, that reference, Lava and Brian2 (digital) agree spike for spike (``sf.verify``).

Output: a markdown table (mean ± std over seeds) on stdout and in ``--out``/results.md,
``results.json``, ``thresholds.png`` (the learned threshold distribution per layer, STL and TL,
against the initial one) and ``training.png`` (training loss per epoch).

Usage::

    .venv/bin/python examples/stl_digits.py [--seeds 3] [--epochs 30] [--out out/stl_digits] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

import spikeforge as sf
from spikeforge.compiler.fsutil import atomic_path
from spikeforge.demo import digits_split
from spikeforge.models.stl import (STL_MODES, STL_TARGETS, TEST_SEED, TrainConfig, build_stl_net, compile_stl,
                                   plot_thresholds, rate_encode, run_compiled, stl_accuracy, stl_readout, train_stl)

SPLIT_SEED = 0
N_TEST = 360
#: Samples of the training set used as calibration data for post-training quantization.
N_CAL = 256
#: Seed of the calibration encoding.
CAL_SEED = 7


def parse(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="STL (weights + per-neuron thresholds) vs SL (weights only) vs TL (thresholds only) on the "
        "8x8 digits with Bernoulli rate-coded input (T=8). Prints a markdown table of the test accuracy "
        "(mean ± std over seeds) of the torch networks and of their post-training-quantized loihi2 programs, "
        "plots the learned threshold distribution per layer, and checks reference == Lava == Brian2 "
        "spike for spike on the first STL network.",
    )
    ap.add_argument("--seeds", type=int, default=3, help="number of seeds per variant (default 3)")
    ap.add_argument("--epochs", type=int, default=30, help="training epochs per run (default 30)")
    ap.add_argument("--lr", type=float, default=5e-3, help="Adam learning rate, weights and thresholds alike (default 5e-3)")
    ap.add_argument("--hidden", default="128,64", help="hidden layer widths, comma separated (default 128,64)")
    ap.add_argument("--theta-init", type=float, default=2.0,
                    help="initial threshold of every neuron (default 2.0, as MODELS.md §2; other values probe how STL copes "
                    "with a threshold that does not suit the initial weights)")
    ap.add_argument("--T", type=int, default=8, help="time steps of the rate code (default 8)")
    ap.add_argument("--verify-samples", type=int, default=16,
                    help="test samples for the reference/Lava/Brian2 check of the first STL network (default 16; 0 skips it)")
    ap.add_argument("--out", type=Path, default=Path("out/stl_digits"), help="output folder (default out/stl_digits)")
    ap.add_argument("--quick", action="store_true", help="tiny settings for tests: 1 seed, 2 epochs, hidden 32,16, 4 verified samples")
    a = ap.parse_args(argv)
    if a.quick:
        a.seeds, a.epochs, a.hidden, a.verify_samples = min(a.seeds, 1), 2, "32,16", min(a.verify_samples, 4)
    try:
        a.hidden = tuple(int(h) for h in str(a.hidden).split(","))
    except ValueError:
        ap.error(f"--hidden: expected comma-separated integers, got {a.hidden!r}")
    if a.seeds < 1 or a.epochs < 1 or a.T < 1 or min(a.hidden) < 1:
        ap.error("--seeds, --epochs, --T and the --hidden widths must be >= 1")
    if not a.theta_init > TrainConfig.theta_min:
        ap.error(f"--theta-init must be > {TrainConfig.theta_min} (the thresholds' lower bound)")
    return a


def run_one(mode: str, seed: int, data: tuple, a: argparse.Namespace) -> tuple[dict, object]:
    """Train one variant for one seed, score it in torch and compiled for each target."""
    xtr, ytr, xte, yte = data
    # numba's parallel kernels (the reference backend, run by the previous compile) reset the OpenMP
    # thread count torch shares; one torch thread again, or training is several times slower on a busy CPU
    torch.set_num_threads(1)
    net = build_stl_net(mode, hidden=a.hidden, seed=seed, theta_init=a.theta_init)
    cfg = TrainConfig(T=a.T, epochs=a.epochs, lr=a.lr, seed=seed)
    res = train_stl(net, mode, xtr, ytr, cfg, desc=f"{mode} seed {seed}")
    x_test = rate_encode(xte, a.T, TEST_SEED)
    ref = stl_readout(net, x_test)
    row = {
        "mode": mode, "seed": seed, "torch": stl_accuracy(ref, yte), "train_s": res.seconds,
        "losses": res.losses, "clamped": res.clamped,
        "initial_thresholds": [t.tolist() for t in res.initial_thresholds],
        "thresholds": [t.tolist() for t in res.thresholds],
        "compiled": {},
    }
    cal = rate_encode(xtr[:N_CAL], a.T, CAL_SEED)
    programs = {}
    for target in STL_TARGETS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # recorded in c.warnings and reported below
            # allow_saturation: the fold into one threshold per layer can scale a row's worst-case input beyond
            # 24 bits (TL nets, whose thresholds spread widely); that is counted here and any run-time wrap in tr.warnings
            c = compile_stl(net, cal, target, allow_saturation=True)
        tr = run_compiled(c, x_test)
        row["compiled"][target] = {
            "accuracy": stl_accuracy(tr.output, yte),
            "same_prediction": float(np.mean(tr.output.sum(0).argmax(-1) == ref.sum(0).argmax(-1))),
            "compile_warnings": c.warnings,
            "run_warnings": dict(tr.warnings),
        }
        programs[target] = c.program
    return row, (net, programs)


def verify_backends(programs: dict, xte: np.ndarray, a: argparse.Namespace) -> list[str]:
    """reference == Lava == Brian2 digital on the first ``--verify-samples`` test samples, per target."""
    lines = []
    x = rate_encode(xte[: a.verify_samples], a.T, TEST_SEED).astype(np.float64)
    os.environ.setdefault("SPIKEFORGE_BRIAN2_CODEGEN", "numpy")
    for target, prog in programs.items():
        try:
            rep = sf.verify(prog, x, backends=("reference", "lava", "brian2"))
        except sf.SpikeforgeError as e:
            lines.append(f"- {target}: NOT VERIFIED ({str(e).splitlines()[0]})")
            continue
        spikes = {k: int(np.sum(v)) for k, v in rep.traces["reference"].probes.items() if k in prog.graph.nodes
                  and prog.graph.nodes[k].op == "int_lif"}
        verdict = "spike-exact, every layer at every step" if rep.ok else f"MISMATCH at {rep.first_divergence}"
        lines.append(f"- {target}: reference == Lava == Brian2 digital on {x.shape[1]} test samples x {a.T} steps: "
                     f"{verdict} (hidden spikes {spikes})")
    return lines


def ms(values, scale: float = 100.0, fmt: str = ".2f") -> str:
    v = np.asarray(values, dtype=np.float64) * scale
    return f"{v.mean():{fmt}} ± {v.std():{fmt}}"


def table(rows: list[dict]) -> str:
    head = ["mode", "trains", "torch test acc (%)"] + [f"{t} acc (%)" for t in STL_TARGETS] + \
        ["loihi2 = torch prediction (%)", "train s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for mode, m in STL_MODES.items():
        rs = [r for r in rows if r["mode"] == mode]
        cells = [mode, m.description, ms([r["torch"] for r in rs])]
        cells += [ms([r["compiled"][t]["accuracy"] for r in rs]) for t in STL_TARGETS]
        cells += [ms([r["compiled"]["loihi2"]["same_prediction"] for r in rs]), ms([r["train_s"] for r in rs], 1.0, ".1f")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def threshold_table(rows: list[dict]) -> str:
    n_layers = len(rows[0]["thresholds"])
    head = ["thresholds"] + [f"layer {i + 1} mean ± std" for i in range(n_layers)] + ["on the lower bound"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    init = rows[0]["initial_thresholds"]
    lines.append("| initial | " + " | ".join(f"{np.mean(t):.3f} ± {np.std(t):.3f}" for t in init) + " | 0 |")
    for mode in STL_MODES:
        rs = [r for r in rows if r["mode"] == mode]
        cells = [f"{np.mean(np.concatenate([r['thresholds'][i] for r in rs])):.3f} ± "
                 f"{np.std(np.concatenate([r['thresholds'][i] for r in rs])):.3f}" for i in range(n_layers)]
        lines.append(f"| {mode} learned (pooled over seeds) | " + " | ".join(cells) + f" | {sum(r['clamped'] for r in rs)} |")
    return "\n".join(lines)


def paired(rows: list[dict]) -> list[str]:
    """Per-seed differences (same initialisation and data order), in accuracy points."""
    acc = {m: np.array([r["torch"] for r in rows if r["mode"] == m]) for m in STL_MODES}
    out = []
    for other in ("SL", "TL"):
        d = (acc["STL"] - acc[other]) * 100
        out.append(f"- STL - {other} (torch, per seed, points): {', '.join(f'{v:+.2f}' for v in d)}; "
                   f"mean {d.mean():+.2f} ± {d.std():.2f}; STL higher on {int(np.sum(d > 0))} of {len(d)} seeds, equal on {int(np.sum(d == 0))}")
    return out


def plot_losses(rows: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.8))
    for j, mode in enumerate(STL_MODES):
        for k, r in enumerate(r for r in rows if r["mode"] == mode):
            ax.plot(np.arange(1, len(r["losses"]) + 1), r["losses"], color=f"C{j}", alpha=0.8, label=mode if k == 0 else None)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training cross-entropy")
    ax.set_title("training loss per seed")
    ax.legend()
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def main(argv=None) -> int:
    a = parse(argv)
    t0 = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small per-step ops: extra threads only spin on a busy CPU
    try:
        return _main(a, t0)
    finally:
        torch.set_num_threads(threads)


def _main(a: argparse.Namespace, t0: float) -> int:
    data = digits_split(SPLIT_SEED, N_TEST)
    rows, first_stl = [], None
    runs = [(seed, mode) for seed in range(a.seeds) for mode in STL_MODES]
    for seed, mode in tqdm(runs, desc="runs", unit="run"):
        row, (net, programs) = run_one(mode, seed, data, a)
        rows.append(row)
        if mode == "STL" and first_stl is None:
            first_stl = programs
    check = verify_backends(first_stl, data[2], a) if a.verify_samples > 0 else ["- backend check skipped (--verify-samples 0)"]

    a.out.mkdir(parents=True, exist_ok=True)
    learned = {m: [[np.array(t) for t in r["thresholds"]] for r in rows if r["mode"] == m] for m in ("STL", "TL")}
    png = plot_thresholds([np.array(t) for t in rows[0]["initial_thresholds"]], learned, a.out / "thresholds.png",
                          title=f"per-neuron thresholds on the 8x8 digits: initial vs learned ({a.seeds} seed(s) pooled)")
    plot_losses(rows, a.out / "training.png")
    warn_lines = []
    for r in rows:
        for t, c in r["compiled"].items():
            if c["compile_warnings"] or c["run_warnings"]:
                warn_lines.append(f"- {r['mode']} seed {r['seed']} {t}: {len(c['compile_warnings'])} compiler warning(s)"
                                  + (f": {'; '.join(c['compile_warnings'])}" if c["compile_warnings"] else "")
                                  + (f"; run warnings {c['run_warnings']}" if c["run_warnings"] else ""))
    text = "\n".join([
        f"## STL vs SL vs TL, 8x8 digits, Bernoulli rate code T={a.T}, hidden {a.hidden}, initial threshold {a.theta_init:g}, {a.epochs} epochs, "
        f"{a.seeds} seed(s) (mean ± std)",
        "",
        table(rows),
        "",
        threshold_table(rows),
        "",
        *paired(rows),
        "",
        "Backend check (first seed's STL network):",
        *check,
        "",
        "Compiler and run warnings:" if warn_lines else "Compiler and run warnings: none",
        *warn_lines,
    ])
    print(text)
    write_text(a.out / "results.md", text + "\n")
    write_text(a.out / "results.json", json.dumps({"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()},
                                                   "rows": rows, "backend_check": check}, indent=1))
    print(f"\nwall time {time.perf_counter() - t0:.1f} s (CPU time of this process {time.process_time():.1f} s; "
          f"the difference is time waiting for a busy CPU or for the Lava worker); table, plots ({png.name}, training.png) in {a.out}")
    return 1 if any("MISMATCH" in line for line in check) else 0


if __name__ == "__main__":
    raise SystemExit(main())
