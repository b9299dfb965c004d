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
