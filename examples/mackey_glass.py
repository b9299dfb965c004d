"""Mackey-Glass (tau = 17) one-step-ahead regression: MTC vs LIF vs AdLIF (MODELS.md §4).

Generates the Mackey-Glass series offline (RK4 of dx/dt = 0.2 x(t-17) / (1 + x(t-17)^10) - 0.1 x
with dt = 0.1, constant history 1.2, a 1000-time-unit warm-up discarded), sampled as NeuroBench
does: 75 samples per Lyapunov time (197 time units for tau = 17), the first 750 points to train,
the next 750 to test. The task is one-step-ahead prediction: from x[0..t] predict x[t+1].

Three feed-forward regressors of equal size are trained with the same readout, optimiser and
epochs (BPTT over windows of the training series, MSE):

    Linear(1, H) -> neuron layer (H) -> Linear(H, 1) -> LI readout (beta = 0.5)

with the neuron layer an MTC (graded output, plain BPTT; ``MTC.preset("tonic")`` with trainable
conductances, offsets, threshold and saturation), a LIF (soft reset, ATan surrogate) or an AdLIF
(Bittar & Garner 2022, trainable per neuron). It reports, as mean ± std over the seeds, the test
NRMSE (RMSE / std of the target), sMAPE (NeuroBench: 100 * mean 2|y - ŷ| / (|y| + |ŷ|)) and the
activity: events per neuron per step of the hidden layer (spikes for LIF/AdLIF, nonzero graded
outputs for MTC). Results go to ``--out``: ``results.md`` (the table), ``mackey_glass.png``
(prediction vs target of seed 0, and a bar chart) and ``results.json``.

Then the trained MTC network of the first seed is compiled (``sf.compile``: ``float`` and the
integer ``loihi2`` target with the training series as calibration) and run through
:func:`run_backends`; the script prints the error of each compiled run against torch.

Usage::

    .venv/bin/python examples/mackey_glass.py [--seeds 3] [--epochs 60] [--hidden 32] [--lr 0.02] [--out out/mackey_glass] [--quick]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

import spikeforge as sf
from spikeforge.models import LI, LIF, MTC, AdLIF, Seq

#: NeuroBench's Mackey-Glass settings.
TAU = 17.0
LYAPUNOV_TIME = 197.0
POINTS_PER_LYAPUNOV = 75
N_TRAIN = 750
N_TEST = 750
WARMUP_TIME = 1000.0
#: Backends the compiled programs run on (the lead adds "brian2", "brian2-analog" here).
BACKENDS = ("reference",)
#: Training windows: length, stride, and steps excluded from the loss at the start of each.
WINDOW, STRIDE, WASHOUT = 80, 10, 15
MODELS = ("MTC", "LIF", "AdLIF")


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
    """The series, normalised (train mean/std), with inputs ``x[t]`` and targets ``x[t+1]``."""
    s = mackey_glass(N_TRAIN + N_TEST + 1)
    mu, sd = s[:N_TRAIN].mean(), s[:N_TRAIN].std()
    z = (s - mu) / sd
    return {"raw": s, "mu": mu, "sd": sd, "x": z[:-1], "y": z[1:]}


# ----------------------------------------------------------------------------- models
class Regressor(nn.Module):
    """``Linear(1, H) -> neuron -> Linear(H, 1) -> LI``; ``hidden`` keeps the neuron's last output."""

    def __init__(self, neuron: nn.Module, hidden: int):
        super().__init__()
        self.net = nn.Sequential(Seq(nn.Linear(1, hidden)), neuron, Seq(nn.Linear(hidden, 1)), LI(0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        return self.net[1](self.net[0](x))


def make_model(kind: str, hidden: int, seed: int) -> Regressor:
    torch.manual_seed(seed)
    if kind == "MTC":
        neuron = MTC.preset("tonic", shape=(hidden,), tau_us=200.0, learn=("u_rest", "alpha_fn", "alpha_sp", "alpha_sn", "alpha_usp",
                                                                           "delta_fn", "delta_sp", "delta_sn", "delta_usp", "u_th", "u_sat"))
        with torch.no_grad():  # heterogeneous neurons: spread the offsets and the output window
            neuron.u_rest.uniform_(-1.5, 0.0)
            neuron.alpha_fn.uniform_(0.5, 2.0)
            neuron.u_th.uniform_(-0.5, 0.5)
            neuron.u_sat.copy_(neuron.u_th + 1.0)
    elif kind == "LIF":
        neuron = LIF(beta=0.9, threshold=1.0, reset="subtract")
    elif kind == "AdLIF":
        neuron = AdLIF(shape=(hidden,), learn=True)
    else:
        raise ValueError(kind)
    return Regressor(neuron, hidden)


def windows(x: np.ndarray, y: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Overlapping training windows ``(WINDOW, n, 1)`` of the training series."""
    starts = range(0, len(x) - WINDOW + 1, STRIDE)
    xs = np.stack([x[s : s + WINDOW] for s in starts], axis=1)[..., None]
    ys = np.stack([y[s : s + WINDOW] for s in starts], axis=1)[..., None]
    return torch.from_numpy(xs).float(), torch.from_numpy(ys).float()


def train(model: nn.Module, xs: torch.Tensor, ys: torch.Tensor, epochs: int, lr: float, desc: str) -> float:
    """Adam on the MSE after the washout, full batch per epoch; returns the wall time."""
    t0 = time.perf_counter()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    for _ in tqdm(range(epochs), desc=desc, unit="epoch", leave=False):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(xs)[WASHOUT:], ys[WASHOUT:])
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


def evaluate(model: Regressor, d: dict) -> dict:
    """Run the whole series once; metrics on the test part (original units)."""
    x = torch.from_numpy(d["x"]).float()[:, None, None]
    with torch.no_grad():
        pred = model(x)[:, 0, 0].double().numpy()
        h = model.hidden(x)[N_TRAIN:].numpy()
    p = pred[N_TRAIN:] * d["sd"] + d["mu"]
    t = d["y"][N_TRAIN:] * d["sd"] + d["mu"]
    return {"nrmse": nrmse(p, t), "smape": smape(p, t), "activity": float(np.mean(h != 0)), "pred": p, "target": t}


# ----------------------------------------------------------------------------- backends
def run_backends(prog, x: np.ndarray) -> dict:
    """Run a compiled program on every backend of :data:`BACKENDS`; returns name -> Trace.

    The lead adds the Brian2 digital/analog runs here (extend :data:`BACKENDS`).
    """
    return {name: sf.run(prog, x, backend=name) for name in BACKENDS}


def compile_and_compare(model: Regressor, d: dict) -> list[str]:
    """Compile the trained MTC regressor (float and loihi2), run it, compare with torch."""
    lines = []
    m = model.double().eval()
    x = d["x"][:, None, None]
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
    ap.add_argument("--epochs", type=int, default=60, help="training epochs (full-batch Adam steps) per model (default 60)")
    ap.add_argument("--hidden", type=int, default=32, help="hidden neurons of every model (default 32)")
    ap.add_argument("--lr", type=float, default=2e-2, help="Adam learning rate (default 2e-2)")
    ap.add_argument("--out", type=Path, default=Path("out/mackey_glass"), help="output folder (default out/mackey_glass)")
    ap.add_argument("--quick", action="store_true", help="a few epochs, one seed, small net: for tests (seconds)")
    ap.add_argument("--no-compile", action="store_true", help="skip compiling and running the MTC network")
    a = ap.parse_args(argv)
    if a.quick:
        a.seeds, a.epochs, a.hidden = min(a.seeds, 1), 5, 8
    t0 = time.perf_counter()
    torch.set_flush_denormal(True)  # decaying states reach denormals, which are 10x slower on CPU
    try:
        return _main(a, t0)
    finally:
        torch.set_flush_denormal(False)  # a process-wide CPU flag: restore it


def _main(a, t0) -> int:
    d = split()
    xs, ys = windows(d["x"][:N_TRAIN], d["y"][:N_TRAIN])
    results: dict[str, list] = {k: [] for k in MODELS}
    trained = {}
    for seed in range(a.seeds):
        for kind in MODELS:
            model = make_model(kind, a.hidden, seed)
            secs = train(model, xs, ys, a.epochs, a.lr, f"{kind} seed {seed}")
            r = evaluate(model, d)
            r["time"] = secs
            results[kind].append(r)
            if seed == 0:
                trained[kind] = model
    a.out.mkdir(parents=True, exist_ok=True)
    md = table(results)
    head = (f"Mackey-Glass tau=17, one-step-ahead, {N_TRAIN} train / {N_TEST} test points, hidden={a.hidden}, "
            f"epochs={a.epochs}, seeds={a.seeds}")
    print(head)
    print()
    print(md)
    png = plot(results, a.out)
    (a.out / "results.md").write_text(head + "\n\n" + md + "\n")
    (a.out / "results.json").write_text(json.dumps(
        {k: [{m: r[m] for m in ("nrmse", "smape", "activity", "time")} for r in rs] for k, rs in results.items()}, indent=1))
    print(f"\nwrote {a.out / 'results.md'}, {png}")
    if not a.no_compile:
        print()
        for line in compile_and_compare(trained["MTC"], d):
            print(line)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
