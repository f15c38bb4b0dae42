"""Uploads and results, stored by key (``<job id>/<name>``) behind one small interface.

- :class:`LocalStore` (``file:///path``): files in a folder, written atomically with owner-only
  permissions. For several machines the folder must be shared (NFS, a mounted bucket).
- :class:`RedisStore` (``redis://host:port/db``): values in Redis with the job TTL as expiry;
  what a Celery set-up uses by default, since every worker already reaches the broker.

Every key of a job starts with its id, so ``delete_prefix(job_id)`` removes all of its data.
A store that cannot take a write raises :class:`~.errors.StorageFullError` (no room left) or
:class:`~.errors.StorageUnavailableError` (read-only, not permitted, unreachable).
"""
from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
from pathlib import Path
from typing import Protocol
from urllib.parse import urlparse

from headforge.service.errors import ServiceError, StorageFullError, StorageUnavailableError
from headforge.core.files import atomic_write

_KEY = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_.-]+)*$")
MIN_FREE_BYTES = 64 * 1024  # a local store with less room left is full: not ready
_FULL = "there is no room left to store the files; try again later"


class Store(Protocol):
    """Bytes by key. Keys are ``/``-separated names of letters, digits, ``_``, ``-``, ``.``."""

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes | None: ...

    def exists(self, key: str) -> bool: ...

    def delete_prefix(self, prefix: str) -> None: ...

    def stale_prefixes(self, older_than: float) -> list[str]: ...

    def ping(self) -> bool: ...


def check_key(key: str) -> str:
    if not _KEY.match(key) or ".." in key:
        raise ValueError(f"invalid storage key {key!r}")
    return key


class LocalStore:
    """A folder; ``put`` writes a temporary file and renames it, so readers never see half a file."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> None:
        path = self.path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            atomic_write(path, data)  # mode 0600
        except OSError as e:
            raise _disk_error(e) from None

    def get(self, key: str) -> bytes | None:
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self.path(prefix), ignore_errors=True)

    def stale_prefixes(self, older_than: float) -> list[str]:
        """Top-level folders not modified since ``older_than`` (epoch seconds)."""
        stale = []
        for entry in os.scandir(self.root):
            with contextlib.suppress(FileNotFoundError):
                if entry.is_dir() and entry.stat().st_mtime < older_than:
                    stale.append(entry.name)
        return stale

    def ping(self) -> bool:
        """Writable, with at least ``MIN_FREE_BYTES`` free."""
        try:
            return os.access(self.root, os.W_OK) and shutil.disk_usage(self.root).free >= MIN_FREE_BYTES
        except OSError:
            return False


def _disk_error(e: OSError) -> ServiceError:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageFullError(_FULL)
    return StorageUnavailableError(f"the files cannot be stored now ({os.strerror(e.errno or errno.EIO)})")


class RedisStore:
    """Keys ``headforge:blob:<key>`` expiring after ``ttl_s`` seconds."""

    PREFIX = "headforge:blob:"

    def __init__(self, url: str, ttl_s: int):
        import redis

        self.client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30)
        self.ttl_s = ttl_s

    def put(self, key: str, data: bytes) -> None:
        with _redis_errors():
            self.client.set(self.PREFIX + check_key(key), data, ex=self.ttl_s)

    def get(self, key: str) -> bytes | None:
        with _redis_errors():
            return self.client.get(self.PREFIX + check_key(key))

    def exists(self, key: str) -> bool:
        with _redis_errors():
            return bool(self.client.exists(self.PREFIX + check_key(key)))

    def delete_prefix(self, prefix: str) -> None:
        with _redis_errors():
            keys = list(self.client.scan_iter(match=f"{self.PREFIX}{check_key(prefix)}/*", count=500))
            if keys:
                self.client.delete(*keys)

    def stale_prefixes(self, older_than: float) -> list[str]:
        return []  # values expire by themselves

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except Exception:  # noqa: BLE001 - any failure means "not reachable"
            return False


@contextlib.contextmanager
def _redis_errors():
    """Redis out of memory -> StorageFullError; unreachable -> StorageUnavailableError."""
    import redis

    try:
        yield
    except redis.ResponseError as e:
        if str(e).startswith("OOM"):
            raise StorageFullError(_FULL) from None
        raise
    except redis.RedisError as e:
        raise StorageUnavailableError(f"the store cannot be reached now ({type(e).__name__})") from None


def open_store(url: str, ttl_s: int) -> Store:
    """The store a URL names: ``file:///path`` or ``redis://...`` (``rediss://`` too)."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalStore(Path(parsed.path))
    if parsed.scheme in ("redis", "rediss"):
        return RedisStore(url, ttl_s)
    raise ValueError(f"unsupported store URL {url!r}: use file:///path or redis://host:port/db")
