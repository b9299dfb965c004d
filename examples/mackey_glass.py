"""Mackey-Glass (tau = 17) one-step-ahead regression: MTC vs LIF vs AdLIF (MODELS.md §4).

Generates the Mackey-Glass series offline (RK4 of dx/dt = 0.2 x(t-17) / (1 + x(t-17)^10) - 0.1 x
with dt = 0.1, constant history 1.2, a 1000-time-unit warm-up discarded), sampled as NeuroBench
does: 75 samples per Lyapunov time (197 time units for tau = 17), the first 750 points to train,
the next 750 to test. The task is one-step-ahead prediction: from x[0..t] predict x[t+1].

Three feed-forward regressors of equal size get the same input, readout, optimiser, epochs and
tuning budget (BPTT over shuffled mini-batches of overlapping windows of the training series, MSE
after a washout, Adam with a cosine schedule and gradient clipping):

    Linear(LAGS, H) -> neuron layer (H) -> Linear(H, 1) -> LI readout (beta = 0.5)

The input is a delay line of the last ``LAGS`` = 4 values (the same for all three). The neuron
layer is an MTC (graded output, plain BPTT; a preset with trainable conductances, offsets,
threshold and saturation), a LIF (soft reset, per-neuron trainable threshold, ATan surrogate) or
an AdLIF (Bittar & Garner 2022, trainable per neuron; its input enters the membrane as
``(1 - alpha) W x``, so its input layer starts ``1 / (1 - alpha)`` larger to give it the same
initial drive). Each model's config is picked from the same grid, :data:`LRS` x two values of one
model knob (:data:`KNOBS`: MTC preset, LIF surrogate sharpness, AdLIF initial membrane decay), by
the NRMSE on a validation split carved from the training part only (the last ``N_VAL`` training
points; the test part is never looked at); then every seed is trained with the chosen config on
the whole training part. The script reports, as mean ± std over the seeds, the test NRMSE
(RMSE / std of the target), sMAPE (NeuroBench: 100 * mean 2|y - ŷ| / (|y| + |ŷ|)) and the
activity: events per neuron per step of the hidden layer (spikes for LIF/AdLIF, nonzero graded
outputs for MTC), and two non-neural references (persistence, least squares on the lags). Results
go to ``--out``: ``results.md`` (table, references, sweep), ``mackey_glass.png`` (prediction vs
target of seed 0, and a bar chart) and ``results.json``.

Then the trained MTC network of the first seed is compiled (``sf.compile``: ``float`` and the
integer ``loihi2`` target with the training series as calibration) and run through
:func:`run_backends`; the script prints the error of each compiled run against torch.

Usage::

    .venv/bin/python examples/mackey_glass.py [--seeds 3] [--epochs 60] [--hidden 32] [--out out/mackey_glass] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

import spikeforge as sf
from spikeforge.models import LI, LIF, MTC, AdLIF, Seq
from spikeforge.models.surrogate import ATan

#: NeuroBench's Mackey-Glass settings.
TAU = 17.0
LYAPUNOV_TIME = 197.0
POINTS_PER_LYAPUNOV = 75
N_TRAIN = 750
N_TEST = 750
WARMUP_TIME = 1000.0
#: Backends the compiled programs run on (see run_backends).
BACKENDS = ("reference", "lava", "brian2", "brian2-analog")
#: Which of them run integer and float programs.
INT_BACKENDS = ("reference", "lava", "brian2")
FLOAT_BACKENDS = ("reference", "brian2-analog")
#: Training windows: length, stride, steps excluded from the loss at the start of each, mini-batch size.
WINDOW, STRIDE, WASHOUT, BATCH = 120, 8, 40, 16
#: Delay-line input: the last LAGS values of the series, the same for every model.
LAGS = 4
#: Decay of the non-spiking LI readout (the same for every model).
READOUT_BETA = 0.5
#: Validation split for the sweep: the last N_VAL points of the training part (the test part is never used).
N_VAL = 200
MODELS = ("MTC", "LIF", "AdLIF")
#: Equal tuning budget: every model gets the same learning rates times two values of one model knob.
LRS = (0.01, 0.03)
KNOBS = {
    "MTC": ("preset", ("tonic", "bursting")),
    "LIF": ("slope", (2.0, 5.0)),  # ATan surrogate sharpness
    "AdLIF": ("alpha", (math.exp(-1 / 5), math.exp(-1 / 20))),  # initial membrane decay
}


# ----------------------------------------------------------------------------- data
def mackey_glass(n: int, tau: float = TAU, dt: float = 0.1, sample: float = LYAPUNOV_TIME / POINTS_PER_LYAPUNOV,
                 warmup: float = WARMUP_TIME, x0: float = 1.2) -> np.ndarray:
    """``n`` samples of the Mackey-Glass series, ``sample`` time units apart, after ``warmup``.

    RK4 on a grid of ``dt`` (``tau / dt`` whole steps); the delayed term at the half step is the
    mean of its two grid neighbours. Samples between grid points are linearly interpolated.
    """
    lag = int(round(tau / dt))
    steps = int(np.ceil((warmup + n * sample) / dt)) + 2
    x = np.empty(steps + lag)
    x[: lag + 1] = x0  # constant history

    def f(xt, xd):
        return 0.2 * xd / (1.0 + xd**10) - 0.1 * xt

    for i in range(lag, steps + lag - 1):
        d0, d1 = x[i - lag], x[i - lag + 1]
        dh = 0.5 * (d0 + d1)
        xi = x[i]
        k1 = f(xi, d0)
        k2 = f(xi + 0.5 * dt * k1, dh)
        k3 = f(xi + 0.5 * dt * k2, dh)
        k4 = f(xi + dt * k3, d1)
        x[i + 1] = xi + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    t = warmup + sample * np.arange(n)
    return np.interp(t, dt * np.arange(steps), x[lag:])


def split() -> dict:
    """The series, normalised (train mean/std): inputs ``x[t]``, targets ``x[t+1]``, delay-line features ``f``."""
    s = mackey_glass(N_TRAIN + N_TEST + 1)
    mu, sd = s[:N_TRAIN].mean(), s[:N_TRAIN].std()
    z = (s - mu) / sd
    return {"raw": s, "mu": mu, "sd": sd, "x": z[:-1], "y": z[1:], "f": features(z[:-1])}


# ----------------------------------------------------------------------------- models
def features(z: np.ndarray, lags: int = LAGS) -> np.ndarray:
    """Delay-line input ``(T, lags)``: ``[z[t], z[t-1], ..., z[t-lags+1]]`` (zeros before the start)."""
    return np.stack([np.r_[np.zeros(k), z[: len(z) - k]] for k in range(lags)], axis=1)


class Regressor(nn.Module):
    """``Linear(LAGS, H) -> neuron -> Linear(H, 1) -> LI``; ``hidden`` gives the neuron's output.

    ``gain`` scales the initial input weights and biases (see :func:`make_model`)."""

    def __init__(self, neuron: nn.Module, hidden: int, lags: int = LAGS, gain: float = 1.0):
        super().__init__()
        inp = nn.Linear(lags, hidden)
        with torch.no_grad():
            inp.weight.mul_(gain)
            inp.bias.mul_(gain)
        self.net = nn.Sequential(Seq(inp), neuron, Seq(nn.Linear(hidden, 1)), LI(READOUT_BETA))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        return self.net[1](self.net[0](x))


def make_model(kind: str, hidden: int, seed: int, cfg: dict) -> Regressor:
    """One regressor; ``cfg`` holds the model's swept knob (see :data:`GRID`).

    MTC: ``preset`` (trainable conductances, offsets, threshold and saturation, heterogeneous
    start). LIF: soft reset, per-neuron trainable threshold, ATan surrogate of sharpness
    ``slope``. AdLIF: every parameter trainable per neuron (Bittar & Garner ranges), membrane
    decay initialised to ``alpha``; its input enters as ``(1 - alpha) W x``, so its input layer
    starts ``1 / (1 - alpha)`` times larger, which gives it the same initial drive as the others.
    """
    torch.manual_seed(seed)
    gain = 1.0
    if kind == "MTC":
        neuron = MTC.preset(cfg["preset"], shape=(hidden,), tau_us=200.0,
                            learn=("u_rest", "alpha_fn", "alpha_sp", "alpha_sn", "alpha_usp", "delta_fn", "delta_sp",
                                   "delta_sn", "delta_usp", "u_th", "u_sat"))
        with torch.no_grad():  # heterogeneous neurons: spread the offsets and the output window
            neuron.u_rest.add_(torch.empty(hidden).uniform_(-0.5, 1.0))
            neuron.alpha_fn.uniform_(0.5, 2.0)
            neuron.u_th.uniform_(-0.5, 0.5)
            neuron.u_sat.copy_(neuron.u_th + 1.0)
    elif kind == "LIF":
        neuron = LIF(beta=0.9, threshold=torch.ones(hidden), reset="subtract", shape=(hidden,), learn_threshold=True,
                     surrogate=ATan(cfg["slope"]))
    elif kind == "AdLIF":
        alpha = float(cfg["alpha"])
        neuron = AdLIF(alpha=alpha, shape=(hidden,), learn=True)
        gain = 1.0 / (1.0 - alpha)
    else:
        raise ValueError(kind)
    return Regressor(neuron, hidden, gain=gain)


def windows(x: np.ndarray, y: np.ndarray, window: int = WINDOW) -> tuple[torch.Tensor, torch.Tensor]:
    """Overlapping training windows: inputs ``(window, n, LAGS)``, targets ``(window, n, 1)``."""
    starts = range(0, len(x) - window + 1, STRIDE)
    xs = np.stack([x[s : s + window] for s in starts], axis=1)
    ys = np.stack([y[s : s + window] for s in starts], axis=1)[..., None]
    return torch.from_numpy(xs).float(), torch.from_numpy(ys).float()


def train(model: nn.Module, xs: torch.Tensor, ys: torch.Tensor, epochs: int, lr: float, seed: int, desc: str) -> float:
    """Adam (cosine schedule, gradient norm clipped at 1) on the MSE after the washout, shuffled
    mini-batches of :data:`BATCH` windows; returns the wall time."""
    t0 = time.perf_counter()
    n = xs.shape[1]
    nb = -(-n // BATCH)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * nb)
    gen = torch.Generator().manual_seed(seed)
    for _ in tqdm(range(epochs), desc=desc, unit="epoch", leave=False):
        perm = torch.randperm(n, generator=gen)
        for i in range(nb):
            idx = perm[i * BATCH : (i + 1) * BATCH]
            opt.zero_grad()
            loss = nn.functional.mse_loss(model(xs[:, idx])[WASHOUT:], ys[WASHOUT:, idx])
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
    return time.perf_counter() - t0


# ----------------------------------------------------------------------------- metrics
def nrmse(pred: np.ndarray, target: np.ndarray) -> float:
    return float(np.sqrt(np.mean((pred - target) ** 2)) / np.std(target))


def smape(pred: np.ndarray, target: np.ndarray) -> float:
    return float(100.0 * np.mean(2.0 * np.abs(pred - target) / (np.abs(pred) + np.abs(target))))


def evaluate(model: Regressor, d: dict, start: int = N_TRAIN, stop: int = N_TRAIN + N_TEST) -> dict:
    """Run the series from its start up to ``stop`` once; metrics on ``[start, stop)`` (original units)."""
    x = torch.from_numpy(d["f"][:stop]).float()[:, None]
    with torch.no_grad():
        pred = model(x)[:, 0, 0].double().numpy()
        h = model.hidden(x)[start:].numpy()
    p = pred[start:] * d["sd"] + d["mu"]
    t = d["y"][start:stop] * d["sd"] + d["mu"]
    return {"nrmse": nrmse(p, t), "smape": smape(p, t), "activity": float(np.mean(h != 0)), "pred": p, "target": t}


def references(d: dict) -> list[str]:
    """Non-neural references on the test part: persistence (``x[t+1] = x[t]``) and least squares on the LAGS inputs."""
    t = d["y"][N_TRAIN:] * d["sd"] + d["mu"]
    p0 = d["x"][N_TRAIN:] * d["sd"] + d["mu"]
    a = np.c_[d["f"], np.ones(len(d["f"]))]
    w = np.linalg.lstsq(a[:N_TRAIN], d["y"][:N_TRAIN], rcond=None)[0]
    p1 = (a[N_TRAIN:] @ w) * d["sd"] + d["mu"]
    return [f"reference persistence: NRMSE {nrmse(p0, t):.4f}, sMAPE {smape(p0, t):.3f}",
            f"reference linear least squares on the {LAGS} lags: NRMSE {nrmse(p1, t):.4f}, sMAPE {smape(p1, t):.3f}"]


# ----------------------------------------------------------------------------- backends
def run_backends(prog, x: np.ndarray) -> dict:
    """Run a compiled program on every backend that runs its kind; returns name -> Trace.

    Integer (loihi2) programs: the reference, Lava (fixed_pt, bit-accurate) and Brian2 digital,
    which must agree exactly (checked here). Float programs: the reference and Brian2's analog
    mode (MTC's ODEs integrated continuously, rk4 at dt/16: the continuous limit of the
    forward-Euler op, so it differs from it at this coarse dt). A backend that cannot run here
    (no ``.venv-lava``) is reported, not hidden.
    """
    names = INT_BACKENDS if prog.integer else FLOAT_BACKENDS
    out = {}
    for name in names:
        try:
            out[name] = sf.run(prog, x, backend=name)
        except sf.SpikeforgeError as e:
            print(f"  {name}: not run ({str(e).splitlines()[0]})")
    if prog.integer and len(out) > 1:
        first = next(iter(out))
        same = all(np.array_equal(out[first].output, tr.output) for tr in out.values())
        print(f"  integer program: {', '.join(out)} outputs identical: {'yes' if same else 'NO'}")
    return out


def compile_and_compare(model: Regressor, d: dict) -> list[str]:
    """Compile the trained MTC regressor (float and loihi2), run it, compare with torch."""
    lines = []
    m = model.double().eval()
    x = d["f"][:, None]
    with torch.no_grad():
        ref = m(torch.from_numpy(x))[:, 0, 0].numpy()
    g = sf.trace(m, torch.from_numpy(x[:50]))
    t_scale = (d["sd"], d["mu"])
    for target in ("float", "loihi2"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # allow_saturation: the worst-case bound of the readout (every MTC output at 1) exceeds 24 bits;
            # real runs stay far below it, and any wrap would be counted in the trace warnings
            opts = {} if target == "float" else {"calibration": x[:N_TRAIN], "allow_saturation": True}
            prog = sf.compile(g, target=target, **opts)
        for name, tr in run_backends(prog, x).items():
            out = tr.output[:, 0, 0]
            err = np.abs(out - ref).max()
            p = out[N_TRAIN:] * t_scale[0] + t_scale[1]
            t = d["y"][N_TRAIN:] * t_scale[0] + t_scale[1]
            lines.append(
                f"compiled {target:6s} on {name}: max |compiled - torch| = {err:.3g} (normalised units), "
                f"NRMSE vs torch {nrmse(out, ref):.3g}, test NRMSE {nrmse(p, t):.4f}, sMAPE {smape(p, t):.3f}"
                + (f", warnings {tr.warnings}" if tr.warnings else "")
            )
    model.float()
    return lines


# ----------------------------------------------------------------------------- report
def table(results: dict) -> str:
    rows = ["| model | NRMSE | sMAPE (%) | events / neuron / step | train time (s) |", "|---|---|---|---|---|"]
    for kind, rs in results.items():
        def ms(k, fmt):
            v = np.array([r[k] for r in rs])
            return f"{v.mean():{fmt}} ± {v.std():{fmt}}"
        rows.append(f"| {kind} | {ms('nrmse', '.4f')} | {ms('smape', '.3f')} | {ms('activity', '.3f')} | {ms('time', '.1f')} |")
    return "\n".join(rows)


def plot(results: dict, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 3.6), gridspec_kw={"width_ratios": [2.2, 1, 1]})
    ax = axes[0]
    first = next(iter(results.values()))[0]
    n = 300
    ax.plot(first["target"][:n], "k", lw=2, label="target")
    for kind, rs in results.items():
        ax.plot(rs[0]["pred"][:n], lw=1, label=kind)
    ax.set_title("test set, seed 0 (first 300 points)")
    ax.set_xlabel("step")
    ax.legend(fontsize=8)
    names = list(results)
    for ax, key, title in ((axes[1], "nrmse", "NRMSE (lower is better)"), (axes[2], "activity", "events / neuron / step")):
        v = np.array([[r[key] for r in results[k]] for k in names])
        ax.bar(names, v.mean(axis=1), yerr=v.std(axis=1), color=["C0", "C1", "C2"][: len(names)], capsize=4)
        ax.set_title(title)
    fig.tight_layout()
    path = out / "mackey_glass.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description="Mackey-Glass (tau=17, NeuroBench split: 75 points per Lyapunov time, 750 train / 750 test) "
        "one-step-ahead regression with equal-size MTC, LIF and AdLIF networks; prints a markdown table "
        "(NRMSE, sMAPE, activity; mean ± std over seeds), writes a plot, then compiles the MTC network "
        "(float and loihi2) and compares the compiled runs with torch.",
    )
    ap.add_argument("--seeds", type=int, default=3, help="number of seeds (default 3)")
    ap.add_argument("--epochs", type=int, default=60, help="training epochs (passes over the shuffled mini-batches of windows) per model and sweep run (default 60)")
    ap.add_argument("--hidden", type=int, default=32, help="hidden neurons of every model (default 32)")
    ap.add_argument("--out", type=Path, default=Path("out/mackey_glass"), help="output folder (default out/mackey_glass)")
    ap.add_argument("--quick", action="store_true", help="a few epochs, one seed, small net: for tests (seconds)")
    ap.add_argument("--no-compile", action="store_true", help="skip compiling and running the MTC network")
    a = ap.parse_args(argv)
    if a.quick:
        a.seeds, a.epochs, a.hidden = min(a.seeds, 1), 2, 8
    t0 = time.perf_counter()
    torch.set_flush_denormal(True)  # decaying states reach denormals, which are 10x slower on CPU
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops, step by step: extra threads only spin (20x slower on a busy 2-core CPU)
    try:
        return _main(a, t0)
    finally:
        torch.set_flush_denormal(False)  # process-wide settings: restore them
        torch.set_num_threads(threads)


def sweep(d: dict, a) -> dict:
    """Pick each model's config (learning rate x its knob, :data:`LRS` x :data:`KNOBS`) by the
    validation NRMSE: train on the first ``N_TRAIN - N_VAL`` points, validate on the last ``N_VAL``
    points of the training part (seed 0). Returns model -> (config, [(config, val NRMSE), ...])."""
    n_fit = N_TRAIN - N_VAL
    xs, ys = windows(d["f"][:n_fit], d["y"][:n_fit])
    chosen = {}
    for kind in MODELS:
        name, values = KNOBS[kind]
        scores = []
        for lr in LRS:
            for v in values:
                cfg = {"lr": lr, name: v}
                model = make_model(kind, a.hidden, 0, cfg)
                train(model, xs, ys, a.epochs, lr, 0, f"sweep {kind} {cfg}")
                r = evaluate(model, d, n_fit, N_TRAIN)
                scores.append((cfg, r["nrmse"] if np.isfinite(r["nrmse"]) else np.inf))
        chosen[kind] = (min(scores, key=lambda c: c[1])[0], scores)
    return chosen


def fmt_cfg(cfg: dict) -> str:
    return ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in cfg.items())


def _main(a, t0) -> int:
    d = split()
    chosen = sweep(d, a)
    t_sweep = time.perf_counter() - t0
    xs, ys = windows(d["f"][:N_TRAIN], d["y"][:N_TRAIN])
    results: dict[str, list] = {k: [] for k in MODELS}
    trained = {}
    for seed in range(a.seeds):
        for kind in MODELS:
            cfg = chosen[kind][0]
            model = make_model(kind, a.hidden, seed, cfg)
            secs = train(model, xs, ys, a.epochs, cfg["lr"], seed, f"{kind} seed {seed}")
            r = evaluate(model, d)
            r["time"] = secs
            results[kind].append(r)
            if seed == 0:
                trained[kind] = model
    a.out.mkdir(parents=True, exist_ok=True)
    md = table(results)
    head = (f"Mackey-Glass tau=17, one-step-ahead, {N_TRAIN} train / {N_TEST} test points, hidden={a.hidden}, "
            f"{LAGS} input lags, epochs={a.epochs}, seeds={a.seeds}")
    sel = [f"sweep ({t_sweep:.0f} s; validation = the last {N_VAL} training points, seed 0):"]
    for kind, (cfg, scores) in chosen.items():
        tried = "; ".join(f"{fmt_cfg(c)}: {v:.4f}" for c, v in scores)
        sel.append(f"  {kind}: chosen {fmt_cfg(cfg)}  (val NRMSE  {tried})")
    refs = references(d)
    print("\n".join(sel))
    print()
    print(head)
    print()
    print(md)
    print()
    print("\n".join(refs))
    png = plot(results, a.out)
    (a.out / "results.md").write_text(head + "\n\n" + md + "\n\n" + "\n".join(refs + [""] + sel) + "\n")
    (a.out / "results.json").write_text(json.dumps(
        {k: {"config": chosen[k][0], "sweep": chosen[k][1],
             "runs": [{m: r[m] for m in ("nrmse", "smape", "activity", "time")} for r in rs]}
         for k, rs in results.items()}, indent=1))
    print(f"\nwrote {a.out / 'results.md'}, {png}")
    if not a.no_compile:
        print()
        for line in compile_and_compare(trained["MTC"], d):
            print(line)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
