"""Bad input gives the right :class:`sf.SpikeforgeError` subclass and a one-line message.

Every message must be a single line that names the file (when there is one) or the node.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest

import spikeforge as sf
from spikeforge.compiler import UnsupportedNodeError
from spikeforge.compiler.from_nir import NIR_CONVERTERS


def _graph() -> nir.NIRGraph:
    return nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([3])}),
            "fc": nir.Affine(weight=np.full((2, 3), 0.5), bias=np.zeros(2)),
            "lif": nir.LIF(tau=np.full(2, 1e-2), r=np.ones(2), v_leak=np.zeros(2), v_threshold=np.ones(2), v_reset=np.zeros(2)),
            "output": nir.Output(output_type={"output": np.array([2])}),
        },
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")],
        type_check=False,
    )


def _one_line(err: pytest.ExceptionInfo, *words: str) -> str:
    msg = str(err.value)
    assert msg and "\n" not in msg, repr(msg)
    for w in words:
        assert w in msg, f"{w!r} not in {msg!r}"
    return msg


@pytest.fixture
def good_nir(tmp_path: Path) -> Path:
    p = tmp_path / "good.nir"
    sf.save_nir(_graph(), p)
    return p


def _truncate(src: Path, dst: Path) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: len(data) // 2])
    return dst


# ----------------------------------------------------------------------------- NIR files


def test_missing_file(tmp_path: Path) -> None:
    p = tmp_path / "nope.nir"
    with pytest.raises(sf.NIRFileError) as e:
        sf.load_nir(p)
    _one_line(e, str(p))
    with pytest.raises(sf.NIRFileError) as e:
        sf.compile(p)
    _one_line(e, str(p))


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(sf.NIRFileError) as e:
        sf.load_nir(tmp_path)
    _one_line(e, str(tmp_path))


def test_not_hdf5(tmp_path: Path) -> None:
    p = tmp_path / "notes.nir"
    p.write_text("this is a text file\nwith two lines\n")
    with pytest.raises(sf.NIRFileError) as e:
        sf.load_nir(p)
    _one_line(e, str(p), "HDF5")


def test_truncated_hdf5(tmp_path: Path, good_nir: Path) -> None:
    p = _truncate(good_nir, tmp_path / "half.nir")
    with pytest.raises(sf.NIRFileError) as e:
        sf.load_nir(p)
    _one_line(e, str(p))


def test_hdf5_without_nir_graph(tmp_path: Path) -> None:
    p = tmp_path / "other.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("data", data=np.arange(3))
    with pytest.raises(sf.NIRFileError) as e:
        sf.load_nir(p)
    _one_line(e, str(p))


def test_unknown_node_type_in_file(tmp_path: Path, good_nir: Path) -> None:
    """A file naming a type NIR does not know: the node, the type and the known types."""
    p = tmp_path / "unknown.nir"
    shutil.copy(good_nir, p)
    with h5py.File(p, "a") as f:
        grp = f["node/nodes/lif"]
        del grp["type"]
        grp.create_dataset("type", data="Izhikevich", dtype=h5py.string_dtype())
    with pytest.raises(UnsupportedNodeError) as e:
        sf.load_nir(p)
    assert isinstance(e.value, sf.GraphError)
    _one_line(e, str(p), "'lif'", "Izhikevich", "LIF")


@dataclasses.dataclass(eq=False)
class Izhikevich(nir.ir.NIRNode):
    """A NIRNode subclass that no spikeforge registry knows."""

    a: np.ndarray

    def __post_init__(self):
        self.input_type = {"input": np.array(self.a.shape)}
        self.output_type = {"output": np.array(self.a.shape)}


def test_unknown_node_subclass() -> None:
    g = _graph()
    g.nodes["lif"] = Izhikevich(a=np.ones(2))
    with pytest.raises(UnsupportedNodeError) as e:
        sf.compile(g)
    _one_line(e, "'lif'", "Izhikevich", "supported", "LIF")


def test_registered_type_removed_from_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dispatch goes through the registry: a type missing from it is unsupported, by name."""
    monkeypatch.delitem(NIR_CONVERTERS, nir.LIF)
    with pytest.raises(UnsupportedNodeError) as e:
        sf.compile(_graph())
    _one_line(e, "'lif'", "LIF")


def test_unknown_node_in_nested_subgraph() -> None:
    inner = _graph()
    inner.nodes["lif"] = Izhikevich(a=np.ones(2))
    g = nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([3])}), "sub": inner, "output": nir.Output(output_type={"output": np.array([2])})},
        edges=[("input", "sub"), ("sub", "output")],
        type_check=False,
    )
    with pytest.raises(UnsupportedNodeError) as e:
        sf.compile(g)
    _one_line(e, "'sub.lif'", "Izhikevich")


# ----------------------------------------------------------------------------- graphs


def test_edge_to_missing_node(tmp_path: Path) -> None:
    g = _graph()
    g.edges.append(("fc", "ghost"))
    with pytest.raises(sf.GraphError) as e:
        sf.compile(g)
    _one_line(e, "ghost")
    # through a file: the message names the file as well
    p = tmp_path / "ghost.nir"
    sf.save_nir(g, p)
    with pytest.raises(sf.GraphError) as e:
        sf.compile(p)
    _one_line(e, str(p), "ghost")


def test_edge_from_missing_node() -> None:
    g = _graph()
    g.edges.append(("phantom", "lif"))
    with pytest.raises(sf.GraphError) as e:
        sf.compile(g)
    _one_line(e, "phantom")


def test_affine_shape_mismatch(tmp_path: Path) -> None:
    g = _graph()
    g.nodes["fc"] = nir.Affine(weight=np.ones((2, 4)), bias=np.zeros(2))
    with pytest.raises(sf.GraphError) as e:
        sf.compile(g)
    _one_line(e, "'fc'", "(3,)", "(4,)")
    p = tmp_path / "mismatch.nir"
    sf.save_nir(g, p)
    with pytest.raises(sf.GraphError) as e:
        sf.compile(p)
    _one_line(e, str(p), "'fc'")


def test_neuron_shape_mismatch() -> None:
    g = _graph()
    g.nodes["lif"] = nir.LIF(tau=np.full(5, 1e-2), r=np.ones(5), v_leak=np.zeros(5), v_threshold=np.ones(5), v_reset=np.zeros(5))
    with pytest.raises(sf.GraphError) as e:
        sf.compile(g)
    _one_line(e, "lif")


@pytest.mark.parametrize(
    "node,field,value",
    [
        ("lif", "tau", np.nan),
        ("lif", "v_threshold", np.inf),
        ("fc", "weight", -np.inf),
        ("fc", "bias", np.nan),
    ],
)
def test_nan_inf_parameters(node: str, field: str, value: float) -> None:
    g = _graph()
    getattr(g.nodes[node], field).flat[0] = value
    with pytest.raises(sf.GraphError) as e:
        sf.compile(g)
    _one_line(e, f"'{node}'", field, "NaN/inf")


def test_nonpositive_time_constant() -> None:
    g = _graph()
    g.nodes["lif"].tau[1] = 0.0
    with pytest.raises(sf.GraphError) as e:
        sf.compile(g)
    _one_line(e, "'lif'", "tau")


def test_unstable_euler_step() -> None:
    with pytest.raises(sf.GraphError) as e:
        sf.compile(_graph(), dt=0.1, method="euler")
    _one_line(e, "'lif'", "Euler")


def test_algebraic_loop() -> None:
    """Affine -> Affine cycle without a neuron or delay: no causal order exists."""
    g = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([2])}),
            "a": nir.Affine(weight=np.eye(2), bias=np.zeros(2)),
            "b": nir.Affine(weight=0.5 * np.eye(2), bias=np.zeros(2)),
            "output": nir.Output(output_type={"output": np.array([2])}),
        },
        edges=[("input", "a"), ("a", "b"), ("b", "a"), ("b", "output")],
        type_check=False,
    )
    with pytest.raises(sf.GraphError) as e:
        sf.compile(g)
    _one_line(e, "algebraic loop", "a", "b")


def test_loop_through_a_delay_is_fine() -> None:
    g = nir.NIRGraph(
        nodes={
            "input": nir.Input(input_type={"input": np.array([2])}),
            "a": nir.Affine(weight=np.eye(2), bias=np.zeros(2)),
            "d": nir.Delay(delay=np.full(2, 1e-3)),
            "b": nir.Affine(weight=0.5 * np.eye(2), bias=np.zeros(2)),
            "output": nir.Output(output_type={"output": np.array([2])}),
        },
        edges=[("input", "a"), ("a", "d"), ("d", "b"), ("b", "a"), ("a", "output")],
        type_check=False,
    )
    prog = sf.compile(g, dt=1e-3)
    y = sf.run(prog, np.ones((4, 1, 2))).output[:, 0, 0]
    # a[t] = x[t] + 0.5 * a[t - 1]
    np.testing.assert_allclose(y, [1.0, 1.5, 1.75, 1.875])


def test_no_input_or_output() -> None:
    g = _graph()
    del g.nodes["output"]
    g.edges.remove(("lif", "output"))
    with pytest.raises(sf.GraphError) as e:
        sf.compile(g)
    _one_line(e, "Output")


def test_unknown_target_and_method() -> None:
    with pytest.raises(sf.SpikeforgeError) as e:
        sf.compile(_graph(), target="tpu")
    _one_line(e, "tpu")
    with pytest.raises(sf.SpikeforgeError) as e:
        sf.compile(_graph(), method="rk4")
    _one_line(e, "rk4")


def test_compile_rejects_other_objects() -> None:
    with pytest.raises(sf.SpikeforgeError) as e:
        sf.compile(42)
    _one_line(e, "int")


# ----------------------------------------------------------------------------- programs


def test_program_load_missing(tmp_path: Path) -> None:
    p = tmp_path / "nope.h5"
    with pytest.raises(sf.NIRFileError) as e:
        sf.Program.load(p)
    _one_line(e, str(p))
    with pytest.raises(sf.NIRFileError):
        sf.run(p, np.zeros((2, 1, 3)))


def test_program_load_text_file(tmp_path: Path) -> None:
    p = tmp_path / "prog.h5"
    p.write_text("not a program")
    with pytest.raises(sf.NIRFileError) as e:
        sf.Program.load(p)
    _one_line(e, str(p))


def test_program_load_nir_file(good_nir: Path) -> None:
    """A .nir file is HDF5 but not a program."""
    with pytest.raises(sf.NIRFileError) as e:
        sf.Program.load(good_nir)
    _one_line(e, str(good_nir), "not a spikeforge program")


def test_program_load_truncated(tmp_path: Path) -> None:
    p = tmp_path / "prog.h5"
    sf.compile(_graph()).save(p)
    bad = _truncate(p, tmp_path / "half.h5")
    with pytest.raises(sf.NIRFileError) as e:
        sf.Program.load(bad)
    _one_line(e, str(bad))


def test_program_load_damaged(tmp_path: Path) -> None:
    """A program file whose node group lost a member: an error, not a KeyError."""
    p = tmp_path / "prog.h5"
    sf.compile(_graph()).save(p)
    with h5py.File(p, "a") as f:
        first = sorted(f["nodes"])[0]
        del f["nodes"][first]["params"]
        del f["edges"]
    with pytest.raises(sf.NIRFileError) as e:
        sf.Program.load(p)
    _one_line(e, str(p))


def test_all_errors_are_value_errors() -> None:
    """The CLI maps SpikeforgeError to exit code 2; every subclass is one."""
    for cls in (sf.NIRFileError, sf.GraphError, UnsupportedNodeError, sf.InputError):
        assert issubclass(cls, sf.SpikeforgeError) and issubclass(cls, ValueError)
