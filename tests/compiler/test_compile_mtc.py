"""MTC through the compiler: trace -> NIR (plain nir.read) -> float program equal to torch,
and the integer (loihi2) program: int_mtc with integer parameters only, the reference run equal
to the normative numpy step exactly, and close to the float network."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

import spikeforge as sf
from spikeforge.compiler.errors import GraphError
from spikeforge.compiler.from_nir import from_nir
from spikeforge.models import LI, MTC, Seq
from spikeforge.models.mtc import spec


def _net(seed: int = 0, hidden: int = 6) -> torch.nn.Module:
    torch.manual_seed(seed)
    fc1 = torch.nn.Linear(2, hidden)
    with torch.no_grad():
        fc1.weight.uniform_(0.2, 1.0)
        fc1.bias.fill_(0.3)
    mtc = MTC.preset("tonic", shape=(hidden,), learn=True)
    with torch.no_grad():
        mtc.alpha_sn.uniform_(0.0, 0.5)
        mtc.alpha_usp.uniform_(0.0, 0.5)
        mtc.delta_usp.fill_(-0.5)
        mtc.tau_us.fill_(50.0)
    fc2 = torch.nn.Linear(hidden, 1)
    with torch.no_grad():  # weights and biases on their 8-bit grids (after the MTC gain k_m R = 1/2 is folded
        # into fc1): the integer program then differs from the float one only by the neuron's own rounding
        for prm, q in ((fc1.weight, 64), (fc1.bias, 64), (fc2.weight, 128), (fc2.bias, 128)):
            prm.copy_(torch.round(prm * q) / q)
    return torch.nn.Sequential(Seq(fc1), mtc, Seq(fc2), LI(0.75)).double()


def _x(T=300, B=3, seed=1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(rng.uniform(0.0, 1.5, (T, B, 2)) * 128) / 128  # on the 8-bit input grid 2^-7


def test_trace_float_program_equals_torch(tmp_path):
    net = _net()
    x = _x()
    with torch.no_grad():
        y = net(torch.from_numpy(x)).numpy()
    g = sf.trace(net, torch.from_numpy(x))
    path = tmp_path / "mtc.nir"
    sf.save_nir(g, path)
    back = nir.read(path)  # plain NIR loads it
    prog = sf.compile(back, target="float")
    ops = {n.op for n in prog.graph.nodes.values()}
    assert "mtc" in ops
    tr = sf.run(prog, x, probes=["_1.membrane"])
    np.testing.assert_allclose(tr.output, y, rtol=1e-10, atol=1e-12)
    assert 0.02 < np.mean(tr.probes["_1.membrane"] > 0) < 0.9  # the MTC layer is active, not saturated


def test_trace_bare_mtc_module():
    m = MTC.preset("bursting", shape=(2,)).double()
    x = torch.ones(800, 1, 2, dtype=torch.float64)
    with torch.no_grad():
        y = m(x).numpy()
    prog = sf.compile(sf.trace(m, x), target="float")
    np.testing.assert_allclose(sf.run(prog, x.numpy()).output, y, rtol=1e-10, atol=1e-12)
    assert y.max() == 1.0


def test_mtc_ignores_graph_method_and_rejects_unstable_dt():
    m = MTC.preset("tonic", shape=(2,)).double()
    x = torch.full((200, 1, 2), 1.3, dtype=torch.float64)
    with torch.no_grad():
        y = m(x).numpy()
    g = sf.trace(m, x, dt=1e-3, method="euler")
    prog = sf.compile(g, target="float", dt=1e-3, method="exact")
    np.testing.assert_allclose(sf.run(prog, x.numpy()).output, y, rtol=1e-10, atol=1e-12)
    with pytest.raises(GraphError, match="tau_f"):
        sf.compile(g, target="float", dt=2e-3)


def test_missing_mtc_metadata_is_an_error():
    m = MTC.preset("tonic", shape=(2,))
    m(torch.zeros(1, 1, 2))
    sub = m.to_nir(1.0, "exact")
    del sub.nodes["membrane"].metadata["u_sat"]
    g = nir.NIRGraph(nodes={"input": nir.Input(np.array([2])), "m": sub, "output": nir.Output(np.array([2]))},
                     edges=[("input", "m"), ("m", "output")], type_check=False)
    with pytest.raises(GraphError, match="u_sat"):
        from_nir(g)


def _int_prog(net, x):
    return sf.compile(sf.trace(net, torch.from_numpy(x)), target="loihi2", calibration=x)


def test_loihi2_program_is_integer_and_equals_the_spec_step():
    net = _net()
    x = _x()
    prog = _int_prog(net, x)
    node = prog.graph.nodes["_1.membrane"]
    assert node.op == "int_mtc"
    assert set(node.params) == set(spec.INT_PARAMS) | {"p", "lut"}
    assert all(np.asarray(v).dtype == np.int64 for v in node.params.values())
    np.testing.assert_array_equal(node.params["lut"], spec.tanh_lut())
    assert node.attrs["out_bits"] == spec.OUT_BITS
    assert f"tanh table {spec.tanh_lut().size} x 12 bit, out_bits={spec.OUT_BITS}" in prog.summary()
    tr = sf.run(prog, x, probes=["_0", "_1.membrane"])
    # the normative step over the program's own synaptic input gives the same integers
    state = spec.init_state(x.shape[1], node.out_shape[0])
    a = tr.probes["_0"]
    want = np.stack([spec.step(state, a[t], node.params) for t in range(x.shape[0])])
    np.testing.assert_array_equal(tr.probes["_1.membrane"], want)
    assert want.max() == spec.OUT_MAX and want.min() == 0  # exercised over the whole output range


def test_loihi2_program_close_to_float_and_torch():
    net = _net()
    x = _x()
    with torch.no_grad():
        y = net(torch.from_numpy(x)).numpy()
    prog = _int_prog(net, x)
    fprog = sf.compile(sf.trace(net, torch.from_numpy(x)), target="float")
    ti = sf.run(prog, x, probes=["_1.membrane"])
    tf = sf.run(fprog, x, probes=["_1.membrane"])
    assert not ti.warnings
    # hidden graded outputs (integer / 256 against the float op): the tanh table (error <= 0.004
    # per lookup) and the grid roundings shift some event times by a step, so single values may
    # differ a lot, but on average they agree (measured: mean |err| 0.006)
    err_h = np.abs(ti.probes["_1.membrane"] / spec.OUT_MAX - tf.probes["_1.membrane"])
    assert err_h.mean() < 0.015
    assert err_h[0].max() < 0.01  # the first step differs only by the output's 8-bit rounding
    # the readout over the whole run (measured: 4.8% relative RMSE)
    rel = np.sqrt(np.mean((ti.output - y) ** 2)) / y.std()
    assert rel < 0.1
