"""``sf.run(prog, x, backend="lava")``: run a Program in Lava through a ``.venv-lava`` worker.

The main environment has no Lava (lava-nc 0.10 installs on Python 3.10 only), so the runner
emits the Program's Lava folder (:mod:`.emit`) into a temporary directory, writes the
quantized inputs there, starts the worker once for the whole batch (``network.py`` in
``.venv-lava``; samples run one after another in one Lava run, states reset between them)
and reads the probes back. The temporary directory is always removed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterable

import numpy as np

from spikeforge.compiler.errors import InputError, SpikeforgeError
from spikeforge.compiler.ir import NEURON_OPS

from ..trace import Trace

#: Repository root (an editable install keeps the worker environment there).
ROOT = Path(__file__).resolve().parents[2]
#: Seconds a worker may run before it is stopped (per call; ``timeout=`` overrides).
DEFAULT_TIMEOUT = 1800.0


def lava_python() -> Path:
    """The worker interpreter: ``$SPIKEFORGE_LAVA_VENV/bin/python`` or ``<repo>/.venv-lava/bin/python``.

    Raises:
        SpikeforgeError: No worker environment (with how to make it).
    """
    venv = Path(os.environ.get("SPIKEFORGE_LAVA_VENV", ROOT / ".venv-lava"))
    py = venv / "bin" / "python"
    if not py.exists():
        raise SpikeforgeError(
            f"the Lava backend needs its worker environment {venv} (Python 3.10 + lava-nc 0.10), which does not exist: "
            "run `make lava` (or `bash scripts/setup_lava.sh`; it finds Python 3.10 on PATH, via pyenv, or from SPIKEFORGE_LAVA_PYTHON), "
            "or point SPIKEFORGE_LAVA_VENV at an existing one"
        )
    return py


def _tail(text: str, n: int = 15) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join(lines[-n:])


def run_worker(folder: Path, x_int: np.ndarray, probes: list[str], timeout: float, tag: str = "") -> dict:
    """Run ``network.py`` of an emitted folder in the worker environment on ``x_int``.

    Returns:
        ``{"probes": {name: (T, B, n)}, "counts": {name: (2,)}, "seconds": float, "wall": float}``.

    Raises:
        SpikeforgeError: Worker missing, crashed (its last stderr lines) or timed out.
    """
    py = lava_python()
    inp, out = folder / "in.npz", folder / "out.npz"
    np.savez(inp, x_int=x_int)
    cmd = [str(py), str(folder / "network.py"), "--input", str(inp), "--output", str(out), "--probes", ",".join(probes), "--tag", tag]
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    t0 = time.perf_counter()
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=folder)
    except subprocess.TimeoutExpired as e:
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        raise SpikeforgeError(f"Lava worker timed out after {timeout:g} s; its last stderr lines:\n{_tail(err) or '(none)'}") from None
    wall = time.perf_counter() - t0
    if res.returncode != 0 or not out.exists():
        raise SpikeforgeError(f"Lava worker failed (exit code {res.returncode}); its last stderr lines:\n{_tail(res.stderr) or '(none)'}")
    with np.load(out) as z:
        probes_out = {k[len("probe/") :]: z[k] for k in z.files if k.startswith("probe/")}
        counts = {k[len("count/") :]: z[k] for k in z.files if k.startswith("count/")}
        seconds = float(z["seconds"])
    return {"probes": probes_out, "counts": counts, "seconds": seconds, "wall": wall}


def run_lava(
    prog,
    x,
    probes: Iterable[str] = (),
    realization: str | None = None,
    native_lif: bool = True,
    native_conv: bool = True,
    timeout: float | None = None,
    keep: str | os.PathLike | None = None,
) -> Trace:
    """Run a program in Lava: integer programs in the bit-accurate simulator (``fixed_pt``),
    float programs with Lava's ``floating_pt`` models (equal to the float reference up to float
    rounding, see ``docs/lava.md``).

    Args:
        prog: A :class:`~spikeforge.compiler.Program` (``target="loihi2*"`` or ``"float"``).
        x: Input ``(T, B, *input_shape)`` (real values; quantized by the input node as the
            reference does, clipped values counted in ``Trace.warnings``).
        probes: Neuron (or input) node names whose raw model-time values to return.
        realization: ``"graded"`` (one payload per graded spike) or ``"binary"`` (``D``
            binary spikes on parallel axons); default: the Program's.
        native_lif: Use Lava's own ``LIFReset`` model where a layer fits it.
        native_conv: Use Lava's ``Conv`` where a convolution fits it.
        timeout: Seconds before the worker is stopped (default :data:`DEFAULT_TIMEOUT`).
        keep: Also copy the emitted folder (with inputs and outputs) to this path.

    Returns:
        The :class:`~spikeforge.backends.Trace` (``backend="lava"``). Overflow counts cover
        spikeforge's processes (Lava's own LIF wraps as the chip does, uncounted; the
        compiler's range analysis bounds it). :func:`run_lava_timed` also gives the timings.

    Raises:
        InputError: Bad input shape or values, a probe Lava cannot give.
        SpikeforgeError: Not an integer program, unsupported op, worker missing or failed.
    """
    tr, _ = run_lava_timed(prog, x, probes, realization, native_lif, timeout, keep, native_conv)
    return tr


def run_lava_timed(prog, x, probes=(), realization=None, native_lif=True, timeout=None, keep=None, native_conv=True) -> tuple[Trace, dict]:
    """:func:`run_lava`, also returning ``{"seconds": Lava run time, "wall": worker wall time}``."""
    from spikeforge.backends.dequantize import output_sources, real_output
    from spikeforge.backends.reference.ops import clipped_input_warning, overflow_warnings, quantize_input
    from spikeforge.backends.reference.runtime import _check_input, _input_attrs, is_integer_program

    from .emit import write_artifact

    x = _check_input(prog, x)
    probes = list(probes)
    g = prog.graph
    for p in probes:
        if p not in g.nodes:
            raise InputError(f"probe '{p}' names no node; nodes: {', '.join(g.nodes)}")
        if g.nodes[p].op not in NEURON_OPS and g.nodes[p].op != "input":
            raise InputError(f"probe '{p}' ({g.nodes[p].op}): the Lava backend records neuron layers and the input only")
    T, B = x.shape[:2]
    integer = is_integer_program(prog)
    if integer:
        exp, bits, signed = _input_attrs(prog)
        x_int = np.zeros(x.shape, np.int64)
        _, clipped = quantize_input(x, exp, bits, signed, out=x_int)
    else:  # float programs run Lava's floating_pt models on the real input
        x_int, clipped = x, 0
    wanted = sorted({p for p in probes if g.nodes[p].op in NEURON_OPS} | set(output_sources(prog)))
    tmp = Path(tempfile.mkdtemp(prefix="spikeforge-lava-"))
    try:
        folder = write_artifact(prog, tmp / "net", realization, native_lif, native_conv, include_program=keep is not None)
        res = run_worker(folder, x_int.reshape(T, B, -1), wanted, timeout or DEFAULT_TIMEOUT)
        if keep is not None:
            dst = Path(keep)
            if dst.exists():
                shutil.rmtree(dst)
            shutil.copytree(folder, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    raw = {}
    for name in wanted:
        shape = tuple(g.nodes[name].out_shape or ())
        raw[name] = res["probes"][name].reshape((T, B) + shape)
    out = {p: (x_int if g.nodes[p].op == "input" else raw[p]) for p in probes}
    warnings = clipped_input_warning(prog, clipped)
    for name, c in res["counts"].items():
        warnings.update(overflow_warnings(name, c[0], c[1]))
    tr = Trace(
        output=real_output(prog, raw, x_int),
        probes=out,
        backend="lava",
        hw_steps=T + prog.max_depth,
        depths={p: prog.depths[p] for p in [*probes, prog.output_name]},
        warnings=warnings,
    )
    return tr, {"seconds": res["seconds"], "wall": res["wall"]}


__all__ = ["DEFAULT_TIMEOUT", "lava_python", "run_lava", "run_lava_timed", "run_worker"]
