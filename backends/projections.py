"""Neuron-to-neuron projections of an integer Program, for backends that connect groups.

Hardware backends (Lava, Brian2 digital) connect *groups* (the input and the neuron nodes)
with synapses; the stateless nodes between them (``int_dense``, ``int_conv*``, ``sumpool2d``,
``flatten``, ``identity``, ``delay``) are linear in the integers (every ``wexp >= 0`` is a
left shift), so each (source group, target neuron, extra delay) triple is one exact integer
matrix. :func:`projections` computes them by pushing the identity of each source group
through the stateless subgraph below it with the reference backend's own integer ops.

Timing: a projection with ``delay = k`` delivers the source's value of hardware step
``t - 1 - k`` to the target's update at step ``t`` (the one-step hop of ``docs/semantics.md``
plus ``k`` steps of explicit ``delay`` nodes). A source value before the source's depth is
zero (negative model time), as in the reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from spikeforge.compiler.errors import SpikeforgeError
from spikeforge.compiler.ir import NEURON_OPS

#: Stateless ops a projection may cross (integer programs).
LINEAR_OPS = frozenset({"int_dense", "int_conv1d", "int_conv2d", "sumpool2d", "flatten", "identity", "delay"})
#: Stateless ops a projection may cross in float programs (affine ones: their constant part
#: is :func:`constants`, their linear part ``op(v) - op(0)`` goes into the matrix).
FLOAT_LINEAR_OPS = frozenset({"affine", "scale", "conv1d", "conv2d", "sumpool2d", "avgpool2d", "flatten", "identity", "delay"})


@dataclass
class Projection:
    """The exact integer map from one source group to one neuron node, for one delay.

    Attributes:
        src: Source node name (the ``input`` node or a neuron node).
        dst: Target neuron node name.
        matrix: int64 ``(n_dst, n_src)`` over the C-order flattened shapes; the target's
            synaptic input is ``a = matrix @ s`` (``wexp`` shifts already applied). Float
            programs: float64, the linear part of the path (biases: :func:`constants`).
        delay: Extra steps from ``delay`` nodes on the path (0: the plain one-step hop).
        path: The stateless nodes the contributions cross (union over all paths).
        linop: When the only path is one weighted node (``src -> int_dense|int_conv* -> dst``)
            with no delay: that node, so a backend can emit a native dense or conv synapse.
    """

    src: str
    dst: str
    matrix: np.ndarray
    delay: int = 0
    path: tuple[str, ...] = ()
    linop: object | None = field(default=None, repr=False)

    @property
    def nnz(self) -> int:
        """Number of nonzero synapses."""
        return int(np.count_nonzero(self.matrix))


def groups(prog) -> list[str]:
    """Source groups of a program in graph order: the input node and every neuron node."""
    return [m for m, n in prog.graph.nodes.items() if n.op == "input" or n.op in NEURON_OPS]


def _size(shape) -> int:
    return int(np.prod(shape)) if shape else 1


def _direct_dense(g, src: str, reach: set, fed: list, integer: bool) -> Projection | None:
    """The common case without the identity push: ``src -> int_dense -> dst`` and nothing else
    leaves ``src`` (the matrix is ``weight << wexp`` row by row, or a float ``affine``'s weight)."""
    if len(reach) != 1 or len(fed) != 1:
        return None
    (m,) = reach
    n = g.nodes[m]
    dst = fed[0]
    if n.op != ("int_dense" if integer else "affine") or g.preds(m) != [src] or g.succs(m) != [dst]:
        return None
    w = np.asarray(n.params["weight"])
    if integer:
        mat = np.left_shift(w.astype(np.int64), np.asarray(n.params["wexp"], dtype=np.int64).reshape(-1, 1))
    else:
        mat = w.astype(np.float64)
    return Projection(src, dst, np.ascontiguousarray(mat), 0, (m,), n)


def projections(prog) -> list[Projection]:
    """Every (source, target, delay) projection of an integer (or float) program.

    Raises:
        SpikeforgeError: A stateless node the projections cannot cross, or a loop through
            stateless nodes only.
    """
    from spikeforge.backends.reference.ops import STATELESS
    from spikeforge.backends.reference.runtime import is_integer_program

    integer = is_integer_program(prog)
    allowed = LINEAR_OPS if integer else FLOAT_LINEAR_OPS
    dtype = np.int64 if integer else np.float64
    g = prog.graph
    dg = g.nx()
    out: list[Projection] = []
    for src in groups(prog):
        n_src = _size(g.nodes[src].out_shape)
        # the stateless nodes reachable from src without crossing a neuron
        reach: set[str] = set()
        stack = list(g.succs(src))
        while stack:
            m = stack.pop()
            if m in reach or g.nodes[m].op in NEURON_OPS or g.nodes[m].op in ("output", "input"):
                continue
            if g.nodes[m].op not in allowed:
                raise SpikeforgeError(f"node '{m}' ({g.nodes[m].op}) cannot be mapped onto synapses; supported between neurons: {', '.join(sorted(allowed))}")
            reach.add(m)
            stack.extend(g.succs(m))
        sub = dg.subgraph(reach)
        if not nx.is_directed_acyclic_graph(sub):
            raise SpikeforgeError(f"a loop through stateless nodes only ({', '.join(sorted(reach))}): every loop needs a neuron")
        fed = [d for d, dn in g.nodes.items() if dn.op in NEURON_OPS and any(p == src or p in reach for p in g.preds(d))]
        if not fed:
            continue  # feeds only the output
        direct = _direct_dense(g, src, reach, fed, integer)
        if direct is not None:
            out.append(direct)
            continue
        eye = np.eye(n_src, dtype=dtype).reshape((n_src,) + tuple(g.nodes[src].out_shape or ()))
        vals: dict[str, dict[int, np.ndarray]] = {src: {0: eye}}
        crossed: dict[str, set[str]] = {src: set()}
        for m in nx.topological_sort(sub):
            n = g.nodes[m]
            inp: dict[int, np.ndarray] = {}
            via: set[str] = set()
            for p in g.preds(m):
                for k, v in vals.get(p, {}).items():
                    inp[k] = inp[k] + v if k in inp else v
                via |= crossed.get(p, set())
            res: dict[int, np.ndarray] = {}
            for k, v in inp.items():
                if n.op == "delay":
                    st = np.broadcast_to(np.asarray(n.params["steps"], dtype=np.int64), n.out_shape)
                    for s in np.unique(st):
                        part = np.where(st == s, v, 0)
                        key = k + int(s)
                        res[key] = res[key] + part if key in res else part
                else:
                    y = STATELESS[n.op](n, v)
                    if not integer:  # the linear part of an affine op
                        y = y - STATELESS[n.op](n, np.zeros_like(v[:1]))
                    res[k] = y.reshape((n_src,) + tuple(n.out_shape or ()))
            vals[m] = res
            crossed[m] = via | {m}
        # collect at the neuron nodes fed by src or by a reached stateless node
        for dst, dn in g.nodes.items():
            if dn.op not in NEURON_OPS:
                continue
            feeders = [p for p in g.preds(dst) if p == src or p in reach]
            if not feeders:
                continue
            acc: dict[int, np.ndarray] = {}
            for p in feeders:
                for k, v in vals[p].items():
                    acc[k] = acc[k] + v if k in acc else v
            path = tuple(sorted(set().union(*(crossed[p] for p in feeders))))
            n_dst = _size(dn.in_shape)
            for k in sorted(acc):
                mat = np.ascontiguousarray(acc[k].reshape(n_src, n_dst).T)
                if not mat.any() and len(acc) > 1:
                    continue
                linop = None
                if k == 0 and len(acc) == 1 and len(path) == 1 and len(feeders) == 1:
                    only = g.nodes[path[0]]
                    if only.op in ("int_dense", "int_conv1d", "int_conv2d") and g.preds(path[0]) == [src]:
                        linop = only
                out.append(Projection(src, dst, mat, k, path, linop))
    return out


def constants(prog) -> dict[str, np.ndarray]:
    """Float programs: the constant input (biases of affine and conv nodes) of each neuron
    node, flattened; what its synaptic input is when every source is silent.

    Raises:
        SpikeforgeError: A bias that reaches a neuron through a delay (it would arrive late).
    """
    from spikeforge.backends.reference.ops import STATELESS

    g = prog.graph
    vals: dict[str, np.ndarray] = {}
    order = [m for m in nx.topological_sort(g.nx().subgraph([m for m, n in g.nodes.items() if n.op not in NEURON_OPS and n.op != "input"]))]
    out: dict[str, np.ndarray] = {}
    for m in order:
        n = g.nodes[m]
        ins = [vals[p] for p in g.preds(m) if p in vals]
        v = sum(ins[1:], ins[0]) if ins else np.zeros((1,) + tuple(n.in_shape or ()))
        if n.op == "delay":
            if np.any(v):
                raise SpikeforgeError(f"delay node '{m}' delays a bias; move the bias past the delay (the Lava float network holds biases in the neurons)")
            vals[m] = v
        elif n.op == "output":
            continue
        else:
            vals[m] = STATELESS[n.op](n, v).reshape((1,) + tuple(n.out_shape or ()))
    for dst, dn in g.nodes.items():
        if dn.op in NEURON_OPS:
            ins = [vals[p] for p in g.preds(dst) if p in vals]
            out[dst] = (sum(ins[1:], ins[0]) if ins else np.zeros((1,) + tuple(dn.in_shape or ()))).reshape(-1).astype(np.float64)
    return out


__all__ = ["FLOAT_LINEAR_OPS", "LINEAR_OPS", "Projection", "constants", "groups", "projections"]
