"""Frontend errors."""

from __future__ import annotations

from typing import Iterable

from ..errors import SpikeforgeError

__all__ = ["UnsupportedModuleError"]


class UnsupportedModuleError(SpikeforgeError):
    """A torch module the frontend cannot lower (a ``ValueError``).

    The message names the module's path in the traced model, its type, and the supported
    types.
    """

    def __init__(self, path: str, module_type: type, supported: Iterable[str], reason: str = ""):
        self.path = path
        self.module_type = module_type
        self.supported = sorted(supported)
        why = f" ({reason})" if reason else ""
        super().__init__(
            f"module '{path}' of type {module_type.__module__}.{module_type.__qualname__} "
            f"is not supported{why}; supported types: {', '.join(self.supported)}"
        )
