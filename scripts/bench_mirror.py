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
mirror beside the clip frame it shows (mouth open, head turned) and the whole page.
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
from headforge.web.fakecam import Frame, held, mirror_clip, render_clip, write_y4m

FPS = 30.0
HOLD_S = 6.0  # each pose of the screenshot clip held this long
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
# The viewer's canvas drawn now (so it shows the mirror's newest result, not the last frame the
# page had time to draw) as a PNG data URL, and that newest sample.
SNAPSHOT = """() => {
    const viewer = headforgePage.viewer;
    viewer.renderer.render(viewer.scene, viewer.camera);
    return { sample: headforgePage.mirror.samples.at(-1), avatar: viewer.renderer.domElement.toDataURL('image/png') };
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


def png(data_url: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))).convert("RGB")


def pair(page, out: Path, wanted, frame: np.ndarray) -> None:
    """Saves the clip's `frame` (RGB, mirrored as the page shows the camera) beside the viewer's
    canvas, once the mirror's newest sample is `wanted` (a test on the sample: the pose that
    frame shows). The clip's own frame, not the camera's current one: on a slow machine the
    mirror shows a frame seconds old, and the camera has moved on."""
    for _ in range(20):
        shot = page.evaluate(SNAPSHOT)
        if wanted(shot["sample"]):
            break
        page.wait_for_timeout(300)
    else:
        raise RuntimeError("the mirror did not settle on the held pose")
    camera, avatar = Image.fromarray(frame), png(shot["avatar"])
    height = 360
    camera = camera.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((height * camera.width // camera.height, height))
    avatar = avatar.resize((height * avatar.width // avatar.height, height))
    sheet = Image.new("RGB", (camera.width + avatar.width + 12, height), (255, 255, 255))
    sheet.paste(camera, (0, 0))
    sheet.paste(avatar, (camera.width + 12, 0))
    sheet.save(out)
    print(f"{out}: the mirror's newest sample {json.dumps(shot['sample'])}")


def wait_for(page, condition: str, timeout_s: float = 120) -> None:
    """Until `condition` (a JS expression) holds on the page (a function: the page's CSP
    forbids evaluating strings); `s` is the mirror's newest sample."""
    page.wait_for_function(f"() => {{ const s = headforgePage.mirror?.samples.at(-1); return Boolean(s && ({condition})); }}",
                           timeout=1000 * timeout_s, polling=50)


def screenshots(playwright, url: str, avatar, photo: Path, tmp: Path, folder: Path) -> None:
    """The mirror beside its camera frame, each pose held still so that both show the same
    moment: mouth open; head turned; and the whole page."""
    folder.mkdir(parents=True, exist_ok=True)
    poses = [Frame("mouth", jaw_open=1.0), Frame("turn", turn_deg=30.0)]
    frames = render_clip(avatar, held(poses, HOLD_S, FPS))
    clip = write_y4m(frames, tmp / "held.y4m", FPS)
    browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                         args=[*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={clip}"])
    page = browser.new_page(viewport=VIEWPORT, permissions=["camera"], device_scale_factor=1)
    page.goto(url)
    page.set_input_files("#file", str(photo))
    page.wait_for_selector("#viewer[data-state=ready]", timeout=180_000)
    page.dispatch_event("#mirror-toggle", "click")
    # Settled: the last three results agree (the clip holds each pose HOLD_S seconds).
    settled = "headforgePage.mirror.samples.slice(-3).every((t) => Math.abs(t.jawOpen - s.jawOpen) < 0.03 && Math.abs(t.turned - s.turned) < 1)"
    wait_for(page, f"s.jawOpen > 0.9 && {settled}")
    pair(page, folder / "mirror-mouth.png", lambda s: s["jawOpen"] > 0.9, frames[0])
    page.screenshot(path=folder / "mirror-page.png")
    wait_for(page, f"s.turned > 15 && {settled}")
    pair(page, folder / "mirror-turn.png", lambda s: s["turned"] > 15, frames[-1])
    browser.close()


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
        page.dispatch_event("#mirror-toggle", "click")
        wait_for(page, "headforgePage.mirror.samples.length > 10")
        runs["mirror"] = summarise(*collect(page, args.seconds), args.seconds)
        # Tracker alone: the viewer's loop only feeds the tracker, nothing is drawn.
        page.evaluate("headforgePage.viewer.renderer.setAnimationLoop((t) => headforgePage.viewer.onFrame?.(t))")
        runs["tracker alone"] = summarise(collect(page, args.seconds)[0], [], args.seconds)
        browser.close()
        if args.screenshots:
            screenshots(playwright, server.url.removesuffix("/api/v1"), avatar, photo, Path(tmp), args.screenshots)
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
