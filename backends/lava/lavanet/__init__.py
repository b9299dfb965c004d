"""Lava-side code (Python 3.10, numpy and lava-nc only), copied into every emitted Lava folder."""
