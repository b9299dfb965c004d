"""The Lava backend: integer Programs as Lava process networks, run in Lava's bit-accurate
simulator (``Loihi2SimCfg(select_tag="fixed_pt")``) by a worker in ``.venv-lava``.

* :mod:`.emit`: Program -> plan (one Lava process per layer) and the self-contained folder
  that ``spikeforge compile --backend lava -o DIR`` writes.
* :mod:`.runner`: ``sf.run(prog, x, backend="lava")``.
* ``lavanet/``: the Lava-side code (Python 3.10, numpy and lava-nc only), copied into every
  emitted folder: ``sfproc.py`` (spikeforge's own processes) and ``network.py``
  (``build_network``, ``run``, and the worker's command line).

Importing this package does not import Lava (the main environment has none).
"""
