"""The reference backend: the golden model, numpy + numba, no torch."""
