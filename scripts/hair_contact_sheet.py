"""Contact sheet of photo hair from a ``headforge bench --hair`` run: per photo its face crop,
the avatar with its hair from the front and in profile (the bench's images), and a caption
with the hair classes (label in brackets where set by eye) and the measures.

    python scripts/hair_contact_sheet.py bench-out docs/hair_from_photo.jpg
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

TILE = 150
COLUMNS = 3


def caption(row: dict) -> list[str]:
    if not row["ok"]:
        return [row["photo"][5:27], row["error"]["code"]]
    h, m = row.get("hair", {}), row["metrics"]

    def label(kind):
        value, truth = h.get(f"{kind}_class"), h.get(f"{kind}_label")
        return f"{value}" + ("" if truth is None else f" [{truth}]")

    def num(key, fmt):
        return "-" if m.get(key) is None else format(m[key], fmt)

    return [Path(row["photo"]).stem[5:30], f"{label('length')}  {label('curl')}",
            f"iou {num('hair_iou', '.2f')}  dE {num('hair_color_de', '.1f')}  ori {num('hair_orientation_deg', '.0f')}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bench", type=Path)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    rows = json.loads((args.bench / "results.json").read_text())["photos"]
    tiles = []
    for row in rows:
        stem = Path(row["photo"]).stem
        panels = []
        for name in ("input", "hair_front", "hair_profile"):
            path = args.bench / "images" / f"{stem}_{name}.jpg"
            image = cv2.imread(str(path)) if path.is_file() else None
            panels.append(np.full((TILE, TILE, 3), 255, np.uint8) if image is None else cv2.resize(image, (TILE, TILE)))
        tile = np.full((TILE + 48, 3 * TILE, 3), 255, np.uint8)
        tile[:TILE] = np.concatenate(panels, axis=1)
        for k, text in enumerate(caption(row)):
            cv2.putText(tile, text, (4, TILE + 14 + 15 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(tile)
    while len(tiles) % COLUMNS:
        tiles.append(np.full_like(tiles[0], 255))
    sheet = np.concatenate([np.concatenate(tiles[i:i + COLUMNS], axis=1) for i in range(0, len(tiles), COLUMNS)])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), sheet, [cv2.IMWRITE_JPEG_QUALITY, 80])
    print(args.out, sheet.shape)


if __name__ == "__main__":
    main()
