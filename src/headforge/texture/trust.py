"""Where the photo can be trusted to show the face's skin: the face oval, feathered."""
from __future__ import annotations

import cv2
import numpy as np

# The face-oval ring of mediapipe's 478-point mesh (forehead, temples, jaw line, chin).
FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]


def face_trust_mask(landmarks: np.ndarray, shape: tuple[int, int], feather: float = 0.04) -> np.ndarray:
    """(H, W) float32 in [0, 1]: 1 inside the face oval of ``landmarks`` (478, 2) pixels, falling
    to 0 over ``feather`` x the face size at its border (so no background reaches the skin)."""
    h, w = shape
    oval = landmarks[FACE_OVAL].astype(np.float32)
    size = float(np.ptp(oval, axis=0).max())
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round(oval).astype(np.int32)], 255)
    inside = cv2.distanceTransform(mask, cv2.DIST_L2, 5)
    return np.clip(inside / max(feather * size, 1.0), 0, 1).astype(np.float32)
