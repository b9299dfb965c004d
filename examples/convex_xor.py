"""Convex training of parallel SNNs (MODELS.md §5): CVX vs SG-CVX vs plain surrogate gradient.

Tasks (``spikeforge.models.convex.tasks``, all offline):

* **XOR clean**: first-last XOR over T = 10 steps, two input channels; bit ``a`` (as ±1) on
  channel 0 at step 0, bit ``b`` on channel 1 at step 9, zeros in between; target ``a XOR b``
  read at the last step.
* **XOR noisy**: the same with Gaussian distractor noise (std 0.1) on every other entry.
* **digits**: scikit-learn's 8x8 digits, pixels as a constant current for T = 4 steps, 10 classes
  (group Lasso over the classes).

Network: ``K`` parallel branches, each one LIF unit (beta 0.9, threshold 1, Loihi's reset to zero)
fed by the input through ``nn.Linear``; output ``ŷ = Σ_k a_k α_k s_k[T-1] + b`` (``±1`` targets,
squared loss). Methods:

* **CVX**: ``K_cvx`` random Gaussian witness branches -> deduplicated last-step spike-pattern
  dictionary -> (group) Lasso with ``λ = ratio · λ_max``, solved to a certified duality gap
  (our own dual point and gap, ``models/convex/lasso.py``) -> kept columns' branches, amplitude
  ``sqrt(‖z‖)``, readout ``z / sqrt(‖z‖)``.
* **SG**: the same architecture with ``K_sg`` branches trained end to end by BPTT (ATan surrogate,
  Adam, same squared loss, same initial weight distribution as the CVX witnesses).
* **SG-CVX**: witnesses = the branches of evenly spaced snapshots of that SG run, then the same
  convex fit (its wall time in the table includes the SG run it needs).

The table reports mean ± std over seeds of train / test accuracy, the certified duality gap, the
dictionary size (distinct patterns) and kept branches, and wall time. Then, for seed 0, every
network is compiled for ``loihi2`` (``sf.compile(..., calibration=train inputs)``) and run on the
integer reference backend; the readout is applied to the compiled last-step output spikes outside
the program (a fixed dot product: exact). Integer vs float accuracy is printed, with the fraction
of samples whose spike pattern moved under 8-bit quantization. A CVX run on the integer-train form
(``BranchSpec(qat=True)``: the witnesses' spikes ARE the compiled program's spikes) shows the
compiled accuracy equal to the torch one by construction. Finally ``sf.verify`` checks reference ==
Lava == Brian2 digital, spike for spike, on a few samples of each compiled CVX / SG-CVX network.

Outputs in ``--out``: ``results.md``, ``results.json``, ``convex_xor.png`` (test accuracy and wall
time per task and method).

Usage::

    .venv/bin/python examples/convex_xor.py [--seeds 3] [--quick] [--verify-samples 3] [--out out/convex_xor]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import sklearn.linear_model  # noqa: F401  (imported up front so the first run's wall time is not the import's)
import torch
from tqdm import tqdm

import spikeforge as sf
from spikeforge.compiler.fsutil import atomic_path
from spikeforge.models.convex import tasks
from spikeforge.models.convex.parallel import BranchSpec, last_spikes
from spikeforge.models.convex.train import cvx, sg_cvx, train_sg

METHODS = ("CVX", "SG-CVX", "SG")
#: Per task: data, input size, witness/branch counts, scales, Lasso penalty ratio, gap target, SG budget.
TASKS = {
    "XOR clean": dict(kind="xor", T=10, noise=0.0, n_train=256, n_test=1024, n_in=2, K_cvx=300, K_sg=64, w_std=2.0,
                      b_std=0.1, lam_ratio=0.03, gap=1e-7, epochs=60, lr=0.01, snapshots=10),
    "XOR noisy": dict(kind="xor", T=10, noise=0.1, n_train=256, n_test=1024, n_in=2, K_cvx=300, K_sg=64, w_std=2.0,
                      b_std=0.1, lam_ratio=0.03, gap=1e-7, epochs=60, lr=0.01, snapshots=10),
    "digits": dict(kind="digits", T=4, n_in=64, K_cvx=1000, K_sg=256, w_std=4.0, b_std=0.1, lam_ratio=0.03,
                   gap=1e-6, epochs=30, lr=0.01, snapshots=4),
}
QUICK = {
    "XOR clean": dict(n_train=64, n_test=128, K_cvx=100, K_sg=16, epochs=4, snapshots=2),
    "XOR noisy": dict(n_train=64, n_test=128, K_cvx=100, K_sg=16, epochs=4, snapshots=2),
    "digits": dict(n_train=300, K_cvx=150, K_sg=32, epochs=2, snapshots=2, lam_ratio=0.1),
}


def load(cfg: dict, seed: int) -> tuple:
    """``(x_train, y_train, x_test, y_test)`` of a task; XOR data is drawn per seed."""
    if cfg["kind"] == "xor":
        xtr, ytr = tasks.first_last_xor(cfg["n_train"], cfg["T"], cfg["noise"], seed=1000 + seed)
        xte, yte = tasks.first_last_xor(cfg["n_test"], cfg["T"], cfg["noise"], seed=2000 + seed)
        return xtr, ytr, xte, yte
    xtr, ytr, xte, yte = tasks.digits(cfg["T"])
    n = cfg.get("n_train")
    return (xtr[:, :n], ytr[:n], xte, yte) if n else (xtr, ytr, xte, yte)


def run_task(name: str, cfg: dict, seed: int) -> tuple:
    """Train the three methods on one task and seed; returns (rows, models, data)."""
    xtr, ytr, xte, yte = load(cfg, seed)
    C = 2 if cfg["kind"] == "xor" else 10
    Y = tasks.targets(ytr, C)
    spec = BranchSpec(n_in=cfg["n_in"])
    scale = dict(w_std=cfg["w_std"], b_std=cfg["b_std"])
    models, rows = {}, {}
    models["CVX"] = cvx(spec, cfg["K_cvx"], xtr, Y, seed=seed, lam_ratio=cfg["lam_ratio"], target_gap=cfg["gap"], **scale)
    t0 = time.perf_counter()
    sg, snaps = train_sg(spec, cfg["K_sg"], xtr, Y, epochs=cfg["epochs"], lr=cfg["lr"], seed=seed,
                         snapshots=cfg["snapshots"], desc=f"{name} SG seed {seed}", **scale)
    t_sg = time.perf_counter() - t0
    models["SG"] = sg
    models["SG-CVX"] = sg_cvx(snaps, spec, xtr, Y, lam_ratio=cfg["lam_ratio"], target_gap=cfg["gap"])
    models["SG-CVX"].info["fit_s"] += t_sg
    for meth in METHODS:
        m = models[meth]
        rows[meth] = {
            "train": tasks.accuracy(m.predict(xtr), ytr), "test": tasks.accuracy(m.predict(xte), yte),
            "gap": m.info.get("gap", np.nan), "certified": m.info.get("certified"),
            "dict": m.info.get("dict_size", np.nan), "kept": m.K, "time": m.info["fit_s"],
            "mismatch": m.info.get("pattern_mismatch", 0),
        }
    return rows, models, (xtr, ytr, xte, yte)


def ms(vals, fmt: str) -> str:
    v = np.asarray(vals, dtype=float)
    if np.all(np.isnan(v)):
        return "–"
    return f"{np.nanmean(v):{fmt}} ± {np.nanstd(v):{fmt}}"


def table(results: dict) -> str:
    lines = ["| task | method | train acc | test acc | duality gap (max) | dictionary size | branches | wall time (s) |",
             "|---|---|---|---|---|---|---|---|"]
    for task, per in results.items():
        for meth in METHODS:
            rs = per[meth]
            gaps = [r["gap"] for r in rs]
            gap = "–" if np.all(np.isnan(gaps)) else f"{np.nanmax(gaps):.1e}"
            lines.append(f"| {task} | {meth} | {ms([r['train'] for r in rs], '.4f')} | {ms([r['test'] for r in rs], '.4f')} | "
                         f"{gap} | {ms([r['dict'] for r in rs], '.0f')} | {ms([r['kept'] for r in rs], '.0f')} | "
                         f"{ms([r['time'] for r in rs], '.1f')} |")
    return "\n".join(lines)


def compiled_accuracy(model, data) -> dict:
    """Compile for loihi2, run the integer reference on the test set, read out the last step."""
    xtr, _, xte, yte = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        prog = sf.compile(sf.trace(model.net, torch.from_numpy(xtr[:, :1])), target="loihi2", calibration=xtr)
    tr = sf.run(prog, xte, backend="reference")
    s_int = tr.output[-1]
    moved = float(np.mean(np.any(s_int != last_spikes(model.net, xte), axis=1)))
    return {"prog": prog, "float": tasks.accuracy(model.predict(xte), yte),
            "int": tasks.accuracy(model.readout_from_spikes(s_int), yte), "moved": moved, "warnings": dict(tr.warnings)}


def verify(prog, x: np.ndarray) -> str:
    """reference == Lava == Brian2 digital on ``x``; a backend that cannot run here is reported."""
    try:
        rep = sf.verify(prog, x, backends=("reference", "lava", "brian2"))
    except sf.SpikeforgeError as e:
        return f"not run ({str(e).splitlines()[0]})"
    same = all(np.array_equal(rep.traces["reference"].output, rep.traces[b].output) for b in ("lava", "brian2"))
    return "spike-exact" if rep.ok and same else f"MISMATCH {rep.first_divergence}"


def compile_section(trained: dict, cfgs: dict, seed: int, n_verify: int) -> tuple:
    """Compiled (integer) vs float accuracy of seed 0's networks, the integer-train CVX, and verify."""
    lines = ["| task | method | float test acc | compiled loihi2 test acc | samples whose spikes moved | reference == Lava == Brian2 |",
             "|---|---|---|---|---|---|"]
    ok = True
    jobs = [(task, meth) for task in trained for meth in METHODS] + [(task, "CVX (integer-train)") for task in trained]
    for task, meth in tqdm(jobs, desc="compile", unit="net", leave=False):
        models, data = trained[task]
        if meth == "CVX (integer-train)":
            cfg = cfgs[task]
            Y = tasks.targets(data[1], 2 if cfg["kind"] == "xor" else 10)
            model = cvx(BranchSpec(n_in=cfg["n_in"], qat=True), cfg["K_cvx"], data[0], Y, seed=seed,
                        lam_ratio=cfg["lam_ratio"], target_gap=cfg["gap"], w_std=cfg["w_std"], b_std=cfg["b_std"])
        else:
            model = models[meth]
        r = compiled_accuracy(model, data)
        v = verify(r["prog"], data[2][:, :n_verify]) if n_verify > 0 and meth != "SG" else "–"
        ok &= not v.startswith("MISMATCH")
        if meth == "CVX (integer-train)":
            ok &= r["int"] == r["float"] and r["moved"] == 0.0
        warn = f" (run warnings {r['warnings']})" if r["warnings"] else ""
        lines.append(f"| {task} | {meth} | {r['float']:.4f} | {r['int']:.4f}{warn} | {r['moved']:.4f} | {v} |")
    return "\n".join(lines), ok


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks_ = list(results)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4))
    w = 0.8 / len(METHODS)
    for i, meth in enumerate(METHODS):
        for ax, key in ((axes[0], "test"), (axes[1], "time")):
            v = np.array([[r[key] for r in results[t][meth]] for t in tasks_])
            ax.bar(np.arange(len(tasks_)) + (i - 1) * w, v.mean(axis=1), w, yerr=v.std(axis=1), capsize=3,
                   label=meth, color=f"C{i}")
    axes[0].set_ylim(0.4, 1.02)
    axes[0].set_title("test accuracy (mean ± std over seeds)")
    axes[1].set_yscale("log")
    axes[1].set_title("wall time per run (s, log)")
    for ax in axes:
        ax.set_xticks(np.arange(len(tasks_)))
        ax.set_xticklabels(tasks_)
        ax.legend(fontsize=8)
    fig.tight_layout()
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="Convex training of parallel LIF networks (MODELS.md §5) on first-last XOR (clean and with "
        "distractor noise, T=10) and the 8x8 digits: CVX (random Gaussian witnesses + certified group Lasso), "
        "SG-CVX (witnesses from a surrogate-gradient run) and plain surrogate-gradient training of the same "
        "architecture. Prints a markdown table (accuracy, duality gap, dictionary size, wall time; mean ± std "
        "over seeds), writes a plot, then compiles seed 0's networks for loihi2 (integer accuracy vs float) and "
        "checks reference == Lava == Brian2 digital spike for spike.")
    ap.add_argument("--seeds", type=int, default=3, help="number of seeds (default 3)")
    ap.add_argument("--quick", action="store_true", help="tiny settings (small data, few witnesses, 1 seed): for tests")
    ap.add_argument("--verify-samples", type=int, default=3,
                    help="test samples per compiled CVX/SG-CVX network run on reference, Lava and Brian2 (0: skip; default 3)")
    ap.add_argument("--no-compile", action="store_true", help="skip compiling and verifying")
    ap.add_argument("--out", type=Path, default=Path("out/convex_xor"), help="output folder (default out/convex_xor)")
    a = ap.parse_args(argv)
    if a.seeds < 1:
        ap.error("--seeds must be >= 1")
    cfgs = {k: dict(v) for k, v in TASKS.items()}
    if a.quick:
        a.seeds = min(a.seeds, 1)
        for k, v in QUICK.items():
            cfgs[k].update(v)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny per-step ops: extra threads only spin on a busy CPU
    try:
        return _main(a, cfgs)
    finally:
        torch.set_num_threads(threads)


def _main(a, cfgs: dict) -> int:
    t0 = time.perf_counter()
    results = {t: {m: [] for m in METHODS} for t in cfgs}
    trained = {}
    for seed in tqdm(range(a.seeds), desc="seeds", unit="seed"):
        for task, cfg in cfgs.items():
            rows, models, data = run_task(task, cfg, seed)
            for meth, r in rows.items():
                results[task][meth].append(r)
            if seed == 0:
                trained[task] = (models, data)
    head = (f"Convex reconstruction of parallel LIF networks, seeds={a.seeds}"
            + (" (QUICK settings)" if a.quick else "") + "; settings: "
            + "; ".join(f"{t}: K_cvx={c['K_cvx']}, K_sg={c['K_sg']}, lam_ratio={c['lam_ratio']}, SG epochs={c['epochs']}"
                        for t, c in cfgs.items()))
    md = table(results)
    uncert = [(t, m) for t, per in results.items() for m, rs in per.items() if any(r["certified"] is False for r in rs)]
    notes = [f"duality gap: absolute, certified by our dual point; uncertified runs: {uncert or 'none'}",
             f"reconstructed spikes differing from the dictionary (samples, all runs): "
             f"{sum(r['mismatch'] for per in results.values() for rs in per.values() for r in rs)}"]
    print(head + "\n\n" + md + "\n\n" + "\n".join(notes))
    a.out.mkdir(parents=True, exist_ok=True)
    plot(results, a.out / "convex_xor.png")
    text = head + "\n\n" + md + "\n\n" + "\n".join(notes) + "\n"
    ok = True
    if not a.no_compile:
        ctab, ok = compile_section(trained, cfgs, 0, a.verify_samples)
        print("\nseed 0 compiled for loihi2 (integer reference backend; readout applied to the last-step output spikes):\n")
        print(ctab)
        text += "\nseed 0 compiled for loihi2:\n\n" + ctab + "\n"
    write_text(a.out / "results.md", text)
    write_text(a.out / "results.json", json.dumps(
        {t: {m: [{k: (float(v) if isinstance(v, (int, float, np.floating)) and not isinstance(v, bool) else v)
                  for k, v in r.items()} for r in rs] for m, rs in per.items()} for t, per in results.items()}, indent=1))
    print(f"\nwrote {a.out / 'results.md'}, {a.out / 'convex_xor.png'}; total {time.perf_counter() - t0:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
