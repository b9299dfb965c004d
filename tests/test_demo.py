"""``spikeforge demo``: the bundled model end to end into a report folder (small sample counts)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

import spikeforge as sf
from spikeforge.backends import BACKENDS
from spikeforge.backends.verify import OUTPUT
from spikeforge.backends.verify_io import read_traces
from spikeforge.demo import run_demo

PNG = b"\x89PNG\r\n\x1a\n"


def _row(stdout: str, key: str) -> str:
    m = re.search(r"^\| " + re.escape(key) + r" \| (.*) \|$", stdout, re.M)
    assert m, f"no row '{key}' in:\n{stdout}"
    return m.group(1)


def flip_runner(prog, x, probes=(), **kw):
    """Test-only backend: the reference with one hidden payload of sample 1 changed."""
    tr = sf.run(prog, x, backend="reference", probes=probes)
    name = sorted(tr.probes)[0]
    tr.probes[name] = tr.probes[name].copy()
    tr.probes[name][0, 1, 3] += 1
    return tr


@pytest.fixture
def numpy_brian2(monkeypatch):
    monkeypatch.setenv("SPIKEFORGE_BRIAN2_CODEGEN", "numpy")
    monkeypatch.setenv("MPLBACKEND", "Agg")


@pytest.mark.slow
@pytest.mark.lava
@pytest.mark.brian2
def test_demo_report(tmp_path: Path, capsys, numpy_brian2, lava_python) -> None:
    code = run_demo(tmp_path, n_samples=24, verify_samples=12)
    out = capsys.readouterr().out
    assert code == 0, out
    assert _row(out, "readouts identical (reference == torch)") == "yes"
    assert _row(out, "backends agree (reference, lava, brian2)").startswith("yes: every layer, every step, exact, on 12 digits")
    assert re.fullmatch(r"\d+ cores / \d+ chip\(s\)", _row(out, "cores / chips used (loihi2)"))
    assert _row(out, "demo warnings") == "none"
    assert "all layers agree (exact)" in out

    md = (tmp_path / "summary.md").read_text()
    for name in ("spikes.png", "raster.png", "energy.png", "mapping.png"):
        assert f"]({name})" in md
        assert (tmp_path / name).read_bytes()[:8] == PNG
    for link in re.findall(r"\]\(([^)]+)\)", md):
        assert (tmp_path / link).exists(), link

    energy = json.loads((tmp_path / "energy.json").read_text())
    assert energy["batch"] == 24 and energy["per_inference_joules"] > 0
    assert f"{energy['per_inference_joules']:.4g} J" in _row(out, "energy per inference (loihi2)")
    cores = energy["mapping"]["cores_used"]
    assert _row(out, "cores / chips used (loihi2)").startswith(f"{cores} cores")

    rep = json.loads((tmp_path / "verify.json").read_text())
    assert rep["ok"] and rep["samples"] == 12 and rep["backends"] == ["reference", "lava", "brian2"]
    prog = sf.Program.load(tmp_path / "program.h5")
    ref = read_traces(tmp_path / "traces" / "traces_reference.h5", prog)
    for b in ("lava", "brian2"):
        other = read_traces(tmp_path / "traces" / f"traces_{b}.h5", prog)
        assert set(other) == set(ref)
        for k in ref:
            np.testing.assert_array_equal(other[k], ref[k])
    # the stored reference equals a fresh run of the saved program on the same digits
    from spikeforge.demo import INFO, digits_split, encode

    info = json.loads(INFO.read_text())
    _, _, xt, _ = digits_split(info["split_seed"], info["n_test"])
    np.testing.assert_array_equal(ref[OUTPUT], sf.run(prog, encode(xt[:12], info["T"])).output)


@pytest.mark.slow
@pytest.mark.brian2
def test_demo_without_lava_warns_and_runs_the_others(tmp_path: Path, capsys, monkeypatch, numpy_brian2) -> None:
    monkeypatch.setenv("SPIKEFORGE_LAVA_VENV", str(tmp_path / "no-such-venv"))
    monkeypatch.delenv("CI", raising=False)
    code = run_demo(tmp_path / "out", n_samples=8)
    cap = capsys.readouterr()
    assert code == 0, cap.out
    warn = [ln for ln in cap.err.splitlines() if ln.startswith("warning:")]
    assert warn == ["warning: Lava backend skipped: its worker environment .venv-lava is missing (run `make lava`)"]
    assert _row(cap.out, "demo warnings").startswith("1: Lava backend skipped")
    assert _row(cap.out, "backends agree (reference, brian2)").startswith("yes")
    assert not (tmp_path / "out" / "traces" / "traces_lava.h5").exists()
    assert (tmp_path / "out" / "traces" / "traces_brian2.h5").exists()


def test_demo_without_lava_under_ci_is_an_error(tmp_path: Path, capsys, monkeypatch) -> None:
    from spikeforge.cli import main

    monkeypatch.setenv("SPIKEFORGE_LAVA_VENV", str(tmp_path / "no-such-venv"))
    monkeypatch.setenv("CI", "true")
    code = main(["demo", "--out", str(tmp_path / "out"), "--samples", "4"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "CI=true" in err[0] and "no-such-venv" in err[0]
    assert not (tmp_path / "out").exists()


def test_demo_backend_disagreement_exits_1(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(BACKENDS, "flipped", "tests.test_demo:flip_runner")
    code = run_demo(tmp_path, n_samples=6, backends=("reference", "flipped"))
    cap = capsys.readouterr()
    assert code == 1
    assert _row(cap.out, "readouts identical (reference == torch)") == "yes"
    assert _row(cap.out, "backends agree (reference, flipped)").startswith("NO")
    assert "first divergence sample 1" in _row(cap.out, "backends agree (reference, flipped)")
    assert "the backends disagree" in cap.err
    assert (tmp_path / "raster.png").exists() and not json.loads((tmp_path / "verify.json").read_text())["ok"]


@pytest.mark.parametrize(
    "args, words",
    [(["--samples", "0"], ("--samples 0",)), (["--backends", "reference,nope"], ("unknown backend 'nope'", "available:")),
     (["--samples", "5", "--verify-samples", "6"], ("--verify-samples 6",))],
)
def test_demo_bad_arguments(tmp_path: Path, capsys, args: list[str], words: tuple[str, ...]) -> None:
    from spikeforge.cli import main

    code = main(["demo", "--out", str(tmp_path / "out"), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    for w in words:
        assert w in err[0]
    assert not (tmp_path / "out").exists()
