"""examples/mackey_glass.py: the series and split, the delay-line input and training windows, and in
quick mode the sweep, the table with finite numbers, the references, the plot, and the compiled MTC
runs (float equal to torch)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tests.examples.example_module import load_example


def _load():
    return load_example("mackey_glass")


def test_series_and_split():
    mg = _load()
    d = mg.split()
    assert d["x"].shape == d["y"].shape == (mg.N_TRAIN + mg.N_TEST,)
    np.testing.assert_array_equal(d["x"][1:], d["y"][:-1])  # one step ahead
    raw = d["raw"]
    assert 0.2 < raw.min() < 0.6 and 1.1 < raw.max() < 1.5  # the tau=17 attractor's range
    assert raw.std() > 0.15  # chaotic, not a fixed point


def test_delay_line_and_windows():
    mg = _load()
    d = mg.split()
    f = d["f"]
    assert f.shape == (mg.N_TRAIN + mg.N_TEST, mg.LAGS)
    np.testing.assert_array_equal(f[:, 0], d["x"])
    for k in range(1, mg.LAGS):  # column k is the input k steps back, zeros before the start
        np.testing.assert_array_equal(f[k:, k], d["x"][:-k])
        assert not f[:k, k].any()
    xs, ys = mg.windows(f[: mg.N_TRAIN], d["y"][: mg.N_TRAIN])
    assert xs.shape[0] == ys.shape[0] == mg.WINDOW and xs.shape[2] == mg.LAGS and ys.shape[2] == 1
    assert xs.shape[1] == (mg.N_TRAIN - mg.WINDOW) // mg.STRIDE + 1
    # every model gets the same input and readout layer sizes (equal parameter budget there)
    cfgs = {k: {"lr": mg.LRS[0], mg.KNOBS[k][0]: mg.KNOBS[k][1][0]} for k in mg.MODELS}
    sizes = {k: [tuple(p.shape) for i in (0, 2) for p in mg.make_model(k, 16, 0, cfgs[k]).net[i].parameters()]
             for k in mg.MODELS}
    assert len({tuple(v) for v in sizes.values()}) == 1


@pytest.mark.slow
def test_quick_run_prints_table_with_finite_numbers(tmp_path, capsys):
    mg = _load()
    assert mg.main(["--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = [l for l in out.splitlines() if l.startswith("| MTC") or l.startswith("| LIF") or l.startswith("| AdLIF")]
    assert len(rows) == 3
    for row in rows:
        nums = [float(v) for v in re.findall(r"-?\d+\.\d+", row)]
        assert len(nums) == 8 and all(np.isfinite(nums))
    for kind in ("MTC", "LIF", "AdLIF"):
        assert re.search(rf"^  {kind}: chosen lr=", out, re.M)
    assert re.search(r"reference linear least squares .* NRMSE \d", out)
    assert (tmp_path / "mackey_glass.png").stat().st_size > 1000
    assert (tmp_path / "results.md").read_text().count("|") > 20
    m = re.search(r"compiled float\s+on reference: max \|compiled - torch\| = (\S+)", out)
    assert m and float(m.group(1)) < 1e-9
    assert re.search(r"compiled loihi2 on reference: .* test NRMSE \d", out)
