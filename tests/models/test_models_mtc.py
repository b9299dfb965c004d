"""The MTC torch module: presets shown by their event statistics, the forward equals the
numpy float step, BPTT gradients, and the NIR export loads with plain ``nir.read``."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

from spikeforge.models import MTC
from spikeforge.models.mtc import spec
from spikeforge.models.mtc.nn import PRESET_DRIVE, PRESETS

ONSET, T = 500, 6000


def _run_preset(name: str) -> np.ndarray:
    """Graded output of one preset neuron: input 0 for ``ONSET`` steps, then its drive step."""
    m = MTC.preset(name).double()
    x = torch.zeros(T, 1, 1, dtype=torch.float64)
    x[ONSET:] = PRESET_DRIVE[name]
    with torch.no_grad():
        return m(x)[:, 0, 0].numpy()


def _events(s: np.ndarray) -> np.ndarray:
    """Event times: upward crossings of s = 0.5."""
    b = s > 0.5
    return np.flatnonzero(b[1:] & ~b[:-1]) + 1


def test_preset_tonic_fires_regularly_under_constant_input():
    ev = _events(_run_preset("tonic"))
    assert not np.any(ev < ONSET)  # quiet at rest
    isi = np.diff(ev[ev > ONSET + 500])
    assert len(isi) > 50  # sustained
    assert isi.std() / isi.mean() < 0.05  # regular (periodic)


def test_preset_phasic_fires_only_at_onset():
    ev = _events(_run_preset("phasic"))
    assert not np.any(ev < ONSET)
    assert 1 <= np.count_nonzero((ev >= ONSET) & (ev < ONSET + 300)) <= 5
    assert not np.any(ev >= ONSET + 300)  # silent under the sustained input


def test_preset_bursting_has_bimodal_inter_event_intervals():
    ev = _events(_run_preset("bursting"))
    assert not np.any(ev < ONSET)
    isi = np.diff(ev[ev > ONSET + 1000])
    assert len(isi) > 20
    short, long_ = isi[isi < 2 * isi.min()], isi[isi >= 2 * isi.min()]
    # two well separated modes: within-burst intervals and inter-burst pauses several times longer
    assert len(short) >= 2 * len(long_) >= 4
    assert long_.min() > 4 * short.max()


def test_forward_equals_numpy_float_step():
    torch.manual_seed(0)
    m = MTC.preset("bursting", shape=(4,), learn=True).double()
    with torch.no_grad():
        for prm in m.parameters():
            prm.add_(0.2 * torch.randn_like(prm))
    x = torch.randn(200, 3, 4, dtype=torch.float64)
    with torch.no_grad():
        y = m(x).numpy()
    p = {k: v.detach().numpy() for k, v in m.discrete().items()}
    state = {k: np.zeros((3, 4)) for k in ("um", "uf", "us", "uus")}
    want = np.stack([spec.float_step(state, x[t].numpy(), p) for t in range(200)])
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    # discrete() is spec.discretize of the same parameters
    eff = {k: v.detach().numpy() for k, v in m.effective().items()}
    conds = ("fn", "sp", "sn", "usp")
    d = spec.discretize(1.0, eff["tau_m"], eff["r"], eff["u_rest"], eff["tau_f"], eff["tau_s"], eff["tau_us"],
                        {c: eff["alpha_" + c] for c in conds}, {c: eff["delta_" + c] for c in conds}, eff["u_th"], eff["u_sat"])
    for k in spec.FLOAT_PARAMS:
        np.testing.assert_allclose(np.broadcast_to(p[k], (4,)), np.broadcast_to(d[k], (4,)), rtol=1e-15, atol=0, err_msg=k)


def test_bptt_gradients_reach_every_learned_parameter():
    m = MTC.preset("tonic", shape=(3,), learn=True).double()
    x = 1.5 * torch.rand(200, 2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    m(x).sum().backward()
    for name, prm in m.named_parameters():
        assert prm.grad is not None and torch.isfinite(prm.grad).all(), name
    assert m.alpha_fn.grad.abs().sum() > 0 and m.u_th.grad.abs().sum() > 0


def test_update_matches_run():
    m = MTC.preset("phasic").double()
    x = torch.rand(30, 2, 2, dtype=torch.float64)
    with torch.no_grad():
        y = m(x)
        state = {k: torch.zeros(2, 2, dtype=torch.float64) for k in m.state_names}
        outs = []
        for t in range(30):
            s, state, _ = m.update(x[t], state)
            outs.append(s)
    torch.testing.assert_close(torch.stack(outs), y, rtol=0, atol=0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="tau_f"):
        MTC(tau_f=0.5)
    with pytest.raises(ValueError, match="u_sat"):
        MTC(u_th=1.0, u_sat=0.5)
    with pytest.raises(ValueError, match="preset"):
        MTC.preset("chaotic")
    with pytest.raises(ValueError, match="learn"):
        MTC(learn=("gamma",))


def test_nir_export_loads_with_plain_nir(tmp_path):
    m = MTC.preset("bursting", shape=(3,), dt=0.5, tau_f=0.5)
    m(torch.zeros(2, 1, 3))
    sub = m.to_nir(dt=1e-3, method="exact")
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type=np.array([3])), "mtc": sub, "output": nir.Output(output_type=np.array([3]))},
                     edges=[("input", "mtc"), ("mtc", "output")], type_check=False)
    path = tmp_path / "mtc.nir"
    nir.write(path, g)
    back = nir.read(path)
    mem = back.nodes["mtc"].nodes["membrane"]
    assert isinstance(mem, nir.LI) and mem.metadata["spikeforge.model"] == "MTC"
    # time constants rescaled from the module's dt (0.5) to the graph's (1e-3)
    np.testing.assert_allclose(mem.tau, np.full(3, 2.0 * 1e-3 / 0.5))
    np.testing.assert_allclose(back.nodes["mtc"].nodes["ultraslow"].tau, np.full(3, 1000.0 * 1e-3 / 0.5))
    np.testing.assert_allclose(mem.metadata["delta_sn"], np.full(3, -0.88))
    assert isinstance(back.nodes["mtc"].nodes["g_fast"], nir.Scale)
