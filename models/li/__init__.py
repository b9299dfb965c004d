"""Leaky integrator readout (torch module in ``nn``; no torch import here)."""
