"""Current-based LIF neuron (torch module in ``nn``; no torch import here)."""
