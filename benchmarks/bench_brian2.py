"""Benchmark: spikeforge's Brian2 digital backend vs a hand-written Brian2 script of the same network.

The network: 1000 binary inputs (Bernoulli spikes) -> sparse ``int_dense`` (connection
probability ``--p``, 8-bit weights) -> 10,000 integer CUBA-LIF neurons (Loihi arithmetic:
12-bit decays, 24-bit wrap and saturation) for ``T`` steps. spikeforge builds it from an
integer Program (``sf.run(prog, x, backend="brian2")``: projections, groups generated from the
neuron declaration, hardware-time segments, monitors, dequantized output); the hand-written
script is what a Brian2 user would write for the same integer model (a ``SpikeGeneratorGroup``,
one ``NeuronGroup`` with the integer update inline, threshold/reset, one ``Synapses``, a
``SpikeMonitor``). Both run in the same process with the same code generation target, end to
end (build + simulate + read spikes); the first run of each is a warm-up (Cython compiles
there, once, into ``$SPIKEFORGE_CACHE``). The spikes of both are checked identical.

Usage::

    python benchmarks/bench_brian2.py [--neurons 10000] [--inputs 1000] [--steps 1000]
        [--p 0.1] [--rate 0.02] [--repeats 5] [--codegen auto|numpy|cython]

Prints a markdown table: median seconds over the repeats for each, and the ratio
(spikeforge / hand-written; the goal is at most 1.2).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def make_program(n_in: int, n: int, p: float, seed: int = 0):
    """The integer Program: input -> int_dense (sparse) -> int_lif -> output."""
    from spikeforge.compiler.ir import Graph, Node
    from spikeforge.compiler.program import Program

    rng = np.random.default_rng(seed)
    w = rng.integers(-60, 128, size=(n, n_in)) * (rng.random((n, n_in)) < p)
    nodes = [
        Node("input", "input", {}, {"exp": 0, "bits": 1, "signed": False}, (n_in,), (n_in,)),
        Node("fc", "int_dense", {"weight": w, "wexp": np.zeros(n, np.int64)}, {}, (n_in,), (n,)),
        Node("lif", "int_lif", {
            "du": np.full(n, 1024), "dv": rng.integers(200, 800, n), "bias_mant": np.zeros(n, np.int64),
            "bias_exp": np.zeros(n, np.int64), "vth": rng.integers(400, 1200, n), "p": np.full(n, 6),
        }, {"reset": "zero"}, (n,), (n,)),
        Node("output", "output", {}, {}, (n,), (n,)),
    ]
    edges = (("input", "fc"), ("fc", "lif"), ("lif", "output"))
    return Program(Graph({x.name: x for x in nodes}, edges, {"realization": "graded"}), target="loihi2", dt=1e-3, method="exact")


def run_spikeforge(prog, x, codegen: str) -> np.ndarray:
    """spikeforge end to end; returns the spikes (T, n)."""
    from spikeforge.backends import run

    return run(prog, x, backend="brian2", codegen=codegen).output[:, 0]


def run_handwritten(prog, x, codegen: str) -> np.ndarray:
    """The same network written directly in Brian2; returns the spikes (T, n)."""
    import brian2 as b2

    from spikeforge.backends.brian2 import device

    lif = prog.graph.nodes["lif"]
    W = np.asarray(prog.graph.nodes["fc"].params["weight"])
    T, _, n_in = x.shape
    n = W.shape[0]
    with device.target(codegen):
        b2.defaultclock.dt = 1 * b2.ms  # one step per millisecond (a dummy unit), as spikeforge uses
        steps, idx = np.nonzero(x[:, 0] > 0.5)
        inp = b2.SpikeGeneratorGroup(n_in, idx, steps * b2.ms, name="hw_in")
        G = b2.NeuronGroup(n, """
            u : 1
            v : 1
            a : 1
            du : 1 (constant)
            dv : 1 (constant)
            vth : 1 (constant)
            """, threshold="v > vth * 64", reset="v = 0", name="hw_lif")
        G.run_regularly("""
            u = sign(u) * floor(abs(u) * (4095 - du) / 4096) + a * 64
            u = u - 16777216 * int(u > 8388608) + 16777216 * int(u <= -8388608)
            v = clip(sign(v) * floor(abs(v) * (4096 - dv) / 4096) + u, -8388607, 8388607)
            a = 0
            """, when="groups", name="hw_update")
        G.du, G.dv, G.vth = lif.params["du"], lif.params["dv"], lif.params["vth"]
        post, pre = np.nonzero(W)
        S = b2.Synapses(inp, G, "w : 1 (constant)", on_pre="a_post += w", name="hw_syn")
        S.connect(i=pre, j=post)
        S.w = W[post, pre]
        M = b2.SpikeMonitor(G, name="hw_mon")
        net = b2.Network(inp, G, S, M, name="hw_net")
        net.run((T + 1) * b2.ms, namespace={})  # the neurons see the input one step late, as in hardware time
        out = np.zeros((T + 1, n))
        out[np.rint(np.asarray(M.t_[:]) * 1e3).astype(int), np.asarray(M.i[:])] = 1
    return out[1:]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="The hand-written script and spikeforge run the same integer CUBA-LIF network; their spikes are "
                                        "checked identical before timing.")
    ap.add_argument("--neurons", type=int, default=10_000, help="LIF neurons (default 10000)")
    ap.add_argument("--inputs", type=int, default=1000, help="input channels (default 1000)")
    ap.add_argument("--steps", type=int, default=1000, help="time steps T (default 1000)")
    ap.add_argument("--p", type=float, default=0.1, help="connection probability input -> LIF (default 0.1)")
    ap.add_argument("--rate", type=float, default=0.02, help="input spike probability per step (default 0.02)")
    ap.add_argument("--repeats", type=int, default=5, help="timed repeats of each (default 5), after one warm-up")
    ap.add_argument("--codegen", default="auto", choices=("auto", "numpy", "cython"), help="Brian2 code generation target (default auto)")
    args = ap.parse_args(argv)

    from spikeforge.backends.brian2 import device

    target = device.resolve(args.codegen)
    prog = make_program(args.inputs, args.neurons, args.p)
    x = (np.random.default_rng(1).random((args.steps, 1, args.inputs)) < args.rate).astype(np.float64)
    ours, theirs = run_spikeforge(prog, x, target), run_handwritten(prog, x, target)  # warm-up (and Cython compile)
    if not np.array_equal(ours, theirs):
        print(f"MISMATCH: spikeforge and the hand-written script disagree ({int(ours.sum())} vs {int(theirs.sum())} spikes)")
        return 1
    times = {"spikeforge": [], "hand-written": []}
    for _ in range(args.repeats):
        for name, fn in (("spikeforge", run_spikeforge), ("hand-written", run_handwritten)):
            t0 = time.perf_counter()
            fn(prog, x, target)
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"Brian2 digital, {args.inputs} -> {args.neurons} integer CUBA-LIF, T={args.steps}, p={args.p}, input rate={args.rate}, "
          f"codegen={target}, {int(ours.sum())} spikes (identical), median of {args.repeats}\n")
    print("| run | median s | min s |")
    print("|---|---|---|")
    for k in times:
        print(f"| {k} | {med[k]:.3f} | {min(times[k]):.3f} |")
    print(f"\nratio spikeforge / hand-written: {med['spikeforge'] / med['hand-written']:.2f} (goal <= 1.2)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
