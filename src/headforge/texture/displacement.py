"""Tangent-space normal map from a displacement map in the texture's own UV layout (e.g. DECA's
detail network): the height field's slope, per metre of surface, becomes the normal's tilt.

Same tangent frame and encoding as :mod:`headforge.texture.normal_map` (x = +u, y = +v, z out of
the surface; rgb = (n + 1) / 2 * 255); texels off the UV islands are flat.
"""
from __future__ import annotations

import cv2
import numpy as np

from headforge.texture.unwrap import TexelMap


def surface_scale(vertices: np.ndarray, faces: np.ndarray, uvs: np.ndarray, face_uvs: np.ndarray) -> np.ndarray:
    """(F, 2) metres of surface per unit of u and of v on each face (|dP/du|, |dP/dv|)."""
    p = np.asarray(vertices, np.float64)[faces]
    t = np.asarray(uvs, np.float64)[face_uvs]
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    d1, d2 = t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]
    det = d1[:, 0] * d2[:, 1] - d2[:, 0] * d1[:, 1]
    det = np.where(np.abs(det) > 1e-12, det, np.inf)
    dp_du = (e1 * d2[:, 1:] - e2 * d1[:, 1:]) / det[:, None]
    dp_dv = (e2 * d1[:, :1] - e1 * d2[:, :1]) / det[:, None]
    return np.column_stack([np.linalg.norm(dp_du, axis=1), np.linalg.norm(dp_dv, axis=1)])


def displacement_normal_map(displacement: np.ndarray, texels: TexelMap, vertices: np.ndarray, faces: np.ndarray,
                            uvs: np.ndarray, face_uvs: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 normal map of an (H, W) float displacement map (metres along the normal,
    row 0 at v = 1), resampled to the texel map's size S; ``vertices`` (V, 3) give the scale."""
    size = texels.size
    height = cv2.resize(np.asarray(displacement, np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
    # Per unit of u (v): Sobel / 8 is the slope per texel, a texel is 1 / size.
    dh_du = cv2.Sobel(height, cv2.CV_32F, 1, 0, ksize=3) * (size / 8)
    dh_dv = -cv2.Sobel(height, cv2.CV_32F, 0, 1, ksize=3) * (size / 8)  # rows grow downwards
    scale = np.full((size, size, 2), np.inf, np.float32)
    scale[texels.rows, texels.cols] = surface_scale(vertices, faces, uvs, face_uvs)[texels.face]
    scale = np.maximum(scale, 1e-6)
    n = np.stack([-dh_du / scale[..., 0], -dh_dv / scale[..., 1], np.ones_like(dh_du)], -1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    return np.clip((n + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8)
