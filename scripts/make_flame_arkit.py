"""Derive the 52 ARKit actions of a FLAME head (FLAME expression + jaw + eye rotations) and
report how well each is reproduced; the table goes to the cache (it is derived from the licensed
FLAME file, so it never goes into the repository). See headforge.backends.flame_arkit.

    python scripts/make_flame_arkit.py --model-dir ~/flame-models [--force]
"""
from __future__ import annotations

import argparse

import numpy as np

from headforge.backends import registry
from headforge.backends.flame import load_flame
from headforge.backends.flame_arkit import derive_arkit_table, save_table, table_path
from headforge.backends.flame_backend import load_embedding


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", default=None, help="folder with the FLAME files ($HEADFORGE_MODEL_DIR)")
    ap.add_argument("--force", action="store_true", help="derive again even if the cache has the table")
    args = ap.parse_args()
    files = registry.require("flame", args.model_dir)
    with registry.reading(files["flame"], registry.FLAME_MODEL):
        flame = load_flame(files["flame"])
    embedding = load_embedding(files["embedding"], files["flame"], len(flame.faces))
    path = table_path(files["flame"], embedding)
    if path.is_file() and not args.force:
        print(f"{path} exists (--force to derive it again)")
        return
    table = derive_arkit_table(flame, embedding)
    save_table(table, path)
    def numbers(x):
        return " ".join(f"{v:+.3f}" for v in x)

    print(f"{'action':<20} {'reproduced':>10} {'peak mm':>8}  {'jaw (rad)':<20}  eyes (rad; eyeLook* only)")
    for name, r, peak, jaw, eyes in zip(table.names, table.reproduced, table.peak_mm, table.jaw, table.eyes):
        rep = "-" if np.isnan(r) else f"{100 * r:.0f}%"
        print(f"{name:<20} {rep:>10} {peak:8.1f}  {numbers(jaw):<20}  {numbers(eyes) if eyes.any() else ''}")
    print(f"median reproduced {100 * np.nanmedian(table.reproduced):.0f}%; wrote {path}")


if __name__ == "__main__":
    main()
