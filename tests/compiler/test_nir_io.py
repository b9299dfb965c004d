"""NIR file I/O: every NIR 1.0.8 node type survives ``sf.save_nir`` -> ``sf.load_nir`` exactly.

For each node type a small graph holding it is written and read back; the type, every
parameter array (``np.testing.assert_array_equal``), the metadata and the edges must be
identical. The loaded graph must then compile and run on the reference backend and give
exactly the output of the graph before saving. The set of types tested is checked against
``nir.ir.__all_ir``, so a NIR release that adds a node type fails here until it is covered.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

import nir
import numpy as np
import pytest

import spikeforge as sf

T, B = 12, 2
DT = 1e-3


def _r(seed: int, *shape: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


def _io(shape_in, shape_out) -> dict:
    return {
        "input": nir.Input(input_type={"input": np.array(shape_in)}),
        "output": nir.Output(output_type={"output": np.array(shape_out)}),
    }


def _chain(node: nir.NIRNode, shape_in, shape_out, name: str = "x") -> nir.NIRGraph:
    """``input -> node -> output``."""
    return nir.NIRGraph(
        nodes={**_io(shape_in, shape_out), name: node},
        edges=[("input", name), (name, "output")],
        type_check=False,
    )


def _drive(node: nir.NIRNode, n: int = 3) -> nir.NIRGraph:
    """``input -> affine -> node -> output`` (a neuron driven through a weight matrix)."""
    return nir.NIRGraph(
        nodes={
            **_io([4], [n]),
            "fc": nir.Affine(weight=_r(1, n, 4) * 2.0, bias=np.full(n, 0.3)),
            "x": node,
        },
        edges=[("input", "fc"), ("fc", "x"), ("x", "output")],
        type_check=False,
    )


def _lif(n: int = 3, **meta) -> nir.LIF:
    return nir.LIF(
        tau=np.linspace(2e-3, 5e-3, n),
        r=np.linspace(1.0, 2.0, n),
        v_leak=np.linspace(0.0, 0.1, n),
        v_threshold=np.linspace(0.5, 1.0, n),
        v_reset=np.linspace(-0.1, 0.0, n),
        metadata=dict(meta),
    )


def _g_conv1d() -> nir.NIRGraph:
    w = _r(2, 3, 2, 3)
    node = nir.Conv1d(input_shape=9, weight=w, stride=2, padding=1, dilation=1, groups=1, bias=_r(3, 3))
    return _chain(node, [2, 9], [3, 5])


def _g_conv2d() -> nir.NIRGraph:
    w = _r(4, 4, 2, 3, 3)
    node = nir.Conv2d(input_shape=(7, 8), weight=w, stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2, bias=_r(5, 4))
    return _chain(node, [4, 7, 8], [4, 4, 8])


def _g_delay() -> nir.NIRGraph:
    return _chain(nir.Delay(delay=np.array([0.0, 1e-3, 3e-3])), [3], [3])


def _g_flatten() -> nir.NIRGraph:
    return _chain(nir.Flatten(input_type={"input": np.array([2, 3, 4])}, start_dim=1, end_dim=2), [2, 3, 4], [2, 12])


def _g_input() -> nir.NIRGraph:
    return nir.NIRGraph(nodes=_io([2, 3], [2, 3]), edges=[("input", "output")], type_check=False)


def _g_output() -> nir.NIRGraph:
    g = _g_input()
    g.nodes["output"].metadata = {"role": "readout"}
    return g


def _g_nirgraph() -> nir.NIRGraph:
    sub = nir.NIRGraph(
        nodes={**_io([4], [3]), "fc": nir.Affine(weight=_r(6, 3, 4), bias=_r(7, 3)), "lif": _lif()},
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")],
        type_check=False,
    )
    return nir.NIRGraph(
        nodes={**_io([4], [3]), "x": sub},
        edges=[("input", "x"), ("x", "output")],
        type_check=False,
    )


def _g_affine() -> nir.NIRGraph:
    return _chain(nir.Affine(weight=_r(8, 3, 4), bias=_r(9, 3)), [4], [3])


def _g_linear() -> nir.NIRGraph:
    return _chain(nir.Linear(weight=_r(10, 3, 4)), [4], [3])


def _g_scale() -> nir.NIRGraph:
    return _chain(nir.Scale(scale=_r(11, 4)), [4], [4])


def _g_cubali() -> nir.NIRGraph:
    n = 3
    node = nir.CubaLI(
        tau_syn=np.linspace(1e-3, 3e-3, n),
        tau_mem=np.linspace(4e-3, 6e-3, n),
        r=np.linspace(1.0, 1.5, n),
        v_leak=np.linspace(0.0, 0.2, n),
        w_in=np.linspace(1.0, 2.0, n),
    )
    return _drive(node, n)


def _g_cubalif() -> nir.NIRGraph:
    n = 3
    node = nir.CubaLIF(
        tau_syn=np.linspace(1e-3, 3e-3, n),
        tau_mem=np.linspace(4e-3, 6e-3, n),
        r=np.linspace(1.0, 1.5, n),
        v_leak=np.linspace(0.0, 0.2, n),
        v_threshold=np.linspace(0.2, 0.4, n),
        v_reset=np.zeros(n),
        w_in=np.linspace(1.0, 2.0, n),
        metadata={"reset": "subtract"},
    )
    return _drive(node, n)


def _g_i() -> nir.NIRGraph:
    return _drive(nir.I(r=np.linspace(1.0, 3.0, 3)))


def _g_if() -> nir.NIRGraph:
    return _drive(nir.IF(r=np.linspace(100.0, 300.0, 3), v_threshold=np.linspace(0.5, 1.0, 3), v_reset=np.zeros(3)))


def _g_li() -> nir.NIRGraph:
    return _drive(nir.LI(tau=np.linspace(2e-3, 5e-3, 3), r=np.linspace(1.0, 2.0, 3), v_leak=np.linspace(0.0, 0.1, 3)))


def _g_lif() -> nir.NIRGraph:
    return _drive(_lif())


def _g_avgpool2d() -> nir.NIRGraph:
    node = nir.AvgPool2d(kernel_size=np.array([2, 3]), stride=np.array([2, 1]), padding=np.array([1, 1]))
    return _chain(node, [2, 5, 6], [2, 3, 6])


def _g_sumpool2d() -> nir.NIRGraph:
    node = nir.SumPool2d(kernel_size=np.array([3, 2]), stride=np.array([1, 2]), padding=np.array([1, 0]))
    return _chain(node, [2, 5, 6], [2, 5, 3])


def _g_threshold() -> nir.NIRGraph:
    return _chain(nir.Threshold(threshold=np.linspace(-0.5, 0.5, 4)), [4], [4])


#: NIR node type name -> builder of a small graph that holds it (as node "x" unless noted).
CASES: dict[str, Callable[[], nir.NIRGraph]] = {
    "Conv1d": _g_conv1d,
    "Conv2d": _g_conv2d,
    "Delay": _g_delay,
    "Flatten": _g_flatten,
    "Input": _g_input,
    "NIRGraph": _g_nirgraph,
    "Output": _g_output,
    "Affine": _g_affine,
    "Linear": _g_linear,
    "Scale": _g_scale,
    "CubaLI": _g_cubali,
    "CubaLIF": _g_cubalif,
    "I": _g_i,
    "IF": _g_if,
    "LI": _g_li,
    "LIF": _g_lif,
    "AvgPool2d": _g_avgpool2d,
    "SumPool2d": _g_sumpool2d,
    "Threshold": _g_threshold,
}


def _nir_types() -> set[str]:
    return set(vars(nir.ir)["__all_ir"])


def test_every_nir_type_is_covered() -> None:
    """A NIR release that adds a node type must fail here until the type is tested."""
    assert set(CASES) == _nir_types()


def _assert_value_equal(a, b, where: str) -> None:
    if isinstance(a, dict) or isinstance(b, dict):
        assert isinstance(a, dict) and isinstance(b, dict), where
        assert set(a) == set(b), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            _assert_value_equal(a[k], b[k], f"{where}.{k}")
        return
    if isinstance(a, bytes):
        a = a.decode()
    if isinstance(b, bytes):
        b = b.decode()
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=where)


def assert_nir_equal(a: nir.NIRNode, b: nir.NIRNode, where: str = "graph") -> None:
    """Exact equality of two NIR nodes: type, every field (arrays exact), metadata; recursive."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, nir.NIRGraph):
        # HDF5 groups list their members sorted by name, so node order is not kept (NIR
        # nodes are a mapping: order carries no meaning); edge order is kept.
        assert sorted(a.nodes) == sorted(b.nodes), where
        assert [tuple(e) for e in a.edges] == [tuple(e) for e in b.edges], where
        _assert_value_equal(dict(a.metadata), dict(b.metadata), f"{where}.metadata")
        for k in a.nodes:
            assert_nir_equal(a.nodes[k], b.nodes[k], f"{where}.{k}")
        return
    da, db = a.to_dict(), b.to_dict()
    assert set(da) == set(db), f"{where}: fields {sorted(da)} != {sorted(db)}"
    for k in da:
        _assert_value_equal(da[k], db[k], f"{where}.{k}")
    for k in ("input_type", "output_type"):
        ta, tb = getattr(a, k), getattr(b, k)
        if all(v is not None for v in ta.values()) and all(v is not None for v in tb.values()):
            _assert_value_equal(ta, tb, f"{where}.{k}")


def _run(g, x: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prog = sf.compile(g, target="float", dt=DT)
    return sf.run(prog, x, backend="reference").output


def _tag_all(g: nir.NIRGraph, typ: str) -> None:
    """Add a metadata entry to every node (nested ones included), keeping what is there."""
    for n in g.nodes.values():
        n.metadata = {**n.metadata, "test.case": typ, "test.weight": 0.5}
        if isinstance(n, nir.NIRGraph):
            _tag_all(n, typ)


@pytest.mark.parametrize("typ", sorted(CASES))
def test_roundtrip_every_node_type(typ: str, tmp_path: Path) -> None:
    """Save, load, compare exactly; then the loaded graph runs and matches the original."""
    g = CASES[typ]()
    held = [type(n).__name__ for n in g.nodes.values()]
    assert typ in held
    _tag_all(g, typ)  # node metadata must survive for every type as well
    p = tmp_path / f"{typ}.nir"
    sf.save_nir(g, p)
    g2 = sf.load_nir(p)
    assert_nir_equal(g, g2)

    in_shape = tuple(int(v) for v in g.nodes["input"].input_type["input"])
    x = np.random.default_rng(0).uniform(-1.0, 2.0, size=(T, B, *in_shape))
    y1, y2 = _run(g, x), _run(g2, x)
    assert y1.shape == (T, B, *(int(v) for v in g.nodes["output"].output_type["output"]))
    assert np.all(np.isfinite(y2))
    np.testing.assert_array_equal(y1, y2)


def test_roundtrip_cyclic_graph(tmp_path: Path) -> None:
    """A recurrent edge (lif -> w_rec -> lif) survives the round trip and runs identically."""
    n = 4
    g = nir.NIRGraph(
        nodes={
            **_io([3], [n]),
            "fc": nir.Affine(weight=_r(20, n, 3), bias=np.zeros(n)),
            "lif": _lif(n),
            "w_rec": nir.Linear(weight=_r(21, n, n) * 0.5),
        },
        edges=[("input", "fc"), ("fc", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
        type_check=False,
    )
    p = tmp_path / "rec.nir"
    sf.save_nir(g, p)
    g2 = sf.load_nir(p)
    assert_nir_equal(g, g2)
    assert ("w_rec", "lif") in [tuple(e) for e in g2.edges]
    x = np.random.default_rng(1).uniform(0, 2, size=(30, 2, 3))
    y = _run(g2, x)
    np.testing.assert_array_equal(_run(g, x), y)
    assert 0 < y.sum() < y.size  # the layer spikes, but not always


def test_roundtrip_metadata(tmp_path: Path) -> None:
    """Graph and node metadata (strings, floats, ints) come back with their values."""
    g = _g_lif()
    g.metadata = {"spikeforge.dt": 1e-3, "spikeforge.discretization": "euler", "producer": "test", "epochs": 7}
    g.nodes["x"].metadata = {"reset": "subtract", "note": "first layer"}
    g.nodes["fc"].metadata = {"spikeforge.op": "linear", "scale": 0.5}
    p = tmp_path / "meta.nir"
    sf.save_nir(g, p)
    g2 = sf.load_nir(p)
    assert_nir_equal(g, g2)

    def plain(d):
        return {k: (v.decode() if isinstance(v, bytes) else np.asarray(v).item()) for k, v in d.items()}

    assert plain(g2.metadata) == g.metadata
    assert plain(g2.nodes["x"].metadata) == {"reset": "subtract", "note": "first layer"}
    assert plain(g2.nodes["fc"].metadata) == {"spikeforge.op": "linear", "scale": 0.5}
    # the compiler reads what the metadata says: dt/method from the graph, reset from the node
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prog = sf.compile(g2)
    assert prog.dt == 1e-3 and prog.method == "euler"
    assert prog.graph.nodes["x"].attrs["reset"] == "subtract"


def test_save_is_atomic_and_overwrites(tmp_path: Path) -> None:
    """Saving over an existing file replaces it and leaves no temporary files behind."""
    p = tmp_path / "sub" / "g.nir"
    sf.save_nir(_g_affine(), p)
    sf.save_nir(_g_scale(), p)
    assert type(sf.load_nir(p).nodes["x"]) is nir.Scale
    assert sorted(q.name for q in p.parent.iterdir()) == ["g.nir"]


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_roundtrip_string_padding(padding: str, tmp_path: Path) -> None:
    """Conv padding given as a string comes back as that string and runs."""
    w = _r(30, 3, 2, 3)
    g = _chain(nir.Conv1d(input_shape=8, weight=w, stride=1, padding=padding, dilation=1, groups=1, bias=_r(31, 3)), [2, 8], [3, 8 if padding == "same" else 6])
    p = tmp_path / "conv.nir"
    sf.save_nir(g, p)
    g2 = sf.load_nir(p)
    assert_nir_equal(g, g2)
    pad = g2.nodes["x"].padding
    assert (pad.decode() if isinstance(pad, bytes) else str(pad)) == padding
    x = np.random.default_rng(2).normal(size=(3, 2, 2, 8))
    np.testing.assert_array_equal(_run(g, x), _run(g2, x))
