#!/usr/bin/env bash
# Print the path of a Python 3.10 interpreter for the Lava environment, or nothing.
# Order: $SPIKEFORGE_LAVA_PYTHON, python3.10 on PATH, pyenv (any 3.10.x it has).
is310() { "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2]==(3,10) else 1)' >/dev/null 2>&1; }
if [ -n "${SPIKEFORGE_LAVA_PYTHON:-}" ]; then
  if is310 "$SPIKEFORGE_LAVA_PYTHON"; then echo "$SPIKEFORGE_LAVA_PYTHON"; exit 0; fi
  echo "SPIKEFORGE_LAVA_PYTHON=$SPIKEFORGE_LAVA_PYTHON is not a Python 3.10 interpreter" >&2; exit 1
fi
if command -v pyenv >/dev/null 2>&1; then
  for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.10(\.[0-9]+)?$' | sort -rV); do
    p="$(pyenv prefix "$v" 2>/dev/null)/bin/python3.10"
    if is310 "$p"; then echo "$p"; exit 0; fi
  done
fi
for c in python3.10 "$HOME/.pyenv/versions/3.10.13/bin/python3.10"; do
  p="$(command -v "$c" 2>/dev/null || true)"
  if [ -n "$p" ] && is310 "$p"; then echo "$p"; exit 0; fi
done
exit 1
