"""The compiled :class:`Program`: a discrete-time graph plus its timing, saved as HDF5.

A Program is what backends run. It holds the discretized (and, for integer targets,
quantized) graph, the time step, the target name, and each node's hardware-time depth.
Files are HDF5 (never pickle), written atomically.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import h5py
import numpy as np

from .fsutil import atomic_path
from .errors import NIRFileError, SpikeforgeError
from .ir import Graph, Node
from .timing import arrival_depths

FORMAT = "spikeforge-program"
VERSION = 1


def _to_json(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_to_json(x) for x in v]
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, dict):
        return {str(k): _to_json(x) for k, x in v.items()}
    return v


def _from_json(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_from_json(x) for x in v)
    if isinstance(v, dict):
        return {k: _from_json(x) for k, x in v.items()}
    return v


def _span(a: Any) -> str:
    a = np.asarray(a)
    if a.size == 0:
        return "[]"
    lo, hi = a.min(), a.max()
    return f"{lo}" if lo == hi else f"{lo}..{hi}"


def _input_info(n: Node) -> str:
    a = n.attrs
    return f"x = int{a['bits']}{'' if a['signed'] else 'u'} * 2^{a['exp']}" if "exp" in a else ""


def _syn_info(n: Node) -> str:
    return f"|w| <= {int(np.abs(n.params['weight']).max(initial=0))} wexp={_span(n.params['wexp'])}"


def _lif_info(n: Node) -> str:
    p = n.params
    s = f"p={_span(p['p'])} du={_span(p['du'])} dv={_span(p['dv'])} bias={_span(np.left_shift(p['bias_mant'], p['bias_exp']))}"
    return s + (f" vth={_span(p['vth'])} reset={n.attrs.get('reset', 'zero')}" if n.op != "int_li" else "")


def _asn_info(n: Node) -> str:
    p, a = n.params, n.attrs
    return f"p={_span(p['p'])} dv={_span(p['dv'])} bias={_span(p['bias'])} alpha={a.get('alpha', 0)} D={a['D']} N={a.get('N', '')}"


def _spe_info(base: Callable[[Node], str]) -> Callable[[Node], str]:
    return lambda n: f"{base(n)} kc={_span(n.params['kc'])}"


def _mtc_info(n: Node) -> str:
    return f"24-bit states, tanh table {np.asarray(n.params['lut']).size} x 12 bit, out_bits={n.attrs.get('out_bits', '')}"


#: Integer op -> its number formats for :meth:`Program.summary`.
_INT_INFO: dict[str, Callable[[Node], str]] = {
    "input": _input_info,
    "int_dense": _syn_info,
    "int_conv1d": _syn_info,
    "int_conv2d": _syn_info,
    "int_lif": _lif_info,
    "int_li": _lif_info,
    "int_asn": _asn_info,
    "int_spe_lif": _spe_info(_lif_info),
    "int_spe_asn": _spe_info(_asn_info),
    "int_mtc": _mtc_info,
}


def _int_info(n: Node) -> str:
    """Number formats of an integer node, for :meth:`Program.summary` ("" for other ops)."""
    f = _INT_INFO.get(n.op)
    return f(n) if f else ""


@dataclass(frozen=True)
class Program:
    """A compiled, discrete-time program.

    Attributes:
        graph: The discrete graph (float neuron ops ``lif``, ``cuba_lif``, ``li``,
            ``cuba_li``, ``asn``, or the integer ops of ``docs/integer.md`` for integer
            targets; explicit ``delay`` nodes).
        target: Target name (``"float"``, ``"loihi2"``, ...; see
            :data:`~spikeforge.compiler.targets.TARGETS`).
        dt: Time step the program was discretized with.
        method: Discretization method (``"exact"`` or ``"euler"``).
        passes: Names of the passes that produced it, in order.
    """

    graph: Graph
    target: str
    dt: float
    method: str
    passes: tuple[str, ...] = ()
    depths: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        depth, _, _ = arrival_depths(self.graph)
        object.__setattr__(self, "depths", depth)

    # -- convenience -------------------------------------------------------------------
    @property
    def input_name(self) -> str:
        """Name of the single input node."""
        ins = self.graph.inputs
        if len(ins) != 1:
            raise SpikeforgeError(f"program has {len(ins)} input nodes; sf.run supports exactly one")
        return ins[0]

    @property
    def output_name(self) -> str:
        """Name of the single output node."""
        outs = self.graph.outputs
        if len(outs) != 1:
            raise SpikeforgeError(f"program has {len(outs)} output nodes; sf.run supports exactly one")
        return outs[0]

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Feature shape of the input (no time or batch axis)."""
        return tuple(self.graph.nodes[self.input_name].out_shape)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Feature shape of the output."""
        return tuple(self.graph.nodes[self.output_name].out_shape)

    @property
    def integer(self) -> bool:
        """Whether this is an integer program (all parameters integers, ``docs/integer.md``)."""
        from .targets import TARGETS

        t = TARGETS.get(self.target)
        return bool(t.integer) if t is not None else "ranges" in self.graph.metadata

    @property
    def realization(self) -> str | None:
        """How graded spikes run (``"graded"`` or ``"binary"``); ``None`` for float programs."""
        r = self.graph.metadata.get("realization")
        return None if r is None else str(r)

    @property
    def max_depth(self) -> int:
        """Largest hardware-time shift of any node."""
        return max(self.depths.values(), default=0)

    def summary(self) -> str:
        """A short human-readable listing of the nodes (integer programs: their number formats)."""
        real = f" realization={self.realization}" if self.realization else ""
        lines = [f"Program target={self.target}{real} dt={self.dt:g} method={self.method} nodes={len(self.graph.nodes)}"]
        for n in self.graph.nodes.values():
            line = f"  {n.name:<28} {n.op:<10} {str(n.in_shape):>16} -> {str(n.out_shape):<16} depth={self.depths[n.name]}"
            info = _int_info(n)
            lines.append(f"{line}  {info}" if info else line)
        return "\n".join(lines)

    # -- I/O -----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        """Write the program to an HDF5 file (temporary file, then rename)."""
        with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
            f.attrs["format"] = FORMAT
            f.attrs["version"] = VERSION
            f.attrs["target"] = self.target
            f.attrs["dt"] = float(self.dt)
            f.attrs["method"] = self.method
            f.attrs["passes"] = json.dumps(list(self.passes))
            f.attrs["metadata"] = json.dumps(_to_json(dict(self.graph.metadata)), default=str)
            grp = f.create_group("nodes")
            for i, n in enumerate(self.graph.nodes.values()):
                ng = grp.create_group(f"{i:05d}")
                ng.attrs["name"] = n.name
                ng.attrs["op"] = n.op
                ng.attrs["attrs"] = json.dumps(_to_json(dict(n.attrs)))
                ng.attrs["in_shape"] = json.dumps(_to_json(n.in_shape))
                ng.attrs["out_shape"] = json.dumps(_to_json(n.out_shape))
                pg = ng.create_group("params")
                for k, v in n.params.items():
                    pg.create_dataset(k, data=np.asarray(v))
            e = np.array([[a, b] for a, b in self.graph.edges], dtype=object).reshape(-1, 2)
            f.create_dataset("edges", data=e.astype(h5py.string_dtype()) if e.size else np.zeros((0, 2), dtype=h5py.string_dtype()), dtype=h5py.string_dtype())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Program":
        """Read a program written by :meth:`save`.

        Raises:
            NIRFileError: Missing, not HDF5, truncated, or not a spikeforge program.
        """
        p = Path(path)
        if not p.exists():
            raise NIRFileError(f"{p}: no such file")
        if p.is_dir() or not h5py.is_hdf5(p):
            raise NIRFileError(f"{p}: not an HDF5 file (a spikeforge program is HDF5 written by Program.save)")
        try:
            with h5py.File(p, "r") as f:
                if f.attrs.get("format") != FORMAT:
                    raise NIRFileError(f"{p}: HDF5 file is not a spikeforge program (format attribute missing); compile a .nir file first")
                if int(f.attrs["version"]) > VERSION:
                    raise NIRFileError(f"{p}: program format version {int(f.attrs['version'])} is newer than this spikeforge ({VERSION})")
                nodes = []
                for key in sorted(f["nodes"]):
                    ng = f["nodes"][key]
                    ins, outs = json.loads(ng.attrs["in_shape"]), json.loads(ng.attrs["out_shape"])
                    nodes.append(
                        Node(
                            name=str(ng.attrs["name"]),
                            op=str(ng.attrs["op"]),
                            params={k: np.asarray(v[()]) for k, v in ng["params"].items()},
                            attrs=_from_json(json.loads(ng.attrs["attrs"])),
                            in_shape=None if ins is None else tuple(ins),
                            out_shape=None if outs is None else tuple(outs),
                        )
                    )
                edges = [(a.decode() if isinstance(a, bytes) else a, b.decode() if isinstance(b, bytes) else b) for a, b in f["edges"][()]]
                meta = json.loads(f.attrs["metadata"])
                prog = cls(
                    graph=Graph({n.name: n for n in nodes}, tuple(edges), meta),
                    target=str(f.attrs["target"]),
                    dt=float(f.attrs["dt"]),
                    method=str(f.attrs["method"]),
                    passes=tuple(json.loads(f.attrs["passes"])),
                )
        except NIRFileError:
            raise
        except (OSError, KeyError, ValueError, TypeError) as e:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise NIRFileError(f"{p}: unreadable or truncated spikeforge program ({msg})") from None
        return prog
