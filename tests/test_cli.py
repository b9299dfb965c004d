"""The command line: success paths and bad input (exit 2, one line, nothing written)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nir
import numpy as np
import pytest


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "spikeforge", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def _mlp() -> nir.NIRGraph:
    rng = np.random.default_rng(1)
    return nir.NIRGraph(
        nodes={
            "input": nir.Input(np.array([6])),
            "fc": nir.Affine(rng.normal(size=(4, 6)), np.zeros(4)),
            "lif": nir.LIF(tau=np.full(4, 2e-3), r=np.ones(4), v_leak=np.zeros(4), v_threshold=np.full(4, 0.5)),
            "output": nir.Output(np.array([4])),
        },
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")],
        type_check=False,
    )


@pytest.fixture
def model(tmp_path: Path) -> Path:
    p = tmp_path / "m.nir"
    nir.write(p, _mlp())
    return p


def _assert_bad(r: subprocess.CompletedProcess, *words: str) -> None:
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for w in words:
        assert w in lines[0], lines[0]


def test_compile_and_run(tmp_path: Path, model: Path) -> None:
    r = _cli("compile", str(model), "-o", "p.h5", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "p.h5").exists() and "lif" in r.stdout
    x = np.random.default_rng(0).random((10, 2, 6))
    np.save(tmp_path / "x.npy", x)
    r = _cli("run", "p.h5", "--input", "x.npy", "-o", "y.npy", "--probe", "lif", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    y = np.load(tmp_path / "y.npy")
    assert y.shape == (10, 2, 4)
    import spikeforge as sf

    np.testing.assert_array_equal(y, sf.run(sf.Program.load(tmp_path / "p.h5"), x).output)


@pytest.mark.parametrize("cmd", [[], ["compile"], ["run"], ["demo"]])
def test_help(tmp_path: Path, cmd: list[str]) -> None:
    r = _cli(*cmd, "--help", cwd=tmp_path)
    assert r.returncode == 0 and "usage: spikeforge" in r.stdout


def test_missing_file(tmp_path: Path) -> None:
    _assert_bad(_cli("compile", "nope.nir", "-o", "p.h5", cwd=tmp_path), "nope.nir", "no such file")
    assert not (tmp_path / "p.h5").exists()


def test_not_hdf5(tmp_path: Path) -> None:
    (tmp_path / "bad.nir").write_text("hello")
    _assert_bad(_cli("compile", "bad.nir", "-o", "p.h5", cwd=tmp_path), "bad.nir", "not an HDF5")
    assert not (tmp_path / "p.h5").exists()


def test_truncated(tmp_path: Path, model: Path) -> None:
    data = model.read_bytes()
    (tmp_path / "t.nir").write_bytes(data[: len(data) // 2])
    _assert_bad(_cli("compile", "t.nir", "-o", "p.h5", cwd=tmp_path), "t.nir")
    assert not (tmp_path / "p.h5").exists()


def _write(tmp_path: Path, g: nir.NIRGraph) -> Path:
    p = tmp_path / "g.nir"
    nir.write(p, g)
    return p


def test_edge_to_missing_node(tmp_path: Path) -> None:
    g = _mlp()
    g.edges.append(("lif", "ghost"))
    _write(tmp_path, g)
    _assert_bad(_cli("compile", "g.nir", "-o", "p.h5", cwd=tmp_path), "ghost")


def test_shape_mismatch(tmp_path: Path) -> None:
    g = _mlp()
    g.nodes["input"] = nir.Input(np.array([5]))
    _write(tmp_path, g)
    _assert_bad(_cli("compile", "g.nir", "-o", "p.h5", cwd=tmp_path), "fc", "shape")


def test_nan_parameter(tmp_path: Path) -> None:
    g = _mlp()
    g.nodes["fc"].weight[0, 0] = np.nan
    _write(tmp_path, g)
    _assert_bad(_cli("compile", "g.nir", "-o", "p.h5", cwd=tmp_path), "fc", "NaN")


def test_algebraic_loop(tmp_path: Path) -> None:
    g = _mlp()
    g.nodes["fb"] = nir.Linear(np.eye(6, 4))
    g.nodes["fc2"] = nir.Linear(np.eye(6))
    g.edges += [("fc", "fb"), ("fb", "fc2"), ("fc2", "fc")]
    _write(tmp_path, g)
    _assert_bad(_cli("compile", "g.nir", "-o", "p.h5", cwd=tmp_path), "algebraic loop")
    assert not (tmp_path / "p.h5").exists()


def test_unknown_node_type(tmp_path: Path, model: Path) -> None:
    import h5py

    with h5py.File(model, "r+") as f:
        del f["node/nodes/lif/type"]
        f["node/nodes/lif"].create_dataset("type", data="Banana")
    _assert_bad(_cli("compile", str(model), "-o", "p.h5", cwd=tmp_path), "Banana")


def test_run_bad_input_shape(tmp_path: Path, model: Path) -> None:
    assert _cli("compile", str(model), "-o", "p.h5", cwd=tmp_path).returncode == 0
    np.save(tmp_path / "x.npy", np.zeros((5, 1, 7)))
    _assert_bad(_cli("run", "p.h5", "--input", "x.npy", "-o", "y.npy", cwd=tmp_path), "shape")
    assert not (tmp_path / "y.npy").exists()


def test_run_not_a_program(tmp_path: Path, model: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((5, 1, 6)))
    _assert_bad(_cli("run", str(model), "--input", "x.npy", cwd=tmp_path), "not a spikeforge program")


def test_run_bad_npy(tmp_path: Path, model: Path) -> None:
    assert _cli("compile", str(model), "-o", "p.h5", cwd=tmp_path).returncode == 0
    (tmp_path / "x.npy").write_text("garbage")
    _assert_bad(_cli("run", "p.h5", "--input", "x.npy", cwd=tmp_path), "x.npy")


# ---------------------------------------------------------------- integer targets (loihi2)


def test_compile_loihi2_with_calibration_and_run(tmp_path: Path, model: Path) -> None:
    x = np.random.default_rng(0).random((10, 3, 6))
    np.save(tmp_path / "x.npy", x)
    r = _cli("compile", str(model), "--target", "loihi2", "--calibration", "x.npy", "-o", "p.h5", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "int_lif" in r.stdout and "peak |v|" in r.stdout and "realization=graded" in r.stdout
    import spikeforge as sf

    prog = sf.Program.load(tmp_path / "p.h5")
    assert prog.target == "loihi2" and prog.integer
    r = _cli("run", "p.h5", "--input", "x.npy", "-o", "y.npy", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), sf.run(prog, x).output)


def test_compile_loihi2_with_input_exp(tmp_path: Path) -> None:
    g = _mlp()
    g.nodes["fc"] = nir.Affine(np.full((4, 6), 0.25), np.zeros(4))
    _write(tmp_path, g)
    r = _cli("compile", "g.nir", "--target", "loihi2-binary", "--input-exp", "-4", "--input-bits", "6", "-o", "p.h5", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "x = int6 * 2^-4" in r.stdout and "realization=binary" in r.stdout


def test_compile_help_lists_targets(tmp_path: Path) -> None:
    r = _cli("compile", "--help", cwd=tmp_path)
    assert r.returncode == 0
    for w in ("loihi2-shared-threshold", "--calibration", "--input-exp", "--allow-saturation"):
        assert w in r.stdout


def _tiny_weights(tmp_path: Path) -> Path:
    """A quantization-aware layer (weight_quant) whose tiny weights put the threshold beyond 17 bits."""
    g = _mlp()
    g.nodes["fc"] = nir.Affine(np.full((4, 6), 1e-4), np.zeros(4), metadata={"spikeforge.weight_quant": "per_layer"})
    g.nodes["lif"] = nir.LIF(tau=np.full(4, 2e-3), r=np.full(4, 1 / (1 - np.exp(-0.5))), v_leak=np.zeros(4), v_threshold=np.ones(4))
    return _write(tmp_path, g)


@pytest.mark.parametrize(
    "args, words",
    [
        (["--target", "loihi3"], ("unknown target 'loihi3'", "loihi2")),
        (["--target", "loihi2"], ("input_exp", "--calibration")),
        (["--target", "loihi2", "--calibration", "missing.npy"], ("missing.npy", "no such file")),
        (["--target", "loihi2", "--calibration", "bad.npy"], ("calibration data has shape (3, 5)",)),
        (["--calibration", "x.npy"], ("integer targets only",)),
        (["--target", "loihi2", "--input-exp", "0", "--input-bits", "40"], ("input_bits",)),
    ],
)
def test_compile_loihi2_bad_input(tmp_path: Path, model: Path, args: list, words: tuple) -> None:
    np.save(tmp_path / "bad.npy", np.zeros((3, 5)))
    np.save(tmp_path / "x.npy", np.zeros((3, 1, 6)))
    _assert_bad(_cli("compile", str(model), *args, "-o", "p.h5", cwd=tmp_path), *words)
    assert not (tmp_path / "p.h5").exists()


def test_compile_loihi2_range_error_and_allow_saturation(tmp_path: Path) -> None:
    _tiny_weights(tmp_path)
    _assert_bad(_cli("compile", "g.nir", "--target", "loihi2", "--input-exp", "0", "-o", "p.h5", cwd=tmp_path), "'lif'", "threshold vth", "131071")
    assert not (tmp_path / "p.h5").exists()
    r = _cli("compile", "g.nir", "--target", "loihi2", "--input-exp", "0", "--allow-saturation", "-o", "p.h5", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "warning:" in r.stderr and "threshold vth" in r.stderr and (tmp_path / "p.h5").exists()
