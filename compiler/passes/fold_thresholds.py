"""Per-neuron thresholds on hardware with one threshold per layer (MODELS.md §2, STL).

For a spiking node whose thresholds differ, each neuron's membrane is rescaled by
``c_i = theta* / theta_i`` with ``theta* = max_i theta_i``: its input gain, leak drive and
reset value are multiplied by ``c_i`` and its threshold becomes ``theta*``. Since
``c_i v > c_i theta_i`` exactly when ``v > theta_i`` (``c_i > 0``) and both resets are linear,
the spikes are unchanged in real arithmetic; ``fold_gains`` then moves ``c_i`` into the rows of
the weights before quantization. Runs for targets with ``per_neuron_threshold = False``.
"""

from __future__ import annotations

import numpy as np

from ..errors import GraphError
from ..ir import Graph
from .issues import where

#: Spiking ops with a threshold. ``spe_lif`` too: its prediction current is fed by the drive
#: ``g x + b`` and the spike charge ``theta s``, both scaled by ``c_i`` with the membrane.
THRESHOLD_OPS = ("lif", "cuba_lif", "spe_lif")


def fold_thresholds(g: Graph) -> Graph:
    """Give every spiking node one threshold, rescaling each neuron's membrane (pure).

    Raises:
        GraphError: A threshold is not positive (a membrane cannot be rescaled onto it).
    """
    nodes = dict(g.nodes)
    for n in g.nodes.values():
        if n.op not in THRESHOLD_OPS:
            continue
        th = np.asarray(n.params["v_threshold"], dtype=np.float64)
        if th.size == 0 or np.all(th == th.ravel()[0]):
            continue
        if np.any(th <= 0):
            raise GraphError(f"{where(g)}: node '{n.name}': thresholds must be > 0 to fold them into one per layer; min is {th.min():g}")
        star = float(th.max())
        c = star / th
        p = dict(n.params)
        p["g"] = np.asarray(p["g"], dtype=np.float64) * c
        p["b"] = np.asarray(p["b"], dtype=np.float64) * c
        p["v_reset"] = np.asarray(p["v_reset"], dtype=np.float64) * c
        p["v_threshold"] = np.full_like(th, star)
        nodes[n.name] = n.replace(params=p)
    return g.replace(nodes=nodes)


__all__ = ["THRESHOLD_OPS", "fold_thresholds"]
