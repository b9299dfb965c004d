"""Shared test configuration.

* A modest hypothesis profile (``ci``): property tests stay quick and deterministic.
* ``@pytest.mark.snntorch`` tests skip, with the reason, when snnTorch cannot be imported.
* Small fixtures used across the compiler and backend tests.
* ``lava_python``: the interpreter of ``.venv-lava`` (made by ``scripts/setup_lava.sh``). Lava tests
  skip with the reason when it is missing, except under ``CI=true``, where that is a failure.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

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


#: Repository root (tests/ lives directly under it).
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def lava_python() -> Path:
    """Path of the Lava worker interpreter (``SPIKEFORGE_LAVA_VENV`` or ``.venv-lava``)."""
    venv = Path(os.environ.get("SPIKEFORGE_LAVA_VENV", ROOT / ".venv-lava"))
    py = venv / "bin" / "python"
    if not py.exists():
        msg = f"{py} not found: run `bash scripts/setup_lava.sh` (needs Python 3.10)"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return py


@pytest.fixture
def one_torch_thread():
    """Torch on one thread for the test (training is many times faster on this busy 2-core
    machine), the previous count restored afterwards."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
