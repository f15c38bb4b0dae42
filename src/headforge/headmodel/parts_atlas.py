"""The texture of the head's parts (teeth, tongue, mouth cavity, eyes, bust): one painted atlas.

Atlas: (ATLAS_SIZE, ATLAS_SIZE, 3) uint8, row 0 at the top; texture coordinates follow OBJ
((0, 0) bottom-left, v up). Regions, as (u0, v0, u1, v1):

- ``TEETH``: u along the dental arch (0 = the person's right end, 1 = the left end), v from
  the gum (0) to the biting edge (1): enamel with darker gaps between teeth, gum at v < 0.18;
- ``TONGUE``: u across, v along the tongue: pink with a darker middle groove;
- ``CAVITY``: u from the lips (0) to the throat (1): mucosa darkening towards the back;
- ``EYE``: an azimuthal map of the eyeball seen from the front: the pupil at the centre, the
  iris (the photo's colour) to ``IRIS_RHO``, sclera out to the rim; a painted cornea highlight;
- ``BUST``: the bust seen from above, centred on the neck (u: x over ``BUST_SPAN_M``[0], v: z
  over ``BUST_SPAN_M``[1]): skin inside the neckline's ellipse, a plain fabric top outside,
  a darker hem between; steep walls (chest, arms) fall outside the ellipse, all fabric.

The photo's iris colour is read by :func:`iris_color` from mediapipe's iris landmarks.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

ATLAS_SIZE = 512
TEETH = (0.0, 0.5, 0.5, 1.0)
TONGUE = (0.5, 0.5, 1.0, 1.0)
CAVITY = (0.0, 0.25, 0.5, 0.5)
BUST = (0.0, 0.0, 0.5, 0.25)
BUST_SPAN_M = (0.6, 0.4)  # metres of x and z the BUST region spans, centred on the neck
NECKLINE_M = (0.08, 0.07, 0.065)  # the neckline ellipse: half width, reach to the front, to the back
HEM_M = 0.006
EYE = (0.5, 0.0, 1.0, 0.5)
# Eye map: radius in the EYE region (0..0.5 of its side) = 0.5 * (theta / pi) ** EYE_POWER,
# theta the angle from the gaze axis, so the front of the eye gets most texels.
EYE_POWER = 0.7
IRIS_HALF_ANGLE = np.radians(23.0)  # a 12 mm iris on the head model's 32 mm eyeball
PUPIL_HALF_ANGLE = np.radians(7.5)
IRIS_RHO = 0.5 * (IRIS_HALF_ANGLE / np.pi) ** EYE_POWER
PUPIL_RHO = 0.5 * (PUPIL_HALF_ANGLE / np.pi) ** EYE_POWER
DEFAULT_IRIS = np.array([92, 70, 52], np.uint8)  # brown, when the photo gives no iris
DEFAULT_SKIN = np.array([200, 160, 140], np.uint8)
DEFAULT_TOP = np.array([62, 74, 96], np.uint8)  # a plain navy cotton
ENAMEL = np.array([232, 226, 208])
GUM = np.array([196, 104, 110])
TONGUE_PINK = np.array([190, 96, 100])
MUCOSA = np.array([140, 52, 58])
SCLERA = np.array([232, 228, 222])
TEETH_PER_ROW = 14
# mediapipe 478-point iris landmarks: centre then four points on the iris rim, per eye.
IRIS_LANDMARKS = ((468, 469, 470, 471, 472), (473, 474, 475, 476, 477))


def region_uv(region: tuple[float, float, float, float], local: np.ndarray) -> np.ndarray:
    """(N, 2) atlas uvs of (N, 2) coordinates in [0, 1]^2 of ``region``."""
    u0, v0, u1, v1 = region
    local = np.clip(np.asarray(local, np.float64), 0.0, 1.0)
    return np.column_stack([u0 + (u1 - u0) * local[:, 0], v0 + (v1 - v0) * local[:, 1]]).astype(np.float32)


def bust_uv(points: np.ndarray, neck: np.ndarray) -> np.ndarray:
    """(N, 2) atlas uvs of (N, 3) bust points (head frame), ``neck`` (3,) the neck's centre."""
    d = np.asarray(points, np.float64) - neck
    return region_uv(BUST, np.column_stack([0.5 + d[:, 0] / BUST_SPAN_M[0], 0.5 + d[:, 2] / BUST_SPAN_M[1]]))


def eye_uv(theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """(N, 2) atlas uvs of eyeball points at ``theta`` (radians from the gaze axis) and
    ``phi`` (radians around it, 0 = the person's left, pi/2 = up)."""
    rho = 0.5 * (np.clip(theta, 0, np.pi) / np.pi) ** EYE_POWER
    return region_uv(EYE, np.column_stack([0.5 + rho * np.cos(phi), 0.5 + rho * np.sin(phi)]))


def _grid(region, size: int) -> tuple[slice, slice, np.ndarray, np.ndarray]:
    """Row and column slices of ``region`` in the image and its local (u, v) per texel."""
    u0, v0, u1, v1 = region
    rows = slice(int(round((1 - v1) * size)), int(round((1 - v0) * size)))
    cols = slice(int(round(u0 * size)), int(round(u1 * size)))
    h, w = rows.stop - rows.start, cols.stop - cols.start
    u = (np.arange(w) + 0.5) / w
    v = 1 - (np.arange(h) + 0.5) / h
    return rows, cols, *np.meshgrid(u, v)


def parts_atlas(iris: np.ndarray | None = None, skin: np.ndarray | None = None,
                top: np.ndarray | None = None, size: int = ATLAS_SIZE) -> np.ndarray:
    """(size, size, 3) uint8 atlas (read-only, shared: painted once per set of colours);
    ``iris``, ``skin``, ``top``: (3,) sRGB uint8 colours (None: the defaults)."""
    def key(color, default):
        return tuple(int(c) for c in (default if color is None else color))

    return _painted(key(iris, DEFAULT_IRIS), key(skin, DEFAULT_SKIN), key(top, DEFAULT_TOP), size)


@lru_cache(maxsize=16)
def _painted(iris: tuple, skin: tuple, top: tuple, size: int) -> np.ndarray:
    rng = np.random.default_rng(7)
    img = np.zeros((size, size, 3), np.float64)
    iris = np.asarray(iris, np.float64)

    rows, cols, u, v = _grid(TEETH, size)
    edge = np.abs(((u * TEETH_PER_ROW) % 1.0) - 0.5) * 2  # 1 at a gap between two teeth
    enamel = ENAMEL * (1 - 0.08 * (1 - v))[..., None] * (1 - 0.35 * edge ** 8)[..., None]
    gum = np.clip((0.18 - v) / 0.04, 0, 1)[..., None]
    img[rows, cols] = enamel * (1 - gum) + GUM * gum

    rows, cols, u, v = _grid(TONGUE, size)
    groove = np.exp(-((u - 0.5) / 0.06) ** 2) * (0.3 + 0.5 * v)
    bumps = 1 + 0.06 * rng.standard_normal(u.shape)
    img[rows, cols] = TONGUE_PINK * ((1 - 0.25 * groove) * bumps)[..., None]

    rows, cols, u, v = _grid(CAVITY, size)
    img[rows, cols] = MUCOSA * (1 - 0.8 * u)[..., None]

    rows, cols, u, v = _grid(BUST, size)
    x, z = (u - 0.5) * BUST_SPAN_M[0], (v - 0.5) * BUST_SPAN_M[1]
    half_width, front, back = NECKLINE_M
    r = np.hypot(x / half_width, z / np.where(z > 0, front, back))  # 1 on the neckline
    fabric = np.asarray(top, np.float64)
    hem = np.clip(1 - np.abs(r - 1 - HEM_M / half_width) * half_width / HEM_M, 0, 1)[..., None]
    cloth = fabric * (1 - 0.3 * hem) * (1 + 0.03 * rng.standard_normal(u.shape))[..., None]
    img[rows, cols] = np.where((r < 1)[..., None], np.asarray(skin, np.float64), cloth)

    rows, cols, u, v = _grid(EYE, size)
    dx, dy = u - 0.5, v - 0.5
    rho = np.hypot(dx, dy)
    fibres = 1 + 0.18 * np.sin(np.arctan2(dy, dx) * 60 + 3 * rng.standard_normal(u.shape) * 0.1)
    t = np.clip((rho - PUPIL_RHO) / (IRIS_RHO - PUPIL_RHO), 0, 1)
    iris_px = iris * (0.75 + 0.45 * t)[..., None] * fibres[..., None]
    iris_px *= (1 - 0.55 * np.clip((rho - 0.85 * IRIS_RHO) / (0.15 * IRIS_RHO), 0, 1))[..., None]  # limbal ring
    sclera = SCLERA * (1 - 0.25 * np.clip((rho - 0.3) / 0.2, 0, 1))[..., None]  # shaded towards the back
    out = np.where((rho < PUPIL_RHO)[..., None], 12.0, np.where((rho < IRIS_RHO)[..., None], iris_px, sclera))
    glint = np.exp(-(np.hypot(dx + 0.35 * IRIS_RHO, dy - 0.35 * IRIS_RHO) / (0.12 * IRIS_RHO)) ** 2)
    img[rows, cols] = out * (1 - glint[..., None]) + 255 * glint[..., None]
    out = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    out.flags.writeable = False
    return out


def iris_color(photo: np.ndarray, landmarks: np.ndarray | None) -> np.ndarray | None:
    """(3,) uint8 sRGB median colour of both irises in the (H, W, 3) photo, from the (478, 2)
    pixel landmarks: pixels within the iris circle, outside the pupil, without highlights
    and eyelid shadow extremes. None without iris landmarks or with too few pixels."""
    if landmarks is None or len(landmarks) < 478:
        return None
    h, w = photo.shape[:2]
    samples = []
    for ids in IRIS_LANDMARKS:
        centre = landmarks[ids[0]]
        radius = float(np.mean(np.linalg.norm(landmarks[list(ids[1:])] - centre, axis=1)))
        if radius < 2:
            continue
        x0, x1 = int(max(centre[0] - radius, 0)), int(min(centre[0] + radius + 1, w))
        y0, y1 = int(max(centre[1] - radius, 0)), int(min(centre[1] + radius + 1, h))
        if x1 <= x0 or y1 <= y0:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1]
        r = np.hypot(xx - centre[0], yy - centre[1]) / radius
        pixels = photo[y0:y1, x0:x1][(r > 0.45) & (r < 0.9)].astype(np.float64)
        samples.append(pixels)
    if not samples:
        return None
    pixels = np.concatenate(samples)
    lum = pixels.mean(1)
    keep = (lum >= np.percentile(lum, 15)) & (lum <= np.percentile(lum, 85))
    if keep.sum() < 8:
        return None
    return np.clip(np.median(pixels[keep], axis=0), 0, 255).astype(np.uint8)
