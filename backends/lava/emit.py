"""Integer Program -> Lava process network (the plan), and the self-contained artifact folder.

One Lava process per layer, never per neuron:

* the input: Lava's ``io.source.RingBuffer`` (graded, the quantized integers);
* a convolution between two layers with 8-bit weights and no exponent: Lava's ``Conv``
  (channel-last, ports transposed);
* every other projection (:mod:`spikeforge.backends.projections`): Lava's ``Dense``
  (``Sparse`` when fewer than :data:`SPARSE_DENSITY` of the weights are nonzero). Lava's 8-bit mixed-sign
  weights are even numbers in ``[-256, 254]`` with one ``weight_exp`` per process, so a
  row ``r`` with integer weights ``M_r = m_r * 2^e`` (``|m_r| <= 127``) is emitted as
  ``2 m_r`` with ``weight_exp = e - 1`` (exact: ``Dense`` shifts its sum after summing
  even numbers); rows are grouped into as few processes as their exponents allow;
* ``int_lif`` layers with one ``du``, ``dv`` and ``vth`` and zero reset: Lava's own
  ``LIFReset`` and its bit-accurate model (reset once per sample window); the others
  (per-neuron parameters, subtract reset, layers that read their own past, the ``int_li``
  readout) and ``int_asn``: spikeforge's processes in ``lavanet/sfproc.py``;
* ``delay`` nodes: ``SfDelay`` lines in front of the synapse.

Timing: Lava's ``Dense`` sends at step ``t`` what it summed at ``t - 1``, which is the
Program's one-step hop; the plan adds nothing else. Samples run one after another in
windows of ``W = T + lag + lead`` steps (``lag``, ``lead``: how far before or after its
source's model time a neuron reads it, through a recurrent edge, a user delay or an
unbalanced skip; such reads see the zeros of a gated step, never another sample) (see ``lavanet/sfproc.py``).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import networkx as nx
import numpy as np

from spikeforge.compiler.errors import SpikeforgeError

from ..projections import groups, projections

FORMAT = "spikeforge-lava"
VERSION = 1
#: Below this fraction of nonzero weights a projection becomes a Lava ``Sparse`` process.
SPARSE_DENSITY = 0.25
#: Lava's 8-bit weight mantissa (mixed sign: even numbers, so |m| <= 127 after halving).
MANT_MAX = 127
#: Ops the Lava backend runs.
SUPPORTED = ("int_lif", "int_li", "int_asn", "int_mtc", "int_spe_lif", "int_spe_asn")
HERE = Path(__file__).resolve().parent


def _tz(x: np.ndarray) -> int:
    """Trailing zero bits common to all nonzero entries (large for all-zero rows)."""
    nz = np.abs(x[x != 0])
    if nz.size == 0:
        return 63
    tz = 0
    while tz < 62 and not np.any(nz & ((1 << (tz + 1)) - 1)):
        tz += 1
    return tz


def exponent_groups(M: np.ndarray, where: str) -> list[tuple[int, np.ndarray]]:
    """Split a matrix's rows into (exponent, rows) groups with 8-bit mantissas.

    Row ``r`` may use any exponent ``e`` with ``M_r`` divisible by ``2^e`` and
    ``max|M_r| <= 127 * 2^e``; the fewest exponents covering every row are chosen (interval
    stabbing).

    Raises:
        SpikeforgeError: A row needs more than an 8-bit mantissa.
    """
    rows = []
    for r in range(M.shape[0]):
        row = M[r]
        mx = int(np.abs(row).max(initial=0))
        if mx == 0:
            continue
        lo = 0
        while mx > MANT_MAX * (1 << lo):
            lo += 1
        hi = _tz(row)
        if hi < lo:
            raise SpikeforgeError(f"{where}: row {r} needs more than an 8-bit weight mantissa (max |w| = {mx}, exponent {hi}); Lava's Dense holds 8 bits")
        rows.append((hi, lo, r))
    rows.sort()
    out: dict[int, list[int]] = {}
    cur = None
    for hi, lo, r in rows:
        if cur is None or lo > cur:
            cur = hi
        out.setdefault(cur, []).append(r)
    return [(e, np.array(rs)) for e, rs in sorted(out.items())]


def _uniform(v) -> bool:
    v = np.asarray(v)
    return v.size == 0 or bool(np.all(v == v.reshape(-1)[0]))


def _flat(v, n: int) -> np.ndarray:
    return np.ascontiguousarray(np.broadcast_to(np.asarray(v, dtype=np.int64), (n,)) if np.asarray(v).size == 1 else np.asarray(v, dtype=np.int64).reshape(-1))


def _lava_conv(p, tile: int, enabled: bool) -> dict | None:
    """Lava ``Conv`` parameters for a projection that is one ``int_conv2d`` whose weights are
    8-bit without an exponent (Lava's fixed_pt Conv ignores ``weight_exp``), else ``None``.

    Lava's layout is channel-last ``(X, Y, C) = (W, H, C)`` with the kernel flipped (a true
    convolution): ``w_lava[o, x, y, i] = w[o, i, kh - 1 - y, kw - 1 - x]``; the ports are
    transposed from and to our ``(C, H, W)`` order.
    """
    n = p.linop
    if not enabled or n is None or n.op != "int_conv2d" or tile != 1 or np.any(np.asarray(n.params["wexp"]) != 0):
        return None
    w = np.asarray(n.params["weight"], dtype=np.int64)
    if np.abs(w).max(initial=0) > MANT_MAX:
        return None
    two = lambda v: [int(v[1]), int(v[0])] if np.ndim(v) else [int(v), int(v)]  # (h, w) -> (X, Y)
    C, H, W_ = n.in_shape
    return {
        "weight": np.ascontiguousarray(w[:, :, ::-1, ::-1].transpose(0, 3, 2, 1)).astype(np.int32),
        "src_shape": [int(C), int(H), int(W_)],
        "dst_shape": [int(x) for x in n.out_shape],
        "stride": two(n.attrs.get("stride", 1)), "padding": two(n.attrs.get("padding", 0)),
        "dilation": two(n.attrs.get("dilation", 1)), "groups": int(n.attrs.get("groups", 1)),
    }


def plan(prog, realization: str | None = None, native_lif: bool = True, native_conv: bool = True) -> tuple[dict, dict[str, np.ndarray]]:
    """The Lava plan of an integer program: a JSON-able description and its arrays.

    Args:
        prog: Integer :class:`~spikeforge.compiler.Program`.
        realization: ``"graded"`` or ``"binary"`` graded spikes (default: the Program's).
        native_lif: Use Lava's own LIF where it fits (``False``: spikeforge's ``SfLIF``
            everywhere).
        native_conv: Use Lava's ``Conv`` for a convolution between two layers whose weights
            fit 8 bits without an exponent (``False``: its matrix as ``Dense``/``Sparse``).

    Raises:
        SpikeforgeError: Not an integer program, an op Lava cannot run, or weights that do
            not fit Lava's synapses.
    """
    from spikeforge.backends.reference.runtime import is_integer_program

    if not is_integer_program(prog):
        return plan_float(prog, native_lif)
    g = prog.graph
    realization = realization or g.metadata.get("realization", "graded")
    if realization not in ("graded", "binary"):
        raise SpikeforgeError(f"unknown realization {realization!r}; use 'graded' or 'binary'")
    projs = projections(prog)
    cyc, reads_off, lag, lead = _timing(prog, projs)
    arrays: dict[str, np.ndarray] = {}
    gs = []
    inp = g.nodes[prog.input_name]
    for name in groups(prog):
        n = g.nodes[name]
        size = int(np.prod(n.out_shape)) if n.out_shape else 1
        rec = {"name": name, "op": n.op, "n": size, "depth": int(prog.depths[name]), "shape": list(n.out_shape or (1,))}
        if n.op == "input":
            rec.update(kind="input", bits=int(n.attrs["bits"]), signed=bool(n.attrs.get("signed", False)), message_bits=int(n.attrs["bits"]) + int(bool(n.attrs.get("signed", False))))
            gs.append(rec)
            continue
        if n.op not in SUPPORTED:
            raise SpikeforgeError(f"node '{name}' has op '{n.op}' that the Lava backend cannot run; supported neurons: {', '.join(SUPPORTED)}")
        P = n.params
        key = f"g/{name}/"
        if n.op == "int_mtc":
            from spikeforge.models.mtc.spec import INT_PARAMS, OUT_BITS

            rec.update(kind="sf_mtc", message_bits=OUT_BITS + 1, out_n=size)
            for k in INT_PARAMS:
                arrays[key + k] = _flat(P[k], size)
            arrays[key + "lut"] = np.asarray(P["lut"], dtype=np.int64)
        elif n.op in ("int_spe_lif", "int_spe_asn"):
            from spikeforge.models.spe.spec import PARAM_BITS

            asn = n.op == "int_spe_asn"
            D = int(n.attrs["D"]) if asn else 1
            binary = asn and realization == "binary"
            rec.update(kind="sf_spe", spe_op=n.op, alpha=int(n.attrs.get("alpha", 0)), D=D, binary=binary,
                       subtract=str(n.attrs.get("reset", "zero")) == "subtract",
                       message_bits=0 if (binary or not asn) else max(1, int(D).bit_length()), out_n=size * D if binary else size)
            for k in PARAM_BITS[n.op]:
                arrays[key + k] = _flat(P[k], size)
        elif n.op == "int_asn":
            D = int(n.attrs["D"])
            binary = realization == "binary"
            rec.update(kind="sf_asn", alpha=int(n.attrs["alpha"]), D=D, binary=binary, message_bits=0 if binary else max(1, int(D).bit_length()),
                       out_n=size * D if binary else size)
            for k in ("dv", "bias", "p"):
                arrays[key + k] = _flat(P[k], size)
        else:
            spiking = n.op == "int_lif"
            reset = str(n.attrs.get("reset", "zero"))
            native = (
                native_lif and spiking and reset == "zero" and name not in cyc and name not in reads_off
                and all(_uniform(P[k]) for k in ("du", "dv", "vth"))
                and int(np.abs(_flat(P["bias_mant"], size)).max(initial=0)) < 4096 and int(_flat(P["bias_exp"], size).max(initial=0)) <= 7
                and int(_flat(P["bias_exp"], size).min(initial=0)) >= 0
            )
            rec.update(kind="lava_lif" if native else "sf_lif", subtract=reset == "subtract", spiking=spiking, message_bits=0 if spiking else 24, out_n=size)
            for k in ("du", "dv", "vth", "bias_mant", "bias_exp"):
                arrays[key + k] = _flat(P[k], size)
        gs.append(rec)
    kinds = {r["name"]: r for r in gs}
    syn = []
    for i, p in enumerate(projs):
        src = kinds[p.src]
        where = f"projection {p.src} -> {p.dst}"
        M = p.matrix
        tile = src["D"] if src.get("kind") in ("sf_asn", "sf_spe") and src["binary"] else 1
        conv = _lava_conv(p, tile, native_conv)
        if conv is not None:
            k = f"s/{i}/weights"
            arrays[k] = conv.pop("weight")
            syn.append({"src": p.src, "dst": p.dst, "delay": 0, "weights": k, "weight_exp": 0, "kind": "conv",
                        "num_message_bits": int(src["message_bits"]), "path": list(p.path), **conv})
            continue
        for j, (e, rows) in enumerate(exponent_groups(M, where)):
            Wg = np.zeros_like(M)
            Wg[rows] = M[rows] >> e
            Wg = 2 * Wg
            if tile > 1:
                Wg = np.tile(Wg, (1, tile))
            density = np.count_nonzero(Wg) / max(1, Wg.size)
            k = f"s/{i}_{j}/weights"
            arrays[k] = Wg.astype(np.int32)
            syn.append({"src": p.src, "dst": p.dst, "delay": int(p.delay), "weights": k, "weight_exp": int(e) - 1,
                        "kind": "sparse" if density < SPARSE_DENSITY else "dense", "num_message_bits": int(src["message_bits"]),
                        "path": list(p.path)})
    meta = _meta(prog, gs, syn, lag, lead, realization=realization, tag="fixed_pt", input_exp=int(inp.attrs["exp"]))
    return meta, arrays


#: Float neuron ops the Lava ``floating_pt`` network runs.
FLOAT_SUPPORTED = ("lif", "cuba_lif", "li", "cuba_li")


def _meta(prog, groups_: list, synapses: list, lag: int, lead: int, **fields) -> dict:
    """The plan's JSON record. Sample windows are ``T + lag + lead`` steps, so what a neuron
    reads outside its source's model time is a gated (zero) step of a window, never another
    sample's."""
    return {"format": FORMAT, "version": VERSION, "target": prog.target, "input": prog.input_name, "groups": groups_,
            "synapses": synapses, "max_depth": int(prog.max_depth), "lag": int(lag), "lead": int(lead), **fields}


def _timing(prog, projs) -> tuple[set, set, int, int]:
    """(layers in cycles, sources read out of step, lag, lead) of a program's projections.

    A neuron at model step m reads its source's model step m + off. Off is 0 in a balanced
    feed-forward net; < 0 through recurrence or user delays (negative model time: zeros);
    > 0 past an unbalanced skip (model time beyond T: zeros). Lava's own LIF cannot hold
    zeros outside its model time, so its sources must read with off = 0.
    """
    dg = prog.graph.nx()
    cyc = {m for comp in nx.strongly_connected_components(dg) if len(comp) > 1 for m in comp} | {m for m in dg if dg.has_edge(m, m)}
    reads_off, lag, lead = set(), 0, 0
    for p in projs:
        off = prog.depths[p.dst] - 1 - p.delay - prog.depths[p.src]
        if off:
            reads_off.add(p.src)
        lag, lead = max(lag, -off), max(lead, off)
    return cyc, reads_off, lag, lead


def _fparam(n, key: str, size: int, default: float) -> np.ndarray:
    v = n.params.get(key, default)
    return np.ascontiguousarray(np.broadcast_to(np.asarray(v, dtype=np.float64), tuple(n.out_shape or (1,))).reshape(-1)) if np.asarray(v).size in (1, size) else np.asarray(v, np.float64).reshape(-1)


def plan_float(prog, native_lif: bool = True) -> tuple[dict, dict[str, np.ndarray]]:
    """The Lava ``floating_pt`` plan of a float program (``target="float"``).

    Synapses are Lava's float ``Dense`` (the linear part of each path); biases of affine and
    conv nodes become neuron biases. ``lif`` layers with one decay and one threshold and zero
    reset run on Lava's own float ``LIFReset`` (``du = 1``, ``dv = 1 - a``, weights scaled by
    ``g``, bias ``b + g c``); the rest on ``SfFloatNeuron``. Agreement with the float
    reference is up to float rounding (Lava computes ``v (1 - dv)`` where the reference
    computes ``a v``, and sums spikes in another order); ``docs/lava.md`` gives the tolerance.
    """
    from ..projections import constants

    g = prog.graph
    projs = projections(prog)
    consts = constants(prog)
    cyc, reads_off, lag, lead = _timing(prog, projs)
    arrays: dict[str, np.ndarray] = {}
    gs = []
    scale: dict[str, np.ndarray] = {}
    for name in groups(prog):
        n = g.nodes[name]
        size = int(np.prod(n.out_shape)) if n.out_shape else 1
        rec = {"name": name, "op": n.op, "n": size, "depth": int(prog.depths[name]), "shape": list(n.out_shape or (1,))}
        if n.op == "input":
            rec.update(kind="input", message_bits=24)
            gs.append(rec)
            continue
        if n.op not in FLOAT_SUPPORTED:
            raise SpikeforgeError(f"node '{name}' has op '{n.op}' that the Lava floating_pt network cannot run; supported: {', '.join(FLOAT_SUPPORTED)} (compile for loihi2 for the rest)")
        key = f"g/{name}/"
        a, gg, b = _fparam(n, "a", size, 0.0), _fparam(n, "g", size, 1.0), _fparam(n, "b", size, 0.0)
        c = consts.get(name, np.zeros(size))
        spiking = n.op in ("lif", "cuba_lif")
        use_syn = n.op.startswith("cuba")
        subtract = str(n.attrs.get("reset", "zero")) == "subtract"
        vth = _fparam(n, "v_threshold", size, 1.0) if spiking else np.zeros(size)
        vreset = _fparam(n, "v_reset", size, 0.0) if spiking else np.zeros(size)
        native = (native_lif and n.op == "lif" and not subtract and not np.any(vreset) and _uniform(a) and _uniform(vth)
                  and name not in cyc and name not in reads_off)
        if native:
            rec.update(kind="lava_lif_float", message_bits=0, out_n=size, dv=float(1.0 - a[0]), vth=float(vth[0]))
            arrays[key + "bias"] = b + gg * c
            scale[name] = gg
        else:
            rec.update(kind="sf_float", use_syn=use_syn, subtract=subtract, spiking=spiking, message_bits=0 if spiking else 24, out_n=size)
            arrays.update({key + "a_syn": _fparam(n, "a_syn", size, 0.0), key + "g_syn": _fparam(n, "g_syn", size, 1.0), key + "a": a, key + "g": gg,
                           key + "vth": vth, key + "vreset": vreset})
            if use_syn:
                if np.any(c):
                    raise SpikeforgeError(f"node '{name}' ({n.op}): a bias in front of a current-based neuron is not supported by the Lava float network")
                arrays[key + "b"] = b
            else:
                arrays[key + "b"] = b + gg * c
        gs.append(rec)
    kinds = {r["name"]: r for r in gs}
    syn = []
    for i, p in enumerate(projs):
        Wf = p.matrix * scale.get(p.dst, np.ones(p.matrix.shape[0]))[:, None]
        k = f"s/{i}/weights"
        arrays[k] = Wf
        syn.append({"src": p.src, "dst": p.dst, "delay": int(p.delay), "weights": k, "weight_exp": 0, "kind": "dense",
                    "num_message_bits": int(kinds[p.src]["message_bits"]), "path": list(p.path)})
    meta = _meta(prog, gs, syn, lag, lead, realization="float", tag="floating_pt", input_exp=0)
    return meta, arrays


README = """# Lava network emitted by spikeforge

This folder runs a spikeforge integer program in Lava (lava-nc 0.10, Python 3.10) with
Lava's bit-accurate models (`Loihi2SimCfg(select_tag="fixed_pt")`); it needs numpy and
lava-nc only, not spikeforge or torch.

| file | what |
|---|---|
| `network.py` | `build_network(folder, x_int)` returns the Lava processes and their probes (sinks); `run(folder, x_int)` runs them; `python network.py --input in.npz --output out.npz` does both |
| `sfproc.py` | spikeforge's own Lava processes (per-neuron LIF, ASN, MTC, delay lines), fixed_pt models |
| `sfmodels/` | a verbatim copy of spikeforge's numpy-only neuron definitions, whose `step` the processes call |
| `plan.json`, `plan.npz` | the layers, their integer parameters and synapses (weights as Lava mantissas with `weight_exp`) |
| `program.h5` | the integer program itself (spikeforge's HDF5 format), for reference |

Input: `x_int` integers shaped `(T, B, n_in)`, already quantized (`real = x_int * 2^input_exp`,
input_exp = {input_exp}). Samples run one after another, states reset between them.
Timing: each synaptic hop takes one step (Lava's `Dense` buffers its output by one step);
`run` returns every probed layer in model time `(T, B, n)`.

Layers (target {target}, realization {realization}):

{layers}
"""


#: The numpy-only neuron definitions an emitted folder carries (``sfproc.py`` calls their steps).
SPEC_FILES = ("quant.py", "declare.py", "lif/spec.py", "asn/spec.py", "mtc/spec.py", "spe/spec.py")


def _vendor_specs(dst: Path) -> None:
    """Copy the normative neuron steps verbatim into ``dst`` as the package ``sfmodels`` (their
    relative imports resolve inside it; the package ``__init__`` files are empty so that no
    torch module is imported)."""
    import spikeforge.models as models

    src = Path(models.__file__).resolve().parent
    for rel in SPEC_FILES:
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(src / rel, dst / rel)
    for d in {dst, *((dst / rel).parent for rel in SPEC_FILES)}:
        (d / "__init__.py").write_text('"""Vendored copy of spikeforge\'s numpy-only neuron definitions (models/)."""\n')


def write_artifact(prog, out_dir: str | os.PathLike, realization: str | None = None, native_lif: bool = True, native_conv: bool = True,
                   include_program: bool = True) -> Path:
    """Write the self-contained Lava folder (plan, processes, ``network.py``, README and, with
    ``include_program``, ``program.h5``; the runner's temporary folders leave it out).

    The folder is built beside ``out_dir`` and renamed into place, so a failure leaves
    nothing half-written.
    """
    meta, arrays = plan(prog, realization, native_lif, native_conv)
    out = Path(out_dir)
    tmp = out.with_name(out.name + ".tmp-spikeforge")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        (tmp / "plan.json").write_text(json.dumps(meta, indent=1))
        np.savez(tmp / "plan.npz", **arrays)
        shutil.copy(HERE / "lavanet" / "sfproc.py", tmp / "sfproc.py")
        _vendor_specs(tmp / "sfmodels")
        shutil.copy(HERE / "lavanet" / "network.py", tmp / "network.py")
        if include_program:
            prog.save(tmp / "program.h5")
        layers = "\n".join(f"- `{r['name']}`: {r['kind']}, {r['n']} neurons, depth {r['depth']}" for r in meta["groups"])
        layers += "\n" + "\n".join(f"- {s['src']} -> {s['dst']}: Lava {s['kind'].capitalize()}, weight_exp {s['weight_exp']}, delay {s['delay']}" for s in meta["synapses"])
        (tmp / "README.md").write_text(README.format(input_exp=meta["input_exp"], target=meta["target"], realization=meta["realization"], layers=layers))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


__all__ = ["SPARSE_DENSITY", "exponent_groups", "plan", "write_artifact"]
