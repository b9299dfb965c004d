"""Shared test configuration.

* A modest hypothesis profile (``ci``): property tests stay quick and deterministic.
* ``@pytest.mark.snntorch`` tests skip, with the reason, when snnTorch cannot be imported.
* Small fixtures used across the compiler and backend tests.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

try:
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "ci",
        max_examples=25,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.load_profile("ci")
except ImportError:  # pragma: no cover - hypothesis is in requirements/main.txt
    pass


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``snntorch``-marked tests with a clear reason when snnTorch is not installed."""
    if importlib.util.find_spec("snntorch") is not None:
        return
    skip = pytest.mark.skip(reason="snnTorch is not installed in this environment")
    for item in items:
        if "snntorch" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded random generator (a fresh one per test)."""
    return np.random.default_rng(1234)
