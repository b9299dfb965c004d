"""``spikeforge verify``: exit 0 (agree, files written), 1 (mismatch), 2 (bad input, one line, nothing written)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import spikeforge as sf
from spikeforge.backends import BACKENDS
from spikeforge.backends.verify import OUTPUT
from spikeforge.backends.verify_io import read_traces
from tests.backends.reference import intnets

ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, SPIKEFORGE_BRIAN2_CODEGEN="numpy", MPLBACKEND="Agg", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "spikeforge", *args], cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture
def files(tmp_path: Path) -> tuple[sf.Program, np.ndarray]:
    prog = intnets.mlp_program()
    prog.save(tmp_path / "p.h5")
    x = np.random.default_rng(3).random((10, 4) + prog.input_shape)
    np.save(tmp_path / "x.npy", x)
    return prog, x


def _assert_bad(r: subprocess.CompletedProcess, *words: str) -> None:
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    for w in words:
        assert w in lines[0], lines[0]


@pytest.mark.lava
@pytest.mark.brian2
def test_verify_agree_writes_nir_traces_and_raster(tmp_path: Path, files, lava_python) -> None:
    prog, x = files
    r = _cli("verify", "p.h5", "--input", "x.npy", "--backends", "reference,lava,brian2", "--batch", "3", "-o", "out", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "all layers agree (exact)" in r.stdout and "reference = lava" in r.stdout and "lava = brian2" in r.stdout
    assert "first divergence" not in r.stdout
    out = tmp_path / "out"
    rep = json.loads((out / "verify.json").read_text())
    assert rep["ok"] and rep["samples"] == 4 and rep["steps"] == 10 and rep["first_divergence"] is None
    assert (out / "raster.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ref = sf.run(prog, x, probes=["n1", "n2", "n3"])
    for b in ("reference", "lava", "brian2"):
        back = read_traces(out / f"traces_{b}.h5", prog)
        assert set(back) == {"n1", "n2", "n3", OUTPUT}
        for k in ("n1", "n2", "n3"):
            assert back[k].dtype == ref.probes[k].dtype
            np.testing.assert_array_equal(back[k], ref.probes[k])
        np.testing.assert_array_equal(back[OUTPUT], ref.output)


def test_verify_same_backend_exit_0_with_samples_and_probe(tmp_path: Path, files) -> None:
    r = _cli("verify", "p.h5", "--input", "x.npy", "--backends", "reference,reference", "--samples", "2", "--probe", "n2", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "on 2 samples x 10 steps: all layers agree" in r.stdout
    assert " n2 " in r.stdout and " n1 " not in r.stdout and OUTPUT in r.stdout


def test_verify_mismatch_exit_1(tmp_path: Path, files, monkeypatch, capsys) -> None:
    """A test-only backend (the reference with one spike flipped) registered in the registry: exit 1."""
    from spikeforge.cli import main

    monkeypatch.setitem(BACKENDS, "broken", "tests.backends.test_verify:broken_runner")
    monkeypatch.chdir(tmp_path)
    code = main(["verify", "p.h5", "--input", "x.npy", "--backends", "reference,broken", "-o", "out", "-q"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "MISMATCH" in out
    assert "first divergence: sample 1, layer 'n1', neuron (5,), step 3" in out
    rep = json.loads((tmp_path / "out" / "verify.json").read_text())
    assert not rep["ok"] and rep["mismatches"]["reference vs broken"] == {"n1": 1, "n2": 0, "n3": 0, OUTPUT: 0}
    assert (tmp_path / "out" / "raster.png").exists()
    prog, x = files
    broken = read_traces(tmp_path / "out" / "traces_broken.h5", prog)
    ref = read_traces(tmp_path / "out" / "traces_reference.h5", prog)
    assert np.argwhere(broken["n1"] != ref["n1"]).tolist() == [[3, 1, 5]]


@pytest.mark.parametrize(
    "args, words",
    [
        (["--backends", "reference,loihi"], ("unknown backend 'loihi'", "available:", "brian2", "lava", "reference")),
        (["--backends", "reference"], ("at least two",)),
        (["--input", "bad.npy"], ("bad.npy", "shape (10, 4, 7)", "expects (T, B, 20)")),
        (["--samples", "9"], ("--samples 9", "4 samples")),
        (["--batch", "0"], ("--batch 0",)),
        (["--probe", "ghost"], ("ghost", "names no node")),
        (["--sample", "4"], ("--sample 4",)),
        (["--input", "missing.npy"], ("missing.npy", "no such file")),
    ],
)
def test_verify_bad_input_exit_2(tmp_path: Path, files, args: list[str], words: tuple[str, ...]) -> None:
    np.save(tmp_path / "bad.npy", np.zeros((10, 4, 7)))
    base = {"--input": "x.npy", "--backends": "reference,reference"}
    for k, v in zip(args[::2], args[1::2]):
        base[k] = v
    flat = [s for kv in base.items() for s in kv]
    _assert_bad(_cli("verify", "p.h5", *flat, "-o", "out", cwd=tmp_path), *words)
    assert not (tmp_path / "out").exists()


def test_verify_not_a_program_exit_2(tmp_path: Path, files) -> None:
    _assert_bad(_cli("verify", "x.npy", "--input", "x.npy", "--backends", "reference,reference", cwd=tmp_path), "x.npy", "not an HDF5")


def test_verify_help(tmp_path: Path) -> None:
    r = _cli("verify", "--help", cwd=tmp_path)
    assert r.returncode == 0 and "usage: spikeforge verify" in r.stdout
    for w in ("--backends", "--samples", "--batch", "--probe", "--atol", "--output", "NIR"):
        assert w in r.stdout
