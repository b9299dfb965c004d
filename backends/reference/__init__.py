"""The reference backend: the golden model, numpy + numba, no torch.

Importing it starts numba's worker threads without changing the OpenMP thread count that
other libraries (torch) set (:mod:`.openmp`).
"""

from .openmp import launch_keeping_openmp

launch_keeping_openmp()
