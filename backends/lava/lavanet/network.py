"""Build and run a spikeforge Lava network (Python 3.10; numpy and lava-nc only).

Usage as a script (this is what ``sf.run(prog, x, backend="lava")`` starts)::

    python network.py --input in.npz --output out.npz [--probes a,b] [--tag fixed_pt]

``in.npz`` holds ``x_int`` (the quantized input, ``(T, B, n_in)`` integers); ``out.npz``
receives, per probed layer, its raw values in model time ``(T, B, n)``, the overflow
counts of spikeforge's processes, and the wall time of the Lava run.

As a module: ``build_network(folder, x_int)`` returns a :class:`Network` (the Lava
processes, sinks and step count); ``run(folder, x_int)`` runs it and returns the probes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import sfproc  # noqa: E402  (spikeforge's Lava processes, next to this file)


@dataclass
class Network:
    """A built Lava network.

    Attributes:
        procs: Layer name -> neuron (or input) process.
        synapses: The ``Dense`` / ``Sparse`` / delay processes.
        sinks: Probed layer name -> ``io.sink.RingBuffer`` recording it every step.
        num_steps: Lava steps of the whole batch.
        W: Steps per sample window.
        T, B: Model steps per sample, samples.
    """

    procs: dict
    synapses: list
    sinks: dict
    num_steps: int
    W: int
    T: int
    B: int
    meta: dict = field(repr=False, default_factory=dict)


def load_plan(folder: str) -> tuple[dict, dict]:
    """Read ``plan.json`` and ``plan.npz`` of an emitted folder."""
    with open(os.path.join(folder, "plan.json")) as f:
        meta = json.load(f)
    with np.load(os.path.join(folder, "plan.npz")) as z:
        arrays = {k: z[k] for k in z.files}
    return meta, arrays


def build_network(folder: str, x_int: np.ndarray, probes=None) -> Network:
    """Create the Lava processes of an emitted plan for one batch of inputs.

    Args:
        folder: The emitted folder.
        x_int: Quantized input ``(T, B, n_in)``.
        probes: Layer names to record (default: every layer).
    """
    from lava.proc.dense.process import Dense
    from lava.proc.io.sink import RingBuffer as Sink
    from lava.proc.io.source import RingBuffer as Source
    from lava.proc.lif.process import LIFReset
    from lava.proc.sparse.process import Sparse
    from scipy.sparse import csr_matrix

    meta, arrays = load_plan(folder)
    floating = meta.get("tag") == "floating_pt"
    x_int = np.asarray(x_int, dtype=np.float64 if floating else np.int64)
    T, B = int(x_int.shape[0]), int(x_int.shape[1])
    x_int = x_int.reshape(T, B, -1)
    W = T + int(meta["lag"]) + int(meta["lead"])
    steps = B * W + int(meta["max_depth"])
    procs: dict = {}
    for r in meta["groups"]:
        name, kind, n, d = r["name"], r["kind"], int(r["n"]), int(r["depth"])
        key = f"g/{name}/"
        if kind == "input":
            data = np.zeros((n, steps), np.float64 if floating else np.int64)
            for b in range(B):
                data[:, b * W : b * W + T] = x_int[:, b].T
            procs[name] = Source(data=data if floating else data.astype(np.int32))
        elif kind == "lava_lif_float":
            procs[name] = LIFReset(shape=(n,), du=1.0, dv=float(r["dv"]), vth=float(r["vth"]), bias_mant=arrays[key + "bias"], bias_exp=0.0,
                                   reset_interval=W, reset_offset=(d + 1) % W, name=name)
        elif kind == "sf_float":
            procs[name] = sfproc.SfFloatNeuron(
                shape=(n,), a_syn=arrays[key + "a_syn"], g_syn=arrays[key + "g_syn"], a=arrays[key + "a"], g=arrays[key + "g"], b=arrays[key + "b"],
                vth=arrays[key + "vth"], vreset=arrays[key + "vreset"], use_syn=bool(r["use_syn"]), subtract=bool(r["subtract"]),
                spiking=bool(r["spiking"]), depth=d, T=T, W=W, name=name)
        elif kind == "lava_lif":
            procs[name] = LIFReset(
                shape=(n,), du=int(arrays[key + "du"][0]), dv=int(arrays[key + "dv"][0]), vth=int(arrays[key + "vth"][0]),
                bias_mant=arrays[key + "bias_mant"].astype(np.int32), bias_exp=arrays[key + "bias_exp"].astype(np.int32),
                reset_interval=W, reset_offset=(d + 1) % W, name=name,
            )
        elif kind == "sf_lif":
            procs[name] = sfproc.SfLIF(
                shape=(n,), du=arrays[key + "du"], dv=arrays[key + "dv"], bias_mant=arrays[key + "bias_mant"],
                bias_exp=arrays[key + "bias_exp"], vth=arrays[key + "vth"],
                subtract=bool(r["subtract"]), spiking=bool(r["spiking"]), depth=d, T=T, W=W, name=name,
            )
        elif kind == "sf_mtc":
            procs[name] = sfproc.SfMTC(shape=(n,), params={k: arrays[key + k] for k in sfproc.mtc_spec.INT_PARAMS}, lut=arrays[key + "lut"],
                                       depth=d, T=T, W=W, name=name)
        elif kind == "sf_spe":
            op = str(r["spe_op"])
            procs[name] = sfproc.SfSPE(
                shape=(n,), op=op, params={k: arrays[key + k] for k in sfproc.spe_spec.PARAM_BITS[op]}, subtract=bool(r["subtract"]),
                alpha=int(r["alpha"]), D=int(r["D"]), binary=bool(r["binary"]), depth=d, T=T, W=W, name=name,
            )
        elif kind == "sf_asn":
            procs[name] = sfproc.SfASN(
                shape=(n,), dv=arrays[key + "dv"], bias=arrays[key + "bias"], p=arrays[key + "p"], alpha=int(r["alpha"]), D=int(r["D"]),
                binary=bool(r["binary"]), depth=d, T=T, W=W, name=name,
            )
        else:
            raise ValueError(f"layer {name}: unknown kind {kind!r}")
    synapses = []
    delays: dict = {}
    for s in meta["synapses"]:
        src = procs[s["src"]]
        port = src.s_out
        if s["delay"]:
            dk = (s["src"], int(s["delay"]))
            if dk not in delays:
                line = sfproc.SfDelay(shape=port.shape, steps=int(s["delay"]))
                port.connect(line.s_in)
                delays[dk] = line
                synapses.append(line)
            port = delays[dk].s_out
        w = arrays[s["weights"]]
        if s["kind"] == "conv":
            from lava.proc.conv.process import Conv

            C, H, Wd = s["src_shape"]
            conv = Conv(weight=w, input_shape=(Wd, H, C), padding=tuple(s["padding"]), stride=tuple(s["stride"]),
                        dilation=tuple(s["dilation"]), groups=int(s["groups"]), num_message_bits=int(s["num_message_bits"]))
            port.reshape((C, H, Wd)).transpose([2, 1, 0]).connect(conv.s_in)
            conv.a_out.transpose([2, 1, 0]).reshape((int(np.prod(s["dst_shape"])),)).connect(procs[s["dst"]].a_in)
            synapses.append(conv)
            continue
        if floating:
            kw = dict(num_message_bits=int(s["num_message_bits"]))
        else:
            kw = dict(num_message_bits=int(s["num_message_bits"]), weight_exp=int(s["weight_exp"]), num_weight_bits=8)
        conn = Sparse(weights=csr_matrix(w), **kw) if s["kind"] == "sparse" else Dense(weights=w, **kw)
        port.connect(conn.s_in)
        conn.a_out.connect(procs[s["dst"]].a_in)
        synapses.append(conn)
    names = [r["name"] for r in meta["groups"]] if probes is None else list(probes)
    sinks = {}
    for name in names:
        src = procs[name]
        sink = Sink(shape=src.s_out.shape, buffer=steps)
        src.s_out.connect(sink.a_in)
        sinks[name] = sink
    return Network(procs, synapses, sinks, steps, W, T, B, meta)


def run(folder: str, x_int: np.ndarray, probes=None, tag: str | None = None) -> dict:
    """Build and run the network; return ``{"probes": {name: (T, B, n)}, "counts": ..., "seconds": ...}``."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg

    net = build_network(folder, x_int, probes)
    tag = tag or net.meta.get("tag", "fixed_pt")
    floating = tag == "floating_pt"
    groups = {r["name"]: r for r in net.meta["groups"]}
    any_proc = next(iter(net.procs.values()))
    t0 = time.perf_counter()
    any_proc.run(condition=RunSteps(num_steps=net.num_steps), run_cfg=Loihi2SimCfg(select_tag=tag))
    try:
        seconds = time.perf_counter() - t0
        out = {}
        for name, sink in net.sinks.items():
            data = np.asarray(sink.data.get(), dtype=np.float64 if floating else np.int64)  # (n_out, steps)
            r = groups[name]
            d = int(r["depth"])
            vals = np.zeros((net.T, net.B, data.shape[0]), data.dtype)
            for b in range(net.B):
                g0 = b * net.W + d
                vals[:, b] = data[:, g0 : g0 + net.T].T
            if r.get("kind") in ("sf_asn", "sf_spe") and r.get("binary"):
                vals = vals.reshape(net.T, net.B, int(r["D"]), int(r["n"])).sum(axis=2)
            out[name] = vals
        counts = {}
        for name, proc in net.procs.items():
            if hasattr(proc, "counts"):
                counts[name] = np.asarray(proc.counts.get(), dtype=np.int64)
    finally:
        any_proc.stop()
    return {"probes": out, "counts": counts, "seconds": seconds, "steps": net.num_steps}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Run a spikeforge Lava network on quantized inputs (Lava's bit-accurate simulator).")
    ap.add_argument("--input", required=True, help="npz with x_int: quantized input (T, B, n_in)")
    ap.add_argument("--output", required=True, help="npz to write: probe/<layer> (T, B, n), count/<layer>, seconds")
    ap.add_argument("--probes", default="", help="comma-separated layers to record (default: all)")
    ap.add_argument("--tag", default="", help="Lava process-model tag (default: the plan's: fixed_pt for integer programs, floating_pt for float ones)")
    a = ap.parse_args(argv)
    with np.load(a.input) as z:
        x_int = z["x_int"]
    res = run(HERE, x_int, [p for p in a.probes.split(",") if p] or None, a.tag or None)
    arrays = {f"probe/{k}": v for k, v in res["probes"].items()}
    arrays.update({f"count/{k}": v for k, v in res["counts"].items()})
    arrays["seconds"] = np.array(res["seconds"])
    arrays["steps"] = np.array(res["steps"])
    tmp = a.output + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, a.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
