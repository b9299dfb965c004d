"""Convex training of parallel SNNs by parameter reconstruction (Udupi, Yang, Zhai, arXiv 2605.08022); ../shared/MODELS.md §5.

Modules: :mod:`.parallel` (the parallel LIF network and its readout), :mod:`.dictionary`
(witness sampling, deduplicated spike-pattern dictionary), :mod:`.lasso` (numpy group Lasso with
a certified duality gap), :mod:`.train` (CVX, SG-CVX, surrogate-gradient baseline),
:mod:`.tasks` (first-last XOR, digits). Import the submodules directly; this package imports
nothing (its submodules need torch, except :mod:`.lasso` and :mod:`.tasks`).
"""
