"""Runtime benchmark: the spikeforge reference backend against a plain PyTorch step loop.

The workload is a 784-256-256-10 LIF MLP (random weights, scaled so every layer spikes at a
moderate rate) driven by Bernoulli input spikes (p = 0.1) for ``T`` steps. The network is
built directly as a NIR graph. Each engine is timed in the same run, at each batch size: one
warm-up call, then the median of ``--repeats`` calls. Reported per engine: wall time,
synapse-steps per second (``T * B * (784*256 + 256*256 + 256*10)`` over the wall time), the
speedup over the PyTorch loop, and how many output spikes differ from the reference backend
(the torch loop runs in float32, the reference in float64: spikes can differ where a
membrane is within float32 rounding of the threshold; the count is reported, not hidden,
together with the count for the same loop in float64).

Engines are registered in :data:`ENGINES` (name -> prepare function); a prepare function
gets the :class:`Workload`, does all untimed set-up (compilation, weight upload) and returns
a zero-argument callable that runs the whole input and returns the output spikes
``(T, B, 10)`` as numpy. Engines: ``reference``, ``integer-reference``, ``lava``
(spikeforge's Lava backend, end to end: emit, worker start, Lava fixed_pt run, read back),
``lava-handwritten`` (``benchmarks/lava_handwritten.py``, the same integer network written
by hand with Lava's Dense and LIF, also run as a ``.venv-lava`` process; batch 1 only) and
``torch``.

The ``integer-reference`` engine runs the integer form (``sf.compile(..., target="loihi2")``,
``docs/integer.md``; post-training quantization calibrated on the workload's input) of the same
network on the reference backend. Its spikes differ from the float network's where 8-bit
weights and 12-bit decays change them, so its mismatch column is ``-`` and the notes give the
per-layer fraction of differing spikes instead. Targets: the integer reference at least 20x
faster than Lava on the same integer network; spikeforge's Lava backend within 1.3x of the
hand-written Lava script. Both Lava engines' outputs are checked equal to the integer
reference's.

Usage::

    python benchmarks/bench_runtime.py --T 1000 --batches 1 64 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import nir
import numpy as np

LAYERS = (784, 256, 256, 10)
DT = 1e-3
BETA = 0.9
THRESHOLD = 1.0
INPUT_RATE = 0.1


def synapses(layers: tuple[int, ...] = LAYERS) -> int:
    """Number of synapses (weights) of the dense MLP."""
    return sum(a * b for a, b in zip(layers[:-1], layers[1:]))


@dataclass
class Workload:
    """One benchmark input: the network and its input spikes.

    Attributes:
        graph: The NIR graph of the MLP (continuous time; compile with ``dt``/``method``).
        x: Input spikes, shape ``(T, B, 784)``, float64 zeros and ones.
        dt: Time step to compile with.
        method: Discretization method to compile with.
        cache: Per-workload scratch shared between engines (e.g. the compiled program).
    """

    graph: nir.NIRGraph
    x: np.ndarray
    dt: float = DT
    method: str = "euler"
    cache: dict = field(default_factory=dict)

    @property
    def T(self) -> int:
        """Number of time steps."""
        return int(self.x.shape[0])

    @property
    def B(self) -> int:
        """Batch size."""
        return int(self.x.shape[1])


def build_mlp(seed: int = 0, layers: tuple[int, ...] = LAYERS) -> nir.NIRGraph:
    """The LIF MLP as a NIR graph (Affine -> LIF per layer, hard reset to 0).

    ``tau = dt/(1-beta)`` and ``r = 1/(1-beta)`` so that forward Euler at ``dt`` gives the
    discrete update ``v = beta*v + I`` (snnTorch's convention). Weights are Gaussian, scaled
    by the expected number of active inputs, plus a small positive bias, so that the hidden
    layers spike at a moderate rate for Bernoulli(0.1) input.

    Args:
        seed: Seed of the weights.
        layers: Layer sizes.

    Returns:
        The graph ``input -> fc1 -> lif1 -> fc2 -> lif2 -> fc3 -> lif3 -> output``.
    """
    rng = np.random.default_rng(seed)
    nodes: dict[str, nir.NIRNode] = {"input": nir.Input(input_type={"input": np.array([layers[0]])})}
    edges = []
    prev = "input"
    # per layer: std of the summed input, in units of the threshold's equilibrium drive
    # V_th*(1-beta); tuned so that every layer spikes at roughly 6-8% of its steps
    gains = (4.0, 6.0, 6.0)
    rates = (INPUT_RATE, 0.1, 0.1)  # expected activity of each layer's inputs
    for i, (n_in, n_out) in enumerate(zip(layers[:-1], layers[1:]), start=1):
        active = max(1.0, rates[i - 1] * n_in)
        w = rng.normal(size=(n_out, n_in)) * gains[i - 1] * THRESHOLD * (1 - BETA) / np.sqrt(active)
        b = np.full(n_out, 0.5 * THRESHOLD * (1 - BETA))
        tau = np.full(n_out, DT / (1 - BETA))
        nodes[f"fc{i}"] = nir.Affine(weight=w, bias=b)
        nodes[f"lif{i}"] = nir.LIF(
            tau=tau, r=np.full(n_out, 1 / (1 - BETA)), v_leak=np.zeros(n_out), v_threshold=np.full(n_out, THRESHOLD), v_reset=np.zeros(n_out)
        )
        edges += [(prev, f"fc{i}"), (f"fc{i}", f"lif{i}")]
        prev = f"lif{i}"
    nodes["output"] = nir.Output(output_type={"output": np.array([layers[-1]])})
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)


def make_workload(T: int, batch: int, seed: int = 0) -> Workload:
    """The MLP and Bernoulli(0.1) input spikes of shape ``(T, batch, 784)``."""
    rng = np.random.default_rng(seed + 1000 * batch)
    x = (rng.random((T, batch, LAYERS[0])) < INPUT_RATE).astype(np.float64)
    return Workload(graph=build_mlp(seed), x=x)


def compiled(w: Workload):
    """The float Program of the workload (compiled once per workload and cached)."""
    if "program" not in w.cache:
        import spikeforge as sf

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            w.cache["program"] = sf.compile(w.graph, target="float", dt=w.dt, method=w.method)
    return w.cache["program"]


def int_compiled(w: Workload):
    """The integer (``loihi2``) Program of the same network: post-training quantization of the
    float graph with the workload's input as calibration, one weight exponent per layer (so a
    hand-written Lava script can hold each layer in one ``Dense`` and one ``LIF``); compiled
    once per workload, cached."""
    if "int_program" not in w.cache:
        import copy

        import spikeforge as sf

        g = copy.deepcopy(w.graph)
        for n in g.nodes.values():
            if isinstance(n, nir.Affine):
                n.metadata = {**(n.metadata or {}), "spikeforge.weight_quant": "per_layer"}
        w.cache["int_program"] = sf.compile(g, target="loihi2", dt=w.dt, method=w.method, calibration=w.x)
    return w.cache["int_program"]


# ----------------------------------------------------------------------------- engines

Runner = Callable[[], np.ndarray]
#: engine name -> prepare(workload) -> runner; runners return output spikes (T, B, 10).
ENGINES: dict[str, Callable[[Workload], Runner]] = {}
#: Engines that run another network than the float reference (no spike comparison).
OWN_NETWORK: set[str] = set()


def register_engine(name: str, own_network: bool = False) -> Callable[[Callable[[Workload], Runner]], Callable[[Workload], Runner]]:
    """Decorator: register an engine's prepare function under ``name``.

    Args:
        name: Engine name (``--engines``).
        own_network: The engine runs another network than the float reference (e.g. the
            integer MLP), so its output spikes are not compared with the reference's.
    """

    def deco(fn: Callable[[Workload], Runner]) -> Callable[[Workload], Runner]:
        ENGINES[name] = fn
        if own_network:
            OWN_NETWORK.add(name)
        return fn

    return deco


@register_engine("reference")
def prepare_reference(w: Workload) -> Runner:
    """spikeforge float reference backend: ``sf.compile`` once (untimed), time ``sf.run``."""
    import spikeforge as sf

    prog = compiled(w)
    x = w.x
    return lambda: sf.run(prog, x, backend="reference").output


@register_engine("integer-reference", own_network=True)
def prepare_integer_reference(w: Workload) -> Runner:
    """spikeforge integer reference backend on the ``loihi2`` program of the same MLP (int64, exact)."""
    from spikeforge.backends.reference.runtime import run_reference

    prog = int_compiled(w)
    x = w.x
    return lambda: run_reference(prog, x).output


def _torch_params(w: Workload, dtype) -> list[tuple]:
    """Per layer (W, b, a, g, b_leak, v_th) as torch tensors, from the compiled program.

    Taking the discrete parameters from the Program makes the loop compute exactly the
    network the reference runs (same decays and gains), in the loop's own dtype.
    """
    import torch

    prog = compiled(w)
    out = []
    for i in range(1, len(LAYERS)):
        fc, lif = prog.graph.nodes[f"fc{i}"], prog.graph.nodes[f"lif{i}"]

        def t(a):
            return torch.as_tensor(np.asarray(a), dtype=dtype)

        out.append((t(fc.params["weight"].T).contiguous(), t(fc.params["bias"]), t(lif.params["a"]), t(lif.params["g"]), t(lif.params["b"]), t(lif.params["v_threshold"])))
    return out


def torch_step_loop(w: Workload, dtype_name: str = "float32") -> Runner:
    """A plain PyTorch loop: for t in range(T): three matmuls + LIF update (no_grad).

    Model time, zero delay: layer k at step t sees layer k-1's spikes of step t, which is
    what the reference backend's ``Trace.output`` is in.
    """
    import torch

    dtype = getattr(torch, dtype_name)
    params = _torch_params(w, dtype)
    x = torch.as_tensor(w.x, dtype=dtype)
    T, B = w.T, w.B

    def run() -> np.ndarray:
        with torch.no_grad():
            v = [torch.zeros(B, p[0].shape[1], dtype=dtype) for p in params]
            out = torch.empty(T, B, LAYERS[-1], dtype=dtype)
            for t in range(T):
                h = x[t]
                for k, (W, b, a, g, bl, th) in enumerate(params):
                    u = a * v[k] + g * torch.addmm(b, h, W) + bl
                    s = (u > th).to(dtype)
                    v[k] = u * (1 - s)  # hard reset to v_reset = 0
                    h = s
                out[t] = h
        return out.numpy()

    return run


@register_engine("lava", own_network=True)
def prepare_lava(w: Workload) -> Runner:
    """spikeforge's Lava backend on the ``loihi2`` program: emit, start the ``.venv-lava``
    worker, run Lava's fixed_pt simulation, read back (all of it timed). The Lava run's own
    time is kept in ``w.cache["lava_seconds"]``."""
    from spikeforge.backends.lava.runner import run_lava_timed

    prog = int_compiled(w)
    x = w.x
    w.cache["lava_seconds"] = []

    def run() -> np.ndarray:
        tr, t = run_lava_timed(prog, x)
        w.cache["lava_seconds"].append(t["seconds"])
        return tr.output

    return run


@register_engine("lava-handwritten", own_network=True)
def prepare_lava_handwritten(w: Workload) -> Runner:
    """``benchmarks/lava_handwritten.py`` (Dense + LIF by hand, same integer parameters) in the
    ``.venv-lava`` worker, one batch-1 sample per call: interpreter start, Lava import, build and
    run all timed, as for the ``lava`` engine. Lava run time in ``w.cache["hand_seconds"]``."""
    import subprocess
    import tempfile
    from pathlib import Path

    from spikeforge.backends.lava.runner import lava_python
    from spikeforge.backends.reference.ops import quantize_input
    from spikeforge.backends.reference.runtime import _input_attrs

    if w.B != 1:
        raise SystemExit("the hand-written Lava script runs batch 1 only (use --batches 1)")
    prog = int_compiled(w)
    g = prog.graph
    tmp = Path(tempfile.mkdtemp(prefix="spikeforge-bench-"))
    params = {}
    for k in range(1, len(LAYERS)):
        fc, lif = g.nodes[f"fc{k}"].params, g.nodes[f"lif{k}"].params
        e = np.unique(fc["wexp"])
        if e.size != 1 or any(np.unique(lif[q]).size != 1 for q in ("du", "dv", "vth")):
            raise SystemExit(f"layer {k}: the hand-written script needs one weight exponent and one du/dv/vth per layer")
        params.update({f"w{k}": 2 * fc["weight"], f"e{k}": int(e[0]) - 1, f"du{k}": int(lif["du"].flat[0]), f"dv{k}": int(lif["dv"].flat[0]),
                       f"vth{k}": int(lif["vth"].flat[0]), f"bm{k}": lif["bias_mant"], f"be{k}": lif["bias_exp"]})
    np.savez(tmp / "params.npz", **params)
    x_int = np.zeros(w.x.shape, np.int64)
    quantize_input(w.x, *_input_attrs(prog), out=x_int)
    np.savez(tmp / "input.npz", x=x_int[:, 0])
    script = Path(__file__).resolve().parent / "lava_handwritten.py"
    w.cache["hand_seconds"] = []

    def run() -> np.ndarray:
        out = tmp / "out.npz"
        r = subprocess.run([str(lava_python()), str(script), str(tmp / "params.npz"), str(tmp / "input.npz"), str(out)], capture_output=True, text=True)
        if r.returncode:
            raise SystemExit(f"hand-written Lava script failed:\n{r.stderr[-2000:]}")
        with np.load(out) as z:
            w.cache["hand_seconds"].append(float(z["seconds"]))
            return z["spikes"][:, None, :].astype(np.float64)

    return run


@register_engine("torch")
def prepare_torch(w: Workload) -> Runner:
    """PyTorch step loop in float32 (``torch.set_num_threads`` left at its default)."""
    return torch_step_loop(w, "float32")


# ----------------------------------------------------------------------------- harness


@dataclass
class Result:
    """Timing of one engine at one batch size."""

    engine: str
    batch: int
    T: int
    times: list[float]
    mismatches: int | None = None
    output_rate: float = 0.0

    @property
    def median(self) -> float:
        """Median wall time in seconds."""
        return statistics.median(self.times)

    @property
    def synapse_steps_per_s(self) -> float:
        """``T * B * synapses`` per second (median time)."""
        return self.T * self.batch * synapses() / self.median


def time_engine(name: str, w: Workload, repeats: int) -> tuple[Result, np.ndarray]:
    """Prepare (untimed), one warm-up call, then ``repeats`` timed calls.

    Returns:
        The :class:`Result` and the output spikes of the last call.
    """
    run = ENGINES[name](w)
    out = run()  # warm-up (numba compilation, allocator, caches)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = run()
        times.append(time.perf_counter() - t0)
    return Result(name, w.B, w.T, times, output_rate=float(np.mean(out))), np.asarray(out)


def layer_rates(w: Workload) -> list[float]:
    """Mean spike rate of each LIF layer on the workload (reference backend)."""
    import spikeforge as sf

    names = [f"lif{i}" for i in range(1, len(LAYERS))]
    tr = sf.run(compiled(w), w.x, probes=names)
    return [float(tr.probes[n].mean()) for n in names]


def markdown_table(results: list[Result], baseline: str = "torch") -> str:
    """Results as a markdown table (speedup = baseline wall time / engine wall time)."""
    base = {r.batch: r.median for r in results if r.engine == baseline}
    lines = [
        "| batch | engine | wall time (median) | synapse-steps/s | speedup vs torch loop | output spikes differing from reference |",
        "|---:|---|---:|---:|---:|---:|",
    ]
    for r in results:
        speed = base.get(r.batch)
        sp = f"{speed / r.median:.2f}x" if speed else "-"
        mm = "-" if r.mismatches is None else f"{r.mismatches} / {r.T * r.batch * LAYERS[-1]}"
        lines.append(f"| {r.batch} | {r.engine} | {r.median * 1e3:.1f} ms | {r.synapse_steps_per_s:.3g} | {sp} | {mm} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table.

    Args:
        argv: Command-line arguments (default: ``sys.argv[1:]``).

    Returns:
        Process exit code (0).
    """
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--T", type=int, default=1000, help="time steps (default 1000)")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 64], help="batch sizes (default 1 64)")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats after one warm-up (default 5)")
    ap.add_argument("--engines", nargs="+", default=list(ENGINES), choices=sorted(ENGINES), help="engines to time")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-float64-check", action="store_true", help="skip the float64 torch loop used to explain mismatches")
    args = ap.parse_args(argv)

    import torch

    print(f"# spikeforge runtime benchmark: {'-'.join(map(str, LAYERS))} LIF MLP, T={args.T}, Bernoulli({INPUT_RATE}) input")
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__} "
        f"(threads {torch.get_num_threads()}), cpu count {os.cpu_count()}, {platform.machine()}"
    )
    print(f"median of {args.repeats} after one warm-up; synapses = {synapses()}\n")

    results: list[Result] = []
    notes = []
    w_last, outs_b1 = None, {}
    for batch in args.batches:
        w = make_workload(args.T, batch, args.seed)
        outs = {}
        if batch == 1:
            w_last, outs_b1 = w, outs
        for name in args.engines:
            if name == "lava-handwritten" and batch != 1:
                continue
            res, out = time_engine(name, w, args.repeats)
            outs[name] = out
            results.append(res)
        ref_out = outs.get("reference")
        if ref_out is None:
            ref_out = ENGINES["reference"](w)()
        for r in results:
            if r.batch == batch and r.engine in outs and r.engine not in OWN_NETWORK:
                r.mismatches = int(np.count_nonzero(outs[r.engine] != ref_out))
        rates = layer_rates(w)
        note = f"batch {batch}: layer spike rates {', '.join(f'{v:.3f}' for v in rates)}"
        if not args.no_float64_check:
            mm64 = int(np.count_nonzero(torch_step_loop(w, "float64")() != ref_out))
            note += f"; the same torch loop in float64 differs from the reference in {mm64} output spikes"
        if "integer-reference" in outs:
            from spikeforge.backends.reference.runtime import run_reference

            names = [f"lif{i}" for i in range(1, len(LAYERS))]
            tr = run_reference(int_compiled(w), w.x, probes=names)
            fl = run_reference(compiled(w), w.x, probes=names)
            note += f"; integer (PTQ) layer spike rates {', '.join(f'{tr.probes[n].mean():.3f}' for n in names)}"
            note += f", spikes differing from float {', '.join(f'{np.mean(tr.probes[n] != fl.probes[n]):.3f}' for n in names)}"
            if tr.warnings:
                note += f" (overflows: {tr.warnings})"
        notes.append(note)

    print(markdown_table(results))
    print()
    for n in notes:
        print(f"- {n}")
    b1 = {r.engine: r.median for r in results if r.batch == 1}
    if "reference" in b1 and "torch" in b1:
        ratio = b1["torch"] / b1["reference"]
        verdict = "meets" if ratio >= 5 else "MISSES"
        print(f"- batch 1: reference is {ratio:.2f}x the torch loop's speed ({verdict} the >= 5x target)")
    if "integer-reference" in b1:
        t = b1["integer-reference"]
        print(f"- batch 1: integer reference {t * 1e3:.1f} ms per run of T={args.T} ({args.T / t:.0f} steps/s)")
    if "lava" in b1 and "integer-reference" in b1:
        ratio = b1["lava"] / b1["integer-reference"]
        print(f"- batch 1: integer reference is {ratio:.0f}x faster than spikeforge's Lava backend end to end "
              f"({'meets' if ratio >= 20 else 'MISSES'} the >= 20x target)")
    if "lava" in b1 and "lava-handwritten" in b1:
        ratio = b1["lava"] / b1["lava-handwritten"]
        print(f"- batch 1: spikeforge's Lava backend takes {ratio:.2f}x the hand-written Lava script's time end to end "
              f"({'meets' if ratio <= 1.3 else 'MISSES'} the <= 1.3x target)")
        ls, hs = w_last.cache.get("lava_seconds", []), w_last.cache.get("hand_seconds", [])
        if ls and hs:
            print(f"- batch 1: inside the worker, Lava's run() took {statistics.median(ls):.3f} s (spikeforge) and "
                  f"{statistics.median(hs):.3f} s (hand-written), ratio {statistics.median(ls) / statistics.median(hs):.2f}x")
    if "lava" in outs_b1 and "lava-handwritten" in outs_b1 and "integer-reference" in outs_b1:
        same = np.array_equal(outs_b1["lava"], outs_b1["integer-reference"]) and np.array_equal(outs_b1["lava-handwritten"], outs_b1["integer-reference"])
        print(f"- batch 1: output spikes identical across integer reference, Lava backend and hand-written Lava script: {'yes' if same else 'NO'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
