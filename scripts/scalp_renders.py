"""Renders of the scalp paint for docs/: the astronaut's head wearing a few library styles, each
as the paint alone (hair off: front, from above, from behind) and with its strands (40 degrees).

    .venv/bin/python scripts/scalp_renders.py --out docs/scalp.png [--before-src OLD/src]

With ``--before-src`` the same rows are also rendered by another source tree (run in a
subprocess with that tree first on the path), stacked above this tree's: before and after.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

# (style, strands or None for all, caption)
STYLES = [("bob_side_part", None, "side parting"), ("bob_chin", 2500, "thin (2,500 strands)"),
          ("crew_cut", None, "short")]
SIZE = 200
VIEWS = [(0.0, 0.0, False), (0.0, 60.0, False), (180.0, 20.0, False), (40.0, 0.0, True)]  # yaw, pitch, hair


def render_rows() -> np.ndarray:
    """(len(STYLES) * SIZE, len(VIEWS) * SIZE, 3) uint8 RGB."""
    import skimage.data

    import headforge
    from headforge.export.preview import avatar_view
    from headforge.tryon import try_on

    head = headforge.reconstruct(skimage.data.astronaut(), hair="none")
    rows = []
    for name, strands, _ in STYLES:
        worn = try_on(dataclasses.replace(head, preview=None), name, max_strands=strands)
        bare = dataclasses.replace(worn, albedo=worn.worn_albedo(), hair=None)  # the paint, no strands
        rows.append(np.concatenate([avatar_view(worn if hair else bare, yaw, SIZE, pitch)
                                    for yaw, pitch, hair in VIEWS], axis=1))
    return np.concatenate(rows, axis=0)


def label(image: np.ndarray, text: str) -> np.ndarray:
    band = np.full((28, image.shape[1], 3), 255, np.uint8)
    cv2.putText(band, text, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (20, 20, 20), 1, cv2.LINE_AA)
    return np.concatenate([band, image], axis=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--before-src", default=None, help="another tree's src/ to render the 'before' rows")
    parser.add_argument("--raw", default=None, help=argparse.SUPPRESS)  # subprocess: write the rows as .npy
    args = parser.parse_args()
    if args.raw:
        np.save(args.raw, render_rows())
        return
    captions = ", ".join(caption for _, _, caption in STYLES)
    parts = []
    if args.before_src:
        with tempfile.TemporaryDirectory() as tmp:
            raw = Path(tmp) / "before.npy"
            env = {**os.environ, "PYTHONPATH": str(Path(args.before_src).resolve())}
            subprocess.run([sys.executable, __file__, "--out", args.out, "--raw", str(raw)], check=True, env=env)
            parts.append(label(np.load(raw), f"before - rows: {captions}"))
    parts.append(label(render_rows(), ("after - " if parts else "") + f"rows: {captions}"))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(args.out, cv2.cvtColor(np.concatenate(parts, axis=0), cv2.COLOR_RGB2BGR))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
