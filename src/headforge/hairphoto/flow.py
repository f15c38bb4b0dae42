"""The photo's flow on the strands: where the camera sees a strand on the photo's hair, it is
combed along the photo's 2D orientation field (Chai et al. 2012's 2D strands, lifted onto the
fitted hair volume: each step keeps its length on screen and its change of depth, its
direction on screen turns towards the field's, by how clearly the photo shows one, unless
that turn would take it off the photo's hair). Hidden
parts (behind the head, off the hair) follow the combed part and ease back onto their own
path. Partings, swept fringes and the fall of long hair come from the photo, the hidden
rest from the style.
"""
from __future__ import annotations

import cv2
import numpy as np

from headforge.hairphoto.orientation import OrientationField
from headforge.core.camera import Camera
from headforge.render.mesh import Render

CLEAR = 0.3  # field confidence at which a direction counts as fully clear
SMOOTH = 1.0  # pixels (field resolution): the field's doubled vector is blurred this much
EASE = 0.3  # share of its drift a hidden point gives back per step
GAP = 0.002  # metres: combed points stay this far in front of the head


def smoothed(field: OrientationField) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) float32 angle in [0, pi) and (H, W) float32 clarity in [0, 1] of the field,
    its doubled vector blurred by ``SMOOTH`` pixels (clarity: the blurred vector's length)."""
    v = field.doubled()
    c = cv2.GaussianBlur(v[0], (0, 0), SMOOTH)
    s = cv2.GaussianBlur(v[1], (0, 0), SMOOTH)
    angle = np.mod(0.5 * np.arctan2(s, c), np.pi).astype(np.float32)
    return angle, np.hypot(c, s).astype(np.float32)


def comb_strands(strands: np.ndarray, camera: Camera, head: Render, field: OrientationField, mask: np.ndarray,
                 valid: np.ndarray, weight: float) -> np.ndarray:
    """(N, P, 3) ``strands`` (world frame of the crop ``camera``) combed along the
    orientation ``field`` (any size; square, as the crop) where the camera sees them in
    front of the ``head`` render on the (S, S) bool hair ``mask`` inside ``valid``, each
    step turned by ``weight`` (0..1) towards a clear field. Roots stay; ``weight`` 0 returns
    the strands unchanged."""
    strands = np.asarray(strands, np.float64)
    n, p = strands.shape[:2]
    if not n or weight <= 0:
        return strands
    angle, clarity = smoothed(field)
    to_field = angle.shape[0] / camera.width
    hair = mask & valid
    h, w = mask.shape
    local = camera.to_camera(strands.reshape(-1, 3)).reshape(n, p, 3)
    out = local.copy()
    f, c0 = camera.focal, np.array([camera.cx, camera.cy])
    for j in range(1, p):
        prev = out[:, j - 1]
        step = local[:, j] - local[:, j - 1]
        z_prev = np.maximum(prev[:, 2], 1e-6)
        uv = prev[:, :2] / z_prev[:, None] * f + c0
        nxt = prev + step
        z_next = np.maximum(nxt[:, 2], 1e-6)
        s2 = nxt[:, :2] / z_next[:, None] * f + c0 - uv
        xi = np.clip(np.rint(uv[:, 0]), 0, w - 1).astype(np.int64)
        yi = np.clip(np.rint(uv[:, 1]), 0, h - 1).astype(np.int64)
        seen = hair[yi, xi] & (prev[:, 2] <= head.depth[yi, xi] + 1e-3) & (np.abs(uv - np.rint(uv)) <= 0.5).all(1)
        fx = np.clip((uv[:, 0] * to_field).astype(np.int64), 0, angle.shape[1] - 1)
        fy = np.clip((uv[:, 1] * to_field).astype(np.int64), 0, angle.shape[0] - 1)
        a = angle[fy, fx]
        d = np.column_stack([np.cos(a), np.sin(a)])
        length = np.linalg.norm(s2, axis=1)
        unit = s2 / np.maximum(length, 1e-9)[:, None]
        d *= np.where((d * unit).sum(1) < 0, -1.0, 1.0)[:, None]
        k = weight * np.clip(clarity[fy, fx] / CLEAR, 0, 1) * seen
        turned = (1 - k)[:, None] * unit + k[:, None] * d
        turned /= np.maximum(np.linalg.norm(turned, axis=1), 1e-9)[:, None]
        target = uv + turned * length[:, None]
        # A turn that would leave the photo's hair is not taken.
        ox = np.clip(np.rint(target[:, 0]), 0, w - 1).astype(np.int64)
        oy = np.clip(np.rint(target[:, 1]), 0, h - 1).astype(np.int64)
        off = ~hair[oy, ox]
        target[off] = uv[off] + s2[off]
        combed = np.column_stack([(target - c0) / f * z_next[:, None], z_next])
        # In front of the head where it lands on it.
        tx = np.clip(np.rint(target[:, 0]), 0, w - 1).astype(np.int64)
        ty = np.clip(np.rint(target[:, 1]), 0, h - 1).astype(np.int64)
        limit = head.depth[ty, tx] - GAP
        behind = seen & head.mask[ty, tx] & (combed[:, 2] > limit) & np.isfinite(limit)
        combed[behind] *= (limit[behind] / combed[behind, 2])[:, None]
        drift = prev - local[:, j - 1]
        eased = local[:, j] + (1 - EASE) * drift
        out[:, j] = np.where(seen[:, None], combed, eased)
    moved = ((out.reshape(-1, 3) - camera.t) @ camera.R).reshape(n, p, 3)
    moved[:, 0] = strands[:, 0]
    return moved
