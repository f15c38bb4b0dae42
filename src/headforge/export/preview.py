"""``preview.png``: the input crop beside renders of the avatar (front, three-quarter, profile),
its hair drawn as the GLB's hair cards (the web budget) are."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from headforge.core.avatar import Avatar
from headforge.hair.cards import BUDGETS, DEFAULT_BUDGET, HairCards, cached_cards, strand_texture
from headforge.headmodel.fitted_parts import scene
from headforge.render import render_mesh
from headforge.core.camera import Camera
from headforge.render.cards import render_cards
from headforge.texture.scalp import worn_albedo

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


def avatar_view(avatar: Avatar, yaw_deg: float, size: int = PANEL, pitch_deg: float = 0.0,
                cards: HairCards | None = None) -> np.ndarray:
    """(size, size, 3) studio-lit render of the textured avatar with its expression, its
    parts (teeth, tongue, eyes, bust) and its hair, when it has some, as ``cards`` (built
    from it when None)."""
    cam = Camera.orbit(size, size, yaw_deg, pitch_deg, VIEW_DISTANCE, VIEW_FOV_DEG, VIEW_TARGET)
    s = scene(avatar, albedo=worn_albedo(avatar))
    head = render_mesh(s.vertices, s.faces, cam, uvs=s.uvs, face_uvs=s.face_uvs, texture=s.texture,
                       normal_map=s.normal_map)
    if avatar.hair is None or avatar.hair.count == 0:
        return head.image
    if cards is None:
        cards = avatar_cards(avatar)
    return render_cards(cards, strand_texture(), cam, base=head).image


def avatar_cards(avatar: Avatar) -> HairCards | None:
    """The hair cards of the avatar's GLB (default budget); None without hair."""
    if avatar.hair is None or avatar.hair.count == 0:
        return None
    return cached_cards(avatar.hair, BUDGETS[DEFAULT_BUDGET])


def avatar_views(avatar: Avatar) -> list[np.ndarray]:
    """The preview's avatar panels, one per ``VIEW_YAWS``, drawn two at a time (the
    renderer's numpy work releases the GIL); the hair cards are built beside the scalp paint."""
    with ThreadPoolExecutor(2, thread_name_prefix="headforge-preview") as pool:
        cards = pool.submit(avatar_cards, avatar)
        worn_albedo(avatar)  # cached on the avatar for the views
        cards = cards.result()
        return list(pool.map(lambda yaw: avatar_view(avatar, yaw, cards=cards), VIEW_YAWS))


def make_preview(photo: np.ndarray, landmarks: np.ndarray, avatar: Avatar) -> np.ndarray:
    """(PANEL, 4 * PANEL, 3) uint8: input crop | front | three-quarter | profile."""
    return np.concatenate([face_crop(photo, landmarks)] + avatar_views(avatar), axis=1)
