"""Train the bundled default model of ``spikeforge demo`` and write it as NIR.

A 64-128-10 network (LIF hidden layer, leaky-integrator readout) on scikit-learn's bundled
8x8 digits (no download), constant-current input for T=8 steps, surrogate-gradient BPTT.
Writes ``spikeforge/data/lif_digits.nir`` and ``lif_digits.json`` (training record, input
encoding, held-out torch accuracy that the demo checks the compiled program against).

Usage::

    .venv/bin/python examples/train_default_model.py [--epochs 40] [--out spikeforge/data]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

import spikeforge as sf
from spikeforge.demo import digits_split, encode
from spikeforge.models import LI, LIF

T = 8
SPLIT_SEED = 0
N_TEST = 360


def build() -> nn.Module:
    """The default architecture."""
    return nn.Sequential(
        nn.Linear(64, 128),
        LIF(beta=0.9, threshold=1.0, reset="subtract", surrogate="atan"),
        nn.Linear(128, 10),
        LI(beta=0.9),
    )


def accuracy(net: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    """Held-out accuracy of the torch module (readout summed over time, argmax)."""
    with torch.no_grad():
        out = net(torch.from_numpy(encode(x, T)))
    return float((out.sum(0).argmax(-1).numpy() == y).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "spikeforge" / "data"))
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    xtr, ytr, xte, yte = digits_split(SPLIT_SEED, N_TEST)
    net = build().double()
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    xs, ys = torch.from_numpy(encode(xtr, T)), torch.from_numpy(ytr)
    t0 = time.perf_counter()
    for ep in range(a.epochs):
        perm = torch.randperm(len(ys))
        for i in range(0, len(ys), 64):
            b = perm[i : i + 64]
            loss = nn.functional.cross_entropy(net(xs[:, b]).sum(0), ys[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if ep % 10 == 9 or ep == a.epochs - 1:
            print(f"epoch {ep + 1}: loss {loss.item():.3f}, held-out accuracy {accuracy(net, xte, yte):.4f}")
    net.eval()
    acc = accuracy(net, xte, yte)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    graph = sf.trace(net, torch.from_numpy(encode(xte[:2], T)), dt=1e-3)
    sf.save_nir(graph, out / "lif_digits.nir")
    info = {
        "architecture": "Linear(64,128) - LIF(beta=0.9, th=1, subtract) - Linear(128,10) - LI(beta=0.9)",
        "T": T,
        "encoding": "constant current: pixel/16 at every step",
        "readout": "argmax over classes of the LI membrane summed over time",
        "split_seed": SPLIT_SEED,
        "n_test": N_TEST,
        "epochs": a.epochs,
        "train_seconds": round(time.perf_counter() - t0, 1),
        "torch_test_accuracy": acc,
        "dtype": "float64",
    }
    (out / "lif_digits.json").write_text(json.dumps(info, indent=2) + "\n")
    print(f"held-out accuracy {acc:.4f}; wrote {out / 'lif_digits.nir'}")


if __name__ == "__main__":
    main()
