"""Regenerate src/headforge/headmodel/data/anny_mediapipe478.npz from the head model itself.

The neutral head is rendered (grey skin, dark irises) from five directions; mediapipe's
landmarker runs on each render; every landmark is back-projected onto the surface through
the render's depth, the 3D points of the views where that spot faces the camera are averaged
and snapped to the nearest surface point (triangle + barycentric coordinates); see
:func:`headforge.headmodel.landmark_embedding.embed_by_rendering`.

    python scripts/make_landmark_embedding.py [--check out.png]
"""
from __future__ import annotations

import argparse

import numpy as np

from headforge.headmodel.anny_head import eyeball_vertices, load_head_model, mesh_components
from headforge.headmodel.landmark_embedding import EMBEDDING_PATH, embed_by_rendering, head_colors


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", help="write a PNG of the landmarks on the frontal render")
    args = ap.parse_args()
    model = load_head_model()
    v, f = model.template, model.faces
    parts = mesh_components(f, len(v))[f[:, 0]]  # per face: 0 skin, 1 mouth interior, 2-3 eyes
    eyes = eyeball_vertices(f, len(v))
    faces, bary = embed_by_rendering(v, f, head_colors(v, eyes), args.check,
                                     skin_faces=parts == 0, eye_faces=np.isin(parts, [2, 3]))
    np.savez_compressed(EMBEDDING_PATH, faces=faces, bary=bary)
    print(f"wrote {EMBEDDING_PATH}")


if __name__ == "__main__":
    main()
