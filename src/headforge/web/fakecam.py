"""Video clips for Chromium's fake camera (``--use-file-for-fake-video-capture=clip.y4m``), made
from renders of an avatar, for the "Mirror me" browser test and benchmark.

The clip (:func:`mirror_clip`) plays, at ``fps`` frames per second, 640x480:

1. the mouth opening, held wide open, and closing (``jawOpen`` 0 -> 1 -> 0, face to the camera);
2. the head turning to its own right, held, and back (camera yaw 0 -> ``TURN_DEG`` -> 0);
3. a wink of the avatar's own left eye (``eyeBlinkLeft`` = 1);
4. two faces side by side;
5. no face (an empty backdrop).

Chromium loops the file. Frames are RGB uint8 (H, W, 3); the y4m is 4:2:0 (I420), BT.601.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from headforge.core.avatar import Avatar
from headforge.export.preview import avatar_view

WIDTH, HEIGHT = 640, 480
TURN_DEG = 30.0  # the head's furthest turn in the clip
PHASE_S = {"mouth": 3.0, "turn": 2.0, "wink": 1.0, "two_faces": 2.0, "no_face": 1.5}
BACKDROP = (236, 238, 241)
_LEVELS = 9  # distinct jaw openings and turns rendered (frames between reuse them)
_TOP = 1.6  # the bump 0 -> 1 -> 0 is min(1, _TOP sin^2): held at 1 for 43 % of its phase


@dataclass(frozen=True)
class Frame:
    """What one frame of the clip shows: the phase, the jaw opening (0..1), the turn (degrees:
    the camera moved to the avatar's left, so the face turns to its own right), the left wink."""

    phase: str
    jaw_open: float = 0.0
    turn_deg: float = 0.0
    wink_left: float = 0.0


def clip_script(fps: float) -> list[Frame]:
    """The frames of :func:`mirror_clip` in order; quantised to ``_LEVELS`` steps so that few
    distinct renders are needed. The peaks are held (a tracker on a slow machine, a few frames
    a second, still sees the whole jaw drop and turn)."""
    frames = []
    for phase, seconds in PHASE_S.items():
        n = int(round(seconds * fps))
        for k in range(n):
            bump = round(min(1.0, _TOP * np.sin(np.pi * k / n) ** 2) * (_LEVELS - 1)) / (_LEVELS - 1)
            frames.append(Frame(phase, jaw_open=bump if phase == "mouth" else 0.0,
                                turn_deg=bump * TURN_DEG if phase == "turn" else 0.0,
                                wink_left=1.0 if phase == "wink" else 0.0))
    return frames


def held(poses: list[Frame], hold_s: float, fps: float) -> list[Frame]:
    """Each of ``poses`` held still for ``hold_s`` seconds (for screenshots of a settled mirror)."""
    return [pose for pose in poses for _ in range(int(round(hold_s * fps)))]


def mirror_clip(avatar: Avatar, fps: float = 15.0) -> tuple[list[np.ndarray], list[Frame]]:
    """The clip's (HEIGHT, WIDTH, 3) uint8 frames and what each shows, rendered from ``avatar``."""
    script = clip_script(fps)
    return render_clip(avatar, script), script


def render_clip(avatar: Avatar, script: list[Frame]) -> list[np.ndarray]:
    """(HEIGHT, WIDTH, 3) uint8 frames showing ``script`` on ``avatar`` (its expression is set
    per frame and restored)."""
    names = list(avatar.mesh.morph_names)
    saved = avatar.expression
    cache: dict[tuple, np.ndarray] = {}

    def render(frame: Frame, size: int) -> np.ndarray:
        key = (frame.jaw_open, frame.turn_deg, frame.wink_left, size)
        if key not in cache:
            weights = np.zeros(len(names), np.float32)
            weights[names.index("jawOpen")] = frame.jaw_open
            weights[names.index("eyeBlinkLeft")] = frame.wink_left
            avatar.expression = weights
            cache[key] = avatar_view(avatar, frame.turn_deg, size=size)
        return cache[key]

    try:
        images = []
        for frame in script:
            canvas = np.empty((HEIGHT, WIDTH, 3), np.uint8)
            canvas[:] = BACKDROP
            if frame.phase == "two_faces":
                face = render(frame, WIDTH // 2)
                top = (HEIGHT - face.shape[0]) // 2
                canvas[top:top + face.shape[0], :WIDTH // 2] = face
                canvas[top:top + face.shape[0], WIDTH // 2:] = face
            elif frame.phase != "no_face":
                face = render(frame, HEIGHT)
                left = (WIDTH - HEIGHT) // 2
                canvas[:, left:left + HEIGHT] = face
            images.append(canvas)
    finally:
        avatar.expression = saved
    return images


def write_y4m(frames: list[np.ndarray], path: str | Path, fps: float) -> Path:
    """Write RGB uint8 (H, W, 3) frames (H, W even) as a 4:2:0 YUV4MPEG2 file at ``fps``."""
    path = Path(path)
    height, width = frames[0].shape[:2]
    if height % 2 or width % 2:
        raise ValueError(f"frames must have an even size, not {width}x{height}")
    num, den = (int(round(fps * 1000)), 1000)
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{num}:{den} Ip A1:1 C420jpeg\n".encode())
        for rgb in frames:
            if rgb.shape != (height, width, 3) or rgb.dtype != np.uint8:
                raise ValueError("every frame must be uint8 RGB of the first frame's size")
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path
