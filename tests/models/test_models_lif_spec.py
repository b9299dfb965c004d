"""The normative integer LIF step (models/lif/spec.py) against Lava's own bit-accurate model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from spikeforge.models.lif import spec
from spikeforge.models.lif.spec import Counters

SCRIPT = Path(__file__).parent / "lava_scripts" / "lif_step_vs_lava.py"


@pytest.mark.lava
def test_int_lif_step_equals_lava_bit_accurate_model(lava_python):
    """200 random neuron groups x 50 steps, inputs up to 2^20 so that wraps and saturations occur."""
    out = subprocess.run([str(lava_python), str(SCRIPT), "0", "200", "50"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["mismatches"] == 0
    assert res["wraps"] > 0 and res["saturations"] > 0  # the overflow paths were exercised


def test_int_lif_step_hand_values():
    """One step worked by hand: du=4095 (plain LIF), dv=2048 (halving), bias 3<<1, vth 2."""
    st = spec.init_state(1, 3)
    st["v"][:] = [100, -101, 7]
    p = dict(du=4095, dv=2048, bias_mant=3, bias_exp=1, vth=2)
    s = spec.step(st, np.array([[1, 0, -1]]), p)
    # v = decay(v) + (a << 6) + 6 = [50 + 64 + 6, -50 + 0 + 6, 3 - 64 + 6]; threshold 2 << 6 = 128
    np.testing.assert_array_equal(st["u"][0], [64, 0, -64])
    np.testing.assert_array_equal(s[0], [0, 0, 0])
    np.testing.assert_array_equal(st["v"][0], [120, -44, -55])
    s = spec.step(st, np.array([[2, 0, 0]]), p, reset="subtract")
    # v0 = 60 + 128 + 6 = 194 > 128 -> spike, subtract 128 -> 66
    np.testing.assert_array_equal(s[0], [1, 0, 0])
    np.testing.assert_array_equal(st["v"][0], [66, -16, -21])


def test_int_lif_counts_overflow():
    st = spec.init_state(1, 2)
    c = Counters()
    spec.step(st, np.array([[2**17 + 1, 0]]), dict(du=4095, dv=0, bias_mant=0, bias_exp=0, vth=2**17 - 1), counters=c)
    assert c.wrap == 1
    st["v"][:] = [2**23 - 10, 0]
    spec.step(st, np.array([[1, 0]]), dict(du=4095, dv=0, bias_mant=0, bias_exp=0, vth=2**17 - 1), counters=c)
    assert c.saturate == 1
