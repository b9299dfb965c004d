"""AdLIF: adaptive LIF of Bittar & Garner 2022 (``nn``: torch module)."""
