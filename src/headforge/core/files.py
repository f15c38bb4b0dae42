"""Atomic file writes with one durability policy.

A file is written to a fresh temporary name (mode 0600) in its destination folder, flushed
and fsynced, renamed over the destination, and the folder is fsynced where the OS allows it:
after a crash the destination holds either the old content or the new, never a mixture, and
a temporary file is removed when writing fails.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``, for a writer that opens files by name (SQLite,
    libraries that take a file name); on a clean exit it is made durable and renamed over
    ``path``; on an error it is removed and the error re-raised. Creates the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    fsync_folder(path.parent)


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[BinaryIO]:
    """Yield a binary file to write ``path``'s new content to (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as file:
        yield file


def atomic_write(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically and durably; return ``path``."""
    with atomic_file(path) as file:
        file.write(data)
    return Path(path)


def fsync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable where the OS allows syncing a directory."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
