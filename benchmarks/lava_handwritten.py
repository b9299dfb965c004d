"""A hand-written Lava script of the benchmark's integer LIF MLP (run in .venv-lava).

What a Lava user would write for the 784-256-256-10 LIF MLP without spikeforge: a
``RingBuffer`` input, three ``Dense`` + ``LIFReset`` pairs with the integer parameters of the
benchmark's ``loihi2`` program (one weight exponent and one threshold per layer), a sink on
the output layer, ``Loihi2SimCfg(select_tag="fixed_pt")``. ``bench_runtime.py`` runs it in
the same run as spikeforge's Lava backend and compares both times and output spikes.

Usage: ``python lava_handwritten.py params.npz input.npz out.npz``
(params: ``w{k}`` Lava weights, ``e{k}`` weight exponents, ``du{k}``, ``dv{k}``, ``vth{k}``,
``bm{k}``, ``be{k}``; input: ``x`` spikes (T, 784)).
"""

import sys
import time

import numpy as np
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc.dense.process import Dense
from lava.proc.io.sink import RingBuffer as Sink
from lava.proc.io.source import RingBuffer as Source
from lava.proc.lif.process import LIFReset


def main(params_path: str, input_path: str, out_path: str) -> None:
    p = np.load(params_path)
    x = np.load(input_path)["x"]
    T = x.shape[0]
    steps = T + 3  # three hops: the last layer's model step T-1 happens at step T+2
    data = np.zeros((x.shape[1], steps), np.int32)
    data[:, :T] = x.T
    src = Source(data=data)
    prev = src.s_out
    for k in range(1, 4):
        dense = Dense(weights=p[f"w{k}"], weight_exp=int(p[f"e{k}"]), num_weight_bits=8, num_message_bits=0)
        # LIFReset clears layer k at its first step (Lava step k + 1), so its bias does not
        # integrate before its input arrives: the semantics of the compiled program
        lif = LIFReset(shape=(p[f"w{k}"].shape[0],), du=int(p[f"du{k}"]), dv=int(p[f"dv{k}"]), vth=int(p[f"vth{k}"]),
                       bias_mant=p[f"bm{k}"], bias_exp=p[f"be{k}"], reset_interval=steps, reset_offset=k + 1)
        prev.connect(dense.s_in)
        dense.a_out.connect(lif.a_in)
        prev = lif.s_out
    sink = Sink(shape=(p["w3"].shape[0],), buffer=steps)
    prev.connect(sink.a_in)
    t0 = time.perf_counter()
    src.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    seconds = time.perf_counter() - t0
    out = sink.data.get()[:, 3 : 3 + T].T  # the last layer has depth 3
    src.stop()
    np.savez(out_path, spikes=out, seconds=seconds)


if __name__ == "__main__":
    main(*sys.argv[1:4])
