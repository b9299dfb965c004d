"""Move the biases of weighted layers into the neurons they feed.

Integer synapses have no bias (``docs/integer.md``): the bias of an ``affine``/``conv`` node is
pushed through the transparent nodes after it (a sum pool adds it up per window) and added
to the leak drive ``b`` of each neuron it reaches, times the neuron's input gain. For LIF, LI
and ASN neurons this is exact.

CUBA neurons: a bias entering the synaptic current (``i = a_s i + g_s (W x + c)``) has no
exact Loihi form (Loihi's bias adds to the voltage only). It is replaced by its steady state,
``g g_s c / (1 - a_s)`` per step on the voltage; the first steps differ (the current needs
about ``1/(1 - a_s)`` steps to reach it). This approximation is always made with a counted
:class:`~spikeforge.compiler.errors.QuantizationWarning` naming the neuron (exact when
``a_s = 0``).

A bias passing a user ``Delay`` would start ``k`` steps late in the original graph; moved into
the neuron it acts from the neuron's first step (a warning says so).
"""

from __future__ import annotations

import numpy as np

from ..errors import GraphError
from ..ir import NEURON_OPS, Graph
from .fold_gains import GAIN_PARAMS, total_gain
from .issues import Issues, where
from .linops import push, row_labels
from .paths import WEIGHTED, paths_from


def move_biases(g: Graph) -> Graph:
    """Move every weighted layer's bias into the neurons it feeds (pure).

    Raises:
        GraphError: A nonzero bias reaches something other than a neuron.
    """
    w_ = where(g)
    issues = Issues(w_)
    nodes = dict(g.nodes)
    for w in [n for n in g.nodes.values() if n.op in WEIGHTED]:
        bias = np.broadcast_to(np.asarray(w.params["bias"], dtype=np.float64), (w.params["weight"].shape[0],))
        if not np.any(bias):
            continue
        bmap = row_labels(w, bias)
        for path in paths_from(g, w.name):
            end = nodes[path.end]
            if end.op not in NEURON_OPS or end.op not in GAIN_PARAMS:
                raise GraphError(
                    f"{w_}: bias of '{w.name}' cannot move into '{end.name}' ({end.op}); integer targets put biases "
                    "into the neurons a weighted layer feeds"
                )
            add = push(g, path.chain, bmap) * total_gain(end)
            if "a_syn" in end.params:
                a_s = np.asarray(end.params["a_syn"], dtype=np.float64)
                add = add / (1.0 - a_s)
                if np.any(a_s != 0):
                    issues.warn(
                        f"{w_}: node '{end.name}': the synaptic bias from '{w.name}' has no exact Loihi form; "
                        "using its steady state on the voltage (the first steps differ)"
                    )
            delays = path.user_delays(g)
            if delays:
                issues.warn(f"{w_}: node '{end.name}': the bias from '{w.name}' passes delay {', '.join(delays)}; it now acts from the neuron's first step")
            nodes[end.name] = end.replace(params={**end.params, "b": np.asarray(end.params["b"], dtype=np.float64) + add})
        nodes[w.name] = nodes[w.name].replace(params={**nodes[w.name].params, "bias": np.zeros_like(bias)})
    return issues.into(g.replace(nodes=nodes))


__all__ = ["move_biases"]
