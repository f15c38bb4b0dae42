"""Fixtures shared by the browser tests: one `headforge serve` and one Chromium per session."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from headforge.bench.serving import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader",  # WebGL on the CPU
    "--autoplay-policy=no-user-gesture-required",  # TalkingHead's audio starts without a click
]
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium is not installed (scripts/install.sh installs it)")


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The URL of a `headforge serve` with one embedded worker and its own data folder."""
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
def chromium():
    """Debian's Chromium driven by Playwright (software WebGL)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()
