"""Integrate-and-fire neuron (torch module in ``nn``; no torch import here)."""
