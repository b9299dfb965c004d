"""Targets are data: the registry, derived limits, lookup errors."""

from __future__ import annotations

import dataclasses

import pytest

import spikeforge as sf
from spikeforge.compiler.targets import TARGETS, Target, get_target


def test_registry() -> None:
    assert list(TARGETS) == ["float", "loihi2", "loihi2-binary", "loihi2-shared-threshold"]
    assert sf.TARGETS is TARGETS and not TARGETS["float"].integer
    t = TARGETS["loihi2"]
    assert (t.weight_bits, t.weight_exp_range, t.state_bits, t.decay_bits, t.act_shift) == (8, (-8, 7), 24, 12, 6)
    assert (t.vth_bits, t.bias_mant_bits, t.bias_exp_bits, t.asn_bias_bits, t.graded_bits) == (17, 13, 3, 24, 24)
    assert (t.weight_max, t.state_max, t.vth_max, t.bias_mant_max, t.bias_exp_max, t.graded_max) == (127, 2**23 - 1, 2**17 - 1, 4095, 7, 2**24 - 1)
    assert t.realization == "graded" and t.per_neuron_threshold and t.sources
    assert TARGETS["loihi2-binary"].realization == "binary"
    assert not TARGETS["loihi2-shared-threshold"].per_neuron_threshold


def test_core_limits_and_energy_table() -> None:
    t = TARGETS["loihi2"]
    c = t.core
    assert (c.neurons_per_core, c.synapse_memory_bits, c.fan_in_per_core, c.cores_per_chip) == (8192, 128 * 1024 * 8, 4096, 128)
    assert c.cores_per_tile * c.mesh[0] * c.mesh[1] == 128
    assert len(c.sources) == 5 and sum("ASSUMPTION" in s for s in c.sources) == 3
    assert [c.place(k) for k in (0, 3, 4, 31, 32, 127, 128)] == [(0, 0, 0), (0, 0, 0), (0, 1, 0), (0, 7, 0), (0, 0, 1), (0, 7, 3), (1, 8, 0)]
    e = t.energy
    pj = 1e-12
    assert (e.syn_op_j, e.neuron_active_j, e.neuron_idle_j, e.spike_tile_j, e.hop_ew_j, e.hop_ns_j) == (23.6 * pj, 81 * pj, 52 * pj, 1.7 * pj, 3.0 * pj, 4.0 * pj)
    assert (e.ac_j, e.mac_j) == (0.9 * pj, 4.6 * pj)
    assert any("not published" in a for a in e.assumptions)
    for name in ("loihi2-binary", "loihi2-shared-threshold"):
        assert TARGETS[name].core is c and TARGETS[name].energy is e
    assert TARGETS["float"].core is None and TARGETS["float"].energy is None
    with pytest.raises(ValueError, match="cannot hold 128 cores"):
        dataclasses.replace(c, mesh=(2, 2))


def test_lookup() -> None:
    assert get_target("loihi2") is TARGETS["loihi2"]
    custom = dataclasses.replace(TARGETS["loihi2"], name="mine")
    assert get_target(custom) is custom
    with pytest.raises(sf.SpikeforgeError, match="unknown target 'nope'; available: float, loihi2, loihi2-binary, loihi2-shared-threshold"):
        get_target("nope")
    with pytest.raises(ValueError, match="realization"):
        Target(name="bad", realization="analog")
    with pytest.raises(dataclasses.FrozenInstanceError):
        TARGETS["loihi2"].weight_bits = 4  # type: ignore[misc]
