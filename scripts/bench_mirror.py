"""Frame times of "Mirror me" in headless Chromium, with a 640x480 fake camera.

    .venv/bin/python scripts/bench_mirror.py [--out out/bench-mirror] [--seconds 20]
        [--screenshots docs/screenshots]

Renders the astronaut's avatar into a 30 fps clip (headforge.web.fakecam), starts a
`headforge serve` (one worker), uploads the astronaut in Debian's Chromium (software WebGL,
1280x860) and measures three runs of ``--seconds`` each, in this order:

- render alone: the viewer rendering, no mirror yet;
- mirror: tracking and rendering together, as a user has them;
- tracker alone: the viewer's rendering paused, the same frames tracked.

Writes ``mirror.json`` and ``mirror.md`` (medians) to ``--out``; with ``--screenshots``, the
mirror beside its camera frame (mouth open, head turned) and the whole page.
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image
from playwright.sync_api import sync_playwright

from headforge.bench.serving import served
from headforge.pipeline import reconstruct
from headforge.web.fakecam import mirror_clip, write_y4m

FPS = 30.0
VIEWPORT = {"width": 1280, "height": 860}
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader",  # WebGL on the CPU
    "--use-fake-device-for-media-stream",
]
# Collects display frames (rAF) for `seconds`: their times and the viewer's render() time.
RENDER_ONLY = """async (seconds) => {
    const viewer = headforgePage.viewer, frames = [];
    const end = performance.now() + 1000 * seconds;
    await new Promise((done) => {
        const tick = (time) => {
            frames.push({ time, renderMs: viewer.renderMs });
            if (time < end) requestAnimationFrame(tick); else done();
        };
        requestAnimationFrame(tick);
    });
    return frames;
}"""
# The camera's current frame, as a PNG data URL (the frame as the camera sends it).
CAMERA_FRAME = """() => {
    const video = document.getElementById('mirror-video');
    const canvas = document.createElement('canvas');
    canvas.width = video.videoWidth; canvas.height = video.videoHeight;
    canvas.getContext('2d').drawImage(video, 0, 0);
    return canvas.toDataURL('image/png');
}"""


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 1) if values else None


def summarise(samples: list[dict], frames: list[dict], seconds: float) -> dict:
    """Medians of one run: tracking (per tracked frame) and display (per rendered frame)."""
    intervals = np.diff([f["time"] for f in frames]) if len(frames) > 1 else []
    return {
        "tracked_frames": len(samples),
        "tracking_fps": round(len(samples) / seconds, 1),
        "track_ms_median": median(s["trackMs"] for s in samples),
        "camera_to_avatar_ms_median": median(s["doneMs"] - s["time"] for s in samples),
        "rendered_frames": len(frames),
        "render_fps": round(len(frames) / seconds, 1),
        "frame_interval_ms_median": median(intervals),
        "render_call_ms_median": median(f["renderMs"] for f in frames[1:]),
    }


def collect(page, seconds: float) -> tuple[list[dict], list[dict]]:
    """The mirror's samples and frames recorded over the next `seconds`."""
    since = page.evaluate("performance.now()")
    page.wait_for_timeout(int(1000 * seconds))
    samples = page.evaluate(f"headforgePage.mirror.samples.filter((s) => s.time > {since})")
    frames = page.evaluate(f"headforgePage.mirror.frames.filter((f) => f.time > {since})")
    return samples, frames


def pair(page, out: Path) -> None:
    """Saves the camera frame (mirrored, as a mirror shows it) beside the viewer's canvas."""
    camera = Image.open(io.BytesIO(base64.b64decode(page.evaluate(CAMERA_FRAME).split(",", 1)[1]))).convert("RGB")
    avatar = Image.open(io.BytesIO(page.locator("#viewer canvas").screenshot())).convert("RGB")
    height = 360
    camera = camera.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((height * camera.width // camera.height, height))
    avatar = avatar.resize((height * avatar.width // avatar.height, height))
    sheet = Image.new("RGB", (camera.width + avatar.width + 12, height), (255, 255, 255))
    sheet.paste(camera, (0, 0))
    sheet.paste(avatar, (camera.width + 12, 0))
    sheet.save(out)


def wait_for(page, condition: str, timeout_s: float = 60) -> None:
    """Until the newest mirror sample satisfies `condition` (JS, on `s`)."""
    page.wait_for_function(f"(() => {{ const s = headforgePage.mirror.samples.at(-1); return s && ({condition}); }})()",
                           timeout=1000 * timeout_s, polling=50)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="out/bench-mirror")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--screenshots", type=Path, default=None)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    avatar = reconstruct(skimage.data.astronaut(), texture_size=512, hair="none", keep_expression=False)
    with tempfile.TemporaryDirectory() as tmp, served(1) as server, sync_playwright() as playwright:
        frames, _ = mirror_clip(avatar, FPS)
        clip = write_y4m(frames, Path(tmp) / "clip.y4m", FPS)
        photo = Path(tmp) / "astronaut.png"
        Image.fromarray(skimage.data.astronaut()).save(photo)
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                             args=[*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={clip}"])
        page = browser.new_page(viewport=VIEWPORT, permissions=["camera"], device_scale_factor=1)
        page.goto(server.url.removesuffix("/api/v1"))
        page.set_input_files("#file", str(photo))
        page.wait_for_selector("#viewer[data-state=ready]", timeout=180_000)
        page.wait_for_timeout(2000)
        runs = {"render alone": summarise([], page.evaluate(RENDER_ONLY, args.seconds), args.seconds)}
        page.click("#mirror-toggle")
        page.wait_for_function("headforgePage.mirror?.samples.length > 10", timeout=120_000)
        runs["mirror"] = summarise(*collect(page, args.seconds), args.seconds)
        if args.screenshots:
            args.screenshots.mkdir(parents=True, exist_ok=True)
            wait_for(page, "s.jawOpen > 0.5")
            pair(page, args.screenshots / "mirror-mouth.png")
            page.screenshot(path=args.screenshots / "mirror-page.png")
            wait_for(page, "s.turned > 20")
            pair(page, args.screenshots / "mirror-turn.png")
        # Tracker alone: the viewer's loop only feeds the tracker, nothing is drawn.
        page.evaluate("headforgePage.viewer.renderer.setAnimationLoop((t) => headforgePage.viewer.onFrame?.(t))")
        runs["tracker alone"] = summarise(collect(page, args.seconds)[0], [], args.seconds)
        browser.close()
    report = {
        "seconds_per_run": args.seconds, "camera": "640x480 at 30 fps (fake device, y4m)",
        "viewport": VIEWPORT, "cpus": os.cpu_count(), "load_average_before": load_before,
        "load_average_after": os.getloadavg(), "runs": runs,
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    (out / "mirror.json").write_text(json.dumps(report, indent=2))
    keys = list(runs["mirror"])
    lines = ["| run | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(str(r[k]) for k in keys) + " |" for name, r in runs.items()]
    (out / "mirror.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"load average {load_before[0]:.1f} before, {report['load_average_after'][0]:.1f} after; {out}/mirror.json")


if __name__ == "__main__":
    main()
