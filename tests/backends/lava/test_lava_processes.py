"""spikeforge's own Lava processes (``lavanet/sfproc.py``) against the normative integer steps,
run in the ``.venv-lava`` worker environment with Lava installed."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.lava
SCRIPT = Path(__file__).parent / "scripts" / "sfproc_vs_spec.py"


def test_sfproc_steps_equal_normative_steps(lava_python):
    """200 random neuron groups x 50 steps (LIF/LI with per-neuron parameters and both resets,
    ASN with random windows), inputs up to 2^20 so that wraps and saturations occur."""
    out = subprocess.run([str(lava_python), str(SCRIPT), "0", "200", "50"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["mismatches"] == 0
    assert res["wraps"] > 0 and res["saturations"] > 0
