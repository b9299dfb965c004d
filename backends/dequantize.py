"""Dequantization of an integer program's output from raw neuron values (any backend).

Every backend of an integer program returns the same ``Trace.output``: the output node's
real values (``docs/integer.md``), computed here from the raw model-time integers of the
neuron nodes and the quantized input, so no backend re-implements it.
"""

from __future__ import annotations

import numpy as np

from spikeforge.compiler.errors import SpikeforgeError
from spikeforge.compiler.ir import NEURON_OPS

#: Stateless ops the output may pass through on its way from neurons or the input.
PASS_OPS = ("output", "identity", "flatten", "sumpool2d", "delay")


def real_neuron(node, raw: np.ndarray) -> np.ndarray:
    """Real values of a neuron node's raw integers (spikes 0/1, ``int_asn`` ``(e + alpha) / N``,
    ``int_li`` ``v * 2^-p``, ``int_mtc`` ``out * 2^-out_bits``); float64, exact."""
    raw = np.asarray(raw, dtype=np.float64)
    if node.op == "int_li":
        p = np.broadcast_to(np.asarray(node.params["p"], dtype=np.int64), tuple(node.out_shape or ()))
        return np.ldexp(raw, -p)
    if node.op in ("int_asn", "int_spe_asn"):
        return (raw + int(node.attrs.get("alpha", 0))) / float(node.attrs.get("N", 1))
    if node.op == "int_mtc":  # graded output out / 2^out_bits (models/mtc/spec.py)
        return np.ldexp(raw, -int(node.attrs.get("out_bits", 8)))
    return raw


def real_output(prog, raw: dict[str, np.ndarray], x_int: np.ndarray, name: str | None = None) -> np.ndarray:
    """Dequantized model-time values ``(T, B, *shape)`` of ``name`` (default: the output node).

    Args:
        prog: The integer :class:`~spikeforge.compiler.Program`.
        raw: Neuron node name -> raw model-time integers ``(T, B, *shape)`` (at least the
            neurons the output depends on).
        x_int: The quantized input ``(T, B, *input_shape)``.
        name: Node to dequantize.
    """
    from spikeforge.backends.reference.ops import STATELESS
    from spikeforge.backends.reference.runtime import _delay_full

    from spikeforge.backends.reference.runtime import is_integer_program

    g = prog.graph
    integer = is_integer_program(prog)
    name = name or prog.output_name
    T, B = x_int.shape[:2]
    TT = T + prog.max_depth

    def shape(m, which="out"):
        n = g.nodes[m]
        return tuple((n.out_shape if which == "out" else n.in_shape) or ())

    def hw(m: str, seen: frozenset) -> np.ndarray:
        n = g.nodes[m]
        if m in seen:
            raise SpikeforgeError(f"cannot dequantize the output: loop without a neuron through '{m}'")
        out = np.zeros((TT, B) + shape(m))
        if n.op == "input":
            exp = n.attrs.get("exp")
            x = np.asarray(x_int, dtype=np.float64)
            out[:T] = x if exp is None else np.ldexp(x, int(exp))  # float programs: x is real
            return out
        if n.op in NEURON_OPS:
            if m not in raw:
                raise SpikeforgeError(f"no raw values for neuron node '{m}' to dequantize the output from")
            d = prog.depths[m]
            out[d : d + T] = real_neuron(n, raw[m])
            return out
        if n.op not in PASS_OPS and integer:
            raise SpikeforgeError(
                f"cannot dequantize the output of node '{m}' ({n.op}): the output of an integer program must come from "
                "neuron or input nodes (through flatten, sumpool2d or delay)"
            )
        ins = [hw(p, seen | {m}) for p in g.preds(m)]
        x = sum(ins[1:], ins[0]) if ins else np.zeros((TT, B) + shape(m, "in"))
        if n.op == "delay":
            return _delay_full(x, n.params["steps"])
        flat = x.reshape((TT * B,) + shape(m, "in"))
        return STATELESS[n.op](n, flat).reshape((TT, B) + shape(m))

    d = prog.depths[name]
    return hw(name, frozenset())[d : d + T]


def output_sources(prog, name: str | None = None) -> list[str]:
    """The neuron nodes the output (or ``name``) is computed from."""
    g = prog.graph
    todo, seen, found = [name or prog.output_name], set(), []
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        if g.nodes[m].op in NEURON_OPS:
            found.append(m)
        elif g.nodes[m].op != "input":
            todo.extend(g.preds(m))
    return sorted(found)


__all__ = ["output_sources", "real_neuron", "real_output"]
