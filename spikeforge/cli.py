"""The ``spikeforge`` command line.

Exit codes: 0 success, 1 verification mismatch, 2 bad input (one line on stderr, no
traceback, nothing written).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

EXIT_OK, EXIT_MISMATCH, EXIT_BAD_INPUT = 0, 1, 2


class BadInput(Exception):
    """Raised inside commands for a bad argument; printed as one line, exit 2."""


def _atomic_save_npy(path: Path, arr: np.ndarray) -> None:
    from spikeforge.compiler.fsutil import atomic_path

    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, arr)


def _load_npy(path: str) -> np.ndarray:
    p = Path(path)
    if not p.exists():
        raise BadInput(f"{p}: no such file")
    try:
        return np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise BadInput(f"{p}: not a readable .npy array ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None


def cmd_compile(a: argparse.Namespace) -> int:
    import spikeforge as sf
    from spikeforge.compiler.targets import get_target

    t = get_target(a.target)
    calib = _load_npy(a.calibration) if a.calibration else None
    if not t.integer and (calib is not None or a.input_exp is not None or a.input_bits is not None or a.allow_saturation):
        raise BadInput(f"--calibration, --input-exp, --input-bits and --allow-saturation apply to integer targets only, not '{t.name}'")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prog = sf.compile(
            a.model, target=t, dt=a.dt, method=a.method, calibration=calib, input_exp=a.input_exp,
            input_bits=a.input_bits, allow_saturation=a.allow_saturation,
        )
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    if a.backend == "lava":
        from spikeforge.backends.lava.emit import write_artifact

        if not t.integer:
            raise BadInput(f"--backend lava emits integer programs; use an integer --target (e.g. loihi2), not '{t.name}'")
        out = write_artifact(prog, a.output)
    else:
        prog.save(a.output)
        out = a.output
    if not a.quiet:
        print(prog.summary())
        if t.integer:
            print(sf.range_report(prog))
        if a.backend == "lava":
            print(f"wrote the Lava network folder {out} (network.py: build_network/run; README.md)")
        else:
            print(f"wrote {out}")
    return EXIT_OK


def cmd_run(a: argparse.Namespace) -> int:
    import spikeforge as sf

    prog = sf.Program.load(a.program)
    x = _load_npy(a.input)
    t0 = time.perf_counter()
    tr = sf.run(prog, x, backend=a.backend, probes=a.probe or [])
    dt = time.perf_counter() - t0
    T, B = tr.output.shape[:2]
    print(f"ran {a.program} on '{a.backend}': T={T} B={B} in {dt:.3f} s ({tr.hw_steps} hardware steps)")
    print(f"output {tr.output.shape}: mean {tr.output.mean():.4g}, sum {tr.output.sum():.6g}")
    for name, v in tr.probes.items():
        print(f"probe {name} {v.shape}: mean {v.mean():.4g}")
    if a.output:
        _atomic_save_npy(Path(a.output), tr.output)
        print(f"wrote {a.output}")
    return EXIT_OK


def _backend_list(text: str) -> list[str]:
    from spikeforge.backends import available

    names = [b.strip() for b in text.split(",") if b.strip()]
    for b in names:
        if b not in available():
            raise BadInput(f"unknown backend '{b}' in --backends; available: {', '.join(available())}")
    if len(names) < 2:
        raise BadInput(f"--backends needs at least two comma-separated backends to compare, got '{text}'; available: {', '.join(available())}")
    return names


def cmd_verify(a: argparse.Namespace) -> int:
    import spikeforge as sf
    from spikeforge.backends.reference.runtime import is_integer_program

    backends = _backend_list(a.backends)
    prog = sf.Program.load(a.program)
    x = _load_npy(a.input)
    want = tuple(prog.input_shape)
    if x.ndim != 2 + len(want) or tuple(x.shape[2:]) != want:
        raise BadInput(f"{a.input}: input has shape {x.shape}; {a.program} expects (T, B, {', '.join(map(str, want))})")
    if not np.issubdtype(x.dtype, np.number) or not np.all(np.isfinite(x)):
        raise BadInput(f"{a.input}: input must hold finite numbers (dtype {x.dtype})")
    if a.samples is not None and not 1 <= a.samples <= x.shape[1]:
        raise BadInput(f"--samples {a.samples}: {a.input} holds {x.shape[1]} samples (axis 1); use 1..{x.shape[1]}")
    n = x.shape[1] if a.samples is None else a.samples
    if a.sample is not None and not 0 <= a.sample < n:
        raise BadInput(f"--sample {a.sample}: the verified samples are 0..{n - 1}")
    if a.batch is not None and a.batch < 1:
        raise BadInput(f"--batch {a.batch}: must be a positive number of samples")
    for p in a.probe or []:
        if p not in prog.graph.nodes:
            raise BadInput(f"--probe '{p}' names no node of {a.program}; nodes: {', '.join(prog.graph.nodes)}")
    exact = is_integer_program(prog) if a.exact is None else a.exact
    rep = sf.verify(
        prog, x, backends=backends, probes=a.probe or None, exact=exact, atol=a.atol, spike_tolerance=a.spike_tolerance,
        samples=a.samples, batch=a.batch, progress=not a.quiet,
    )
    print(rep.summary())
    for b, tr in rep.traces.items():
        for msg, c in tr.warnings.items():
            print(f"warning ({b}): {msg} x{c}", file=sys.stderr)
    if a.output:
        from spikeforge.backends.verify_io import write_traces
        from spikeforge.backends.verify_plot import plot_raster

        out = Path(a.output)
        files = write_traces(out, prog, rep.traces)
        s0, n = plot_raster(rep, prog, out / "raster.png", sample=a.sample)
        rep.to_json(out / "verify.json")
        print(f"wrote {', '.join(str(f) for f in files.values())} (NIR graph data), {out / 'raster.png'} "
              f"(sample{'s' if n > 1 else ''} {s0}{f'..{s0 + n - 1}' if n > 1 else ''}), {out / 'verify.json'}")
    return EXIT_OK if rep.ok else EXIT_MISMATCH


def cmd_demo(a: argparse.Namespace) -> int:
    from spikeforge.demo import run_demo

    if a.samples < 1:
        raise BadInput(f"--samples {a.samples}: run at least one digit (1..360)")
    if a.verify_samples is not None and not 1 <= a.verify_samples <= a.samples:
        raise BadInput(f"--verify-samples {a.verify_samples}: use 1..{a.samples} (the digits run on the reference)")
    backends = _backend_list(a.backends)
    return run_demo(out_dir=a.out, n_samples=a.samples, backends=tuple(backends), verify_samples=a.verify_samples)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="spikeforge",
        description="Compile spiking neural networks (NIR graphs) to discrete-time programs and run them.",
        epilog="Exit codes: 0 ok, 1 verification mismatch, 2 bad input.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from spikeforge.compiler.targets import TARGETS

    c = sub.add_parser(
        "compile",
        help="compile a .nir file into a program (.h5)",
        description="Compile a NIR graph (.nir, any producer) into a spikeforge Program (HDF5). "
        "Integer targets quantize it to the integer program of docs/integer.md and print its range analysis.",
        epilog="targets: " + "; ".join(f"{k}: {t.description}" for k, t in TARGETS.items())
        + ". Example: spikeforge compile model.nir --target loihi2 --calibration x.npy -o prog.h5",
    )
    c.add_argument("model", help="input NIR file (.nir, HDF5)")
    c.add_argument("-o", "--output", required=True, help="output program file (.h5), or with --backend lava the folder to write")
    c.add_argument(
        "--backend", choices=("program", "lava"), default="program",
        help="what to write: the spikeforge program (default), or 'lava': a self-contained folder with the Lava network "
        "(network.py with build_network(), the integer program, a README) that runs with numpy and lava-nc alone",
    )
    c.add_argument("--target", default="float", metavar="TARGET", help=f"compilation target: {', '.join(TARGETS)} (default: float)")
    c.add_argument(
        "--calibration", metavar="X.npy",
        help="integer targets: representative inputs (T, B, *input_shape) for the input grid, the range analysis and post-training quantization",
    )
    c.add_argument("--input-exp", type=int, metavar="E", help="integer targets: input exponent, real input = integer * 2^E (default: the graph's spikeforge.input_exp, else from --calibration)")
    c.add_argument("--input-bits", type=int, metavar="BITS", help="integer targets: input width in bits (default: the graph's spikeforge.input_bits, else 8)")
    c.add_argument(
        "--allow-saturation", action="store_true",
        help="integer targets: values beyond their bit widths become counted warnings (clipped/saturated) instead of errors",
    )
    c.add_argument("--dt", type=float, default=None, help="time step in the graph's time unit; default: the graph's spikeforge.dt metadata, else 1e-3")
    c.add_argument("--method", choices=("exact", "euler"), default=None, help="discretization: exact exponential (default) or forward Euler (snnTorch exports)")
    c.add_argument("-q", "--quiet", action="store_true", help="do not print the program summary")
    c.set_defaults(fn=cmd_compile)

    r = sub.add_parser("run", help="run a compiled program on a backend", description="Run a Program on an input array shaped (T, B, *input_shape) saved as .npy.")
    r.add_argument("program", help="program file written by 'spikeforge compile'")
    r.add_argument("--input", required=True, help="input array (.npy), shape (T, B, *input_shape)")
    r.add_argument("--backend", default="reference", help="backend (default: reference)")
    r.add_argument("--probe", action="append", metavar="NODE", help="also report this node (repeatable)")
    r.add_argument("-o", "--output", help="write the output trace (T, B, ...) to this .npy file")
    r.set_defaults(fn=cmd_run)

    v = sub.add_parser(
        "verify",
        help="run a program on several backends and compare every layer at every step",
        description="Run a compiled program on every chosen backend, compare every probed layer (default: every neuron layer "
        "and the output) at every step in model time, and print the agreement per backend pair and layer and the first "
        "divergence (sample, layer, neuron, step, each backend's value, the reference's membrane). Integer programs are "
        "compared exactly, float programs within --atol.",
        epilog="Exit codes: 0 all backends agree, 1 mismatch, 2 bad input. "
        "Example: spikeforge verify prog.h5 --input x.npy --backends reference,lava,brian2 -o out/verify",
    )
    v.add_argument("program", help="program file written by 'spikeforge compile'")
    v.add_argument("--input", required=True, metavar="X.npy", help="input array (.npy), shape (T, B, *input_shape)")
    v.add_argument("--backends", default="reference,lava,brian2", help="comma-separated backends to compare (default: reference,lava,brian2)")
    v.add_argument("--samples", type=int, metavar="N", help="verify the first N samples of the input (default: all)")
    v.add_argument("--batch", type=int, metavar="B", help="samples per backend run (default: all in one run)")
    v.add_argument("--probe", action="append", metavar="NODE", help="compare this node (repeatable; default: every neuron layer); the output is always compared")
    v.add_argument("--atol", type=float, default=1e-6, help="tolerance mode: absolute tolerance on non-spiking values (default: 1e-6)")
    v.add_argument("--spike-tolerance", type=float, default=0.0, metavar="F", help="tolerance mode: fraction of spikes allowed to differ (default: 0)")
    mode = v.add_mutually_exclusive_group()
    mode.add_argument("--exact", dest="exact", action="store_const", const=True, default=None, help="compare exactly (default for integer programs)")
    mode.add_argument("--tolerance", dest="exact", action="store_const", const=False, help="compare within --atol / --spike-tolerance (default for float programs)")
    v.add_argument("-o", "--output", metavar="OUTDIR", help="write traces_<backend>.h5 (NIR graph data), raster.png and verify.json here")
    v.add_argument("--sample", type=int, metavar="S", help="sample drawn in the raster (default: the first divergence's, else 0)")
    v.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    v.set_defaults(fn=cmd_verify)

    from spikeforge import cli_energy

    cli_energy.add_parser(sub)

    d = sub.add_parser(
        "demo", help="compile the bundled model, run and verify it on every backend, estimate energy, print a summary",
        description="Compile the bundled NASN digits model for loihi2, run it on held-out 8x8 digits on the reference (checked "
        "against the torch integer-train forward), verify reference == Lava == Brian2 digital on every layer at every step, "
        "map it onto Loihi 2 cores, estimate its energy, print a summary table and write a report folder (summary.md with plots).",
        epilog="Exit codes: 0 everything agrees, 1 a backend or the torch forward disagrees, 2 bad input (or, under CI=true, no Lava environment).",
    )
    d.add_argument("--out", default="out/demo", help="report folder (default: out/demo)")
    d.add_argument("--samples", type=int, default=360, help="number of test digits to run (default: 360, all held-out digits)")
    d.add_argument("--verify-samples", type=int, default=None, metavar="N", help="digits verified on every backend (default: all --samples)")
    d.add_argument("--backends", default="reference,lava,brian2", help="backends to verify against each other (default: reference,lava,brian2)")
    d.set_defaults(fn=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``spikeforge`` command."""
    args = build_parser().parse_args(argv)
    from spikeforge.compiler.errors import SpikeforgeError

    try:
        return int(args.fn(args))
    except (SpikeforgeError, BadInput) as e:
        print(f"spikeforge {args.command}: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (FileNotFoundError, IsADirectoryError, PermissionError) as e:
        print(f"spikeforge {args.command}: error: {e.filename}: {e.strerror}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
