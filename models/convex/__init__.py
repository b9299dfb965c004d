"""Convex training of parallel SNNs by parameter reconstruction (Udupi, Yang, Zhai, arXiv 2605.08022); ../shared/MODELS.md §5."""
