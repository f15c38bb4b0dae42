"""The scalp under the hair, painted in the hair's colour.

Strands are thin lines; between them a real head shows more hair, not skin. Texels of the
faces under the hair (every corner within ``SCALP_REACH`` of a root) take the hair's root
colour, with a soft edge, as game avatars paint a hair cap: the scalp no longer shows through
at the crown or a parting, and a buzz cut reads as hair.
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import cKDTree

SCALP_REACH = 0.012  # metres: a vertex this close to a root is under the hair
ROOT_SHADE = 0.6  # the painted colour: the hair's base colour this much darker (roots, shadow)
OPACITY = 0.9  # the paint's opacity inside the painted faces
EDGE = 1 / 256  # the soft edge's Gaussian sigma, as a fraction of the texture's side


def paint_scalp(albedo: np.ndarray, vertices: np.ndarray, faces: np.ndarray, uvs: np.ndarray,
                face_uvs: np.ndarray, roots: np.ndarray, color) -> np.ndarray:
    """(S, S, 3) uint8 copy of ``albedo`` with the faces under the hair painted.

    vertices: (V, 3) head (metres, same frame as ``roots``); faces, face_uvs: (F, 3) int;
    uvs: (T, 2) texture coordinates (OBJ convention: v up); roots: (N, 3) strand roots;
    color: (3,) sRGB base colour of the hair."""
    if not len(roots):
        return albedo
    distance, _ = cKDTree(np.asarray(roots, np.float64)).query(np.asarray(vertices, np.float64),
                                                              distance_upper_bound=SCALP_REACH)
    under = np.isfinite(distance)[np.asarray(faces)].all(1)
    if not under.any():
        return albedo
    size = albedo.shape[0]
    # Texel centres as :func:`headforge.render.raster.rasterize_uv` puts them.
    corners = np.asarray(uvs, np.float64)[np.asarray(face_uvs)[under]] * [size, -size] + [-0.5, size - 0.5]
    mask = np.zeros(albedo.shape[:2], np.float32)
    cv2.fillPoly(mask, list(np.round(corners * 16).astype(np.int32)), 1.0, lineType=cv2.LINE_AA, shift=4)
    alpha = (cv2.GaussianBlur(mask, (0, 0), EDGE * size) * OPACITY)[..., None]
    paint = np.asarray(color, np.float32) * ROOT_SHADE
    return np.clip(albedo * (1 - alpha) + paint * alpha + 0.5, 0, 255).astype(np.uint8)


def worn_albedo(avatar) -> np.ndarray:
    """(S, S, 3) uint8: the :class:`~headforge.core.avatar.Avatar`'s albedo as exported and
    shown, the scalp under its hair painted in the hair's color; ``avatar.albedo`` itself when
    it has no hair. Computed once per hair and albedo (cached on the avatar)."""
    if avatar.hair is None or not avatar.hair.count:
        return avatar.albedo
    hair, albedo, worn = avatar._worn
    if hair is not avatar.hair or albedo is not avatar.albedo:
        m = avatar.mesh
        worn = paint_scalp(avatar.albedo, m.vertices, m.faces, m.uvs, m.face_uvs, avatar.hair.strands[:, 0],
                           avatar.hair.color)
        avatar._worn = (avatar.hair, avatar.albedo, worn)
    return worn
