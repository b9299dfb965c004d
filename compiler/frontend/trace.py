"""``trace``: a torch spiking network -> ``nir.NIRGraph`` (continuous time)."""

from __future__ import annotations

import sys
import warnings
from typing import Tuple

import nir
import torch
from torch import nn

from ...models.lowering import check_dt_method
from ..errors import SpikeforgeError
from .graph_edit import remove_dropped, rename_ports, set_port_types
from .qat_layers import input_quant
from .registry import Context, ModuleMap, lookup
from .shapes import record_shapes

__all__ = ["trace"]


def _snntorch_neurons() -> Tuple[type, ...]:
    """snnTorch neuron types, registering their lowerings, if snnTorch is loaded."""
    if "snntorch" not in sys.modules:
        return ()
    try:
        from .snntorch_layers import SNNTORCH_NEURONS
    except ImportError:  # pragma: no cover - broken snnTorch install
        return ()
    return SNNTORCH_NEURONS


def _as_input(module: nn.Module, sample_input) -> torch.Tensor:
    x = torch.as_tensor(sample_input)
    if not torch.is_floating_point(x):
        p = next(iter(module.parameters()), None)
        x = x.to(p.dtype if p is not None else torch.get_default_dtype())
    if x.dim() < 2:
        raise ValueError(f"sample_input must be shaped (T, B, *features), got {tuple(x.shape)}")
    return x


def _lower_graph(module: nn.Module, ctx: Context, stateful: Tuple[type, ...]) -> nir.NIRGraph:
    """nirtorch's fx trace with our registry; a registered root becomes a one-node graph."""
    if lookup(type(module)) is not None or not list(module.children()):
        node = ctx.lower(module)
        name = type(module).__name__.lower()
        return nir.NIRGraph(
            nodes={"input": nir.Input(input_type=None), name: node, "output": nir.Output(output_type=None)},
            edges=[("input", name), (name, "output")],
            type_check=False,
        )
    from nirtorch import torch_to_nir

    try:
        return torch_to_nir(module, ModuleMap(ctx), default_dict=None, type_check=False,
                            stateful_modules=set(stateful) or None)
    except SpikeforgeError:
        raise
    except (ValueError, TypeError, NotImplementedError) as exc:
        raise ValueError(f"cannot trace {type(module).__name__} with torch.fx: {exc}") from exc


def trace(module: nn.Module, sample_input, dt: float = 1.0, method: str | None = None) -> nir.NIRGraph:
    """Trace a torch spiking network into a NIR graph.

    The module runs once on ``sample_input`` (no gradients, eval mode, no lasting side
    effects) to record every layer's feature shapes; then ``torch.fx`` (through nirtorch)
    finds the data flow, and each leaf module lowers through the type-keyed registry
    (:mod:`.registry`). Residual sums ``a + b`` become two edges into the consumer (NIR sums
    a node's inputs). Dropout and Identity are removed; BatchNorm (eval statistics) becomes a
    per-channel affine/conv node tagged ``{"spikeforge.op": "batchnorm"}`` for folding.

    Integer-train models (:class:`~spikeforge.models.qat.QSequential`): the sample run sets
    every synapse's source and every neuron's grid, so the lowering exports the quantized
    values; a leading ``QuantInput`` is removed and its setting recorded as the graph metadata
    ``spikeforge.input_exp``, ``spikeforge.input_bits`` and ``spikeforge.input_signed``.

    Args:
        module: The network; it maps ``(T, B, *in_features)`` to ``(T, B, *out_features)``.
        sample_input: An input shaped ``(T, B, *in_features)``.
        dt: Time step the continuous-time parameters are lowered for (recorded as
            ``spikeforge.dt``).
        method: ``"exact"`` (default) or ``"euler"`` (recorded as
            ``spikeforge.discretization``). When the network contains snnTorch neurons, whose
            parameters assume forward Euler, the graph is lowered and marked ``"euler"``; an
            explicit other method then gets a warning.

    Returns:
        A ``nir.NIRGraph`` with Input/Output types set from the sample and metadata
        ``{"spikeforge.dt", "spikeforge.discretization", "producer": "spikeforge"}`` (plus the
        input quantizer's keys, see above).

    Raises:
        UnsupportedModuleError: A module has no lowering (names its path, type and the
            supported types).
        ValueError: Bad ``dt``/``method``/input, or the forward cannot be traced.
    """
    requested = method
    dt, method = check_dt_method(dt, "exact" if method is None else method)
    x = _as_input(module, sample_input)
    snn_types = _snntorch_neurons()
    if snn_types and any(isinstance(m, snn_types) for m in module.modules()):
        if requested not in (None, "euler"):
            warnings.warn(
                f"trace: the network contains snnTorch neurons, whose parameters assume forward Euler; "
                f"lowering with method='euler' instead of {requested!r}",
                stacklevel=2,
            )
        method = "euler"
    shapes, inner, out = record_shapes(module, x)
    paths = {id(m): (name or type(module).__name__) for name, m in module.named_modules()}
    ctx = Context(dt=dt, method=method, shapes=shapes, paths=paths, inner=inner)
    graph = _lower_graph(module, ctx, snn_types)
    meta = {"spikeforge.dt": dt, "spikeforge.discretization": method, "producer": "spikeforge"}
    meta.update(input_quant(graph.nodes, graph.edges))
    nodes, edges = remove_dropped(graph.nodes, graph.edges)
    nodes, edges = rename_ports(nodes, edges)
    set_port_types(nodes, tuple(x.shape[2:]), tuple(out.shape[2:]))
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=False)
