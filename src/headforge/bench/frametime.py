"""Frame time of the page's 3D viewer in headless Chromium (software WebGL), with and without hair.

    python -m headforge.bench.frametime --out out/bench-frametime [--src OTHER/src ...]

For each source tree (``--src``, default: the one this module is imported from) a
``headforge serve`` of that tree's code is started (one local worker), skimage's astronaut is
uploaded through the page, and once the avatar shows, the intervals between
``requestAnimationFrame`` callbacks are recorded (the viewer renders once per callback, so an
interval is one frame's time, at least the display's 16.7 ms) over ``--frames`` frames,
``--windows`` times, hair on, then with the page's hair toggle off. The GLB the page loaded is
read back for its hair: primitive mode, vertices, triangles or line segments, file size.

Several ``--src`` trees are measured in one run (the start commit's and today's, say), so their
ratio comes from the same machine state. Writes ``frametime.json`` in ``--out``; prints a table.
Medians throughout; the machine's load average is recorded beside them.
"""
from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import struct
import sys
import tempfile
from pathlib import Path


from headforge.bench.serving import served

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader",  # WebGL on the CPU
]
VIEWPORT = {"width": 1280, "height": 860}
_INTERVALS_JS = """async (count) => {
  const stamps = [];
  await new Promise((done) => {
    const viewer = globalThis.headforgePage?.viewer;  // draws on demand: ask for every frame
    const step = (t) => {
      stamps.push(t);
      viewer?.invalidate?.();
      if (stamps.length <= count) requestAnimationFrame(step); else done();
    };
    viewer?.invalidate?.();
    requestAnimationFrame(step);
  });
  return stamps.slice(1).map((t, i) => t - stamps[i]);
}"""


def glb_hair_stats(data: bytes) -> dict:
    """The "hair" mesh of a GLB: primitive mode, vertices, triangles or segments; file bytes."""
    length, _ = struct.unpack_from("<I4s", data, 12)
    gltf = json.loads(data[20:20 + length])
    stats = {"glb_bytes": len(data)}
    for mesh in gltf.get("meshes", []):
        if mesh.get("name") != "hair":
            continue
        prim = mesh["primitives"][0]
        indices = gltf["accessors"][prim["indices"]]["count"] if "indices" in prim else None
        mode = prim.get("mode", 4)
        stats.update(hair_mode={1: "LINES", 4: "TRIANGLES"}.get(mode, str(mode)),
                     hair_vertices=gltf["accessors"][prim["attributes"]["POSITION"]]["count"],
                     hair_strands=mesh.get("extras", {}).get("strands"))
        if indices is not None:
            stats["hair_triangles" if mode == 4 else "hair_segments"] = indices // (3 if mode == 4 else 2)
    return stats


def measure_tree(src: Path | None, photo: Path, frames: int, windows: int) -> dict:
    """Frame times of the page served from source tree ``src`` (None: this interpreter's)."""
    from playwright.sync_api import sync_playwright

    env = {"PYTHONPATH": str(src)} if src else {}
    with served(1, **env) as running, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT, device_scale_factor=1)
        glbs: list[bytes] = []
        page.on("response", lambda r: glbs.append(r.body()) if r.url.endswith("avatar.glb") else None)
        page.goto(running.url.removesuffix("/api/v1"))
        page.set_input_files("#file", str(photo))
        page.wait_for_selector("#viewer[data-state=ready]", timeout=180_000)
        page.wait_for_timeout(1000)
        result = {"src": str(src) if src else "this tree", **glb_hair_stats(glbs[-1])}
        for label in ("hair", "no_hair"):
            if label == "no_hair":
                page.locator("#hair-toggle").uncheck()
                page.wait_for_timeout(500)
            medians = [statistics.median(page.evaluate(_INTERVALS_JS, frames)) for _ in range(windows)]
            result[f"frame_ms_{label}"] = round(statistics.median(medians), 2)
            result[f"frame_ms_{label}_windows"] = [round(m, 2) for m in medians]
        browser.close()
    result["hair_cost_ms"] = round(result["frame_ms_hair"] - result["frame_ms_no_hair"], 2)
    return result


def run(out: Path, sources: list[Path | None], frames: int, windows: int) -> dict:
    import skimage.data
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "astronaut.png"
        buffer = io.BytesIO()
        Image.fromarray(skimage.data.astronaut()).save(buffer, "PNG")
        photo.write_bytes(buffer.getvalue())
        result = {"viewport": VIEWPORT, "frames_per_window": frames, "windows": windows,
                  "cpus": os.cpu_count(), "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
                  "trees": [measure_tree(src, photo, frames, windows) for src in sources]}
    result["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    out.mkdir(parents=True, exist_ok=True)
    (out / "frametime.json").write_text(json.dumps(result, indent=2))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m headforge.bench.frametime",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for frametime.json")
    parser.add_argument("--src", action="append", default=None,
                        help="a source tree (its src/ folder) to serve; repeat to compare (default: this one)")
    parser.add_argument("--frames", type=int, default=90, help="frames per window (default 90)")
    parser.add_argument("--windows", type=int, default=3, help="windows per state (default 3)")
    args = parser.parse_args(argv)
    sources = [Path(s).resolve() for s in args.src] if args.src else [None]
    result = run(Path(args.out), sources, args.frames, args.windows)
    print(f"load average {result['load_average_at_start']} -> {result['load_average_at_end']}")
    for tree in result["trees"]:
        size = tree.get("hair_triangles", tree.get("hair_segments"))
        kind = "triangles" if "hair_triangles" in tree else "segments"
        print(f"{tree['src']}: hair {tree.get('hair_mode')} {tree.get('hair_strands')} strands, {size} {kind}, "
              f"GLB {tree['glb_bytes'] / 1e6:.1f} MB; frame {tree['frame_ms_hair']} ms with hair, "
              f"{tree['frame_ms_no_hair']} ms without (median of {len(tree['frame_ms_hair_windows'])} windows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
