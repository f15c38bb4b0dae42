"""Where mediapipe's 478 face-mesh landmarks lie on the default head's surface.

The file ``data/anny_mediapipe478.npz`` holds, per landmark, a triangle index into the head
model's faces and barycentric coordinates. ``scripts/make_landmark_embedding.py`` regenerates
it from the head model itself (render, detect, back-project).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from headforge.errors import ModelError

EMBEDDING_PATH = Path(__file__).parent / "data" / "anny_mediapipe478.npz"


def load_landmark_embedding(path: Path = EMBEDDING_PATH) -> tuple[np.ndarray, np.ndarray]:
    """(faces (478,) int32, bary (478, 3) float32)."""
    try:
        with np.load(path) as z:
            return z["faces"].astype(np.int32), z["bary"].astype(np.float32)
    except (OSError, KeyError) as e:
        raise ModelError(f"landmark embedding {path} is missing or unreadable: {e}") from e
