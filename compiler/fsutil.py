"""Atomic file writing: write to a temporary file in the destination folder, then rename."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[str]:
    """Yield a temporary path; on success it replaces ``path``, on error it is removed.

    Nothing half-written is ever left at ``path``. The file gets the usual permissions
    (``0666`` less the umask), not ``mkstemp``'s private ``0600``.

    Args:
        path: Final destination.
        suffix: Suffix of the temporary file (some writers insist on one, e.g. ``.npy``).
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=suffix, dir=p.parent)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
