"""examples/stl_digits.py: --help, the quick run (table with one row per variant and finite
numbers, threshold table, paired differences, backend check, plots, results files) and bad
arguments."""

from __future__ import annotations

import json
import re

import pytest

from tests.examples.example_module import load_example


def _load():
    return load_example("stl_digits")


def test_help_explains(capsys):
    ex = _load()
    with pytest.raises(SystemExit) as e:
        ex.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for opt in ("--seeds", "--quick", "--epochs", "--out", "--verify-samples"):
        assert opt in out
    assert "STL" in out and "SL" in out and "TL" in out and "(default 3)" in out


@pytest.mark.parametrize("args", [["--hidden", "a,b"], ["--seeds", "0"], ["--epochs", "-1"], ["--theta-init", "0"]])
def test_bad_arguments_exit_2(args, capsys):
    ex = _load()
    with pytest.raises(SystemExit) as e:
        ex.main(args)
    assert e.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.lava
@pytest.mark.brian2
def test_quick_run_prints_table_and_writes_plots(tmp_path, capsys, lava_python):
    ex = _load()
    assert ex.main(["--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    for mode in ("STL", "SL", "TL"):
        rows = [l for l in out.splitlines() if l.startswith(f"| {mode} |")]
        assert len(rows) == 1, mode
        nums = [float(v) for v in re.findall(r"(\d+\.\d+) ± (\d+\.\d+)", rows[0]) for v in v]
        assert len(nums) == 10  # 5 columns of mean ± std
        acc = nums[0:6:2]  # torch, loihi2, loihi2-shared-threshold
        assert all(0.0 <= a <= 100.0 for a in acc)
        assert all(s == 0.0 for s in nums[1::2])  # one seed: std 0
    assert re.search(r"^\| initial \| 2\.000 ± 0\.000 \| 2\.000 ± 0\.000 \| 0 \|$", out, re.M)
    assert re.search(r"^- STL - SL \(torch, per seed, points\): [+-]\d+\.\d\d; mean", out, re.M)
    for target in ("loihi2", "loihi2-shared-threshold"):
        assert re.search(rf"^- {target}: reference == Lava == Brian2 digital on 4 test samples x 8 steps: spike-exact", out, re.M)
    for png in ("thresholds.png", "training.png"):
        assert (tmp_path / png).read_bytes()[:4] == b"\x89PNG" and (tmp_path / png).stat().st_size > 5000
    assert (tmp_path / "results.md").read_text().count("| STL |") == 1
    res = json.loads((tmp_path / "results.json").read_text())
    assert [r["mode"] for r in res["rows"]] == ["STL", "SL", "TL"]
    assert set(res["rows"][0]["compiled"]) == {"loihi2", "loihi2-shared-threshold"}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # atomic writes left no temporaries
