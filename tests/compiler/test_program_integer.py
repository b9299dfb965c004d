"""Integer Programs: summary, realization, lossless HDF5 round trip, range report."""

from __future__ import annotations

import sys
from pathlib import Path

import nir
import numpy as np

import spikeforge as sf

sys.path.insert(0, str(Path(__file__).parent / "passes"))
from int_nets import asn, chain, cuba, li, on_grid  # noqa: E402


def _prog(target: str = "loihi2") -> tuple[sf.Program, np.ndarray]:
    rng = np.random.default_rng(0)
    g = chain(
        ("fc1", nir.Affine(on_grid(rng.normal(size=(6, 4)) * 0.4, -7), on_grid(rng.normal(size=6) * 0.1, -9))),
        ("a", asn(6, alpha=-1, D=4, N=2, model="NASN", beta=0.75)),
        ("fc2", nir.Affine(rng.normal(size=(5, 6)) * 0.4, np.zeros(5))),
        ("c", cuba(5)),
        ("fc3", nir.Linear(rng.normal(size=(3, 5)))),
        ("li", li(3)),
        in_shape=[4], out_shape=[3],
    )
    x = rng.random((8, 4, 4))
    return sf.compile(g, target=target, dt=1.0, calibration=x), x


def test_integer_program_round_trip(tmp_path: Path) -> None:
    prog, x = _prog()
    assert prog.integer and prog.realization == "graded"
    path = tmp_path / "p.h5"
    prog.save(path)
    back = sf.Program.load(path)
    assert (back.target, back.dt, back.method, back.passes) == (prog.target, prog.dt, prog.method, prog.passes)
    assert list(back.graph.nodes) == list(prog.graph.nodes) and back.graph.edges == prog.graph.edges
    for k, n in prog.graph.nodes.items():
        m = back.graph.nodes[k]
        assert (m.op, dict(m.attrs), m.in_shape, m.out_shape) == (n.op, dict(n.attrs), n.in_shape, n.out_shape), k
        assert set(m.params) == set(n.params)
        for p, v in n.params.items():
            assert m.params[p].dtype == np.int64 == np.asarray(v).dtype, (k, p)
            np.testing.assert_array_equal(m.params[p], v)
    assert back.realization == "graded" and back.graph.metadata["ranges"].keys() == prog.graph.metadata["ranges"].keys()
    np.testing.assert_array_equal(sf.run(back, x).output, sf.run(prog, x).output)
    assert sf.range_report(back) == sf.range_report(prog)


def test_summary_and_range_report() -> None:
    prog, _ = _prog("loihi2-binary")
    s = prog.summary()
    assert "target=loihi2-binary realization=binary" in s
    assert "int_asn" in s and "alpha=-1 D=4 N=2" in s and "x = int8u * 2^" in s
    rep = sf.range_report(prog)
    lines = rep.splitlines()
    assert lines[0].split()[:3] == ["node", "op", "p"]
    assert {ln.split()[0] for ln in lines[2:]} >= {"a", "c", "li"}
    assert "peak |u|" in lines[0]
    r = prog.graph.metadata["ranges"]["c"]
    assert r["u"] > 0 and r["limit"] == 2**23 - 1
    assert "no range analysis" in sf.range_report(sf.compile(chain(("fc", nir.Affine(np.eye(2), np.zeros(2))), ("li", li(2)), in_shape=[2], out_shape=[2]), dt=1.0))
