"""Screenshots of the web page for docs/screenshots/: desktop and phone width.

    .venv/bin/python scripts/web_screenshots.py [--out docs/screenshots] [--avatar NAME=PHOTO ...]

Starts a `headforge serve` on a free port (one local worker), drives Debian's Chromium with
Playwright through an upload of skimage's astronaut, and saves: the empty page, the progress
view, the avatar with the happiness slider up, and the same at phone width. Then, for the
astronaut and each ``--avatar NAME=PHOTO``, the viewer alone (the canvas: no photo in it)
showing that photo's default avatar (hair read from the photo) at the page's first view,
as ``web-NAME.png``.
"""
from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path

import skimage.data
from PIL import Image
from playwright.sync_api import sync_playwright

from headforge.bench.serving import server

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
]
DESKTOP = {"viewport": {"width": 1280, "height": 860}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="docs/screenshots")
    parser.add_argument("--avatar", action="append", default=[], metavar="NAME=PHOTO",
                        help="also screenshot the viewer with this photo's default avatar")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, server(1) as client, sync_playwright() as playwright:
        photo = Path(tmp) / "astronaut.png"
        buffer = io.BytesIO()
        Image.fromarray(skimage.data.astronaut()).save(buffer, "PNG")
        photo.write_bytes(buffer.getvalue())
        url = str(client.base_url).removesuffix("/").removesuffix("/api/v1")
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for name, device in (("desktop", DESKTOP), ("phone", PHONE)):
            page = browser.new_page(**device, device_scale_factor=1)
            page.goto(url)
            page.wait_for_timeout(300)
            page.screenshot(path=out / f"{name}-1-upload.png", full_page=True)
            page.set_input_files("#file", str(photo))
            page.wait_for_selector("#stages li.active[data-stage=texture]", timeout=60_000)
            page.screenshot(path=out / f"{name}-2-progress.png", full_page=True)
            page.wait_for_selector("#viewer[data-state=ready]", timeout=300_000)
            page.locator("#emotion-happiness").fill("0.8")
            page.wait_for_timeout(500)
            page.screenshot(path=out / f"{name}-3-avatar.png", full_page=True)
            page.close()
        page = browser.new_page(**DESKTOP, device_scale_factor=1)
        page.goto(url)
        for name, path in [("astronaut", photo)] + [tuple(a.split("=", 1)) for a in args.avatar]:
            page.set_input_files("#file", str(path))
            page.wait_for_selector("#viewer[data-state=working]", timeout=60_000)
            page.wait_for_selector("#viewer[data-state=ready]", timeout=300_000)
            page.wait_for_timeout(1500)
            page.locator("#viewer canvas").screenshot(path=out / f"web-{name}.png", timeout=120_000)
            page.click("#new-photo")
        browser.close()
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main()
