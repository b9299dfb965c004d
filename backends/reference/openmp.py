"""Start numba's worker threads without changing another library's OpenMP thread count.

Numba's ``omp`` threading layer (the default here) sets OpenMP's thread count when it starts
its workers, and on Linux that setting can reach the libgomp that torch uses. A script that
called ``torch.set_num_threads(1)`` and then compiled or ran a program would train on with
torch's thread count silently changed (measured: up to 20x slower training on a busy 2-core
machine). :func:`launch_keeping_openmp` starts numba's threads once, up front, and puts back
the thread count of every OpenMP runtime that was loaded before. No torch import is needed:
the runtimes are found in the process's memory map.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numba


def _openmp_runtimes() -> list[ctypes.CDLL]:
    """The OpenMP runtimes (libgomp, libiomp, libomp) mapped into this process (Linux)."""
    maps = Path("/proc/self/maps")
    if not maps.exists():
        return []
    paths = {ln.split()[-1] for ln in maps.read_text().splitlines() if any(k in ln for k in ("libgomp", "libiomp", "libomp"))}
    libs = []
    for p in sorted(paths):
        try:
            lib = ctypes.CDLL(p)
            lib.omp_get_max_threads.restype = ctypes.c_int
            lib.omp_set_num_threads.argtypes = [ctypes.c_int]
            libs.append(lib)
        except (OSError, AttributeError):
            continue
    return libs


def launch_keeping_openmp() -> None:
    """Start numba's threading layer (idempotent) and restore the OpenMP thread counts it changed."""
    libs = _openmp_runtimes()
    before = [lib.omp_get_max_threads() for lib in libs]
    numba.get_num_threads()  # starts the threading layer (once per process)
    for lib, n in zip(libs, before):
        if lib.omp_get_max_threads() != n:
            lib.omp_set_num_threads(n)


__all__ = ["launch_keeping_openmp"]
