"""NASN vs LIF on the 8x8 digits: float, integer-train and compiled integer program.

Trains, on scikit-learn's bundled 8x8 digits (no download):

* a NASN network (MODELS.md §1: T=1, D=4) and
* a LIF baseline (T=4, Loihi's reset to zero),

each first in float, then fine-tuned in the integer-train form (8-bit input, 8-bit weights
with power-of-two exponents, membranes on the integer grid), then compiled with
``sf.compile(..., target="loihi2")`` and run on the integer reference backend. It prints one
table: float accuracy, integer-train accuracy, integer reference accuracy (which must equal the
integer-train figure exactly: the script checks that every readout value is identical) and
spikes per sample. With ``--bundle`` it also writes the NASN checkpoint that ``spikeforge demo``
ships (a state dict, loaded with ``weights_only=True``).

Usage::

    .venv/bin/python examples/asn_digits.py [--seed 0] [--bundle] [--out out/asn_digits]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

import spikeforge as sf
from spikeforge.demo import digits_split, encode
from spikeforge.models.zoo import DIGITS, digits_net

SPLIT_SEED = 0
N_TEST = 360
DATA = Path(__file__).resolve().parents[1] / "spikeforge" / "data"


def train(net: nn.Module, x: np.ndarray, y: np.ndarray, T: int, epochs: int, lr: float, desc: str, seed: int) -> float:
    """Adam on the cross-entropy of the readout summed over time; returns the wall time."""
    t0 = time.perf_counter()
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    xs, ys = torch.from_numpy(encode(x, T)).float(), torch.from_numpy(y)
    for _ in tqdm(range(epochs), desc=desc, unit="epoch", leave=False):
        net.train()
        for idx in torch.randperm(len(ys), generator=g).split(64):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(net(xs[:, idx]).sum(0), ys[idx])
            loss.backward()
            opt.step()
        sched.step()
    net.eval()
    return time.perf_counter() - t0


@torch.no_grad()
def torch_readout(net: nn.Module, x: np.ndarray, T: int) -> np.ndarray:
    """The module's readout ``(T, B, 10)`` as float64."""
    return net(torch.from_numpy(encode(x, T)).float()).double().numpy()


def copy_float_into_qat(f: nn.Sequential, q: nn.Sequential) -> None:
    """Start the integer-train model from the float one (same layers, plus the input quantizer)."""
    for i, layer in enumerate(f):
        q[i + 1].load_state_dict(layer.state_dict(), strict=True)


def run_kind(kind: str, xtr, ytr, xte, yte, seed: int, epochs: int, qat_epochs: int) -> tuple[dict, nn.Module, object]:
    T = DIGITS[kind]["T"]
    torch.manual_seed(seed)
    f = digits_net(kind, qat=False)
    t_float = train(f, xtr, ytr, T, epochs, 5e-3, f"{kind}: float", seed)
    acc_float = float((torch_readout(f, xte, T).sum(0).argmax(-1) == yte).mean())

    q = digits_net(kind, qat=True)
    copy_float_into_qat(f, q)
    t_qat = train(q, xtr, ytr, T, qat_epochs, 1e-3, f"{kind}: integer-train", seed + 1)
    out_q = torch_readout(q, xte, T)
    acc_q = float((out_q.sum(0).argmax(-1) == yte).mean())

    t0 = time.perf_counter()
    graph = sf.trace(q, torch.from_numpy(encode(xtr[:1], T)).float())
    prog = sf.compile(graph, target="loihi2", calibration=encode(xtr[:256], T))
    t_compile = time.perf_counter() - t0
    hidden = [k for k, n in prog.graph.nodes.items() if n.op in ("int_asn", "int_lif")]
    tr = sf.run(prog, encode(xte, T), backend="reference", probes=hidden)
    acc_int = float((tr.output.sum(0).argmax(-1) == yte).mean())
    identical = bool(tr.output.shape == out_q.shape and np.array_equal(tr.output, out_q))
    spikes = sum(float(tr.probes[h].sum()) for h in hidden) / len(yte)
    events = sum(float(np.count_nonzero(tr.probes[h])) for h in hidden) / len(yte)
    row = {
        "model": "NASN (T=1, D=4)" if kind == "nasn" else "LIF (T=4)",
        "float": acc_float,
        "integer-train": acc_q,
        "integer reference": acc_int,
        "readouts identical": identical,
        "spikes/sample": spikes,
        "spike messages/sample": events,
        "train s": t_float + t_qat,
        "compile s": t_compile,
        "warnings": dict(tr.warnings),
    }
    return row, q, prog


def table(rows: list[dict]) -> str:
    head = "| model | float acc | integer-train acc | integer reference acc | readouts identical | spikes/sample | spike messages/sample |"
    lines = [head, "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['float']:.4f} | {r['integer-train']:.4f} | {r['integer reference']:.4f} | "
            f"{'yes' if r['readouts identical'] else 'NO'} | {r['spikes/sample']:.1f} | {r['spike messages/sample']:.1f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Train NASN (T=1, D=4) and LIF (T=4) on the 8x8 digits, compile for loihi2, compare.")
    ap.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    ap.add_argument("--epochs", type=int, default=40, help="float training epochs (default 40)")
    ap.add_argument("--qat-epochs", type=int, default=15, help="integer-train fine-tuning epochs (default 15)")
    ap.add_argument("--out", default="out/asn_digits", help="folder for the table and programs (default out/asn_digits)")
    ap.add_argument("--bundle", action="store_true", help=f"also write the NASN checkpoint shipped with the demo to {DATA}")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    xtr, ytr, xte, yte = digits_split(SPLIT_SEED, N_TEST)
    rows, models = [], {}
    for kind in ("nasn", "lif"):
        row, q, prog = run_kind(kind, xtr, ytr, xte, yte, a.seed, a.epochs, a.qat_epochs)
        rows.append(row)
        models[kind] = (q, prog, row)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for kind, (_, prog, _) in models.items():
        prog.save(out / f"{kind}_digits.h5")
    text = table(rows)
    (out / "results.md").write_text(text + "\n")
    (out / "results.json").write_text(json.dumps(rows, indent=2))
    print(text)
    for r in rows:
        if r["warnings"]:
            print(f"{r['model']}: run warnings {r['warnings']}")
    print(f"\nwall time {time.perf_counter() - t0:.1f} s; programs and table in {out}")
    if a.bundle:
        q, prog, row = models["nasn"]
        torch.save(q.state_dict(), DATA / "nasn_digits.pt")
        info = {
            "architecture": "QuantInput(exp=-4) - QuantLinear(64,128) - NASN(D=4) - QuantLinear(128,10) - LI(beta=0.9)",
            "builder": "spikeforge.models.zoo.digits_net('nasn', qat=True)",
            "T": DIGITS["nasn"]["T"],
            "encoding": "pixel/16 at every step (exact on the 2^-4 input grid)",
            "readout": "argmax over classes of the LI membrane summed over time",
            "split_seed": SPLIT_SEED,
            "n_test": N_TEST,
            "seed": a.seed,
            "float_test_accuracy": row["float"],
            "integer_train_test_accuracy": row["integer-train"],
        }
        (DATA / "nasn_digits.json").write_text(json.dumps(info, indent=2) + "\n")
        print(f"bundled checkpoint written to {DATA / 'nasn_digits.pt'}")
    ok = all(r["readouts identical"] and r["integer-train"] == r["integer reference"] for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
