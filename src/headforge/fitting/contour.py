"""The fitted head's 68 iBUG points in the photo, the jaw on the face's silhouette.

Inner points (brows, nose, eyes, lips) are fixed surface points (the landmark embedding). The
jaw line is the face's outline: on a turned or tilted head annotators, and AFLW2000-3D's
fitted ground truth, put it on the silhouette, not on fixed vertices. Each side jaw point
(iBUG 0-5 and 11-16) therefore "marches": among the head's vertices on a horizontal slab
through its fixed point (head frame, same side, in front of the ear) it becomes the one that
projects furthest out from the face's midline, in the image, along the line through the
fixed point. The chin points (6-10) stay fixed.
"""
from __future__ import annotations

import numpy as np

# The iBUG 68 points as indices of mediapipe's 478-point mesh: jaw 0-16 (image left to right),
# brows 17-26, nose 27-35, eyes 36-47, outer lips 48-59, inner lips 60-67.
IBUG68 = np.array([
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,
    71, 63, 105, 66, 107, 336, 296, 334, 293, 301,
    168, 197, 5, 4, 75, 97, 2, 326, 305,
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,
    78, 82, 13, 312, 308, 317, 14, 87,
])
MARCHING = np.r_[0:6, 11:17]  # iBUG jaw points that follow the silhouette
SLAB_M = 0.004  # half height of the horizontal slab, metres
BEHIND_M = 0.035  # how far behind its fixed point a contour point may move, metres
OUTSIDE_M = 0.012  # and how much further out (|x|), metres: not onto the ear


def model_68(backend, fit, face) -> np.ndarray:
    """(68, 2) pixel points of ``fit`` (a :class:`headforge.backends.base.HeadFit` of ``backend``)."""
    faces, bary = backend.embedding
    verts = fit.posed
    fixed = np.einsum("nk,nkc->nc", bary[IBUG68], verts[fit.mesh.faces[faces[IBUG68]]])
    points = fit.camera.project(fixed)
    return march_jaw(points, fixed, verts, fit.camera)


def march_jaw(points: np.ndarray, fixed: np.ndarray, vertices: np.ndarray, camera) -> np.ndarray:
    """(68, 2) ``points`` with the side jaw points moved onto the silhouette of the (V, 3) head
    ``vertices`` (head frame, metres) seen by ``camera``; ``fixed`` (68, 3) are the points'
    surface positions."""
    out = points.copy()
    mid = camera.project(fixed[[27, 30, 33, 8]])  # nose bridge, tip, base and chin: the midline
    for i in MARCHING:
        p = fixed[i]
        side = np.sign(p[0])
        cand = ((np.abs(vertices[:, 1] - p[1]) < SLAB_M) & (np.sign(vertices[:, 0]) == side)
                & (vertices[:, 2] > p[2] - BEHIND_M) & (np.abs(vertices[:, 0]) < abs(p[0]) + OUTSIDE_M))
        if cand.sum() < 3:
            continue
        uv = camera.project(vertices[cand])
        # Outward: away from the nearest midline point, in the image.
        centre = mid[np.argmin(np.linalg.norm(mid - points[i], axis=1))]
        direction = points[i] - centre
        norm = np.linalg.norm(direction)
        if norm < 1e-6:
            continue
        direction /= norm
        reach = (uv - centre) @ direction
        best = int(np.argmax(reach))
        if reach[best] > (points[i] - centre) @ direction:
            out[i] = uv[best]
    return out
