#!/usr/bin/env bash
# Create .venv (Python >= 3.11) with torch (CPU, pinned), nir, nirtorch, brian2, ... and spikeforge (editable).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
if [ -f "$VENV/.stamp" ] && [ "$VENV/.stamp" -nt requirements/main.txt ] && [ "$VENV/.stamp" -nt pyproject.toml ] && [ "$VENV/.stamp" -nt requirements/constraints.txt ]; then exit 0; fi
PY="${SPIKEFORGE_PYTHON:-}"
if [ -z "$PY" ]; then
  for c in python3.11 python3.12 python3.13 python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(0 if sys.version_info>=(3,11) else 1)'; then PY="$(command -v "$c")"; break; fi
  done
fi
[ -n "$PY" ] || { echo "spikeforge: Python >= 3.11 is required for .venv" >&2; exit 1; }
echo "spikeforge: building $VENV with $PY"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -c requirements/constraints.txt -r requirements/main.txt
"$VENV/bin/pip" install -q --disable-pip-version-check -c requirements/constraints.txt --no-deps -e .
"$VENV/bin/python" -c "import torch, nir, brian2, numba, spikeforge"
touch "$VENV/.stamp"
