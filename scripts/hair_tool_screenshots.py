"""Screenshots of the default avatars' hair in the project's preview and in Blender, for
docs/hair_in_tools.md: skimage's astronaut and photos given on the command line.

    python scripts/hair_tool_screenshots.py --out DIR [--samples 12] [PHOTO ...]

For each photo (reconstructed with the defaults: hair read from the photo) it writes
``<name>_preview.png`` (the CPU renderer: the hair cards over the head at -40, 0, +40
degrees, and the head without hair below) and ``<name>_blender.png`` (the same views of
the GLB rendered by Blender's Cycles, scripts/blender_render.py, run in one process for
all photos), plus ``figures.json`` (triangles, GLB sizes, card build time). The photos
themselves are not written. Needs Debian's ``blender`` (scripts/install.sh).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import skimage.data
from PIL import Image

import headforge
from headforge.export.gltf import glb_bytes, parse_glb
from headforge.export.preview import avatar_cards, avatar_view

YAWS = (-40.0, 0.0, 40.0)  # left to right as in Blender's sheet: right40, front, left40
SIZE = 200
BLENDER_VIEWS = ("right40", "front", "left40")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--samples", type=int, default=32)
    parser.add_argument("photos", nargs="*")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sources = {"astronaut": skimage.data.astronaut()}
    for path in args.photos:
        sources[Path(path).stem] = Path(path)
    figures = {}
    with tempfile.TemporaryDirectory(prefix="headforge-shots-") as tmp:
        glbs = []
        for name, image in sources.items():
            avatar = headforge.reconstruct(image)
            t0 = time.perf_counter()
            cards = avatar_cards(avatar)
            build_s = time.perf_counter() - t0
            hair = [avatar_view(avatar, yaw, SIZE, cards=cards) for yaw in YAWS]
            bald = [avatar_view(dataclasses.replace(avatar, hair=None), yaw, SIZE) for yaw in YAWS]
            write_png(out / f"{name}_preview.png", np.concatenate([np.concatenate(hair, 1), np.concatenate(bald, 1)]))
            glb = Path(tmp) / f"{name}.glb"
            glb.write_bytes(glb_bytes(avatar))
            glbs.append(glb)
            extras = parse_glb(glb.read_bytes()).gltf["meshes"][-1].get("extras", {})
            figures[name] = {"strands": avatar.hair.count if avatar.hair else 0, "triangles": extras.get("triangles"),
                             "glb_bytes": glb.stat().st_size, "card_build_s": round(build_s, 3),
                             "reconstruct_s": round(sum(avatar.params["timings_s"].values()), 3)}
        shots = Path(tmp) / "blender"
        subprocess.run(["blender", "-b", "--factory-startup", "-noaudio", "--python",
                        str(Path(__file__).with_name("blender_render.py")), "--", "--out", str(shots), "--size",
                        str(SIZE), "--samples", str(args.samples), *map(str, glbs)],
                       env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home())}, check=True, capture_output=True)
        report = json.loads((shots / "report.json").read_text())
        for name in sources:
            rows = [np.concatenate([cv2.imread(str(shots / f"{name}_{v}_{s}.png")) for v in BLENDER_VIEWS], 1)
                    for s in ("hair", "bald")]
            write_png(out / f"{name}_blender.png", np.concatenate(rows)[:, :, ::-1])
            figures[name]["blender"] = report[name]
    (out / "figures.json").write_text(json.dumps(figures, indent=2))


def write_png(path: Path, rgb: np.ndarray) -> None:
    """A small PNG for the docs: 128 colours (median cut), no metadata."""
    Image.fromarray(np.ascontiguousarray(rgb)).quantize(128, Image.Quantize.MEDIANCUT).save(path, optimize=True)


if __name__ == "__main__":
    main()
