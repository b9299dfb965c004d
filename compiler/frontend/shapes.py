"""Run a module once on a sample and record every submodule's feature shapes.

Modules that see ``(T, B, *features)`` record ``shape[2:]``; modules inside ``Seq`` (which see
``(T*B, *features)``) record ``shape[1:]``. The run happens under ``torch.no_grad`` in eval
mode, and the model's training flags, buffers and recordings are restored afterwards, so
tracing has no side effect (BatchNorm statistics, snnTorch hidden states, ``recorded``).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Dict, Iterator, Set, Tuple

import torch
from torch import nn

from ...models.layers import Seq

__all__ = ["record_shapes", "first_tensor"]


def first_tensor(value: Any) -> torch.Tensor:
    """The first tensor in a (possibly nested) module output."""
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for v in value:
            try:
                return first_tensor(v)
            except TypeError:
                continue
    raise TypeError(f"no tensor in module output of type {type(value).__name__}")


def inner_modules(model: nn.Module) -> Set[int]:
    """ids of the modules that run per step inside a ``Seq`` (they see ``(T*B, ...)``)."""
    inner: Set[int] = set()
    for m in model.modules():
        if isinstance(m, Seq):
            inner.update(id(sub) for sub in m.module.modules())
    return inner


@contextmanager
def _preserved(model: nn.Module) -> Iterator[None]:
    modules = list(model.modules())
    training = [m.training for m in modules]
    buffers = [dict(m._buffers) for m in modules]
    recorded = [m.__dict__.get("recorded") for m in modules]
    saved_bufs = [{k: (v.detach().clone() if isinstance(v, torch.Tensor) else v) for k, v in b.items()} for b in buffers]
    try:
        model.eval()
        yield
    finally:
        for m, tr, refs, vals, rec in zip(modules, training, buffers, saved_bufs, recorded):
            m.training = tr
            for k, ref in refs.items():
                if isinstance(ref, torch.Tensor) and ref.shape == vals[k].shape:
                    with torch.no_grad():
                        ref.copy_(vals[k])
                m._buffers[k] = ref
            if rec is not None:
                m.__dict__["recorded"] = rec


def record_shapes(model: nn.Module, x: torch.Tensor) -> Tuple[Dict[int, Tuple[tuple, tuple]], Set[int], torch.Tensor]:
    """Run ``model(x)`` and record feature shapes.

    Returns:
        ``(shapes, inner, output)`` with ``shapes[id(m)] = (in_shape, out_shape)`` of each
        module's first call, ``inner`` the ids of modules inside ``Seq``, and the model's
        output tensor (first tensor of its output).
    """
    inner = inner_modules(model)
    shapes: Dict[int, Tuple[tuple, tuple]] = {}

    def hook(m: nn.Module, args: tuple, out: Any) -> None:
        if id(m) in shapes or not args:
            return
        try:
            xin, yout = first_tensor(args), first_tensor(out)
        except TypeError:
            return
        k = 1 if id(m) in inner else 2
        shapes[id(m)] = (tuple(xin.shape[k:]), tuple(yout.shape[k:]))

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        with _preserved(model), torch.no_grad():
            out = first_tensor(model(x))
    finally:
        for h in handles:
            h.remove()
    return shapes, inner, out
