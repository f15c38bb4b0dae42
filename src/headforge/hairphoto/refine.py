"""Refinement: fit the predicted style's lengths and volume to the photo's hair silhouette,
and read the hair colour from the photo.

Growing a strand is a prefix-consistent process (each step bends by gravity per metre of
strand; the volume shell grows over the first 2 cm and then stays), so a style grown
``MAX_SCALE`` times longer holds every shorter version of itself: the silhouette for any
length scale of each of the generator's four regions (fringe, top, sides, back) is drawn
from the long strands cut where that strand's blended region length ends, with no regrowth.
The search (silhouette IoU with the mask, inside the photo, hair hidden by the head not
counted): one scale for all regions, then the volume (a regrowth each), then each region's
scale in turn. The prediction competes with itself with the fringe toggled and, when tied,
worn loose. Finally, strands that leave the photo's hair where the camera sees them are
cut there (:func:`carve`). Silhouettes are
drawn at ``SIL_SIZE`` pixels from a light version of the style (few guides, a few hundred
strands, wide lines).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from headforge.hair.generator import HairParams, region_lengths
from headforge.hair.reference import reference_head
from headforge.hair.scalp import root_points
from headforge.hair.strands import Hairstyle
from headforge.hairphoto.styles import scaled
from headforge.render import render_mesh, render_strands
from headforge.render.camera import Camera
from headforge.render.mesh import Render

SIL_SIZE = 96
MAX_SCALE = 2.0
LENGTH_SCALES = (0.5, 0.7, 1.0, 1.3, 1.6, 2.0)
VOLUME_SCALES = (0.5, 2.5, 6.0)
FRINGE = 0.7  # the fringe a style without one is tried with
MAX_VOLUME = 0.08  # metres
REGIONS = ("fringe", "top", "sides", "back")
LIGHT = dict(guides=120, points=16, count=500)  # the light style the silhouettes are drawn from


@dataclass
class Refinement:
    """params: the refined style; iou: its silhouette IoU with the mask; predicted_iou: the
    prediction's before refinement; length_scales: region -> factor applied to the predicted
    length; volume_scale: the factor applied to the volume."""

    params: HairParams
    iou: float
    predicted_iou: float
    length_scales: dict[str, float]
    volume_scale: float


def prefix(strands: np.ndarray, fraction) -> np.ndarray:
    """(N, P, 3) polylines cut at ``fraction`` (a scalar or (N,) in [0, 1]) of their arc
    length, resampled to P points."""
    strands = np.asarray(strands, np.float64)
    n, p = strands.shape[:2]
    fraction = np.broadcast_to(np.clip(np.asarray(fraction, np.float64), 0, 1), (n,))[:, None]
    seg = np.linalg.norm(np.diff(strands, axis=1), axis=2)
    arc = np.concatenate([np.zeros((n, 1)), np.cumsum(seg, axis=1)], axis=1)
    target = np.linspace(0, 1, p)[None] * arc[:, -1:] * fraction
    j = np.clip((arc[:, None, :] <= target[:, :, None]).sum(2) - 1, 0, p - 2)
    rows = np.arange(n)[:, None]
    a0, a1 = arc[rows, j], arc[rows, j + 1]
    t = np.clip(np.divide(target - a0, a1 - a0, out=np.zeros_like(target), where=a1 > a0), 0, 1)
    return strands[rows, j] * (1 - t[..., None]) + strands[rows, j + 1] * t[..., None]


def region_weights(params: HairParams, style: Hairstyle) -> np.ndarray:
    """(N, 4) how much of each region's length (``REGIONS`` order) strand n's length is
    (the generator's blend at its root on the reference head), per metre of that length."""
    ref = reference_head()
    roots, _ = root_points(ref.vertices, ref.faces, style.root_face, style.root_bary)
    zero = dict(length_fringe=0.0, length_top=0.0, length_sides=0.0, length_back=0.0)
    return np.stack([region_lengths(replace(params, **{**zero, f"length_{r}": 1.0}), roots) for r in REGIONS], 1)


def silhouette(strands: np.ndarray, camera: Camera, head: Render) -> np.ndarray:
    """(H, W) bool: where the (N, P, 3) strands show in front of the ``head`` render."""
    if not len(strands):
        return np.zeros((camera.height, camera.width), bool)
    width = max(2.0, 3.0 * camera.width / SIL_SIZE)
    r = render_strands(strands, camera, colors=np.zeros((len(strands), 3)), base=head, width_px=width,
                       lighting="flat")
    shown = (r.strand >= 0).astype(np.uint8)
    return cv2.morphologyEx(shown, cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)) > 0


def iou(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    """Intersection over union of bool masks a and b inside ``where`` (1 when both empty)."""
    union = ((a | b) & where).sum()
    return float(((a & b) & where).sum() / union) if union else 1.0


def refine_style(params: HairParams, grow, head_vertices: np.ndarray, faces: np.ndarray, camera: Camera,
                 mask: np.ndarray, valid: np.ndarray) -> Refinement:
    """Fit ``params``' region lengths and volume to the (S, S) bool hair ``mask`` inside
    ``valid`` seen by the crop ``camera`` (see the module notes). ``grow(params) ->
    Hairstyle`` grows a style on the head; ``head_vertices`` (V, 3), ``faces`` (F, 3) hide
    the hair behind the head."""
    cam = camera.resized(SIL_SIZE / camera.width, SIL_SIZE, SIL_SIZE)
    target = cv2.resize(mask.astype(np.float32), (SIL_SIZE, SIL_SIZE), interpolation=cv2.INTER_AREA) > 0.5
    inside = cv2.resize(valid.astype(np.float32), (SIL_SIZE, SIL_SIZE), interpolation=cv2.INTER_AREA) > 0.5
    head = render_mesh(head_vertices, faces, cam, lighting="flat")
    if params.bald:
        score = iou(np.zeros_like(target), target, inside)
        return Refinement(params, score, score, dict.fromkeys(REGIONS, 1.0), 1.0)
    lengths = np.array([getattr(params, f"length_{r}") for r in REGIONS])

    def score_of(style: Hairstyle, weights: np.ndarray, scales: np.ndarray) -> float:
        nominal = weights @ lengths
        cut = (weights @ (lengths * scales)) / np.maximum(MAX_SCALE * nominal, 1e-9)
        return iou(silhouette(prefix(style.strands, cut), cam, head), target, inside)

    def longest(p: HairParams) -> tuple[Hairstyle, np.ndarray]:
        style = grow(scaled(replace(p, **LIGHT), MAX_SCALE))
        return style, region_weights(p, style)

    # 1. One scale for every region; a tied prediction also tried loose, and the fringe
    # (hair over the forehead) toggled.
    candidates = [params, replace(params, fringe=0.0 if params.fringe > 0 else FRINGE)]
    if params.tie != "none":
        candidates.append(replace(params, tie="none"))
    best, predicted = (-1.0, params, 1.0, None), 0.0
    for k, candidate in enumerate(candidates):
        style, weights = longest(candidate)
        for s in LENGTH_SCALES:
            score = score_of(style, weights, np.full(4, s))
            predicted = score if (k == 0 and s == 1.0) else predicted
            if score > best[0]:
                best = (score, candidate, s, (style, weights))
    best_iou, chosen, s, (style, weights) = best
    scales = np.full(4, s)
    # 2. The volume, at that length.
    volume = 1.0
    for v in VOLUME_SCALES:
        trial = replace(chosen, volume=min(chosen.volume * v, MAX_VOLUME))
        trial_style, trial_weights = longest(trial)
        score = score_of(trial_style, trial_weights, scales)
        if score > best_iou + 0.005:
            best_iou, volume, style, weights = score, v, trial_style, trial_weights
    chosen = replace(chosen, volume=min(chosen.volume * volume, MAX_VOLUME))
    # 3. Each region's length in turn (a tied style's length is its tail's: left as it is).
    if chosen.tie == "none":
        for r in (2, 3, 1, 0):
            for s in LENGTH_SCALES:
                trial = scales.copy()
                trial[r] = s
                score = score_of(style, weights, trial)
                if score > best_iou + 0.005:
                    best_iou, scales = score, trial
    refined = replace(chosen, **{f"length_{r}": float(x) for r, x in zip(REGIONS, lengths * scales)})
    return Refinement(refined, best_iou, predicted, dict(zip(REGIONS, map(float, scales))), volume)


def carve(style: Hairstyle, camera: Camera, head: Render, mask: np.ndarray, valid: np.ndarray,
          keep: float = 0.01, slack: int = 3) -> Hairstyle:
    """``style`` with every strand cut where it first leaves the photo's hair: at its first
    point (beyond ``keep`` metres from the root) that the ``camera`` sees in front of the
    ``head`` render, inside the photo (``valid``), and outside the hair ``mask`` grown by
    ``slack`` pixels. Hair behind the head or beyond the photo's border is not judged (a
    tight crop's hair continues). (S, S) masks and render, same camera."""
    if not style.count:
        return style
    strands = style.strands.astype(np.float64)
    n, p = strands.shape[:2]
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((2 * slack + 1,) * 2, np.uint8)) > 0
    screen = camera.to_screen(strands.reshape(-1, 3))
    x = np.clip(np.rint(screen[:, 0]), 0, camera.width - 1).astype(np.int64)
    y = np.clip(np.rint(screen[:, 1]), 0, camera.height - 1).astype(np.int64)
    on_image = (np.abs(screen[:, 0] - x) <= 0.5) & (np.abs(screen[:, 1] - y) <= 0.5)
    seen = on_image & (screen[:, 2] <= head.depth[y, x] + 1e-3)
    stray = (seen & valid[y, x] & ~grown[y, x]).reshape(n, p)
    arc = np.concatenate([np.zeros((n, 1)), np.cumsum(np.linalg.norm(np.diff(strands, axis=1), axis=2), 1)], 1)
    stray &= arc > keep
    total = np.maximum(arc[:, -1], 1e-9)
    first = np.where(stray.any(1), stray.argmax(1), p - 1)
    fraction = np.where(stray.any(1), arc[np.arange(n), first] / total, 1.0)
    return replace(style, strands=prefix(strands, fraction).astype(np.float32))


def hair_colour(crop: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
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
