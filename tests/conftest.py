"""Fixtures shared by the browser tests (test_browser.py, test_mirror.py): one real
`headforge serve` for the whole session (Chromium's flags: webhelpers.CHROMIUM_ARGS)."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from webhelpers import CHROMIUM, CHROMIUM_ARGS

from headforge.bench.serving import free_port


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """URL of a `headforge serve` on 127.0.0.1 with one worker, ready."""
    port = free_port()
    env = {**os.environ, "HEADFORGE_DATA_DIR": str(tmp_path_factory.mktemp("hfdata")), "HEADFORGE_WORKERS": "1"}
    log = open(tmp_path_factory.mktemp("log") / "serve.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "headforge.cli", "serve", "--port", str(port)],
                               stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        assert process.poll() is None, "headforge serve exited"
        try:
            if httpx.get(f"{url}/api/v1/ready").json()["ready"]:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "headforge serve did not become ready"
        time.sleep(0.25)
    yield url
    process.terminate()
    process.wait(timeout=20)


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
