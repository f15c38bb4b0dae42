"""The face-aligned crop that every hair-from-photo stage works in.

A similarity (rotation, uniform scale, shift) of the photo puts the eyes level, ``EYE_GAP``
of the crop's side apart, their midpoint at ``EYE_CENTRE`` (fractions of the side). With
these numbers a 256 px crop spans about 0.5 m: the head, long hair down to the chest and the
shoulders. A camera composed with the same similarity renders straight into the crop.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from headforge.core.camera import Camera

CROP = 256
BORDER = (128, 128, 128)  # what the crop shows outside the photo (photos and renders alike)
EYE_GAP = 0.125  # distance between the eye centres, as a fraction of the crop side
EYE_CENTRE = (0.5, 0.32)  # eye midpoint (x, y), fractions of the crop side
RIGHT_EYE = (33, 133)  # mediapipe corner landmarks of the eye on the image's left
LEFT_EYE = (362, 263)


@dataclass(frozen=True)
class Alignment:
    """Photo pixels -> crop pixels: ``crop = scale * rot(angle) @ photo + shift``.

    matrix: (2, 3) float64 affine of that map; size: crop side in pixels."""

    matrix: np.ndarray
    size: int

    @property
    def scale(self) -> float:
        return float(np.hypot(*self.matrix[:, 0]))

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """(N, 2) photo pixels -> (N, 2) crop pixels."""
        return np.asarray(points, np.float64) @ self.matrix[:, :2].T + self.matrix[:, 2]

    def warp(self, image: np.ndarray, interpolation: int = cv2.INTER_LINEAR, border: int = 0) -> np.ndarray:
        """``image`` (H, W[, C]) resampled into the (size, size[, C]) crop; outside: ``border``.
        A photo much larger than the crop is area-averaged first (no aliasing)."""
        matrix = self.matrix
        shrink = int(1 / max(self.scale, 1e-9))
        if shrink >= 2 and image.dtype != bool:
            h, w = image.shape[:2]
            image = cv2.resize(image, (max(1, w // shrink), max(1, h // shrink)), interpolation=cv2.INTER_AREA)
            matrix = matrix @ np.diag([w / image.shape[1], h / image.shape[0], 1.0])
        return cv2.warpAffine(image, matrix, (self.size, self.size), flags=interpolation,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=border)

    def photo_box(self, shape: tuple[int, int]) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1): the part of a photo of ``shape`` (H, W) that the crop shows,
        clipped to the photo (x1, y1 exclusive)."""
        inverse = cv2.invertAffineTransform(self.matrix)
        corners = np.array([[0, 0], [1, 0], [0, 1], [1, 1]], np.float64) * (self.size - 1)
        photo = corners @ inverse[:, :2].T + inverse[:, 2]
        (x0, y0), (x1, y1) = np.floor(photo.min(0)), np.ceil(photo.max(0)) + 1
        h, w = shape[:2]
        return int(max(x0, 0)), int(max(y0, 0)), int(min(max(x1, 1), w)), int(min(max(y1, 1), h))

    def shifted(self, x0: float, y0: float) -> "Alignment":
        """The same crop of the sub-image whose top-left pixel is photo pixel (x0, y0)."""
        matrix = self.matrix.copy()
        matrix[:, 2] += matrix[:, :2] @ np.array([x0, y0], np.float64)
        return Alignment(matrix, self.size)

    def valid(self, shape: tuple[int, int]) -> np.ndarray:
        """(size, size) bool: crop pixels that fall inside a photo of ``shape`` (H, W)."""
        ones = np.ones(shape[:2], np.uint8)
        return cv2.warpAffine(ones, self.matrix, (self.size, self.size), flags=cv2.INTER_NEAREST,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0) > 0

    def camera(self, camera: Camera) -> Camera:
        """The photo's ``camera`` seen through this map: renders straight into the crop."""
        a = self.matrix[:, :2] / self.scale  # in-plane rotation of the image
        rz = np.eye(3)
        rz[:2, :2] = a
        centre = self.to_crop(np.array([[camera.cx, camera.cy]]))[0]
        return Camera(self.size, self.size, camera.focal * self.scale, float(centre[0]), float(centre[1]),
                      rz @ camera.R, rz @ camera.t)


def eye_centres(landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The image-left and image-right eye centres (2,) from (478, 2+) landmarks."""
    pts = np.asarray(landmarks, np.float64)[:, :2]
    return pts[list(RIGHT_EYE)].mean(0), pts[list(LEFT_EYE)].mean(0)


def align_eyes(left: np.ndarray, right: np.ndarray, size: int = CROP) -> Alignment:
    """The alignment that puts the image-left eye centre ``left`` (2,) and ``right`` (2,)
    (photo pixels) at their canonical crop positions."""
    target_gap = EYE_GAP * size
    d = np.asarray(right, np.float64) - np.asarray(left, np.float64)
    scale = target_gap / max(float(np.hypot(*d)), 1e-9)
    angle = -np.arctan2(d[1], d[0])
    c, s = scale * np.cos(angle), scale * np.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    mid = (np.asarray(left, np.float64) + np.asarray(right, np.float64)) / 2
    shift = np.array(EYE_CENTRE) * size - rot @ mid
    return Alignment(np.column_stack([rot, shift]), size)


def align_face(landmarks: np.ndarray, size: int = CROP) -> Alignment:
    """The crop of a photo with (478, 2+) mediapipe landmarks."""
    return align_eyes(*eye_centres(landmarks), size)
