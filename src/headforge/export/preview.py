"""``preview.png``: the input crop beside renders of the avatar (front, three-quarter, profile)."""
from __future__ import annotations

import cv2
import numpy as np

from headforge.avatar import Avatar
from headforge.headmodel.fitted_parts import scene
from headforge.render import render_mesh, render_strands
from headforge.render.camera import Camera

PANEL = 320
VIEW_YAWS = (0.0, 40.0, 90.0)
VIEW_TARGET = np.array([0.0, -0.03, 0.0])  # metres, head frame: a little below the eyes
VIEW_DISTANCE = 0.75
VIEW_FOV_DEG = 20.0


def face_crop(photo: np.ndarray, landmarks: np.ndarray, size: int = PANEL, margin: float = 1.7) -> np.ndarray:
    """(size, size, 3) square crop of ``photo`` around the (N, 2) pixel landmarks."""
    lo, hi = landmarks.min(0), landmarks.max(0)
    centre, side = (lo + hi) / 2, margin * float((hi - lo).max())
    s = side / size
    m = np.array([[1 / s, 0, -(centre[0] - side / 2) / s], [0, 1 / s, -(centre[1] - side / 2) / s]])
    return cv2.warpAffine(photo, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=(255, 255, 255))


def avatar_view(avatar: Avatar, yaw_deg: float, size: int = PANEL, pitch_deg: float = 0.0) -> np.ndarray:
    """(size, size, 3) studio-lit render of the textured avatar with its expression, its
    parts (teeth, tongue, eyes, bust) and its hair, when it has some."""
    cam = Camera.orbit(size, size, yaw_deg, pitch_deg, VIEW_DISTANCE, VIEW_FOV_DEG, VIEW_TARGET)
    s = scene(avatar)
    head = render_mesh(s.vertices, s.faces, cam, uvs=s.uvs, face_uvs=s.face_uvs, texture=s.texture,
                       normal_map=s.normal_map)
    if avatar.hair is None or avatar.hair.count == 0:
        return head.image
    return render_strands(avatar.hair.strands, cam, colors=avatar.hair.colors, base=head).image


def make_preview(photo: np.ndarray, landmarks: np.ndarray, avatar: Avatar) -> np.ndarray:
    """(PANEL, 4 * PANEL, 3) uint8: input crop | front | three-quarter | profile."""
    panels = [face_crop(photo, landmarks)] + [avatar_view(avatar, yaw) for yaw in VIEW_YAWS]
    return np.concatenate(panels, axis=1)
