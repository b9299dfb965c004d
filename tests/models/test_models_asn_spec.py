"""The normative integer ASN step (models/asn/spec.py), worked by hand."""

from __future__ import annotations

import numpy as np

from spikeforge.models.asn import spec
from spikeforge.models.lif.spec import Counters


def test_asn_step_rounds_half_up_clips_window_and_soft_resets():
    # p = 7: one spike = 128 LSBs; the input a << 6 = 64 * a. alpha = -1, D = 4: c in [-1, 3].
    st = spec.init_state(1, 5)
    p = dict(dv=0, bias=0, p=7)
    a = np.array([[1, 3, -1, -3, 20]])  # U = 64, 192, -64, -192, 1280
    e = spec.step(st, a, p, alpha=-1, D=4)
    # round half up: 64/128 = 0.5 -> 1; 1.5 -> 2; -0.5 -> 0; -1.5 -> -1; 10 -> clipped to 3
    np.testing.assert_array_equal(e[0], [2, 3, 1, 0, 4])  # emitted c - alpha
    np.testing.assert_array_equal(st["v"][0], [64 - 128, 192 - 256, -64, -192 + 128, 1280 - 384])


def test_asn_step_decays_post_reset_membrane_toward_zero():
    st = spec.init_state(1, 2)
    st["v"][:] = [-3, 3]
    c = Counters()
    e = spec.step(st, np.zeros((1, 2), np.int64), dict(dv=2048, bias=5, p=3), alpha=0, D=4, counters=c)
    # decay(-3) = -1 (toward zero), decay(3) = 1; + bias 5 -> U = 4, 6; unit 8: round(0.5)=1, round(0.75)=1
    np.testing.assert_array_equal(e[0], [1, 1])
    np.testing.assert_array_equal(st["v"][0], [4 - 8, 6 - 8])
    assert c.saturate == 0


def test_asn_reset_beyond_24_bits_saturates_and_is_counted():
    """A window above a very negative U (alpha > 0) would push U - (c << p) past 24 bits."""
    st = spec.init_state(1, 1)
    c = Counters()
    e = spec.step(st, np.array([[1 - 2**17]]), dict(dv=0, bias=0, p=20), alpha=3, D=4, counters=c)  # U = 64 - 2^23
    assert e[0, 0] == 0  # c = alpha
    assert st["v"][0, 0] == -(2**23 - 1)  # U - 3 * 2^20 saturated
    assert c.saturate == 1
