#!/usr/bin/env bash
# Create .venv-lava (Python 3.10 + lava-nc 0.10 + numpy<2 + the numpy side of spikeforge).
# Idempotent: a complete env (stamp file newer than the requirements) is left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-lava
if [ -f "$VENV/.stamp" ] && [ "$VENV/.stamp" -nt requirements/lava.txt ]; then exit 0; fi
if ! PY="$(scripts/find_lava_python.sh)"; then
  msg="spikeforge: no Python 3.10 found (set SPIKEFORGE_LAVA_PYTHON, put python3.10 on PATH, or 'pyenv install 3.10'); the Lava backend and its tests are unavailable."
  if [ "${CI:-}" = "true" ]; then echo "$msg" >&2; exit 1; fi
  echo "$msg" >&2; exit 0
fi
echo "spikeforge: building $VENV with $PY"
rm -rf "$VENV"
"$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check -r requirements/lava.txt
"$VENV/bin/pip" install -q --disable-pip-version-check --no-deps -e .
"$VENV/bin/python" -c "import lava.magma, numpy, spikeforge.backends, sys; assert numpy.__version__.startswith('1.'); assert 'torch' not in sys.modules"
touch "$VENV/.stamp"
