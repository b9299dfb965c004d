"""NIR graph -> working :class:`~spikeforge.compiler.ir.Graph`.

Nested subgraphs are flattened (names joined with ``.``; their Input/Output nodes become
pass-through and are removed). Each NIR node type converts through a registry keyed by its
class; an unknown type is an :class:`UnsupportedNodeError` naming the node.
"""

from __future__ import annotations

from typing import Any, Callable

import nir
import numpy as np

from .errors import GraphError, UnsupportedNodeError
from .ir import Graph, Node, bypass, dedupe

Converter = Callable[[str, Any], Node]
#: NIR node class -> converter(name, nir_node) -> Node.
NIR_CONVERTERS: dict[type, Converter] = {}


def register(nir_type: type) -> Callable[[Converter], Converter]:
    """Decorator: register the converter of one NIR node type."""

    def deco(fn: Converter) -> Converter:
        NIR_CONVERTERS[nir_type] = fn
        return fn

    return deco


def _arr(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _shape(x: Any) -> tuple[int, ...] | None:
    if x is None:
        return None
    a = np.asarray(x)
    if a.dtype == object or a.ndim != 1:
        return None
    return tuple(int(v) for v in a)


def _tuple(x: Any, n: int) -> tuple[int, ...]:
    a = np.atleast_1d(np.asarray(x)).astype(int).ravel()
    if a.size == 1:
        return (int(a[0]),) * n
    return tuple(int(v) for v in a)


def _plain(v: Any) -> Any:
    """A metadata value as read back from HDF5 (0-d array, bytes, numpy scalar) as plain Python."""
    if isinstance(v, np.ndarray) and v.shape == ():
        v = v[()]
    if isinstance(v, bytes):
        v = v.decode("utf8")
    if isinstance(v, np.generic):
        v = v.item()
    return v


def _meta_str(meta: Any, key: str, default: str) -> str:
    if not isinstance(meta, dict) or key not in meta:
        return default
    return str(_plain(meta[key]))


def _reset(node: Any) -> str:
    r = _meta_str(getattr(node, "metadata", None), "reset", "zero")
    return "subtract" if r in ("subtract", "subtraction", "soft") else "zero"


def _typ(d: Any, key: str) -> tuple[int, ...] | None:
    if not isinstance(d, dict):
        return None
    return _shape(d.get(key))


@register(nir.Input)
def _input(name: str, n: nir.Input) -> Node:
    s = _typ(n.input_type, "input")
    return Node(name, "input", in_shape=s, out_shape=s)


@register(nir.Output)
def _output(name: str, n: nir.Output) -> Node:
    s = _typ(n.output_type, "output")
    return Node(name, "output", in_shape=s, out_shape=s)


#: Weight-quantization modes a node's ``spikeforge.weight_quant`` metadata may name.
WEIGHT_QUANT = ("per_row", "per_channel", "per_layer")


def _weight_quant(name: str, n: Any) -> dict:
    """``{"weight_quant": mode}`` from the node's ``spikeforge.weight_quant`` metadata (else ``{}``)."""
    mode = _meta_str(getattr(n, "metadata", None), "spikeforge.weight_quant", "")
    if not mode:
        return {}
    if mode not in WEIGHT_QUANT:
        raise GraphError(f"node '{name}': metadata spikeforge.weight_quant={mode!r} unknown; use one of {', '.join(WEIGHT_QUANT)}")
    return {"weight_quant": mode}


@register(nir.Affine)
def _affine(name: str, n: nir.Affine) -> Node:
    w = _arr(n.weight)
    return Node(name, "affine", {"weight": w, "bias": _arr(n.bias)}, _weight_quant(name, n), (w.shape[-1],), (w.shape[-2],))


@register(nir.Linear)
def _linear(name: str, n: nir.Linear) -> Node:
    w = _arr(n.weight)
    attrs = {"nir_type": "Linear", **_weight_quant(name, n)}
    return Node(name, "affine", {"weight": w, "bias": np.zeros(w.shape[-2])}, attrs, (w.shape[-1],), (w.shape[-2],))


@register(nir.Scale)
def _scale(name: str, n: nir.Scale) -> Node:
    s = _arr(n.scale)
    return Node(name, "scale", {"scale": s}, {}, s.shape or None, s.shape or None)


def _conv(name: str, n: Any, nd: int) -> Node:
    w = _arr(n.weight)
    pad = n.padding
    if isinstance(pad, bytes):
        pad = pad.decode()
    if isinstance(pad, np.ndarray) and pad.dtype.kind in "SU":
        pad = str(pad.astype(str))
    padding: Any = pad if isinstance(pad, str) else _tuple(pad, nd)
    spatial = None if n.input_shape is None else _tuple(n.input_shape, nd)
    bias = _arr(n.bias) if n.bias is not None and np.size(n.bias) == w.shape[0] else np.zeros(w.shape[0])
    attrs = {
        "stride": _tuple(n.stride, nd),
        "padding": padding,
        "dilation": _tuple(n.dilation, nd),
        "groups": int(np.asarray(n.groups)),
        **_weight_quant(name, n),
    }
    in_shape = None if spatial is None else (w.shape[1] * attrs["groups"], *spatial)
    return Node(name, f"conv{nd}d", {"weight": w, "bias": bias}, attrs, in_shape, None)


@register(nir.Conv1d)
def _conv1d(name: str, n: nir.Conv1d) -> Node:
    return _conv(name, n, 1)


@register(nir.Conv2d)
def _conv2d(name: str, n: nir.Conv2d) -> Node:
    return _conv(name, n, 2)


@register(nir.Flatten)
def _flatten(name: str, n: nir.Flatten) -> Node:
    return Node(
        name,
        "flatten",
        {},
        {"start_dim": int(n.start_dim), "end_dim": int(n.end_dim)},
        _typ(n.input_type, "input"),
        _typ(n.output_type, "output"),
    )


def _pool(name: str, n: Any, op: str) -> Node:
    return Node(
        name,
        op,
        {},
        {"kernel_size": _tuple(n.kernel_size, 2), "stride": _tuple(n.stride, 2), "padding": _tuple(n.padding, 2)},
    )


@register(nir.SumPool2d)
def _sumpool(name: str, n: nir.SumPool2d) -> Node:
    return _pool(name, n, "sumpool2d")


@register(nir.AvgPool2d)
def _avgpool(name: str, n: nir.AvgPool2d) -> Node:
    return _pool(name, n, "avgpool2d")


@register(nir.Threshold)
def _threshold(name: str, n: nir.Threshold) -> Node:
    th = _arr(n.threshold)
    return Node(name, "threshold", {"threshold": th}, {}, th.shape or None, th.shape or None)


@register(nir.Delay)
def _delay(name: str, n: nir.Delay) -> Node:
    d = _arr(n.delay)
    return Node(name, "Delay", {"delay": d}, {}, d.shape or None, d.shape or None)


def _neuron(name: str, n: Any, op: str, fields: tuple[str, ...], spiking: bool) -> Node:
    params = {f: _arr(getattr(n, f)) for f in fields}
    shp = np.broadcast_shapes(*(p.shape for p in params.values()))
    shape = shp if len(shp) > 0 and int(np.prod(shp)) > 1 else None
    attrs = {"reset": _reset(n)} if spiking else {}
    return Node(name, op, params, attrs, shape, shape)


#: Values of the ``spikeforge.model`` metadata that make a ``nir.LIF``/``nir.IF`` an ASN node.
ASN_MODELS = ("ASN", "NASN", "ILIF")


def _meta_int(name: str, meta: dict, key: str, default: int | None) -> int:
    if key not in meta:
        if default is None:
            raise GraphError(f"node '{name}': ASN metadata lacks '{key}' (docs/integer.md, NIR form of ASN)")
        return default
    v = _plain(meta[key])
    try:
        iv = int(v)
    except (TypeError, ValueError):
        raise GraphError(f"node '{name}': ASN metadata '{key}' must be an integer, got {v!r}") from None
    if iv != v:
        raise GraphError(f"node '{name}': ASN metadata '{key}' must be an integer, got {v!r}")
    return iv


def _asn(name: str, n: Any, fields: tuple[str, ...]) -> Node | None:
    """An ASN/NASN/I-LIF node (continuous op ``ASN``) when the metadata says so, else ``None``."""
    meta = getattr(n, "metadata", None)
    model = _meta_str(meta, "spikeforge.model", "")
    if not model:
        return None
    if model not in ASN_MODELS:
        raise GraphError(f"node '{name}': metadata spikeforge.model={model!r} unknown; use one of {', '.join(ASN_MODELS)}")
    D = _meta_int(name, meta, "D", None)
    N = _meta_int(name, meta, "N", 1)
    if D < 1 or N < 1:
        raise GraphError(f"node '{name}' ({model}): D and N must be >= 1, got D={D}, N={N}")
    node = _neuron(name, n, "ASN", fields, False)
    attrs = {"model": model, "alpha": _meta_int(name, meta, "alpha", 0), "D": D, "N": N}
    return node.replace(attrs=attrs)


@register(nir.LIF)
def _lif(name: str, n: nir.LIF) -> Node:
    fields = ("tau", "r", "v_leak", "v_threshold", "v_reset")
    return _asn(name, n, fields) or _neuron(name, n, "LIF", fields, True)


@register(nir.CubaLIF)
def _cubalif(name: str, n: nir.CubaLIF) -> Node:
    return _neuron(name, n, "CubaLIF", ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"), True)


@register(nir.IF)
def _if(name: str, n: nir.IF) -> Node:
    fields = ("r", "v_threshold", "v_reset")
    return _asn(name, n, fields) or _neuron(name, n, "IF", fields, True)


@register(nir.LI)
def _li(name: str, n: nir.LI) -> Node:
    return _neuron(name, n, "LI", ("tau", "r", "v_leak"), False)


@register(nir.CubaLI)
def _cubali(name: str, n: nir.CubaLI) -> Node:
    return _neuron(name, n, "CubaLI", ("tau_syn", "tau_mem", "r", "v_leak", "w_in"), False)


@register(nir.I)
def _integrator(name: str, n: nir.I) -> Node:
    return _neuron(name, n, "I", ("r",), False)


#: Conductance names of the MTC neuron (metadata ``alpha_<x>``, ``delta_<x>``).
MTC_CONDUCTANCES = ("fn", "sp", "sn", "usp")
#: ``spikeforge.role`` of the MTC filter nodes -> parameter.
MTC_FILTERS = {"fast": "tau_f", "slow": "tau_s", "ultraslow": "tau_us"}


def _mtc_membrane(g: nir.NIRGraph) -> str | None:
    """Key of the membrane node if ``g`` is the NIR form of an MTC neuron (``models/mtc/nn.py``)."""
    for k, n in g.nodes.items():
        meta = getattr(n, "metadata", None)
        if _meta_str(meta, "spikeforge.model", "") == "MTC" and not _meta_str(meta, "spikeforge.role", ""):
            return str(k)
    return None


def _mtc(g: nir.NIRGraph, name: str, mem: str, nodes: dict[str, Node], edges: list, where: str) -> None:
    """Collapse an MTC subgraph into one continuous ``MTC`` node ``<name>.<membrane>`` (its
    Input/Output become identities, removed later); the tanh conductances and the graded output
    come from the membrane's metadata."""
    m = g.nodes[mem]
    if not isinstance(m, nir.LI):
        raise GraphError(f"{where}: node '{name}.{mem}': the MTC membrane must be a nir.LI, got {type(m).__name__}")
    meta = m.metadata
    params = {"tau_m": _arr(m.tau), "r": _arr(m.r), "v_leak": _arr(m.v_leak)}
    for k, n in g.nodes.items():
        role = _meta_str(getattr(n, "metadata", None), "spikeforge.role", "")
        if role in MTC_FILTERS:
            params[MTC_FILTERS[role]] = _arr(n.tau)
    keys = [f"{p}_{c}" for p in ("alpha", "delta") for c in MTC_CONDUCTANCES] + ["u_th", "u_sat"]
    missing = [k for k in [*MTC_FILTERS.values(), *keys] if k not in params and k not in meta]
    if missing:
        raise GraphError(f"{where}: MTC node '{name}.{mem}' lacks {', '.join(missing)} (filters need spikeforge.role fast/slow/ultraslow; the rest is membrane metadata)")
    for k in keys:
        params[k] = _arr(_plain(meta[k]) if np.ndim(meta[k]) == 0 else meta[k])
    shp = np.broadcast_shapes(*(p.shape for p in params.values()))
    shape = shp if len(shp) > 0 and int(np.prod(shp)) > 1 else None
    me = f"{name}.{mem}"
    nodes[me] = Node(me, "MTC", params, {"model": "MTC"}, shape, shape)
    ins = [k for k, v in g.nodes.items() if isinstance(v, nir.Input)]
    outs = [k for k, v in g.nodes.items() if isinstance(v, nir.Output)]
    for k in ins:
        nodes[f"{name}.{k}"] = Node(f"{name}.{k}", "identity")
        edges.append((f"{name}.{k}", me))
    for k in outs:
        nodes[f"{name}.{k}"] = Node(f"{name}.{k}", "identity")
        edges.append((me, f"{name}.{k}"))


#: Base models an SPE neuron node may name in ``spikeforge.base`` (NIR type names or ASN models).
SPE_BASES = ("LIF", "IF", *ASN_MODELS)


def _spe_neuron(g: nir.NIRGraph) -> str | None:
    """Key of the neuron node if ``g`` is the NIR form of an SPE neuron (``models/spe/nn.py``)."""
    for k, n in g.nodes.items():
        meta = getattr(n, "metadata", None)
        if _meta_str(meta, "spikeforge.model", "") == "SPE" and not _meta_str(meta, "spikeforge.role", ""):
            return str(k)
    return None


def _spe(g: nir.NIRGraph, name: str, key: str, nodes: dict[str, Node], edges: list, where: str) -> None:
    """Collapse an SPE subgraph into one continuous ``SPE`` node ``<name>.<neuron>``: the base
    neuron's node (converted as if it stood alone) with ``kappa`` (neuron metadata) added and
    the base's op in the attr ``base``; the prediction and feedback nodes are implied by it."""
    import dataclasses

    m = g.nodes[key]
    me = f"{name}.{key}"
    meta = dict(m.metadata)
    base = _meta_str(meta, "spikeforge.base", "")
    if base not in SPE_BASES or not isinstance(m, (nir.LIF, nir.IF)):
        raise GraphError(f"{where}: SPE node '{me}': base {base!r} ({type(m).__name__}) unsupported; "
                         f"use a nir.LIF or nir.IF with spikeforge.base one of {', '.join(SPE_BASES)}")
    if "kappa" not in meta:
        raise GraphError(f"{where}: SPE node '{me}' lacks the metadata 'kappa' (the prediction rate, in (0, 1))")
    kappa = _arr(_plain(meta["kappa"]) if np.ndim(meta["kappa"]) == 0 else meta["kappa"])
    if not np.all((kappa > 0) & (kappa < 1)):
        raise GraphError(f"{where}: SPE node '{me}': kappa must lie in (0, 1), got {kappa.ravel()[:3].tolist()}")
    meta.pop("spikeforge.base")
    if base in ASN_MODELS:
        meta["spikeforge.model"] = base
    else:
        meta.pop("spikeforge.model")
    b = NIR_CONVERTERS[type(m)](me, dataclasses.replace(m, metadata=meta))
    shp = np.broadcast_shapes(kappa.shape, *(p.shape for p in b.params.values()))
    shape = shp if len(shp) > 0 and int(np.prod(shp)) > 1 else None
    nodes[me] = Node(me, "SPE", {**b.params, "kappa": kappa}, {**b.attrs, "base": b.op}, shape, shape)
    for k, v in g.nodes.items():
        if isinstance(v, (nir.Input, nir.Output)):
            nodes[f"{name}.{k}"] = Node(f"{name}.{k}", "identity")
            edges.append((f"{name}.{k}", me) if isinstance(v, nir.Input) else (me, f"{name}.{k}"))


#: Subgraphs that stand for one neuron model: (finder(graph) -> key or None, collapse).
SUBGRAPH_MODELS = ((_mtc_membrane, _mtc), (_spe_neuron, _spe))


def _supported() -> str:
    return ", ".join(sorted(t.__name__ for t in NIR_CONVERTERS) + ["NIRGraph"])


def _flatten_graph(g: nir.NIRGraph, prefix: str, nodes: dict[str, Node], edges: list, where: str) -> None:
    names = set(g.nodes)

    def endpoint(ref: str, side: str) -> str:
        # Resolve an edge endpoint that may name a subgraph or a node inside one.
        ref = str(ref)
        if ref in names:
            sub = g.nodes[ref]
            if isinstance(sub, nir.NIRGraph):
                kind = nir.Input if side == "dst" else nir.Output
                ports = [k for k, v in sub.nodes.items() if isinstance(v, kind)]
                if len(ports) != 1:
                    raise GraphError(
                        f"{where}: edge to subgraph '{prefix}{ref}' is ambiguous: it has {len(ports)} "
                        f"{kind.__name__} nodes; name one as '{ref}.<port>'"
                    )
                return f"{prefix}{ref}.{ports[0]}"
            return prefix + ref
        head, _, rest = ref.partition(".")
        if rest and head in names and isinstance(g.nodes[head], nir.NIRGraph):
            sub = g.nodes[head]
            if rest in sub.nodes:
                return f"{prefix}{ref}"
        raise GraphError(f"{where}: edge endpoint '{prefix}{ref}' names no node of the graph")

    for key, node in g.nodes.items():
        name = prefix + str(key)
        if isinstance(node, nir.NIRGraph):
            for find, collapse in SUBGRAPH_MODELS:
                key_ = find(node)
                if key_ is not None:
                    collapse(node, name, key_, nodes, edges, where)
                    break
            else:
                _flatten_graph(node, name + ".", nodes, edges, where)
            continue
        conv = NIR_CONVERTERS.get(type(node))
        if conv is None:
            raise UnsupportedNodeError(
                f"{where}: node '{name}' has unsupported type {type(node).__name__}; supported: {_supported()}"
            )
        n = conv(name, node)
        role = _meta_str(getattr(node, "metadata", None), "spikeforge.op", "")
        if role:
            n = n.replace(attrs={**n.attrs, "role": role})
        if prefix and n.op in ("input", "output"):
            n = n.replace(op="identity")
        nodes[name] = n
    for a, b in g.edges:
        edges.append((endpoint(a, "src"), endpoint(b, "dst")))


def _drop_identities(nodes: dict[str, Node], edges: list[tuple[str, str]]) -> tuple[dict, list]:
    for name in [k for k, n in nodes.items() if n.op == "identity"]:
        edges = bypass(edges, name)
        del nodes[name]
    return nodes, edges


def from_nir(graph: nir.NIRGraph, where: str = "graph") -> Graph:
    """Convert a NIR graph into the working graph.

    Args:
        graph: A ``nir.NIRGraph`` (possibly nested, possibly cyclic).
        where: How to name the source in error messages (usually the file path).

    Returns:
        A flat :class:`Graph` with continuous-time neuron nodes.

    Raises:
        UnsupportedNodeError: A node type is not supported.
        GraphError: An edge names a missing node.
    """
    if not isinstance(graph, nir.NIRGraph):
        raise GraphError(f"{where}: expected a nir.NIRGraph, got {type(graph).__name__}")
    nodes: dict[str, Node] = {}
    edges: list[tuple[str, str]] = []
    _flatten_graph(graph, "", nodes, edges, where)
    for a, b in edges:
        for end in (a, b):
            if end not in nodes:
                raise GraphError(f"{where}: edge ({a} -> {b}) names missing node '{end}'")
    nodes, edges = _drop_identities(nodes, edges)
    gm = getattr(graph, "metadata", None)
    meta = {str(k): _plain(v) for k, v in gm.items()} if isinstance(gm, dict) else {}
    meta["source"] = where
    return Graph(nodes, tuple(dedupe(edges)), meta)
