"""MediaPipe's reading of the avatar's own renders, the response that "Mirror me" maps its
jawOpen and eyeBlink scores back through (``RESPONSE`` in static/mirror_tracking.js).

    .venv/bin/python scripts/mirror_response.py [--out out/mirror-response] [--hold 3]

Renders the astronaut's avatar (no hair, face to the camera) holding jawOpen at 0, 0.25, 0.5,
0.75, 1 and then eyeBlinkLeft at 0.5 and 1, ``--hold`` seconds each, plays that clip through
Chromium's fake camera into the page's mirror (drawing paused, so the tracker has the CPU),
and writes ``response.json``: per held pose, the median raw MediaPipe score and the median
weight the mirror applied to the avatar, over the pose's tracked frames (the middle of each
hold: the filter settled, and the clip's start known to within about a second).
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import skimage.data
from PIL import Image
from playwright.sync_api import sync_playwright

from headforge.bench.serving import served
from headforge.pipeline import reconstruct
from headforge.web.fakecam import Frame, render_clip, write_y4m

FPS = 15.0
POSES = [Frame("mouth", jaw_open=v) for v in (0.0, 0.25, 0.5, 0.75, 1.0)] + \
        [Frame("wink", wink_left=v) for v in (0.5, 1.0)]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--use-angle=swiftshader",
                 "--enable-unsafe-swiftshader", "--use-fake-device-for-media-stream"]


def per_pose(samples: list[dict], start_ms: float, hold_s: float) -> list[dict]:
    """Medians per held pose of the raw scores and applied weights; the clip's frame 0 plays at
    ``start_ms`` (page time) and the clip loops."""
    period = hold_s * len(POSES)
    rows = []
    for i, pose in enumerate(POSES):
        kept = [s for s in samples if s["raw"] and (i + 0.4) * hold_s <= ((s["time"] - start_ms) / 1000) % period < (i + 0.85) * hold_s]
        row = {"jaw_open": pose.jaw_open, "wink_left": pose.wink_left, "frames": len(kept)}
        for key in ("jawOpen", "eyeBlinkLeft", "eyeBlinkRight"):
            row[f"raw_{key}"] = round(statistics.median(s["raw"][key] for s in kept), 3) if kept else None
            row[f"applied_{key}"] = round(statistics.median(s[key] for s in kept), 3) if kept else None
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="out/mirror-response")
    parser.add_argument("--hold", type=float, default=3.0)
    parser.add_argument("--loops", type=int, default=3)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    avatar = reconstruct(skimage.data.astronaut(), texture_size=512, hair="none", keep_expression=False)
    frames = [pose for pose in POSES for _ in range(int(round(args.hold * FPS)))]
    with tempfile.TemporaryDirectory() as tmp, served(1) as server, sync_playwright() as playwright:
        clip = write_y4m(render_clip(avatar, frames), Path(tmp) / "held.y4m", FPS)
        photo = Path(tmp) / "astronaut.png"
        Image.fromarray(skimage.data.astronaut()).save(photo)
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                             args=[*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={clip}"])
        page = browser.new_page(viewport={"width": 900, "height": 640}, permissions=["camera"])
        page.goto(server.url.removesuffix("/api/v1"))
        page.set_input_files("#file", str(photo))
        try:
            page.wait_for_selector("#viewer[data-state=ready]", timeout=600_000)
        except Exception:
            print(page.inner_text("body")[:2000], server.log.read_text()[-3000:], sep="\n")
            raise
        page.evaluate("headforgePage.viewer.renderer.setAnimationLoop((t) => headforgePage.viewer.onFrame?.(t))")
        page.dispatch_event("#mirror-toggle", "click")
        page.wait_for_function("() => headforgePage.mirror?.stream", timeout=120_000)
        # The fake camera starts its file when the track opens; a frame's time tells its pose.
        start_ms = page.evaluate("performance.now()")
        page.wait_for_timeout(int(1000 * args.hold * len(POSES) * args.loops))
        samples = page.evaluate("headforgePage.mirror.samples")
        browser.close()
    rows = per_pose(samples, start_ms, args.hold)
    (out / "response.json").write_text(json.dumps({"rows": rows, "samples": samples}, indent=1))
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
