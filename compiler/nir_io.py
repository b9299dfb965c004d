"""Reading and writing NIR files (``.nir``, HDF5) with one-line errors on bad files."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import nir

from .fsutil import atomic_path
from .errors import NIRFileError, UnsupportedNodeError


def load_nir(path: str | os.PathLike) -> nir.NIRGraph:
    """Read a NIR graph written by any NIR producer (spikeforge, snnTorch, Norse, ...).

    Type checking is left to spikeforge's own validation and shape inference (many producers
    write graphs whose declared types nir's own checker rejects although they are usable).

    Args:
        path: Path of an HDF5 NIR file.

    Returns:
        The graph, nested subgraphs and cycles included.

    Raises:
        NIRFileError: The file is missing, not HDF5, truncated, or holds no NIR graph.
    """
    p = Path(path)
    if not p.exists():
        raise NIRFileError(f"{p}: no such file")
    if p.is_dir():
        raise NIRFileError(f"{p}: is a directory, expected a NIR (HDF5) file")
    if not h5py.is_hdf5(p):
        raise NIRFileError(f"{p}: not an HDF5 file (a NIR file is HDF5 written by nir.write)")
    try:
        with h5py.File(p, "r") as f:
            if "node" not in f:
                raise NIRFileError(f"{p}: HDF5 file without a 'node' group: not a NIR graph")
            _check_types(f["node"], "", p)
        graph = nir.read(p, type_check=False)
    except (NIRFileError, UnsupportedNodeError):
        raise
    except (OSError, KeyError, ValueError, AssertionError, TypeError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise NIRFileError(f"{p}: nir {nir.__version__} cannot read this file: truncated, or a node it cannot build ({msg})") from None
    if not isinstance(graph, nir.NIRGraph):
        raise NIRFileError(f"{p}: top-level node is {type(graph).__name__}, expected NIRGraph")
    return graph


def _check_types(group: h5py.Group, path: str, file: Path) -> None:
    """Name the first node whose type nir does not know (nir.read would only assert)."""
    known = set(nir.ir.__all__) - {"NIRNode", "str2NIRNode", "dict2NIRNode"}
    if "type" not in group:
        raise NIRFileError(f"{file}: node '{path or '<root>'}' has no 'type' field")
    t = group["type"][()]
    t = t.decode("utf8") if isinstance(t, bytes) else str(t)
    if t not in known:
        raise UnsupportedNodeError(
            f"{file}: node '{path or '<root>'}' has unknown type '{t}'; NIR {nir.__version__} types: {', '.join(sorted(known))}"
        )
    if t == "NIRGraph" and "nodes" in group:
        for k, sub in group["nodes"].items():
            _check_types(sub, f"{path}.{k}" if path else k, file)


def save_nir(graph: nir.NIRGraph, path: str | os.PathLike) -> None:
    """Write a NIR graph atomically (temporary file in the same folder, then rename).

    Args:
        graph: The graph.
        path: Destination file.
    """
    with atomic_path(path) as tmp:
        nir.write(tmp, graph)
