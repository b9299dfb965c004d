"""Brian2 code generation target and cache for the spikeforge Brian2 backends.

Brian2 runs in *runtime* mode (``set_device("runtime")``): Python drives the simulation loop
and each object (neuron update, threshold, synaptic propagation, monitor) is a generated code
object in one of two targets:

* ``"numpy"``: vectorised numpy code, nothing to compile (the default in tests);
* ``"cython"``: Cython + a C compiler; each code object is compiled once and kept in
  ``$SPIKEFORGE_CACHE/brian2/cython`` (default ``<repo>/.cache``; the Makefile exports
  ``SPIKEFORGE_CACHE=$(CURDIR)/.cache``), so repeated runs, processes and test sessions load
  the compiled modules instead of rebuilding them. The generated code names objects by their
  position in the program (``sfg0``, ``sfs3``, ...), never by a counter, so the same network
  shape always hits the same cache entries.

``codegen="auto"`` picks Cython when ``Cython`` imports and a C compiler is on ``PATH`` (checked
once per process), else numpy.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import shutil
from pathlib import Path

from spikeforge.compiler.errors import SpikeforgeError

#: Accepted values of the ``codegen`` option.
CODEGENS = ("auto", "numpy", "cython")


def cache_root() -> Path:
    """``$SPIKEFORGE_CACHE`` or ``<repo>/.cache``."""
    env = os.environ.get("SPIKEFORGE_CACHE")
    return Path(env) if env else Path(__file__).resolve().parents[2] / ".cache"


def cython_cache_dir() -> Path:
    """Where Brian2 keeps the compiled Cython code objects."""
    return cache_root() / "brian2" / "cython"


@functools.lru_cache(maxsize=1)
def cython_available() -> bool:
    """Whether Cython imports and a C compiler is on ``PATH``."""
    if importlib.util.find_spec("Cython") is None:
        return False
    cc = os.environ.get("CC", "cc").split()[0]
    return any(shutil.which(c) for c in (cc, "cc", "gcc", "clang"))


def resolve(codegen: str = "auto") -> str:
    """The concrete target (``"numpy"`` or ``"cython"``) for a ``codegen`` option.

    Raises:
        SpikeforgeError: Unknown option, or ``"cython"`` without Cython or a compiler.
    """
    if codegen not in CODEGENS:
        raise SpikeforgeError(f"codegen={codegen!r} unknown; use one of {', '.join(CODEGENS)}")
    if codegen == "auto":
        return "cython" if cython_available() else "numpy"
    if codegen == "cython" and not cython_available():
        raise SpikeforgeError("codegen='cython' needs Cython and a C compiler on PATH; use codegen='numpy' or 'auto'")
    return codegen


@contextlib.contextmanager
def target(codegen: str = "auto"):
    """Context: Brian2 in runtime mode with the resolved code generation target and our cache.

    Yields:
        The target name (``"numpy"`` or ``"cython"``). Brian2's preferences are restored on exit.
    """
    import brian2

    name = resolve(codegen)
    if brian2.get_device().__class__.__name__ != "RuntimeDevice":
        brian2.set_device("runtime")
    prefs = brian2.prefs
    keys = ("codegen.target", "codegen.runtime.cython.cache_dir")
    old = {k: prefs[k] for k in keys}
    try:
        prefs["codegen.target"] = name
        if name == "cython":
            d = cython_cache_dir()
            d.mkdir(parents=True, exist_ok=True)
            prefs["codegen.runtime.cython.cache_dir"] = str(d)
        yield name
    finally:
        for k, v in old.items():
            prefs[k] = v


__all__ = ["CODEGENS", "cache_root", "cython_available", "cython_cache_dir", "resolve", "target"]
