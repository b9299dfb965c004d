"""``spikeforge demo``: the bundled NASN digits model, compiled for Loihi 2 and run end to end.

The bundled model is the integer-train NASN network of ``examples/asn_digits.py``
(64-128-10: 8-bit input, NASN hidden layer with T=1, D=4, leaky-integrator readout) trained on
scikit-learn's 8x8 digits. It ships as a state dict (``spikeforge/data/nasn_digits.pt``, loaded
with ``torch.load(..., weights_only=True)``) with ``nasn_digits.json`` (how it was trained, the
input encoding, its accuracies at training). The demo rebuilds the module, traces it to NIR,
compiles it for ``loihi2``, runs the integer reference backend on the held-out digits, checks
that every readout equals the torch integer-train forward bit for bit, verifies reference ==
Lava (``fixed_pt``) == Brian2 digital on every layer at every step (``sf.verify``, exact),
maps it onto Loihi 2 cores and estimates its energy (``sf.energy``), and writes a report
folder: ``summary.md`` linking the plots (graded spikes, the side-by-side raster, energy bars,
core utilisation), ``verify.json``, ``energy.json``, ``mapping.md`` and the traces of every
backend in NIR's data format. A missing Lava worker environment is one counted warning (the
other backends still run) unless ``CI=true``, where it is an error.

The float LIF model of the foundation issue (``lif_digits.nir``) is still bundled: it is the
post-training-quantization test case.
"""

from __future__ import annotations

import json
import os
import sys
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


def _lava_missing() -> str | None:
    """Why the Lava backend cannot run here, or ``None`` when its worker environment exists."""
    from spikeforge.backends.lava.runner import lava_python
    from spikeforge.compiler.errors import SpikeforgeError

    try:
        lava_python()
    except SpikeforgeError as e:
        return str(e)
    return None


def _stage(i: int, n: int, text: str) -> None:
    print(f"[{i}/{n}] {text}", file=sys.stderr, flush=True)


def run_demo(out_dir: str | os.PathLike = "out/demo", n_samples: int = 360, batch: int = 120,
             backends: tuple[str, ...] = ("reference", "lava", "brian2"), verify_samples: int | None = None) -> int:
    """Compile and run the bundled model on every backend, verify, map, estimate energy; print a summary and write a report.

    Args:
        out_dir: Report folder.
        n_samples: How many held-out digits to run on the reference backend (at most 360).
        batch: Samples per reference run.
        backends: Backends to verify against each other (the first is the reference).
        verify_samples: How many of those digits to verify on every backend (default: all).

    Returns:
        Exit code: 0 when the compiled program reproduces the integer-train forward exactly and
        every backend agrees on every layer; 1 otherwise.

    Raises:
        SpikeforgeError: The Lava worker environment is missing under ``CI=true``; bad
            sample counts or backend names.
    """
    import torch
    from tqdm import tqdm

    import spikeforge as sf
    from spikeforge.backends import available
    from spikeforge.backends.verify_io import write_traces
    from spikeforge.backends.verify_plot import plot_raster
    from spikeforge.compiler.errors import SpikeforgeError

    backends = tuple(backends)
    for b in backends:
        if b not in available():
            raise SpikeforgeError(f"unknown backend '{b}'; available: {', '.join(available())}")
    if n_samples < 1:
        raise SpikeforgeError(f"samples={n_samples}: run at least one digit")
    demo_warnings: list[str] = []
    if "lava" in backends:
        why = _lava_missing()
        if why is not None:
            if os.environ.get("CI") == "true":
                raise SpikeforgeError(f"CI=true and {why}")
            demo_warnings.append("Lava backend skipped: its worker environment .venv-lava is missing (run `make lava`)")
            print(f"warning: {demo_warnings[-1]}", file=sys.stderr)
            backends = tuple(b for b in backends if b != "lava")
    if len(backends) < 2:
        raise SpikeforgeError(f"the demo verifies at least two backends; left to run: {', '.join(backends) or 'none'}")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stages = 5
    _stage(1, stages, "trace and compile the bundled NASN digits model for loihi2")
    net, info = load_model()
    T = int(info["T"])
    xtr, _, xt, yt = digits_split(info["split_seed"], info["n_test"])
    n = min(int(n_samples), len(yt))
    xt, yt = xt[:n], yt[:n]
    nv = n if verify_samples is None else int(verify_samples)
    if not 1 <= nv <= n:
        raise SpikeforgeError(f"verify_samples={verify_samples}: use 1..{n} (the digits run on the reference)")

    t0 = time.perf_counter()
    graph = sf.trace(net, torch.from_numpy(encode(xtr[:1], T)).float())
    prog = sf.compile(graph, target="loihi2", calibration=encode(xtr[:256], T))
    prog.save(out / "program.h5")
    t_compile = time.perf_counter() - t0

    _stage(2, stages, f"integer reference backend on {n} held-out digits, checked against the torch integer-train forward")
    with torch.no_grad():
        torch_out = net(torch.from_numpy(encode(xt, T)).float()).double().numpy()
    probes = sf.activity_probes(prog)
    hidden = [k for k, v in prog.graph.nodes.items() if v.op in ("int_asn", "int_lif")]
    parts = []
    t1 = time.perf_counter()
    for i in tqdm(range(0, n, batch), desc="reference", unit="batch", leave=False):
        parts.append(sf.run(prog, encode(xt[i : i + batch], T), backend="reference", probes=probes))
    t_run = time.perf_counter() - t1
    from spikeforge.backends.verify import concat_traces

    ref = concat_traces(parts)
    output = ref.output
    e_hidden = np.concatenate([ref.probes[h].reshape(T, n, -1) for h in hidden], axis=-1)
    acc = float((output.sum(0).argmax(-1) == yt).mean())
    acc_torch = float((torch_out.sum(0).argmax(-1) == yt).mean())
    identical = bool(np.array_equal(output, torch_out))
    D = int(next(v for v in prog.graph.nodes.values() if v.op == "int_asn").attrs["D"])

    _stage(3, stages, f"verify {' == '.join(backends)} on {nv} digits, every layer, every step (exact)")
    # Brian2's numpy code generation runs this small network as fast as its Cython (measured:
    # 4.6 s vs 4.9 s on 360 digits) without Cython's first-run build (141 s on 2 cores).
    codegen = os.environ.get("SPIKEFORGE_BRIAN2_CODEGEN", "numpy")
    options = {b: {"codegen": codegen} for b in backends if b == "brian2"}
    rep = sf.verify(prog, encode(xt[:nv], T), backends=backends, exact=True, options=options)
    write_traces(out / "traces", prog, rep.traces)
    rs0, rn = plot_raster(rep, prog, out / "raster.png", min_columns=40)
    rep.to_json(out / "verify.json")

    _stage(4, stages, "map onto Loihi 2 cores and estimate energy from the reference activity")
    en = sf.energy(prog, ref, target="loihi2")
    en.to_json(out / "energy.json")
    en.plot(out / "energy.png")
    en.mapping.plot(out / "mapping.png")
    _atomic_write(out / "mapping.md", en.mapping.table() + "\n")

    _stage(5, stages, f"write the report to {out}")
    warns = dict(ref.warnings)
    for tr in rep.traces.values():
        for k, c in tr.warnings.items():
            warns[f"{tr.backend}: {k}"] = warns.get(f"{tr.backend}: {k}", 0) + c
    ok = identical and rep.ok
    rows = [
        ("model", f"{MODEL.name} ({info['architecture']})"),
        ("program", f"{len(prog.graph.nodes)} nodes, target={prog.target}, realization={prog.graph.metadata.get('realization')}"),
        ("compile time (trace + compile)", f"{t_compile:.2f} s"),
        ("samples", f"{n} held-out digits, T={T}"),
        ("integer reference accuracy", f"{acc:.4f}"),
        ("torch integer-train accuracy", f"{acc_torch:.4f}"),
        ("float accuracy (at training)", f"{info['float_test_accuracy']:.4f}"),
        ("readouts identical (reference == torch)", "yes" if identical else "NO"),
        (f"backends agree ({', '.join(backends)})", f"{'yes' if rep.ok else 'NO'}: every layer, every step, exact, on {nv} digits"
         + ("" if rep.first_divergence is None else f"; first divergence {rep.first_divergence}")),
        ("backend run time (verify)", ", ".join(f"{b} {s:.2f} s" + (f" (codegen {codegen})" if b == "brian2" else "") for b, s in rep.seconds.items())),
        ("cores / chips used (loihi2)", f"{en.mapping.cores_used} cores / {en.mapping.chips_used} chip(s)"),
        ("energy per inference (loihi2)", f"{en.per_inference_joules:.4g} J ({en.dynamic_joules / en.batch:.4g} J dynamic + {en.static_joules / en.batch:.4g} J static)"),
        ("synaptic ops per inference", f"{en.syn_ops / en.batch:.1f} ({en.effective_acs:g} ACs, {en.effective_macs:g} MACs)"),
        ("ANN comparison per inference", f"ANN {en.ann_macs} MACs = {en.ann_joules:.4g} J vs SNN {en.snn_proxy_joules:.4g} J (ops x 45 nm energies)"),
        ("graded spikes per sample (payload sum)", f"{e_hidden.sum() / n:.1f}"),
        ("spike messages per sample", f"{np.count_nonzero(e_hidden) / n:.1f}"),
        ("overflow warnings", "none" if not warns else "; ".join(f"{k} x{c}" for k, c in warns.items())),
        ("demo warnings", "none" if not demo_warnings else f"{len(demo_warnings)}: " + "; ".join(demo_warnings)),
        ("reference run time", f"{t_run:.2f} s ({1e3 * t_run / n:.2f} ms/sample)"),
    ]
    table = "| | |\n|---|---|\n" + "\n".join(f"| {a} | {b} |" for a, b in rows)
    _emission_plot(out / "spikes.png", e_hidden[0], yt, D)
    drawn = f"sample {rs0}" if rn == 1 else f"samples {rs0}..{rs0 + rn - 1}"
    md = [
        "# spikeforge demo", "", table, "",
        f"## Verification: {' vs '.join(backends)}", "",
        "![raster](raster.png)", "",
        f"Side-by-side raster of {drawn} (T={T}; consecutive digits side by side); red circles mark elements that differ "
        "from the first backend. Traces of every backend in NIR's data format: "
        + ", ".join(f"[traces/traces_{b}.h5](traces/traces_{b}.h5)" for b in rep.traces) + "; details: [verify.json](verify.json).", "",
        "```", rep.summary(), "```", "",
        "## Energy (loihi2)", "", "![energy](energy.png)", "", en.table(), "", "Details: [energy.json](energy.json).", "",
        "## Mapping", "", "![mapping](mapping.png)", "", en.mapping.table(), "",
        "## Hidden-layer graded spikes", "", "![graded spikes](spikes.png)", "",
        "## Program", "", "```", prog.summary(), "```", "",
    ]
    _atomic_write(out / "summary.md", "\n".join(md))
    print("\n" + rep.summary())
    print("\nspikeforge demo\n" + table)
    print(f"\nreport: {out / 'summary.md'} (plots: spikes.png, raster.png, energy.png, mapping.png), program: {out / 'program.h5'}")
    if not ok:
        print("demo FAILED: " + ("the reference differs from the torch integer-train forward; " if not identical else "")
              + ("the backends disagree" if not rep.ok else ""), file=sys.stderr)
    return 0 if ok else 1
