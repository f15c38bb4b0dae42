"""Derive MEDIAPIPE_IBUG68 (headforge/backends/flame_files.py): the mediapipe landmark that
matches each of the 68 iBUG points, which FLAME's own landmark embeddings use.

mediapipe and dlib's 68-point predictor (the benchmark's identity model, face_recognition_models)
run on the same portraits; for each iBUG point, the mediapipe landmark at the smallest mean
distance (in eye distances) wins. Left-right pairs of iBUG points are chosen together, so that
their mediapipe landmarks are mirror images on the default head.

    python scripts/make_mediapipe_ibug68.py PORTRAITS_DIR
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from headforge.bench.run import list_photos
from headforge.detection.landmarks import FaceDetector
from headforge.errors import HeadforgeError
from headforge.headmodel.anny_head import load_head_model
from headforge.headmodel.landmark_embedding import load_landmark_embedding
from headforge.io.image import load_photo
from headforge.core.geometry import interpolate

# iBUG points that are each other's mirror image (the rest lie on the mid-line).
MIRROR_PAIRS = (
    [(i, 16 - i) for i in range(8)] + [(17 + i, 26 - i) for i in range(5)] + [(31, 35), (32, 34)]
    + [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]
    + [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67)]
)  # fmt: skip
CANDIDATES = 15
MIRROR_COST = 5.0  # eye distances per metre of mirror mismatch on the default head


def distances(folder: Path) -> np.ndarray:
    """(photos, 68, 478) distance of each dlib point to each mediapipe landmark, in eye distances."""
    import dlib
    import face_recognition_models

    detector, finder = FaceDetector(), dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    out = []
    for path in list_photos(folder):
        try:
            rgb = load_photo(path).rgb
            mp = detector(rgb).points[:, :2]
        except HeadforgeError:
            continue
        boxes = finder(rgb, 1)
        if len(boxes) != 1:
            continue
        shape = predictor(rgb, boxes[0])
        ibug = np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], float)
        eyes = np.linalg.norm(ibug[36:42].mean(0) - ibug[42:48].mean(0))
        out.append(np.linalg.norm(ibug[:, None] - mp[None], axis=2) / eyes)
    return np.array(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("photos", type=Path, help="folder of portraits")
    args = ap.parse_args()
    cost = distances(args.photos).mean(0)  # (68, 478)
    head = load_head_model()
    faces, bary = load_landmark_embedding()
    points = interpolate(head.template, head.faces[faces], bary)
    flip = np.array([-1.0, 1.0, 1.0])
    table = cost.argmin(1)
    for a, b in MIRROR_PAIRS:
        ca, cb = np.argsort(cost[a])[:CANDIDATES], np.argsort(cost[b])[:CANDIDATES]
        pair = cost[a, ca][:, None] + cost[b, cb][None] + MIRROR_COST * np.linalg.norm(
            points[ca][:, None] - points[cb][None] * flip, axis=2)
        i, j = np.unravel_index(pair.argmin(), pair.shape)
        table[a], table[b] = ca[i], cb[j]
    for k in sorted(set(range(68)) - {p for pair in MIRROR_PAIRS for p in pair}):
        cand = np.argsort(cost[k])[:CANDIDATES]
        table[k] = cand[np.argmin(cost[k, cand] + MIRROR_COST * np.abs(points[cand, 0]))]
    print("MEDIAPIPE_IBUG68 =", table.tolist())
    print("mean distance per point (eye distances):", np.round(cost[np.arange(68), table], 3).tolist())


if __name__ == "__main__":
    main()
