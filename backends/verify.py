"""``sf.verify``: run a program on several backends and compare every probed layer, step by step.

Every backend returns its :class:`~spikeforge.backends.Trace` in model time (each layer's
hardware-time depth already removed), so the comparison is element by element. Integer
programs must agree exactly; float programs (Lava ``floating_pt``, Brian2 analog) within
``atol`` on the readout and exactly on spikes unless ``spike_tolerance`` allows a fraction
of spike disagreements.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from spikeforge.compiler.ir import NEURON_OPS


@dataclass
class Divergence:
    """Where two backends first disagree (earliest sample, then earliest step)."""

    sample: int
    node: str
    neuron: tuple[int, ...]
    step: int
    values: dict[str, float]

    def __str__(self) -> str:
        vals = ", ".join(f"{k}={v:g}" for k, v in self.values.items())
        return f"sample {self.sample}, layer '{self.node}', neuron {self.neuron}, step {self.step}: {vals}"


@dataclass
class VerifyReport:
    """Result of :func:`verify`.

    Attributes:
        ok: Whether every pair of backends agrees on every layer.
        backends: The backends run.
        layers: The compared layers (neuron nodes, and the output as ``"<output>"``).
        agreement: ``(backend_a, backend_b) -> {layer: fraction of equal elements}``.
        first_divergence: ``None``, or the first disagreement.
        traces: Backend name -> its :class:`~spikeforge.backends.Trace`.
        exact: Whether the comparison was exact.
    """

    ok: bool
    backends: tuple[str, ...]
    layers: list[str]
    agreement: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    first_divergence: Divergence | None = None
    traces: dict = field(default_factory=dict, repr=False)
    exact: bool = True

    def summary(self) -> str:
        """A short text table: agreement per backend pair and layer."""
        lines = [f"verify {' vs '.join(self.backends)}: {'all layers agree' if self.ok else 'MISMATCH'} ({'exact' if self.exact else 'tolerance'})"]
        for (a, b), per in self.agreement.items():
            for layer, frac in per.items():
                lines.append(f"  {a:>12} vs {b:<12} {layer:<24} {100 * frac:8.4f} % equal")
        if self.first_divergence is not None:
            lines.append(f"  first divergence: {self.first_divergence}")
        return "\n".join(lines)


OUTPUT = "<output>"


def verify(prog, x, backends: Iterable[str] = ("reference", "lava"), probes: Iterable[str] | None = None, exact: bool | None = None,
           atol: float = 1e-6, spike_tolerance: float = 0.0, options: dict | None = None) -> VerifyReport:
    """Run ``prog`` on each backend and compare every probed layer at every step.

    Args:
        prog: A :class:`~spikeforge.compiler.Program` (or a path to one).
        x: Input ``(T, B, *input_shape)``.
        backends: Backend names (at least two).
        probes: Layers to compare (default: every neuron node).
        exact: Exact comparison (default: for integer programs).
        atol: Tolerance comparisons: absolute tolerance on non-spiking values.
        spike_tolerance: Tolerance comparisons: fraction of spike elements allowed to differ.
        options: Backend name -> extra keyword arguments for its runner.

    Returns:
        The :class:`VerifyReport`.
    """
    from spikeforge.compiler.errors import SpikeforgeError
    from spikeforge.compiler.ir import SPIKING_OPS
    from spikeforge.compiler.program import Program

    from . import run
    from .reference.runtime import is_integer_program

    if not isinstance(prog, Program):
        prog = Program.load(prog)
    backends = tuple(backends)
    if len(backends) < 2:
        raise SpikeforgeError(f"verify needs at least two backends, got {backends}")
    exact = is_integer_program(prog) if exact is None else bool(exact)
    names = list(probes) if probes is not None else [m for m, n in prog.graph.nodes.items() if n.op in NEURON_OPS]
    options = options or {}
    traces = {b: run(prog, x, backend=b, probes=names, **options.get(b, {})) for b in backends}
    layers = names + [OUTPUT]
    agreement: dict[tuple[str, str], dict[str, float]] = {}
    first: Divergence | None = None
    ok = True
    for a, b in itertools.combinations(backends, 2):
        per = {}
        for layer in layers:
            va = traces[a].output if layer == OUTPUT else traces[a].probes[layer]
            vb = traces[b].output if layer == OUTPUT else traces[b].probes[layer]
            spiking = layer != OUTPUT and prog.graph.nodes[layer].op in SPIKING_OPS
            eq = va == vb if exact or spiking else np.isclose(va, vb, rtol=0.0, atol=atol)
            frac = float(eq.mean()) if eq.size else 1.0
            per[layer] = frac
            bad = (1.0 - frac) > (spike_tolerance if (spiking and not exact) else 0.0)
            if bad:
                ok = False
                idx = np.argwhere(~eq)
                # earliest sample, then earliest step
                k = np.lexsort((idx[:, 0], idx[:, 1]))[0]
                t, s, *nrn = (int(i) for i in idx[k])
                d = Divergence(s, layer, tuple(nrn), t, {a: float(va[(t, s, *nrn)]), b: float(vb[(t, s, *nrn)])})
                if first is None or (d.sample, d.step) < (first.sample, first.step):
                    first = d
        agreement[(a, b)] = per
    return VerifyReport(ok, backends, layers, agreement, first, traces, exact)


__all__ = ["Divergence", "VerifyReport", "verify"]
