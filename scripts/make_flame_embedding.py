"""Derive where all 478 mediapipe landmarks lie on your FLAME head, once, into the cache.

The neutral FLAME head is rendered from five directions (skin, white eyeballs, dark irises),
mediapipe runs on each render, and every landmark is back-projected onto the surface (as
scripts/make_landmark_embedding.py does for the default head). Until this has been run, the
FLAME back-ends use the published embedding in the model folder (105 or 68 points); afterwards
they use these 478 and derive their ARKit table again. Derived from the licensed FLAME file, so it
lives in the cache, never in the repository.

    python scripts/make_flame_embedding.py --model-dir ~/flame-models [--check landmarks.png]
"""
from __future__ import annotations

import argparse

import numpy as np

from headforge.backends import registry
from headforge.backends.flame import load_flame
from headforge.backends.flame_files import derived_embedding_path
from headforge.errors import HeadforgeError
from headforge.headmodel.landmark_embedding import embed_by_rendering, head_colors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-dir", default=None, help="folder with the FLAME files ($HEADFORGE_MODEL_DIR)")
    ap.add_argument("--check", help="write a PNG of the landmarks on the frontal render")
    args = ap.parse_args()
    model_file = registry.require("flame", args.model_dir)["flame"]
    with registry.reading(model_file, registry.FLAME_MODEL):
        flame = load_flame(model_file)
    v, f = flame.template, flame.faces
    eyes = flame.weights[:, 3:5].sum(1).numpy() > 0.5  # the eyeballs follow the eye joints
    eye_faces = eyes[f].all(1)
    try:
        faces, bary = embed_by_rendering(v, f, head_colors(v, eyes), args.check,
                                         skin_faces=~eye_faces, eye_faces=eye_faces)
    except HeadforgeError as e:
        raise SystemExit(f"error: mediapipe did not find every landmark on the renders of {model_file.name} ({e})")
    path = derived_embedding_path(model_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, faces=faces, bary=bary)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
