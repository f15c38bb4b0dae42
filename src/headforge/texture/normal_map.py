"""Tangent-space normal map with detail finer than the mesh, from the photo's own shading.

The high-pass of the unwrapped skin's luminance (pores, wrinkles, brows, lip lines) is read as a
height field in millimetres and turned into normals in the texture's tangent frame
(x = +u, y = +v, z = out of the surface), where the photo was observed; elsewhere the map is
flat. Encoded the glTF/OpenGL way: rgb = (n + 1) / 2 * 255.
"""
from __future__ import annotations

import cv2
import numpy as np

DETAIL_SIGMA_FRACTION = 1 / 200  # high-pass cut-off, as a fraction of the texture size
HEIGHT_MM_PER_LEVEL = 0.02  # millimetres of height per grey level of high-pass luminance
TEXEL_MM_AT_1024 = 0.45  # rough size of a face texel of a 1024 map on the skin, in millimetres


def detail_normal_map(albedo: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 normal map from the (S, S, 3) uint8 albedo and its (S, S) observed
    weight in [0, 1]."""
    size = albedo.shape[0]
    lum = cv2.cvtColor(albedo, cv2.COLOR_RGB2GRAY).astype(np.float32)
    sigma = max(1.0, size * DETAIL_SIGMA_FRACTION)
    detail = lum - cv2.GaussianBlur(lum, (0, 0), sigma)
    height_mm = np.clip(detail, -40, 40) * HEIGHT_MM_PER_LEVEL * cv2.GaussianBlur(observed, (0, 0), sigma)
    texel_mm = TEXEL_MM_AT_1024 * 1024 / size
    # Rows grow downwards while v grows upwards: d/dv = -d/drow.
    dh_du = cv2.Sobel(height_mm, cv2.CV_32F, 1, 0, ksize=3) / (8 * texel_mm)
    dh_dv = -cv2.Sobel(height_mm, cv2.CV_32F, 0, 1, ksize=3) / (8 * texel_mm)
    n = np.stack([-dh_du, -dh_dv, np.ones_like(dh_du)], -1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    return np.clip((n + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)
