"""STL: synapse-threshold synergistic learning (Sun et al., IEEE TCDS 2023); ../shared/MODELS.md §2."""
