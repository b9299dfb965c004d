"""The Lava runner and artifact: verify, clear errors, temporary files, the standalone folder."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

import spikeforge as sf
from spikeforge.backends.lava import runner
from spikeforge.backends.lava.emit import exponent_groups, write_artifact
from spikeforge.compiler.errors import SpikeforgeError
from tests.backends.reference import intnets

pytestmark = pytest.mark.lava


def _lava_tmpdirs() -> set[str]:
    return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith("spikeforge-lava-")}


@pytest.fixture
def private_tmp(monkeypatch, tmp_path):
    """A temporary-file folder of this test's own (other runs may use the system one)."""
    d = tmp_path / "tmp"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


def test_verify_reference_vs_lava(lava_python, private_tmp):
    prog = intnets.residual_program(hidden="int_asn", asn_kw={"alpha": 0, "D": 3})
    x = np.random.default_rng(2).random((7, 2) + prog.input_shape) * 2
    before = _lava_tmpdirs()
    rep = sf.verify(prog, x, backends=("reference", "lava"))
    assert rep.ok, rep.summary()
    assert set(rep.agreement[("reference", "lava")]) == {"n1", "n2", "n3", "<output>"}
    assert _lava_tmpdirs() == before == set()  # temporary files removed


def test_missing_worker_env_is_one_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("SPIKEFORGE_LAVA_VENV", str(tmp_path / "nowhere"))
    prog = intnets.mlp_program()
    with pytest.raises(SpikeforgeError, match=r"worker environment .* does not exist: run `make lava`"):
        sf.run(prog, np.zeros((2, 1) + prog.input_shape), backend="lava")


def test_worker_crash_reports_stderr_and_cleans_up(lava_python, monkeypatch, private_tmp):
    real = runner.run_worker

    def crashing(folder, x_int, probes, timeout, tag="fixed_pt"):
        (folder / "plan.npz").write_bytes(b"not an npz")  # the worker cannot read its plan
        return real(folder, x_int, probes, timeout, tag)

    monkeypatch.setattr(runner, "run_worker", crashing)
    before = _lava_tmpdirs()
    prog = intnets.mlp_program()
    with pytest.raises(SpikeforgeError, match=r"Lava worker failed \(exit code 1\); its last stderr lines:\n(.|\n)*Error"):
        sf.run(prog, np.zeros((2, 1) + prog.input_shape), backend="lava")
    assert _lava_tmpdirs() == before


def test_worker_timeout_is_reported(lava_python):
    prog = intnets.mlp_program()
    with pytest.raises(SpikeforgeError, match=r"Lava worker timed out after 0.5 s"):
        sf.run(prog, np.zeros((2, 1) + prog.input_shape), backend="lava", timeout=0.5)


def test_float_asn_is_refused_with_the_fix(tmp_path):
    import nir

    from tests.compiler.passes.int_nets import asn, chain

    g = chain(("fc", nir.Linear(weight=np.ones((2, 3)))), ("a", asn(2)), in_shape=(3,), out_shape=(2,))
    prog = sf.compile(g, target="float")
    with pytest.raises(SpikeforgeError, match=r"node 'a' has op 'asn' that the Lava floating_pt network cannot run; supported: .*compile for loihi2"):
        write_artifact(prog, tmp_path / "x")
    assert not list(tmp_path.iterdir())  # nothing half-written


def intnets_float_graph():
    import nir

    from tests.compiler.passes.int_nets import chain, li

    return chain(("fc", nir.Linear(weight=np.ones((2, 3)))), ("li", li(2)), in_shape=(3,), out_shape=(2,))


def test_exponent_groups_are_exact_and_few():
    M = np.array([[254 // 2 * 4, -8, 0], [3, 5, -127], [0, 0, 0], [64, 128, 256]])
    groups = exponent_groups(M, "test")
    rebuilt = np.zeros_like(M)
    for e, rows in groups:
        m = M[rows] >> e
        assert np.abs(m).max() <= 127
        rebuilt[rows] = m << e
    np.testing.assert_array_equal(rebuilt, M)
    assert len(groups) == 2  # rows 0 and 3 share an exponent
    with pytest.raises(SpikeforgeError, match="row 0 needs more than an 8-bit weight mantissa"):
        exponent_groups(np.array([[255, 1]]), "test")


def test_artifact_runs_without_spikeforge(lava_python, tmp_path):
    """The emitted folder is self-contained: Lava's own interpreter builds and runs it with
    spikeforge never imported, and its probes equal the reference."""
    prog = intnets.recurrent_program()
    folder = write_artifact(prog, tmp_path / "net")
    assert {p.name for p in folder.iterdir()} >= {"network.py", "sfproc.py", "plan.json", "plan.npz", "program.h5", "README.md"}
    x = np.random.default_rng(4).random((6, 2) + prog.input_shape)
    ref = sf.run(prog, x, probes=["rec", "out"])
    xi = intnets.quantize(x, 0, 1, False).astype(np.int64)
    np.save(tmp_path / "x.npy", xi)
    script = (
        "import sys, json, numpy as np\n"
        f"sys.path.insert(0, {str(folder)!r})\n"
        "import network\n"
        f"net = network.build_network({str(folder)!r}, np.load({str(tmp_path / 'x.npy')!r}))\n"
        "assert set(net.sinks) == {'input', 'rec', 'out'} and net.num_steps > 0\n"
        f"res = network.run({str(folder)!r}, np.load({str(tmp_path / 'x.npy')!r}))\n"
        f"np.save({str(tmp_path / 'rec.npy')!r}, res['probes']['rec'])\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('spikeforge') or m == 'torch')))\n"
    )
    out = subprocess.run([str(lava_python), "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
    np.testing.assert_array_equal(np.load(tmp_path / "rec.npy"), ref.probes["rec"])


def test_cli_compile_backend_lava_writes_folder(tmp_path, lava_python):
    from spikeforge.cli import main

    g = intnets_float_graph()
    src = tmp_path / "m.nir"
    sf.save_nir(g, src)
    np.save(tmp_path / "cal.npy", np.random.default_rng(0).random((4, 2, 3)))
    rc = main(["compile", str(src), "--target", "loihi2", "--calibration", str(tmp_path / "cal.npy"), "--backend", "lava", "-o", str(tmp_path / "lava"), "-q"])
    assert rc == 0
    meta = json.loads((tmp_path / "lava" / "plan.json").read_text())
    assert [g["kind"] for g in meta["groups"]] == ["input", "sf_lif"]
    assert "build_network" in (tmp_path / "lava" / "README.md").read_text()
    assert not list(tmp_path.glob("*.tmp-spikeforge"))
    assert main(["compile", str(src), "--target", "float", "--backend", "lava", "-o", str(tmp_path / "f")]) == 2
