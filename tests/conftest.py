"""Test-wide fixtures.

The system parts a test needs (redis-server, Chromium, node, tmpfs mounts): outside CI a test
whose part is missing is skipped, with the reason. Under ``CI=true`` a missing redis-server,
Chromium or node FAILS the test (scripts/install.sh installs them, so a green CI shows that
those tests really ran); a tmpfs test may still skip, but only when the kernel refuses the
mount. ``pytest -rs`` (the default options) lists every skip and its reason.

The browser tests (test_browser.py, test_mirror.py) share one real `headforge serve` for the
whole session (Chromium's flags: webhelpers.CHROMIUM_ARGS).
"""
from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from webhelpers import CHROMIUM, CHROMIUM_ARGS

from headforge.bench.serving import MountRefused, served, tmpfs

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


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


@pytest.fixture(scope="session")
def chromium_installed() -> None:
    """Used through webhelpers.needs_chromium; session-scoped, so it runs before the browser."""
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


@pytest.fixture(scope="session")
def server():
    """URL of a `headforge serve` on 127.0.0.1 with one worker, ready (the harness's
    :func:`headforge.bench.serving.served`, as the benchmarks start it)."""
    with served(1) as running:
        yield running.url.removesuffix("/api/v1")


@pytest.fixture(scope="session")
def playwright():
    """One Playwright driver for the session (its sync API runs one per thread)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright):
    """Debian's Chromium (software WebGL, no camera)."""
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()
