"""The reference backend leaves torch's OpenMP thread count alone.

Numba's ``omp`` threading layer sets OpenMP's thread count when it starts; before
``backends/reference/openmp.py`` a ``torch.set_num_threads(1)`` made before compiling or
running a program was silently undone (training afterwards ran up to 20x slower here). Each
check runs in a fresh interpreter, since numba starts its threads once per process.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SCRIPT = """
import numpy as np, torch
import spikeforge as sf
from spikeforge.models.stl import build_stl_net
torch.set_num_threads(1)
assert torch.get_num_threads() == 1  # reading it (as the examples do) set up the state numba used to overwrite
net = build_stl_net(seed=0)
x = torch.rand(8, 4, 64)
prog = sf.compile(sf.trace(net, x), target="loihi2", calibration=x.numpy(), input_exp=0)
after_compile = torch.get_num_threads()
sf.run(prog, (x.numpy() > 0.5).astype(float))
sf.run(sf.compile(sf.trace(net, x), target="float"), x.numpy())
print(after_compile, torch.get_num_threads())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the OpenMP runtimes are found in /proc/self/maps (Linux)")
def test_compile_and_run_keep_torch_single_threaded() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == ["1", "1"], out.stdout
