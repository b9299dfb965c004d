"""Packaging: every package folder is listed in pyproject.toml; backends import without torch."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREFIX = {"spikeforge": "spikeforge", "compiler": "spikeforge.compiler", "backends": "spikeforge.backends", "models": "spikeforge.models"}


def test_all_packages_listed() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for top, name in PREFIX.items():
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / top).parts
            found.add(".".join((name, *rel)))
    assert found == listed, f"missing from pyproject: {found - listed}; listed but absent: {listed - found}"


def test_backends_do_not_import_torch() -> None:
    code = (
        "import sys, spikeforge, spikeforge.backends.reference.runtime, spikeforge.compiler, spikeforge.models;"
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
