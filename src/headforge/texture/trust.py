"""Where the photo can be trusted to show the face's own skin.

Inside the face oval (feathered at its border, so no background reaches the skin) and either
on a facial feature (eyes and brows, lips, nostrils) or close to the skin colour sampled on the
cheeks and nose: hair over the forehead, shadows under the jaw and background at the oval's
edge are left to the fill.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# The face-oval ring of mediapipe's 478-point mesh (forehead, temples, jaw line, chin).
FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400,
             377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]
# Eye + brow, lips and nostril groups: each group's hull is always trusted (dark or red on
# purpose); elsewhere the colour must look like skin.
FEATURES = [
    [33, 160, 158, 133, 153, 144, 70, 63, 105, 66, 107, 55, 65, 52, 53, 46],
    [362, 385, 387, 263, 373, 380, 336, 296, 334, 293, 300, 276, 283, 282, 295, 285],
    [61, 291, 0, 17, 37, 267, 84, 314, 40, 270, 91, 321],
    [98, 327, 2, 64, 294, 4],
]
# The inner lip contour (upper lip left to right, then lower lip right to left): the mouth's
# opening, where the photo shows teeth, tongue or the dark inside, never lip or skin.
MOUTH_OPENING = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95]
MOUTH_MARGIN = 0.012  # of the face size: the opening is widened by this, teeth edges included
# Cheeks and the nose bridge: where the skin colour is sampled.
SKIN_SAMPLES = [50, 280, 101, 330, 118, 347, 6, 197, 195]
SKIN_SAMPLE_RADIUS = 0.035  # of the face size
FEATHER = 0.06  # of the face size
STRICT = 1.5  # skin-colour tolerance where head hair tends to fall
LENIENT = 4.0  # and on the central and lower face


def hair_territory(landmarks: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) in [0, 1]: where head hair tends to cover the face. 1 above the brows and, down
    to the nose, outside the outer eye corners; 0 on the central face and below the nose
    (where beards and stubble belong to the face). Measured along the face's own axes, so a
    tilted head is handled."""
    h, w = shape
    up = landmarks[10] - landmarks[152]
    up /= np.linalg.norm(up) + 1e-9
    right = np.array([-up[1], up[0]])
    eyes = landmarks[[33, 263]].mean(0)
    half_width = max(float(abs((landmarks[263] - landmarks[33]) @ right)) / 2, 1.0)
    brow_span = max(float((landmarks[[105, 334]].mean(0) - eyes) @ up), 1.0)
    nose = float((landmarks[2] - eyes) @ up) / brow_span
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = xs - eyes[0], ys - eyes[1]
    height = (dx * up[0] + dy * up[1]) / brow_span
    side = np.abs(dx * right[0] + dy * right[1]) / half_width
    above_brows = np.clip(height, 0, 1)
    outer = np.clip((side - 1.0) / 0.25, 0, 1) * np.clip((height - nose) / 0.5, 0, 1)
    return np.maximum(above_brows, outer)


def skin_likelihood(lab: np.ndarray, samples: np.ndarray, tolerance: float = 1.0) -> np.ndarray:
    """(H, W) in [0, 1]: how close each Lab pixel (L/100, a/128, b/128) is to the (N, 3) Lab
    skin samples (robust: median and MAD), ``tolerance`` times more forgiving than by default.
    Darker than the skin (hair, shadow) is penalised three times more than brighter (a lit or
    over-exposed cheek is still skin)."""
    med = np.median(samples, axis=0)
    mad = np.median(np.abs(samples - med), axis=0) * 1.4826
    scale = 3 * tolerance * np.maximum(mad * np.array([1.5, 1.0, 1.0]), np.array([0.08, 0.02, 0.02]))
    d = (lab - med) / scale
    d[..., 0] /= np.where(d[..., 0] > 0, 3.0, 1.0)
    return np.exp(-(d**2).sum(-1)).astype(np.float32)


@dataclass
class FaceMaps:
    """(H, W) float32 maps in [0, 1] of one photo: ``trust``, where it shows the face's own
    skin or features; ``features``, the eye + brow, lip and nostril areas (dark or red on
    purpose, never taken for occluders); ``hair``, where head hair tends to cover the face
    (:func:`hair_territory`)."""

    trust: np.ndarray
    features: np.ndarray
    hair: np.ndarray


def face_maps(landmarks: np.ndarray, photo: np.ndarray) -> FaceMaps:
    """The maps of an (H, W, 3) uint8 photo and its (478, 2) pixel landmarks."""
    h, w = photo.shape[:2]
    oval = landmarks[FACE_OVAL].astype(np.float32)
    size = float(np.ptp(oval, axis=0).max())
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [np.round(oval).astype(np.int32)], 255)
    inside = np.clip(cv2.distanceTransform(mask, cv2.DIST_L2, 5) / max(FEATHER * size, 1.0), 0, 1)

    inner = np.zeros((h, w), np.uint8)
    for group in FEATURES:
        cv2.fillConvexPoly(inner, cv2.convexHull(np.round(landmarks[group]).astype(np.int32)), 255)
    features = cv2.GaussianBlur(inner.astype(np.float32) / 255, (0, 0), max(1.0, 0.02 * size))
    lab = cv2.cvtColor(photo.astype(np.float32) / 255, cv2.COLOR_RGB2Lab) / np.array([100, 128, 128], np.float32)
    disc = np.zeros((h, w), np.uint8)
    radius = max(2, int(SKIN_SAMPLE_RADIUS * size))
    for x, y in landmarks[SKIN_SAMPLES]:
        cv2.circle(disc, (int(round(x)), int(round(y))), radius, 255, -1)
    samples = lab[disc > 0]
    # Strict where head hair tends to fall, lenient on the central and lower face (beards,
    # stubble, lips and shadows are the person's own and stay).
    strict = skin_likelihood(lab, samples, tolerance=STRICT)
    lenient = skin_likelihood(lab, samples, tolerance=LENIENT)
    hair = hair_territory(landmarks, (h, w)).astype(np.float32)
    skin = np.maximum(strict * hair + lenient * (1 - hair), features)
    opening = 1 - mouth_opening(landmarks, (h, w), size)  # the photo's teeth never become lip texels
    return FaceMaps((inside * skin * opening).astype(np.float32), features.astype(np.float32), hair)


def mouth_opening(landmarks: np.ndarray, shape: tuple[int, int], face_size: float) -> np.ndarray:
    """(H, W) float32 in [0, 1]: 1 inside the mouth's opening (the inner lip contour, widened by
    ``MOUTH_MARGIN`` of the face size), so teeth in the photo never become lip texels; all 0
    for closed lips."""
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(landmarks[MOUTH_OPENING]).astype(np.int32)], 255)
    if not mask.any():
        return mask.astype(np.float32)
    grow = max(1, int(round(MOUTH_MARGIN * face_size)))
    mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1)))
    return mask.astype(np.float32) / 255
