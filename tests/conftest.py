"""Test-wide rules: the system parts a test needs (redis-server, Chromium, node, tmpfs mounts).

Outside CI a test whose part is missing is skipped, with the reason. Under ``CI=true`` a missing
redis-server, Chromium or node FAILS the test (scripts/install.sh installs them, so a green CI
shows that those tests really ran); a tmpfs test may still skip, but only when the kernel
refuses the mount. ``pytest -rs`` (test.sh) lists every skip and its reason.
"""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from headforge.bench.serving import MountRefused, tmpfs

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = Path("/usr/bin/chromium")


def need(available: bool, part: str) -> None:
    """Skip the test when ``part`` is missing, or fail it under CI=true."""
    if available:
        return
    message = f"{part} is not installed (scripts/install.sh installs it)"
    if IN_CI:
        pytest.fail(f"{message}; under CI=true a test may not skip for that", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def needs_redis() -> None:
    need(shutil.which("redis-server") is not None, "redis-server")


@pytest.fixture(scope="module")
def needs_chromium() -> None:
    need(CHROMIUM.exists(), "Debian's chromium (/usr/bin/chromium)")


@pytest.fixture(scope="module")
def needs_node() -> None:
    need(shutil.which("node") is not None, "node")


@contextmanager
def mounted_tmpfs(size: str, folder: Path | None = None, mode: str = "0700"):
    """:func:`headforge.bench.serving.tmpfs` for a test: skipped (also under CI) only when the
    kernel refuses the mount; any other failure is a test error."""
    try:
        mount = tmpfs(size, folder, mode)
        path = mount.__enter__()
    except MountRefused as e:
        pytest.skip(str(e))
    try:
        yield path
    finally:
        mount.__exit__(None, None, None)
