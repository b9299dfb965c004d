"""Lazy module attributes: public names that load their submodule on first use.

Packages whose submodules import torch use this so that importing the package (or its
numpy-only ``spec`` modules, as backends do) never imports torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Callable, Mapping


def lazy_attributes(package: str, table: Mapping[str, tuple[str, str]]) -> tuple[Callable, Callable]:
    """Module-level ``__getattr__`` and ``__dir__`` for ``package``.

    Args:
        package: The package's ``__name__``.
        table: Public name -> (submodule relative to ``package``, attribute name).

    Returns:
        ``(__getattr__, __dir__)`` to assign at module level.
    """

    def __getattr__(name: str):
        try:
            sub, attr = table[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(import_module(f"{package}.{sub}"), attr)
        setattr(import_module(package), name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(import_module(package))) | set(table))

    return __getattr__, __dir__
