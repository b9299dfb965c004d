"""spikeforge.models.stl: the rate code, the STL/SL/TL variants (which parameters train, the
initialisation, decay 0.5, hard reset, ATan a = 2), the training recipe, the compile helpers and
the threshold plot."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

import spikeforge as sf
from spikeforge.models import LI, LIF
from spikeforge.models.stl import (STL_MODES, STL_TARGETS, TEST_SEED, TrainConfig, build_stl_net, compile_stl,
                                   plot_thresholds, rate_encode, run_compiled, set_stl_mode, stl_accuracy, stl_neuron,
                                   stl_neurons, stl_readout, stl_thresholds, train_stl)
from spikeforge.models.surrogate import ATan


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _digits(n_train: int = 400):
    from spikeforge.demo import digits_split

    xtr, ytr, xte, yte = digits_split(0, 360)
    return xtr[:n_train], ytr[:n_train], xte, yte


# ----------------------------------------------------------------------------- rate code
def test_rate_encode_is_seeded_binary_and_follows_p():
    p = np.array([[0.0, 1.0, 0.25, 0.5, 0.75]])
    x = rate_encode(np.repeat(p, 400, axis=0), 50, seed=3)
    assert x.shape == (50, 400, 5) and x.dtype == np.float32
    assert set(np.unique(x)) <= {0.0, 1.0}
    np.testing.assert_array_equal(x, rate_encode(np.repeat(p, 400, axis=0), 50, seed=3))  # seeded
    assert not np.array_equal(x, rate_encode(np.repeat(p, 400, axis=0), 50, seed=4))
    assert not x[..., 0].any() and x[..., 1].all()  # pixel 0 never, pixel 16 always
    rates = x.mean(axis=(0, 1))
    np.testing.assert_allclose(rates[2:], [0.25, 0.5, 0.75], atol=0.01)  # 20000 draws each: 4 sigma < 0.013


def test_rate_encode_matches_its_definition():
    p = np.random.default_rng(0).random((3, 4))
    u = np.random.default_rng(9).random((6, 3, 4))
    np.testing.assert_array_equal(rate_encode(p, 6, seed=9), (u < p).astype(np.float32))


@pytest.mark.parametrize("p, T, msg", [(np.array([[1.5]]), 4, r"\[0, 1\]"), (np.array([[-0.1]]), 4, r"\[0, 1\]"),
                                        (np.array([[np.nan]]), 4, r"\[0, 1\]"), (np.array([[0.5]]), 0, "T must be >= 1")])
def test_rate_encode_rejects_bad_input(p, T, msg):
    with pytest.raises(ValueError, match=msg):
        rate_encode(p, T, seed=0)


# ----------------------------------------------------------------------------- variants
def test_stl_neuron_is_lif_decay_half_hard_reset_per_neuron_threshold():
    n = stl_neuron(5)
    assert isinstance(n, LIF) and n.reset_mode == "zero"
    assert float(n.beta) == 0.5 and float(n.v_reset) == 0.0
    assert isinstance(n.threshold, torch.nn.Parameter) and n.threshold.shape == (5,)
    np.testing.assert_array_equal(n.threshold.detach().numpy(), np.full(5, 2.0, dtype=np.float32))
    assert isinstance(n.surrogate, ATan) and n.surrogate.alpha == 2.0


def test_build_stl_net_architecture_and_same_init_in_every_mode():
    nets = {m: build_stl_net(m, hidden=(12, 7), seed=4) for m in STL_MODES}
    net = nets["STL"]
    kinds = [type(l).__name__ for l in net]
    assert kinds == ["Linear", "LIF", "Linear", "LIF", "Linear", "LI"]
    assert [l.out_features for l in net if isinstance(l, torch.nn.Linear)] == [12, 7, 10]
    assert isinstance(net[-1], LI)
    ref = net.state_dict()
    for m, other in nets.items():
        for k, v in other.state_dict().items():
            torch.testing.assert_close(v, ref[k], rtol=0, atol=0, msg=f"{m}: {k}")
    a = build_stl_net("STL", hidden=(12, 7), seed=5).state_dict()
    assert not torch.equal(a["0.weight"], ref["0.weight"])  # the seed matters


def test_modes_train_the_right_parameters():
    for name, m in STL_MODES.items():
        net = build_stl_net(name, hidden=(6,), seed=0)
        for pname, p in net.named_parameters():
            want = m.thresholds if pname.endswith("threshold") else m.weights
            assert p.requires_grad == want, (name, pname)
    assert STL_MODES["STL"].weights and STL_MODES["STL"].thresholds
    assert STL_MODES["SL"].weights and not STL_MODES["SL"].thresholds
    assert not STL_MODES["TL"].weights and STL_MODES["TL"].thresholds


def test_threshold_jitter_and_bad_arguments():
    net = build_stl_net("STL", hidden=(200,), seed=1, theta_jitter=0.1)
    th = stl_thresholds(net)[0]
    assert th.shape == (200,) and 1.9 <= th.min() < th.max() <= 2.1 and th.std() > 0.03
    with pytest.raises(ValueError, match="unknown STL mode 'XL'; use one of STL, SL, TL"):
        build_stl_net("XL")
    with pytest.raises(ValueError, match="hidden"):
        build_stl_net("STL", hidden=())
    with pytest.raises(ValueError, match="theta_init > 0"):
        build_stl_net("STL", theta_init=-1.0)
    with pytest.raises(ValueError, match="unknown STL mode"):
        set_stl_mode(net, "stl")


# ----------------------------------------------------------------------------- training
@pytest.mark.parametrize("mode", list(STL_MODES))
def test_training_moves_exactly_the_trainable_parameters(mode):
    xtr, ytr, _, _ = _digits(200)
    net = build_stl_net(mode, hidden=(16, 8), seed=0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    res = train_stl(net, mode, xtr, ytr, TrainConfig(epochs=2, lr=1e-2, progress=False))
    after = net.state_dict()
    m = STL_MODES[mode]
    changed = {k: not torch.equal(before[k], after[k]) for k in before}
    th = [k for k in before if k.endswith("threshold")]
    wb = [k for k in before if k.endswith(("weight", "bias"))]
    assert len(th) == 2 and len(wb) == 6
    # frozen groups are bit-for-bit unchanged; trained groups moved (a weight whose neurons stayed
    # silent gets no gradient, so not necessarily every tensor)
    assert any(changed[k] for k in th) == m.thresholds and all(changed[k] for k in th) == m.thresholds
    assert any(changed[k] for k in wb) == m.weights
    if not m.weights:
        assert not any(changed[k] for k in wb)
    assert all(not changed[k] for k in before if k not in th + wb)  # beta, v_reset buffers
    assert len(res.losses) == 2 and all(np.isfinite(res.losses))
    assert res.mode == mode and res.seconds > 0
    for t0, t1 in zip(res.initial_thresholds, res.thresholds):
        assert np.array_equal(t0, t1) != m.thresholds


def test_training_is_deterministic_and_learns():
    xtr, ytr, xte, yte = _digits(600)
    cfg = TrainConfig(epochs=6, lr=1e-2, progress=False)
    accs, states = [], []
    for _ in range(2):
        net = build_stl_net("STL", hidden=(64, 32), seed=2)
        train_stl(net, "STL", xtr, ytr, cfg)
        accs.append(stl_accuracy(stl_readout(net, rate_encode(xte, cfg.T, TEST_SEED)), yte))
        states.append(net.state_dict())
    for k in states[0]:
        torch.testing.assert_close(states[0][k], states[1][k], rtol=0, atol=0)
    assert accs[0] == accs[1] and accs[0] > 0.6  # chance is 0.1


def test_thresholds_are_kept_above_theta_min():
    xtr, ytr, _, _ = _digits(200)
    net = build_stl_net("TL", hidden=(16,), seed=0, theta_init=0.3)
    res = train_stl(net, "TL", xtr, ytr, TrainConfig(epochs=3, lr=0.2, theta_min=0.25, progress=False))
    th = np.concatenate(res.thresholds)
    assert th.min() >= np.float32(0.25)
    assert res.clamped == int(np.sum(th <= 0.25)) and res.clamped > 0  # a huge step drives some onto the bound


def test_train_rejects_bad_input():
    net = build_stl_net("STL", hidden=(4,))
    with pytest.raises(ValueError, match="same, non-zero number of samples"):
        train_stl(net, "STL", np.zeros((3, 64)), np.zeros(2, dtype=int))
    with pytest.raises(ValueError, match="theta_min must be > 0"):
        train_stl(net, "STL", np.zeros((3, 64)), np.zeros(3, dtype=int), TrainConfig(theta_min=0.0))


def test_accuracy_sums_the_readout_over_time():
    r = np.zeros((3, 2, 4))
    r[0, 0, 1], r[1, 0, 2], r[2, 0, 2] = 5.0, 3.0, 3.0  # sample 0: class 2 wins on the sum, class 1 at step 0
    r[:, 1, 3] = 1.0
    assert stl_accuracy(r, np.array([2, 3])) == 1.0
    assert stl_accuracy(r, np.array([1, 3])) == 0.5


# ----------------------------------------------------------------------------- compile + NIR
def test_compiled_float_equals_torch_and_integer_targets_keep_thresholds(tmp_path):
    xtr, ytr, xte, yte = _digits(300)
    net = build_stl_net("STL", hidden=(16, 8), seed=0, theta_jitter=0.2)
    train_stl(net, "STL", xtr, ytr, TrainConfig(epochs=2, lr=1e-2, progress=False))
    x = rate_encode(xte[:40], 8, TEST_SEED)
    ref = stl_readout(net, x)
    g = sf.trace(net, torch.from_numpy(x[:, :1]))
    f = sf.run(sf.compile(g, target="float"), x.astype(np.float64))
    np.testing.assert_allclose(f.output, ref, rtol=1e-5, atol=1e-5)  # torch computes in float32
    learned = stl_thresholds(net)
    cal = rate_encode(xtr[:64], 8, 1)
    per = compile_stl(net, cal, "loihi2").program
    shared = compile_stl(net, cal, "loihi2-shared-threshold").program
    lif = [k for k, n in per.graph.nodes.items() if n.op == "int_lif"]
    assert len(lif) == 2
    for k, th in zip(lif, learned):
        vth = per.graph.nodes[k].params["vth"]
        assert len(np.unique(vth)) > 1  # per-neuron vth
        # vth (x 2^(6-p)) follows the learned thresholds' order
        assert np.corrcoef(np.ravel(vth * 2.0 ** (6 - per.graph.nodes[k].params["p"])), th)[0, 1] > 0.999
        assert len(np.unique(shared.graph.nodes[k].params["vth"])) == 1  # one per layer
    assert "fold_thresholds" in shared.passes and "fold_thresholds" not in per.passes
    for prog in (per, shared):
        out = run_compiled(prog, x).output
        assert out.shape == ref.shape
        assert np.mean(out.sum(0).argmax(-1) == ref.sum(0).argmax(-1)) > 0.8  # post-training quantization, not exact


def test_compile_stl_records_and_passes_on_warnings():
    xtr, ytr, _, _ = _digits(200)
    net = build_stl_net("TL", hidden=(16,), seed=0, theta_init=2.0)
    with torch.no_grad():  # thresholds 100x apart: the fold scales rows beyond the 24-bit worst case
        net[1].threshold.copy_(torch.linspace(0.02, 2.0, 16))
    cal = rate_encode(xtr[:32], 8, 1)
    with pytest.raises(sf.QuantizationError, match="worst-case synaptic input"):
        compile_stl(net, cal, "loihi2-shared-threshold")
    with pytest.warns(Warning, match="worst-case synaptic input"):
        c = compile_stl(net, cal, "loihi2-shared-threshold", allow_saturation=True)
    assert any("worst-case synaptic input" in w for w in c.warnings)
    assert c.target == "loihi2-shared-threshold" and c.program.integer


def test_trained_stl_nir_file_loads_with_plain_nir_read(tmp_path):
    xtr, ytr, xte, _ = _digits(300)
    net = build_stl_net("STL", hidden=(16, 8), seed=0)
    train_stl(net, "STL", xtr, ytr, TrainConfig(epochs=2, lr=1e-2, progress=False))
    x = torch.from_numpy(rate_encode(xte[:2], 8, TEST_SEED))
    path = tmp_path / "stl.nir"
    sf.save_nir(sf.trace(net, x), path)
    g = nir.read(str(path))
    lifs = [g.nodes[k] for k in sorted(g.nodes) if isinstance(g.nodes[k], nir.LIF)]
    assert len(lifs) == 2 and any(isinstance(n, nir.LI) for n in g.nodes.values())
    for node, th in zip(sorted(lifs, key=lambda n: n.v_threshold.size, reverse=True), stl_thresholds(net)):
        np.testing.assert_array_equal(np.ravel(node.v_threshold), th)  # the learned per-neuron thresholds
        assert len(np.unique(node.v_threshold)) > 1
        np.testing.assert_array_equal(np.ravel(node.v_reset), np.zeros(th.size))  # hard reset to 0


# ----------------------------------------------------------------------------- plot
def test_plot_thresholds_writes_png(tmp_path):
    init = [np.full(20, 2.0), np.full(10, 2.0)]
    rng = np.random.default_rng(0)
    learned = {"STL": [[2 + 0.1 * rng.standard_normal(20), 2 + 0.1 * rng.standard_normal(10)] for _ in range(3)],
               "TL": [[2 + 0.5 * rng.standard_normal(20), 2 + 0.5 * rng.standard_normal(10)]]}
    path = plot_thresholds(init, learned, tmp_path / "sub" / "th.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["th.png"]  # no temporary file left
    with pytest.raises(ValueError, match="layer count"):
        plot_thresholds(init, {"STL": [[init[0]]]}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="no layers"):
        plot_thresholds([], {}, tmp_path / "x.png")


def test_targets_are_the_two_threshold_forms():
    assert STL_TARGETS == ("loihi2", "loihi2-shared-threshold")
    assert len(stl_neurons(build_stl_net("SL", hidden=(3, 4, 5)))) == 3


def test_package_import_and_rate_code_need_no_torch():
    import subprocess
    import sys

    code = ("import sys, spikeforge.models.stl as s; s.rate_encode([[0.5]], 2, 0); "
            "assert 'torch' not in sys.modules, 'torch imported'; print(sorted(s.__all__) == sorted(set(s.__all__) & set(dir(s))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
