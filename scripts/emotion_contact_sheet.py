"""Render the emotion contact sheet (:mod:`headforge.emotion.contact_sheet`).

    python scripts/emotion_contact_sheet.py --out docs/emotions.png [--photo PORTRAIT]

Without ``--photo`` the avatar is skimage's public-domain astronaut portrait, reconstructed
with a neutral starting expression.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import headforge
from headforge.core.images import encode_png
from headforge.emotion.contact_sheet import contact_sheet, emotion_renders


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render the emotion contact sheet.")
    parser.add_argument("--out", type=Path, default=Path("docs/emotions.png"))
    parser.add_argument("--photo", type=Path, help="portrait to use instead of the astronaut")
    args = parser.parse_args(argv)
    if args.photo:
        image = args.photo
    else:
        import skimage.data

        image = skimage.data.astronaut()
    avatar = headforge.reconstruct(image, keep_expression=False, texture_size=1024)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(encode_png(contact_sheet(emotion_renders(avatar))))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
