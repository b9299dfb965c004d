"""SPE through the compiler: trace -> NIR file (plain nir.read) -> one ``spe_lif``/``spe_asn``
node per SPE layer; the float program equals torch exactly; bad SPE metadata is one clear error."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

import spikeforge as sf
from spikeforge.compiler.errors import GraphError
from spikeforge.compiler.from_nir import from_nir
from spikeforge.models import ASN, IF, LIF, NASN, Seq
from spikeforge.models.spe.nn import SPE


def _net(base, seed=0, hidden=6):
    torch.manual_seed(seed)
    return torch.nn.Sequential(Seq(torch.nn.Linear(3, hidden)), SPE(base, 0.3), Seq(torch.nn.Linear(hidden, hidden)),
                               SPE(LIF(0.9, 1.0), 0.7), Seq(torch.nn.Linear(hidden, 2))).double()


@pytest.mark.parametrize("name,base,op", [
    ("lif", lambda: LIF(0.8, 1.0), "spe_lif"),
    ("stl", lambda: LIF(0.5, 2.0, reset="zero", shape=(6,), learn_threshold=True), "spe_lif"),
    ("if", lambda: IF(1.0), "spe_lif"),
    ("asn", lambda: ASN(D=4, beta=0.5), "spe_asn"),
    ("nasn", lambda: NASN(D=4, beta=0.5), "spe_asn"),
])
def test_float_program_equals_torch(tmp_path, name, base, op):
    net = _net(base())
    if name == "stl":
        with torch.no_grad():
            net[1].base.threshold.uniform_(0.5, 2.0)
    x = torch.rand(30, 4, 3, dtype=torch.float64) * 2
    with torch.no_grad():
        y = net(x).numpy()
    path = tmp_path / "spe.nir"
    sf.save_nir(sf.trace(net, x), path)
    prog = sf.compile(nir.read(path), target="float")
    ops = sorted(n.op for n in prog.graph.nodes.values() if n.op.startswith("spe"))
    assert ops == sorted([op, "spe_lif"])
    tr = sf.run(prog, x.numpy())
    np.testing.assert_array_equal(tr.output, y)
    assert np.std(y) > 0


def test_bad_kappa_metadata_is_one_clear_error():
    net = _net(LIF(0.8, 1.0))
    x = torch.rand(5, 1, 3, dtype=torch.float64)
    g = sf.trace(net, x)
    sub = next(n for n in g.nodes.values() if isinstance(n, nir.NIRGraph))
    sub.nodes["neuron"].metadata["kappa"] = np.full(6, 1.5)
    with pytest.raises(GraphError, match="kappa must lie in"):
        from_nir(g)
    del sub.nodes["neuron"].metadata["kappa"]
    with pytest.raises(GraphError, match="lacks the metadata 'kappa'"):
        from_nir(g)


def test_integer_summary_shows_the_base_formats_and_kappa_code():
    torch.manual_seed(0)
    net = torch.nn.Sequential(Seq(torch.nn.Linear(3, 6)), SPE(LIF(0.8, 1.0), 0.3), Seq(torch.nn.Linear(6, 2)), LIF(0.9, 1.0)).double()
    x = torch.rand(5, 2, 3, dtype=torch.float64)
    prog = sf.compile(sf.trace(net, x), target="loihi2", calibration=x.numpy())
    (node,) = [n for n in prog.graph.nodes.values() if n.op == "int_spe_lif"]
    line = next(ln for ln in prog.summary().splitlines() if ln.split()[0] == node.name)
    kc = np.unique(node.params["kc"])
    assert " vth=" in line and " du=" in line
    assert line.endswith(f" kc={kc[0]}" if kc.size == 1 else f" kc={kc[0]}..{kc[-1]}")
