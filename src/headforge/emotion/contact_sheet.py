"""The emotion contact sheet: one avatar at intensity 1.0 of each emotion, beside neutral
(``scripts/emotion_contact_sheet.py`` writes docs/emotions.png). Each panel is a front render
framed on the face.
"""
from __future__ import annotations

import cv2
import numpy as np

from headforge.core.avatar import Avatar
from headforge.emotion.apply import with_emotions
from headforge.emotion.mapping import EMOTIONS
from headforge.headmodel.fitted_parts import scene
from headforge.render import render_mesh
from headforge.core.camera import Camera

PANEL = 360
COLUMNS = 4
FACE_TARGET = np.array([0.0, -0.04, 0.05])  # metres, head frame: the nose, mid-face
FACE_DISTANCE = 0.5
FACE_FOV_DEG = 20.0
LABEL_HEIGHT = 36


def face_view(avatar: Avatar, size: int = PANEL, distance: float = FACE_DISTANCE) -> np.ndarray:
    """(size, size, 3) uint8 studio-lit front render of the avatar with its expression, framed
    on the face from ``distance`` metres."""
    cam = Camera.orbit(size, size, 0.0, 0.0, distance, FACE_FOV_DEG, FACE_TARGET)
    s = scene(avatar, albedo=avatar.albedo)
    return render_mesh(s.vertices, s.faces, cam, uvs=s.uvs, face_uvs=s.face_uvs, texture=s.texture,
                       normal_map=s.normal_map).image


def emotion_renders(avatar: Avatar, intensity: float = 1.0, size: int = PANEL,
                    distance: float = FACE_DISTANCE) -> dict[str, np.ndarray]:
    """{"neutral" and each emotion: (size, size, 3) uint8 face render}; emotions applied to a
    neutral starting face at ``intensity``."""
    renders = {"neutral": face_view(with_emotions(avatar, {}, keep_expression=False), size, distance)}
    for name in EMOTIONS:
        avatar_e = with_emotions(avatar, {name: intensity}, keep_expression=False)
        renders[name] = face_view(avatar_e, size, distance)
    return renders


def contact_sheet(renders: dict[str, np.ndarray], columns: int = COLUMNS) -> np.ndarray:
    """(rows * (S + LABEL_HEIGHT), columns * S, 3) uint8: labelled panels, row by row."""
    panels = []
    for name, image in renders.items():
        label = np.full((LABEL_HEIGHT, image.shape[1], 3), 255, np.uint8)
        cv2.putText(label, name, (10, LABEL_HEIGHT - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2, cv2.LINE_AA)
        panels.append(np.concatenate([label, image], axis=0))
    panels += [np.full_like(panels[0], 255)] * (-len(panels) % columns)
    rows = [np.concatenate(panels[i:i + columns], axis=1) for i in range(0, len(panels), columns)]
    return np.concatenate(rows, axis=0)
