"""examples/convex_xor.py: the task settings, and in quick mode the table (finite numbers, every task
and method), the certified gaps, the plot, and the compiled section (integer-train CVX compiled ==
torch, reference == Lava == Brian2 digital)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.examples.example_module import load_example


def _load():
    return load_example("convex_xor")


def test_settings_are_consistent():
    cx = _load()
    assert set(cx.QUICK) == set(cx.TASKS)
    for name, cfg in cx.TASKS.items():
        assert cfg["K_cvx"] >= cfg["K_sg"] >= 1 and 0 < cfg["lam_ratio"] < 1 and cfg["gap"] <= 1e-6
    for name in ("XOR clean", "XOR noisy"):
        assert cx.TASKS[name]["gap"] < 1e-6  # the bar on the XOR task


@pytest.mark.slow
@pytest.mark.lava
@pytest.mark.brian2
def test_quick_run(tmp_path, capsys, lava_python):
    cx = _load()
    assert cx.main(["--quick", "--verify-samples", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = [l for l in out.splitlines() if re.match(r"^\| (XOR clean|XOR noisy|digits) \| (CVX|SG-CVX|SG) \| \d.* ± ", l)]
    assert len(rows) == 9
    for row in rows:
        nums = [float(v) for v in re.findall(r"-?\d+\.\d+(?:e[-+]\d+)?", row)]
        assert len(nums) >= 6 and all(np.isfinite(nums))
    gaps = [float(r.split("|")[5]) for r in rows if r.startswith("| XOR") and r.split("|")[2].strip() in ("CVX", "SG-CVX")]
    assert len(gaps) == 4 and max(gaps) < 1e-6
    assert "uncertified runs: none" in out
    crow = re.findall(r"^\| (\w+(?: \w+)?) \| CVX \(integer-train\) \| (\S+) \| (\S+) \| (\S+) \| (.+) \|$", out, re.M)
    assert len(crow) == 3
    for _, f, i, moved, v in crow:
        assert f == i and float(moved) == 0.0 and v == "spike-exact"
    assert out.count("spike-exact") == 9  # CVX, SG-CVX and integer-train CVX of every task
    assert (tmp_path / "convex_xor.png").stat().st_size > 1000
    assert (tmp_path / "results.md").read_text().count("|") > 50
    assert (tmp_path / "results.json").stat().st_size > 100
