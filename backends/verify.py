"""``sf.verify``: run a program on several backends and compare every probed layer, step by step.

Every backend returns its :class:`~spikeforge.backends.Trace` in model time (each layer's
hardware-time depth already removed: that is the timing alignment), so the comparison is
element by element. Integer programs must agree exactly; float programs (Lava
``floating_pt``, Brian2 analog) within ``atol`` on non-spiking values and exactly on spikes
unless ``spike_tolerance`` allows a fraction of spike disagreements.

Samples run in batches (``batch``), one backend after another, under a progress bar. The
traces, saved in NIR's data format, and a raster plot are written by
:mod:`spikeforge.backends.verify_io` and :mod:`spikeforge.backends.verify_plot`.
"""

from __future__ import annotations

import itertools
import json
import os
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from spikeforge.compiler.ir import NEURON_OPS

#: Layer name of the program's (dequantized) output in reports.
OUTPUT = "<output>"


@dataclass
class Divergence:
    """Where backends first disagree (earliest sample, then step, then upstream-most layer).

    Attributes:
        sample: Sample index (batch axis of the verified input).
        node: Layer name (or ``"<output>"``).
        neuron: Index of the element inside the layer.
        step: Model-time step.
        values: Backend name -> its value there (every backend run, not only the pair).
        state: Backend name -> its membrane there (pre-reset, raw integers for integer
            programs), where the backend can record it (the reference backend only).
    """

    sample: int
    node: str
    neuron: tuple[int, ...]
    step: int
    values: dict[str, float]
    state: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        vals = ", ".join(f"{k}={v:g}" for k, v in self.values.items())
        text = f"sample {self.sample}, layer '{self.node}', neuron {self.neuron}, step {self.step}: {vals}"
        if self.state:
            text += " (membrane: " + ", ".join(f"{k}={v:g}" for k, v in self.state.items()) + ")"
        return text

    def to_dict(self) -> dict:
        """JSON-ready record."""
        return {"sample": self.sample, "node": self.node, "neuron": list(self.neuron), "step": self.step, "values": self.values, "state": self.state}


@dataclass
class VerifyReport:
    """Result of :func:`verify`.

    Attributes:
        ok: Whether every pair of backends agrees on every layer.
        backends: The backends run.
        layers: The compared layers (neuron nodes, and the output as ``"<output>"``).
        agreement: ``(backend_a, backend_b) -> {layer: fraction of equal elements}``.
        first_divergence: ``None``, or the first disagreement.
        traces: Backend name -> its :class:`~spikeforge.backends.Trace` (all samples).
        exact: Whether the comparison was exact.
        mismatches: ``(backend_a, backend_b) -> {layer: number of unequal elements}``.
        seconds: Backend name -> wall time of its runs (s).
    """

    ok: bool
    backends: tuple[str, ...]
    layers: list[str]
    agreement: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    first_divergence: Divergence | None = None
    traces: dict = field(default_factory=dict, repr=False)
    exact: bool = True
    mismatches: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        """``(T, samples)`` of the verified run."""
        out = next(iter(self.traces.values())).output if self.traces else np.zeros((0, 0))
        return int(out.shape[0]), int(out.shape[1])

    def summary(self) -> str:
        """A text table: agreement per layer (rows) and backend pair (columns), then the first divergence."""
        T, B = self.shape
        verdict = "all layers agree" if self.ok else "MISMATCH"
        lines = [f"verify {' vs '.join(self.backends)} on {B} samples x {T} steps: {verdict} ({'exact' if self.exact else 'tolerance'})"]
        pairs = list(self.agreement)
        heads = [f"{a} = {b}" for a, b in pairs]
        w0 = max([len("layer"), *(len(s) for s in self.layers)])
        ws = [max(len(h), 18) for h in heads]
        lines.append("  " + "layer".ljust(w0) + "".join("  " + h.rjust(w) for h, w in zip(heads, ws)))
        for layer in self.layers:
            cells = []
            for p, w in zip(pairs, ws):
                frac, bad = self.agreement[p].get(layer, 1.0), self.mismatches.get(p, {}).get(layer, 0)
                cells.append("  " + (f"{100 * frac:.4f} %" + (f" ({bad} off)" if bad else "")).rjust(w))
            lines.append("  " + layer.ljust(w0) + "".join(cells))
        if self.first_divergence is not None:
            lines.append(f"  first divergence: {self.first_divergence}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-ready record (no traces)."""
        T, B = self.shape
        return {
            "ok": self.ok,
            "exact": self.exact,
            "backends": list(self.backends),
            "layers": list(self.layers),
            "steps": T,
            "samples": B,
            "agreement": {f"{a} vs {b}": per for (a, b), per in self.agreement.items()},
            "mismatches": {f"{a} vs {b}": per for (a, b), per in self.mismatches.items()},
            "first_divergence": None if self.first_divergence is None else self.first_divergence.to_dict(),
            "warnings": {b: dict(tr.warnings) for b, tr in self.traces.items()},
            "seconds": dict(self.seconds),
        }

    def to_json(self, path: str | os.PathLike) -> None:
        """Write :meth:`to_dict` as JSON (atomically)."""
        from pathlib import Path

        from spikeforge.compiler.fsutil import atomic_path

        with atomic_path(path) as tmp:
            Path(tmp).write_text(json.dumps(self.to_dict(), indent=2) + "\n")


def layer_values(trace, layer: str) -> np.ndarray:
    """A layer's values in a trace: ``trace.output`` for ``"<output>"``, else its probe."""
    return trace.output if layer == OUTPUT else trace.probes[layer]


def concat_traces(parts: list):
    """One trace from traces of consecutive sample batches (batch axis 1)."""
    from .trace import Trace

    first = parts[0]
    warnings: dict[str, int] = {}
    for p in parts:
        for k, c in p.warnings.items():
            warnings[k] = warnings.get(k, 0) + int(c)
    if len(parts) == 1:
        return first
    return Trace(
        output=np.concatenate([p.output for p in parts], axis=1),
        probes={k: np.concatenate([p.probes[k] for p in parts], axis=1) for k in first.probes},
        backend=first.backend,
        hw_steps=first.hw_steps,
        depths=dict(first.depths),
        warnings=warnings,
    )


def _check_args(prog, x: np.ndarray, backends: tuple[str, ...], names: list[str], samples: int | None, batch: int | None) -> np.ndarray:
    """Bad arguments as one-line :class:`SpikeforgeError`s, before anything runs."""
    from spikeforge.compiler.errors import InputError, SpikeforgeError

    from . import available

    if len(backends) < 2:
        raise SpikeforgeError(f"verify needs at least two backends, got {backends}")
    unknown = [b for b in backends if b not in available()]
    if unknown:
        raise SpikeforgeError(f"unknown backend '{unknown[0]}'; available: {', '.join(available())}")
    for p in names:
        if p not in prog.graph.nodes:
            raise InputError(f"probe '{p}' names no node; nodes: {', '.join(prog.graph.nodes)}")
    x = np.asarray(x)
    want = tuple(prog.input_shape)
    if x.ndim != 2 + len(want) or tuple(x.shape[2:]) != want:
        raise InputError(f"input has shape {x.shape}; the program expects (T, B, {', '.join(map(str, want))})")
    if samples is not None:
        if not 1 <= int(samples) <= x.shape[1]:
            raise InputError(f"samples={samples}: the input holds {x.shape[1]} samples (batch axis 1); use 1..{x.shape[1]}")
        x = x[:, : int(samples)]
    if batch is not None and int(batch) < 1:
        raise InputError(f"batch={batch}: must be a positive number of samples")
    return x


def _first_unequal(eq: np.ndarray) -> tuple[int, int, tuple[int, ...]] | None:
    """``(sample, step, neuron)`` of the earliest unequal element (sample first, then step)."""
    if eq.all():
        return None
    idx = np.argwhere(~eq)
    k = np.lexsort((idx[:, 0], idx[:, 1]))[0]
    t, s, *nrn = (int(i) for i in idx[k])
    return s, t, tuple(nrn)


def _membrane(prog, x: np.ndarray, d: Divergence, backends: tuple[str, ...]) -> dict[str, float]:
    """The reference backend's membrane at a divergence (re-runs that one sample), if it can."""
    if "reference" not in backends or d.node == OUTPUT or prog.graph.nodes[d.node].op not in NEURON_OPS:
        return {}
    from . import run

    tr = run(prog, x[:, d.sample : d.sample + 1], backend="reference", record_v=[d.node])
    v = tr.probes.get(f"{d.node}.v")
    return {} if v is None else {"reference": float(v[(d.step, 0, *d.neuron)])}


def verify(prog, x, backends: Iterable[str] = ("reference", "lava"), probes: Iterable[str] | None = None, exact: bool | None = None,
           atol: float = 1e-6, spike_tolerance: float = 0.0, options: dict | None = None, *, samples: int | None = None,
           batch: int | None = None, progress: bool = True, state: bool = True) -> VerifyReport:
    """Run ``prog`` on each backend and compare every probed layer at every step.

    Args:
        prog: A :class:`~spikeforge.compiler.Program` (or a path to one).
        x: Input ``(T, B, *input_shape)``.
        backends: Backend names (at least two).
        probes: Layers to compare (default: every neuron node); the output is always compared.
        exact: Exact comparison (default: for integer programs).
        atol: Tolerance comparisons: absolute tolerance on non-spiking values.
        spike_tolerance: Tolerance comparisons: fraction of spike elements allowed to differ.
        options: Backend name -> extra keyword arguments for its runner.
        samples: Verify the first ``samples`` samples of ``x`` only (default: all).
        batch: Samples per backend run (default: all in one run; the Lava backend starts
            one worker per run).
        progress: Show a progress bar (tqdm, on stderr) over backends and batches.
        state: On a divergence, re-run that sample on the reference backend (when it is one
            of ``backends``) to report its membrane there.

    Returns:
        The :class:`VerifyReport`.

    Raises:
        SpikeforgeError: Fewer than two or unknown backends, unknown probes, bad input shape
            or sample counts, or backends returning differently shaped traces.
    """
    import time

    from tqdm import tqdm

    from spikeforge.compiler.errors import SpikeforgeError
    from spikeforge.compiler.ir import SPIKING_OPS
    from spikeforge.compiler.program import Program

    from . import run
    from .reference.runtime import is_integer_program

    if not isinstance(prog, Program):
        prog = Program.load(prog)
    backends = tuple(backends)
    names = list(probes) if probes is not None else [m for m, n in prog.graph.nodes.items() if n.op in NEURON_OPS]
    x = _check_args(prog, x, backends, names, samples, batch)
    exact = is_integer_program(prog) if exact is None else bool(exact)
    options = options or {}
    B = x.shape[1]
    step = B if batch is None else min(int(batch), B)
    starts = list(range(0, B, step))
    distinct = list(dict.fromkeys(backends))
    parts: dict[str, list] = {b: [] for b in distinct}
    seconds = {b: 0.0 for b in distinct}
    with tqdm(total=len(distinct) * B, desc="verify", unit="sample", disable=not progress, leave=False) as bar:
        for b in distinct:
            bar.set_postfix_str(b)
            for s0 in starts:
                t0 = time.perf_counter()
                parts[b].append(run(prog, x[:, s0 : s0 + step], backend=b, probes=names, **options.get(b, {})))
                seconds[b] += time.perf_counter() - t0
                bar.update(min(step, B - s0))
    traces = {b: concat_traces(parts[b]) for b in distinct}
    layers = names + [OUTPUT]
    for layer in layers:
        shapes = {b: layer_values(traces[b], layer).shape for b in backends}
        if len(set(shapes.values())) > 1:
            raise SpikeforgeError(f"layer '{layer}': backends returned differently shaped traces {shapes}; every backend must return (T, B, ...) in model time")
    agreement: dict[tuple[str, str], dict[str, float]] = {}
    mismatches: dict[tuple[str, str], dict[str, int]] = {}
    first: Divergence | None = None
    first_key: tuple[int, int, int] | None = None
    ok = True
    for a, b in itertools.combinations(backends, 2):
        per, bad_count = {}, {}
        for li, layer in enumerate(layers):
            va, vb = layer_values(traces[a], layer), layer_values(traces[b], layer)
            spiking = layer != OUTPUT and prog.graph.nodes[layer].op in SPIKING_OPS
            eq = va == vb if exact or spiking else np.isclose(va, vb, rtol=0.0, atol=atol)
            frac = float(eq.mean()) if eq.size else 1.0
            per[layer] = frac
            bad_count[layer] = int(eq.size - np.count_nonzero(eq))
            if (1.0 - frac) > (spike_tolerance if (spiking and not exact) else 0.0):
                ok = False
                s, t, nrn = _first_unequal(eq)
                if first_key is None or (s, t, li) < first_key:
                    first_key = (s, t, li)
                    first = Divergence(s, layer, nrn, t, {c: float(layer_values(traces[c], layer)[(t, s, *nrn)]) for c in distinct})
        agreement[(a, b)] = per
        mismatches[(a, b)] = bad_count
    if first is not None and state:
        first.state = _membrane(prog, x, first, backends)
    return VerifyReport(ok, backends, layers, agreement, first, traces, exact, mismatches, seconds)


__all__ = ["OUTPUT", "Divergence", "VerifyReport", "concat_traces", "layer_values", "verify"]
