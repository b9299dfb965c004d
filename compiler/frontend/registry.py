"""Type-keyed registry of torch-module lowerings and the per-trace context.

A lowering is ``fn(module, ctx) -> nir.NIRNode``. Lookup walks the module class's MRO, so a
subclass of a registered type lowers like its base; there is no isinstance ladder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Optional, Set, Tuple

import nir
from torch import nn

from .errors import UnsupportedModuleError

__all__ = ["LOWERINGS", "register", "lookup", "supported_types", "Context", "ModuleMap", "DROP_KEY", "dropped"]

Lowering = Callable[[nn.Module, "Context"], nir.NIRNode]

#: module type -> lowering function
LOWERINGS: Dict[type, Lowering] = {}

#: Metadata key marking a node that the frontend removes (edges bypass it).
DROP_KEY = "spikeforge.drop"


def register(*types: type) -> Callable[[Lowering], Lowering]:
    """Decorator registering ``fn`` as the lowering of each of ``types``."""

    def deco(fn: Lowering) -> Lowering:
        for t in types:
            LOWERINGS[t] = fn
        return fn

    return deco


def lookup(cls: type) -> Optional[Lowering]:
    """The lowering of ``cls`` or of its nearest registered base class, else ``None``."""
    for base in cls.__mro__:
        fn = LOWERINGS.get(base)
        if fn is not None:
            return fn
    return None


def supported_types() -> list:
    """Names of the supported module types."""
    return sorted(f"{t.__module__}.{t.__qualname__}" for t in LOWERINGS)


def dropped(shape) -> nir.NIRNode:
    """A placeholder node that the frontend removes from the graph (Dropout, Identity)."""
    return nir.ir.graph.Identity(input_type={"input": shape}, metadata={DROP_KEY: True})


@dataclass
class Context:
    """What lowerings may know beyond the module itself.

    Attributes:
        dt: Time step recorded in the graph.
        method: Discretization method the parameters are lowered for.
        shapes: ``id(module) -> (input feature shape, output feature shape)`` of its first call.
        paths: ``id(module) -> dotted path`` in the traced model.
        inner: ids of modules that run per step inside ``Seq`` (they see ``(T*B, ...)``).
    """

    dt: float
    method: str
    shapes: Dict[int, Tuple[tuple, tuple]] = field(default_factory=dict)
    paths: Dict[int, str] = field(default_factory=dict)
    inner: Set[int] = field(default_factory=set)

    def path(self, m: nn.Module) -> str:
        return self.paths.get(id(m), type(m).__name__)

    def in_shape(self, m: nn.Module) -> tuple:
        return self._shape(m)[0]

    def out_shape(self, m: nn.Module) -> tuple:
        return self._shape(m)[1]

    def _shape(self, m: nn.Module) -> Tuple[tuple, tuple]:
        if id(m) not in self.shapes:
            raise ValueError(f"module '{self.path(m)}' did not run on the sample input")
        return self.shapes[id(m)]

    def offset(self, m: nn.Module) -> int:
        """Leading non-feature dims of the tensors ``m`` sees: 1 inside Seq, else 2 (T, B)."""
        return 1 if id(m) in self.inner else 2

    def unsupported(self, m: nn.Module, reason: str = "") -> UnsupportedModuleError:
        return UnsupportedModuleError(self.path(m), type(m), supported_types(), reason)

    def lower(self, m: nn.Module) -> nir.NIRNode:
        """Lower one module through the registry."""
        fn = lookup(type(m))
        if fn is None:
            raise self.unsupported(m)
        return fn(m, self)


class ModuleMap(dict):
    """The map handed to nirtorch: type-keyed, resolving subclasses and unknown types lazily.

    nirtorch looks up ``module_map[type(module)](module)``; a missing type resolves through
    :func:`lookup`, and an unsupported one to a function raising
    :class:`UnsupportedModuleError` with the module's path.
    """

    def __init__(self, ctx: Context):
        super().__init__({t: ctx.lower for t in LOWERINGS})
        self.ctx = ctx

    def __missing__(self, cls: type) -> Callable[[nn.Module], nir.NIRNode]:
        return self.ctx.lower
