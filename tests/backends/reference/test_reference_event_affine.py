"""The event-driven affine path (binary, sparse inputs) equals the dense product."""

from __future__ import annotations

import numpy as np
import pytest

from spikeforge.backends.reference.ops import STATELESS, sparse_binary
from spikeforge.compiler.ir import Node


@pytest.mark.parametrize("density", [0.0, 0.05, 0.2])
@pytest.mark.parametrize("scalar_bias", [False, True])
def test_event_path_equals_dense(density: float, scalar_bias: bool) -> None:
    rng = np.random.default_rng(3)
    x = (rng.random((300, 97)) < density).astype(np.float64)
    w = rng.normal(size=(33, 97))
    b = np.array(0.7) if scalar_bias else rng.normal(size=33)
    assert sparse_binary(x)
    y = STATELESS["affine"](Node("fc", "affine", {"weight": w, "bias": b}), x)
    np.testing.assert_allclose(y, x @ w.T + b, rtol=0, atol=1e-12)


def test_dense_or_graded_inputs_take_the_dense_path() -> None:
    rng = np.random.default_rng(4)
    assert not sparse_binary((rng.random((50, 90)) < 0.6).astype(float))
    assert not sparse_binary(np.where(rng.random((50, 90)) < 0.1, 0.5, 0.0))
