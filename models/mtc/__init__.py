"""MTC: multi-timescale conductance neuron (``nn``: torch module; ``spec``: numpy, no torch)."""
