"""examples/spe_sequential.py: the row encoding, and in quick mode the table (4 models, accuracies
in [0, 100]), the gradient-norm plot and results.json."""

from __future__ import annotations

import json
import re

import numpy as np

from tests.examples.example_module import load_example


def _load():
    return load_example("spe_sequential")


def test_rows_feed_one_row_per_step():
    from spikeforge.models.spe.train import rows

    x = np.arange(2 * 64).reshape(2, 64)
    r = rows(x)
    assert r.shape == (8, 2, 8)
    np.testing.assert_array_equal(r[3, 1], x[1, 24:32])


def test_quick_run_prints_table_and_writes_plot(tmp_path, capsys):
    ex = _load()
    assert ex.main(["--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows_ = [l for l in out.splitlines() if re.match(r"\| [28] \|", l)]
    assert len(rows_) == 4
    for l in rows_:
        acc = float(re.search(r"\| ([0-9.]+) ± ", l).group(1))
        assert 0.0 <= acc <= 100.0
    png = tmp_path / "grad_norms.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    res = json.loads((tmp_path / "results.json").read_text())
    assert set(res["results"]) == {"compiled", "2-layer LIF", "2-layer SPE(LIF)", "8-layer LIF", "8-layer SPE(LIF)"}
    c = res["results"]["compiled"]
    assert "int_spe_lif" in c["ops"] and 0.0 <= c["compiled"] <= 1.0
    assert "Post-training quantization" in out
