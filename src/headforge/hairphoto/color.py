"""Hair colour from the photo: one base colour for the style, and a colour for every strand
the camera sees on the photo's hair.

A strand's colour is the median, over its points seen on the photo's hair (in front of the
head, inside the mask shrunk by two pixels), of the photo's colour there divided by the light
the strand renderer puts on that point (Kajiya-Kay for its direction on screen, darker
towards the root: :func:`headforge.render.strands.render_strands`'s studio light), so the
avatar rendered in the input view gives the photo's colours back: grey stays grey, streaks,
highlights and darker or lighter parts stay where they are, within ``RANGE`` of the base
colour. Strands the camera does not see take the mean of the base colour and the median
colour of their nearest seen strands (by root), with their own variation: the lit top of a
head seen in the photo does not light the back.
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import cKDTree

from headforge.render import shading
from headforge.core.camera import Camera
from headforge.core.geometry import unit
from headforge.render.mesh import Render

NEAREST = 16  # seen strands an unseen strand takes its colour from (their median)
MIN_SEEN = 2  # points a strand needs on the photo's hair to count as seen
MIN_LIGHT = 0.35  # the render's light is not divided out below this
# A strand's colour stays within these factors of the base colour (per channel, of colour + 6):
# streaks and highlights pass, the background a mask's edge lets in does not.
RANGE = (0.5, 2.0)


def hair_color(crop: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
    """(3,) uint8 sRGB base colour of the hair: the per-channel median of the (S, S, 3)
    ``crop`` over the ``mask`` shrunk away from its border, highlights (top tenth of the
    lightness) and deep shadows (bottom tenth) left out. None when too little hair shows."""
    inner = cv2.erode(mask.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    if inner.sum() < 30:
        inner = mask
    if inner.sum() < 10:
        return None
    pixels = crop[inner].astype(np.float64)
    light = pixels.mean(1)
    lo, hi = np.quantile(light, [0.1, 0.9])
    keep = (light >= lo) & (light <= hi)
    return np.median(pixels[keep] if keep.sum() >= 10 else pixels, axis=0).round().astype(np.uint8)


def render_light(local: np.ndarray) -> np.ndarray:
    """(N, P) float32 the studio light's factor on each point of (N, P, 3) camera-frame
    strands: Kajiya-Kay for the point's segment direction times the root darkening."""
    n, p = local.shape[:2]
    d = np.diff(local, axis=1)
    d = np.concatenate([d, d[:, -1:]], axis=1).reshape(-1, 3)
    tangent = unit(d.astype(np.float32))
    along = np.linspace(0, 1, p, dtype=np.float32)[None]
    return shading.strand_light(tangent).reshape(n, p) * (0.6 + 0.4 * along)


def photo_strand_colors(strands: np.ndarray, root_points: np.ndarray, colors: np.ndarray, base: np.ndarray,
                        camera: Camera, head: Render, crop: np.ndarray, mask: np.ndarray,
                        valid: np.ndarray) -> tuple[np.ndarray, float]:
    """(N, 3) uint8 sRGB per-strand colours of the (N, P, 3) ``strands`` (world frame of the
    crop ``camera``; ``root_points`` (N, 3) their roots) read from the (S, S, 3) uint8
    ``crop`` where they lie on the (S, S) bool hair ``mask`` inside ``valid`` in front of
    the ``head`` render (see the module notes); ``colors`` (N, 3) the style's own
    (base ``base`` (3,) with per-strand variation) give the unseen strands their variation.
    Also returns the share of strands seen."""
    strands = np.asarray(strands, np.float64)
    n, p = strands.shape[:2]
    if not n:
        return np.asarray(colors, np.uint8), 0.0
    h, w = mask.shape
    local = camera.to_camera(strands.reshape(-1, 3))
    z = np.maximum(local[:, 2], 1e-6)
    x = local[:, 0] / z * camera.focal + camera.cx
    y = local[:, 1] / z * camera.focal + camera.cy
    xi = np.clip(np.rint(x), 0, w - 1).astype(np.int64)
    yi = np.clip(np.rint(y), 0, h - 1).astype(np.int64)
    inner = cv2.erode((mask & valid).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    seen = inner[yi, xi] & (local[:, 2] <= head.depth[yi, xi] + 1e-3) & (xi == np.rint(x)) & (yi == np.rint(y))
    seen = seen.reshape(n, p)
    seen[:, 0] = False
    soft = cv2.GaussianBlur(crop.astype(np.float32), (3, 3), 0)
    sample = soft[yi, xi].reshape(n, p, 3) / np.maximum(render_light(local.reshape(n, p, 3)), MIN_LIGHT)[..., None]
    sample[~seen] = np.nan
    has = seen.sum(1) >= MIN_SEEN
    out = np.asarray(colors, np.float64).copy()
    base = np.asarray(base, np.float64)
    if has.any():
        out[has] = np.clip(_median_seen(sample[has]), (base + 6) * RANGE[0] - 6, (base + 6) * RANGE[1] - 6)
    if has.any() and (~has).any():
        k = min(NEAREST, int(has.sum()))
        _, idx = cKDTree(root_points[has]).query(root_points[~has], k=k)
        near = np.median(out[has][idx.reshape(int((~has).sum()), k)], axis=1)
        variation = (np.asarray(colors, np.float64)[~has] + 6) / (base + 6)
        out[~has] = (0.5 * (near + base) + 6) * variation - 6
    return np.clip(np.rint(out), 0, 255).astype(np.uint8), float(has.mean())


def _median_seen(samples: np.ndarray) -> np.ndarray:
    """(N, 3) per-strand medians of (N, P, 3) samples over the points not NaN (NaN in all
    channels together, at least one per strand): ``np.nanmedian(samples, axis=1)``, sorted
    once (NaN sorts last) instead of strand by strand."""
    ordered = np.sort(samples, axis=1)
    count = np.sum(~np.isnan(samples[:, :, 0]), axis=1)
    rows, channels = np.arange(len(samples))[:, None], np.arange(3)[None]
    low, high = ordered[rows, ((count - 1) // 2)[:, None], channels], ordered[rows, (count // 2)[:, None], channels]
    return 0.5 * (low + high)
