"""Float mode: Lava's floating_pt models against the float reference.

Documented tolerance (``docs/lava.md``): Lava computes ``v (1 - dv)`` where the reference
computes ``a v`` and sums spikes in another order, so values differ by float rounding
(about 1e-15 relative). A spike can flip only where a membrane lies within that rounding of
its threshold: at least 99.9% of spike elements must agree, and non-spiking readouts must
agree to 1e-9 (absolute, for unit-scale membranes) while the spikes agree.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import spikeforge as sf
from spikeforge.backends.lava.emit import plan

pytestmark = pytest.mark.lava
torch = pytest.importorskip("torch")

SPIKE_AGREEMENT = 0.999
READOUT_ATOL = 1e-9


def check(prog, x):
    names = [m for m, n in prog.graph.nodes.items() if n.op in ("lif", "cuba_lif", "li", "cuba_li")]
    rep = sf.verify(prog, x, backends=("reference", "lava"), probes=names, exact=False, atol=READOUT_ATOL, spike_tolerance=1 - SPIKE_AGREEMENT)
    assert rep.ok, rep.summary()
    return rep


def test_float_lif_mlp_on_lavas_own_float_lif():
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
    import bench_runtime as b

    w = b.make_workload(150, 2)
    prog = b.compiled(w)
    assert [r["kind"] for r in plan(prog)[0]["groups"]][1:] == ["lava_lif_float"] * 3
    rep = check(prog, w.x)
    assert rep.traces["reference"].output.sum() > 0


def test_float_cuba_and_li_readout_and_subtract_reset(rng):
    from torch import nn

    from spikeforge.models import LI, LIF, CubaLIF

    net = nn.Sequential(nn.Linear(12, 20), CubaLIF(alpha=0.7, beta=0.9, threshold=0.4), nn.Linear(20, 16),
                        LIF(beta=0.8, threshold=0.5, reset="subtract"), nn.Linear(16, 5), LI(beta=0.9))
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                m.weight.mul_(2.0)
                m.bias.zero_()  # a bias in front of a current-based neuron is refused (see test below)
    x = rng.uniform(0, 1, size=(30, 3, 12))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prog = sf.compile(sf.trace(net, torch.from_numpy(x[:, :1]).float()), target="float")
    rep = check(prog, x)
    assert all(v > 0.999 for v in rep.agreement[("reference", "lava")].values())
