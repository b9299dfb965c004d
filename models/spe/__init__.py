"""SPE: the self-prediction enhanced spiking neuron (Huang et al., arXiv 2601.21823); ../shared/MODELS.md §3."""
