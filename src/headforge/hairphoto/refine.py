"""Refinement: fit the predicted style to the photo's hair silhouette.

Growing a strand is a prefix-consistent process (each step bends by gravity per metre of
strand; the volume shell grows over the first 2 cm and then stays), so a style grown
``MAX_SCALE`` times longer holds every shorter version of itself: the silhouette for any
length scale of each of the generator's four regions (fringe, top, sides, back) is drawn
from the long strands cut where that strand's blended region length ends, with no regrowth.
The search (silhouette IoU with the mask, inside the photo, hair hidden by the head not
counted): one scale for all regions, then the volume (a regrowth each), then each region's
length a step shorter or longer. A length change must pay for itself against a prior around
the prediction (``LENGTH_PRIOR`` per unit of |ln scale|, and ``CLASS_CHANGE`` times the
network's confidence in its length class for leaving that class): hair that runs off the
photo or hides behind the body cannot tell lengths apart, and thin strands along the mask's
edges make small differences of their own (on the held-out synthetic set the finished
style's class went from 83.5 % to 87.9 % right, the refined IoU from 0.81 to 0.79). The
prediction competes with itself with the fringe toggled and, when tied, worn loose. Every
silhouette is drawn as the finished style will be shaped, in the photo's view:

1. :func:`spread_strands`: the hair beyond the head's outline is spread, direction by
   direction around the skull, over the mask's hair there (volume, wide or windswept hair);
2. :func:`carve_strands`: strands that leave the photo's hair where the camera sees them
   are cut there;

hair behind the person's neck, shoulders and clothes is hidden there, as in the photo
(:func:`behind_body`), so it is neither cut nor scored;

and the finished style is then also draped (:func:`drape_strands`) down over the face as far
as the photo's fringe and face-framing locks reach. Its region lengths are then read back
off it (:func:`measured`). Silhouettes are drawn at ``SIL_SIZE`` pixels from a light version
of the style (few guides, a few hundred strands, wide lines).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from headforge.hair.generator import HairParams, region_lengths
from headforge.hair.reference import reference_head
from headforge.hair.scalp import root_points
from headforge.core.strands import Hairstyle
from headforge.hairphoto.styles import length_class, scaled
from headforge.render import render_mesh, render_strands
from headforge.core.camera import Camera
from headforge.render.mesh import Render

SIL_SIZE = 96
MAX_SCALE = 2.0
LENGTH_SCALES = (0.5, 0.7, 1.0, 1.3, 1.6, 2.0)
VOLUME_SCALES = (0.5, 2.5)
DRAPE_COLUMNS = 64  # columns of the crop the drape works in
DRAPE_BAND = 0.06  # the lowest this fraction of the image of the hair over the face is stretched
DRAPE_GAP = 0.002  # metres: draped hair keeps this far in front of the face
MEASURED = 0.9  # the quantile of a region's strand lengths that is its length
REGION_STEPS = (0.7, 1.4)  # each region's length is then tried this much shorter and longer
FRINGE = 0.7  # the fringe a style without one is tried with
MAX_VOLUME = 0.08  # metres
TIE = 0.005  # silhouette IoUs this close are a tie
# What a change of length must gain in silhouette IoU: LENGTH_PRIOR per unit |ln s| of each
# scale s, and CLASS_CHANGE times the network's confidence in the class where it leaves it.
LENGTH_PRIOR = 0.08
CLASS_CHANGE = 0.1
REGIONS = ("fringe", "top", "sides", "back")
LIGHT = dict(guides=120, points=16, count=500)  # the light style the silhouettes are drawn from
SKULL_CENTRE = np.array([0.0, 0.025, -0.02])  # head frame, metres: the centre of the radial spread
SPREAD_BINS = 72  # angular bins of the radial spread
SPREAD_LEVELS = np.linspace(0.0, 1.0, 11)  # the radial quantiles it matches
# metres behind the head's median visible depth: the torso's mid-plane (median on the
# synthetic renders: 0.09 at the shoulders)
BODY_DEPTH = 0.08


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
    # One sorted row after another (each offset past the previous one's end) for searchsorted.
    offset = (np.arange(n) * (arc[:, -1].max() + 1.0))[:, None]
    j = np.searchsorted((arc + offset).ravel(), (target + offset).ravel(), side="right").reshape(n, p)
    j = np.clip(j - 1 - np.arange(n)[:, None] * p, 0, p - 2)
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


def behind_body(head: Render, body: np.ndarray) -> Render:
    """``head`` whose depth at the (H, W) bool ``body`` pixels off the head (the neck,
    shoulders and clothes the photo shows) is the torso's mid-plane, ``BODY_DEPTH`` behind
    the head's median visible depth: hair behind the body is hidden there (in silhouettes,
    and from :func:`carve_strands`), hair in front of it shows."""
    if not head.mask.any():
        return head
    plane = np.float32(np.median(head.depth[head.mask]) + BODY_DEPTH)
    return replace(head, depth=np.where(body & ~head.mask, np.minimum(head.depth, plane), head.depth))


def iou(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    """Intersection over union of bool masks a and b inside ``where`` (1 when both empty)."""
    union = ((a | b) & where).sum()
    return float(((a & b) & where).sum() / union) if union else 1.0


def refine_style(params: HairParams, grow, head_vertices: np.ndarray, faces: np.ndarray, camera: Camera,
                 mask: np.ndarray, valid: np.ndarray, body: np.ndarray, confidence: float = 0.0) -> Refinement:
    """Fit ``params``' region lengths and volume to the (S, S) bool hair ``mask`` inside
    ``valid`` seen by the crop ``camera`` (see the module notes). ``grow(params) ->
    Hairstyle`` grows a style on the head; ``head_vertices`` (V, 3), ``faces`` (F, 3) and
    the (S, S) bool ``body`` (:func:`behind_body`) hide the hair behind them."""
    cam = camera.resized(SIL_SIZE / camera.width, SIL_SIZE, SIL_SIZE)

    def small(m: np.ndarray) -> np.ndarray:
        return cv2.resize(m.astype(np.float32), (SIL_SIZE, SIL_SIZE), interpolation=cv2.INTER_AREA) > 0.5

    target, inside = small(mask), small(valid)
    head = behind_body(render_mesh(head_vertices, faces, cam, lighting="flat"), small(body))
    if params.bald:
        score = iou(np.zeros_like(target), target, inside)
        return Refinement(params, score, score, dict.fromkeys(REGIONS, 1.0), 1.0)
    lengths = np.array([getattr(params, f"length_{r}") for r in REGIONS])

    outline = Outline.of(cam, head, target, inside)

    def score_of(style: Hairstyle, weights: np.ndarray, scales: np.ndarray) -> float:
        nominal = weights @ lengths
        cut = (weights @ (lengths * scales)) / np.maximum(MAX_SCALE * nominal, 1e-9)
        strands = spread_strands(prefix(style.strands, cut), cam, outline)
        strands = carve_strands(strands, cam, head, target, inside, slack=1)
        return iou(silhouette(strands, cam, head), target, inside)

    def longest(p: HairParams) -> tuple[Hairstyle, np.ndarray]:
        style = grow(scaled(replace(p, **LIGHT), MAX_SCALE))
        return style, region_weights(p, style)

    # 1. One scale for every region; a tied prediction also tried loose, and the fringe
    # (hair over the forehead) toggled.
    candidates = [params, replace(params, fringe=0.0 if params.fringe > 0 else FRINGE)]
    if params.tie != "none":
        candidates.append(replace(params, tie="none"))
    trials = []
    for k, candidate in enumerate(candidates):
        style, weights = longest(candidate)
        trials += [(score_of(style, weights, np.full(4, s)), k, s, style, weights) for s in LENGTH_SCALES]
    predicted = next(t[0] for t in trials if t[1] == 0 and t[2] == 1.0)
    kind = length_class(params)

    def cost(t) -> float:
        changed = length_class(scaled(candidates[t[1]], t[2])) != kind
        return LENGTH_PRIOR * abs(np.log(t[2])) + CLASS_CHANGE * confidence * changed

    best_iou, k, s, style, weights = max(trials, key=lambda t: (t[0] - cost(t), -t[1]))
    chosen = candidates[k]
    scales = np.full(4, s)
    # 2. The volume, at that length.
    volume = 1.0
    for v in VOLUME_SCALES:
        trial = replace(chosen, volume=min(chosen.volume * v, MAX_VOLUME))
        trial_style, trial_weights = longest(trial)
        score = score_of(trial_style, trial_weights, scales)
        if score > best_iou + TIE:
            best_iou, volume, style, weights = score, v, trial_style, trial_weights
    chosen = replace(chosen, volume=min(chosen.volume * volume, MAX_VOLUME))
    # 3. Each region's length in turn (a tied style's length is its tail's: left as it is).
    if chosen.tie == "none":
        for r in (2, 3, 0):
            for step in REGION_STEPS:
                trial = scales.copy()
                trial[r] = np.clip(trial[r] * step, LENGTH_SCALES[0], MAX_SCALE)
                score = score_of(style, weights, trial)
                if score > best_iou + LENGTH_PRIOR * abs(np.log(trial[r] / scales[r])):
                    best_iou, scales = score, trial
    refined = replace(chosen, **{f"length_{r}": float(x) for r, x in zip(REGIONS, lengths * scales)})
    return Refinement(refined, best_iou, predicted, dict(zip(REGIONS, map(float, scales))), volume)


def carve(style: Hairstyle, camera: Camera, head: Render, mask: np.ndarray, valid: np.ndarray) -> Hairstyle:
    """``style`` cut to the photo's hair (:func:`carve_strands`)."""
    if not style.count:
        return style
    return replace(style, strands=carve_strands(style.strands, camera, head, mask, valid).astype(np.float32))


def carve_strands(strands: np.ndarray, camera: Camera, head: Render, mask: np.ndarray, valid: np.ndarray,
                  keep: float = 0.01, slack: int = 3) -> np.ndarray:
    """(N, P, 3) ``strands`` each cut where it first leaves the photo's hair: at its first
    point (beyond ``keep`` metres from the root) that the ``camera`` sees in front of the
    ``head`` render, inside the photo (``valid``), and outside the hair ``mask`` grown by
    ``slack`` pixels. Hair behind the head or beyond the photo's border is not judged (a
    tight crop's hair continues). (S, S) masks and render, same camera."""
    strands = np.asarray(strands, np.float64)
    n, p = strands.shape[:2]
    if not n:
        return strands
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
    return prefix(strands, fraction)


@dataclass
class Outline:
    """What :func:`spread_strands` matches, in polar coordinates around ``centre`` (2,) (the
    skull's centre in the image, pixels), per angular bin: ``head`` (SPREAD_BINS,) the
    radius the head render reaches (in that bin or its neighbours), ``mask`` (SPREAD_BINS,
    len(SPREAD_LEVELS)) the quantiles ``SPREAD_LEVELS`` of the radii of the hair mask's
    pixels beyond the head (NaN rows where there are too few)."""

    centre: np.ndarray
    head: np.ndarray
    mask: np.ndarray

    @staticmethod
    def of(camera: Camera, head: Render, mask: np.ndarray, valid: np.ndarray) -> "Outline":
        """The outlines of the ``head`` render and the hair ``mask`` inside ``valid``, (S,
        S), seen by ``camera``."""
        centre = camera.project(SKULL_CENTRE[None])[0]
        ys, xs = np.nonzero(head.mask)
        bins, r = _polar(np.column_stack([xs, ys]).astype(np.float64), centre)
        r_head = np.zeros(SPREAD_BINS)
        np.maximum.at(r_head, bins, r)
        r_head = np.maximum(r_head, np.maximum(np.roll(r_head, 1), np.roll(r_head, -1)))
        ys, xs = np.nonzero(mask & valid)
        return Outline(centre, r_head, _beyond_quantiles(np.column_stack([xs, ys]).astype(np.float64), centre, r_head,
                                                         _minimum(camera)))


def _minimum(camera: Camera) -> int:
    """The fewest points (or pixels) per angular bin worth matching, for the camera's size."""
    return max(3, int(12 * (camera.width / 256) ** 2))


def _polar(xy: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N,) angular bin and (N,) radius (pixels) of (N, 2) points around ``centre``."""
    d = xy - centre
    bins = ((np.arctan2(d[:, 1], d[:, 0]) + np.pi) / (2 * np.pi) * SPREAD_BINS).astype(np.int64) % SPREAD_BINS
    return bins, np.hypot(d[:, 0], d[:, 1])


def _beyond_quantiles(xy: np.ndarray, centre: np.ndarray, inner: np.ndarray, minimum: int) -> np.ndarray:
    """(SPREAD_BINS, len(SPREAD_LEVELS)) quantiles ``SPREAD_LEVELS`` of the radii of the (N, 2)
    points beyond ``inner`` (SPREAD_BINS,) in each angular bin around ``centre``; NaN rows
    for bins with fewer than ``minimum`` such points."""
    bins, r = _polar(xy, centre)
    out = r > inner[bins]
    bins, r = bins[out], r[out]
    order = np.lexsort((r, bins))
    bins, r = bins[order], r[order]
    start = np.searchsorted(bins, np.arange(SPREAD_BINS))
    count = np.bincount(bins, minlength=SPREAD_BINS)
    at = start[:, None] + SPREAD_LEVELS[None] * np.maximum(count - 1, 0)[:, None]
    lo = np.floor(at).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(start + count - 1, 0)[:, None])
    frac = at - lo
    if not len(r):
        return np.full((SPREAD_BINS, len(SPREAD_LEVELS)), np.nan)
    lo, hi = np.clip(lo, 0, len(r) - 1), np.clip(hi, 0, len(r) - 1)
    q = r[lo] * (1 - frac) + r[hi] * frac
    q[count < minimum] = np.nan
    return q


def spread(style: Hairstyle, camera: Camera, head: Render, mask: np.ndarray, valid: np.ndarray) -> Hairstyle:
    """``style`` widened to the outline of the photo's hair (:func:`spread_strands`)."""
    if not style.count:
        return style
    strands = spread_strands(style.strands, camera, Outline.of(camera, head, mask, valid))
    return replace(style, strands=strands.astype(np.float32))


def spread_strands(strands: np.ndarray, camera: Camera, outline: Outline) -> np.ndarray:
    """(N, P, 3) ``strands`` spread in the ``camera``'s image plane over the photo's hair
    beyond the head's outline: in each direction around the skull's centre, the radii of the
    strand points beyond the head are mapped, quantile to quantile, onto the radii of the
    hair mask's pixels there (each point moved at its own depth, so it stays beyond the
    head's outline and outside the head; roots stay). Never moves a point inwards
    (:func:`carve_strands` cuts what overshoots); directions with no hair either way stay."""
    strands = np.asarray(strands, np.float64)
    n, p = strands.shape[:2]
    if not n:
        return strands
    local = camera.to_camera(strands.reshape(-1, 3))
    xy = local[:, :2] / local[:, 2:3] * camera.focal + np.array([camera.cx, camera.cy])
    hair = _beyond_quantiles(xy, outline.centre, outline.head, _minimum(camera))
    known = ~(np.isnan(hair[:, 0]) | np.isnan(outline.mask[:, 0]))
    # Knots from the head's outline (fixed) through the hair's quantiles to the mask's.
    src = np.column_stack([outline.head, np.where(known[:, None], hair, np.nan)])
    dst = np.column_stack([outline.head, np.where(known[:, None], outline.mask, np.nan)])
    src[~known, 1:], dst[~known, 1:] = outline.head[~known, None] + 1e3, outline.head[~known, None] + 1e3
    src = np.maximum.accumulate(src, axis=1) + np.arange(src.shape[1]) * 1e-6  # strictly increasing
    d = xy - outline.centre
    r = np.hypot(d[:, 0], d[:, 1])
    a = (np.arctan2(d[:, 1], d[:, 0]) + np.pi) / (2 * np.pi) * SPREAD_BINS - 0.5
    k0 = np.floor(a).astype(np.int64)
    t = a - k0
    k0 %= SPREAD_BINS
    k1 = (k0 + 1) % SPREAD_BINS
    table = _radius_table(src, dst, 2 * camera.width)
    i = np.clip(r, 0, table.shape[1] - 1.001)
    i0 = i.astype(np.int64)
    f = i - i0
    new_r = ((table[k0, i0] * (1 - f) + table[k0, i0 + 1] * f) * (1 - t)
             + (table[k1, i0] * (1 - f) + table[k1, i0 + 1] * f) * t + (r - i))
    grow = np.maximum(new_r - r, 0.0)
    local[:, :2] += d / np.maximum(r, 1e-9)[:, None] * (grow * local[:, 2] / camera.focal)[:, None]
    moved = ((local - camera.t) @ camera.R).reshape(n, p, 3)
    moved[:, 0] = strands[:, 0]
    return moved


def _radius_table(src: np.ndarray, dst: np.ndarray, size: int) -> np.ndarray:
    """(B, size) the radii 0, 1, .. size - 1 (pixels) mapped piecewise linearly through each
    bin's (B, K) knots, ``src`` (increasing) -> ``dst``: below the first knot unchanged,
    beyond the last shifted with it."""
    grid = np.arange(size, dtype=np.float64)
    table = np.empty((len(src), size))
    for b in range(len(src)):
        mapped = np.interp(grid, src[b], dst[b])
        mapped = np.where(grid > src[b, -1], grid - src[b, -1] + dst[b, -1], mapped)
        table[b] = np.where(grid <= src[b, 0], grid, mapped)
    return table


def measured(params: HairParams, style: Hairstyle) -> HairParams:
    """``params`` with each region's length read off the finished ``style`` (spread over and
    cut to the photo's hair): the ``MEASURED`` quantile of the lengths of the strands rooted
    mostly in that region (a region's length is that of its longest strands; cut ones are
    shorter). A tied or bald style is returned as it is."""
    if params.bald or params.tie != "none" or not style.count:
        return params
    weights = region_weights(params, style)
    arc = np.linalg.norm(np.diff(style.strands.astype(np.float64), axis=1), axis=2).sum(1)
    new = {}
    for k, r in enumerate(REGIONS):
        mine = weights[:, k] > 0.5
        if mine.sum() >= 20:
            new[f"length_{r}"] = float(np.quantile(arc[mine], MEASURED))
    return replace(params, **new)


def drape(style: Hairstyle, camera: Camera, head: Render, mask: np.ndarray, valid: np.ndarray) -> Hairstyle:
    """``style`` draped down over the face as far as the photo's hair reaches
    (:func:`drape_strands`)."""
    if not style.count:
        return style
    return replace(style, strands=drape_strands(style.strands, camera, head, mask, valid).astype(np.float32))


def drape_strands(strands: np.ndarray, camera: Camera, head: Render, mask: np.ndarray,
                  valid: np.ndarray) -> np.ndarray:
    """(N, P, 3) ``strands`` lengthened down over the face where the photo's hair (a fringe,
    locks in front of the cheeks) reaches lower than they do: in each column of the crop
    (image up is the face's up), the strand points the ``camera`` sees in front of the
    ``head`` render within ``DRAPE_BAND`` (fraction of the image) above their lowest one are
    stretched down to where the run of hair ``mask`` below that point ends; moved points are
    kept ``DRAPE_GAP`` metres in front of the head (along their ray: same pixel). Roots stay.
    (S, S) masks and render, same camera."""
    strands = np.asarray(strands, np.float64)
    n, p = strands.shape[:2]
    if not n:
        return strands
    h, w = mask.shape
    local = camera.to_camera(strands.reshape(-1, 3))
    x = local[:, 0] / local[:, 2] * camera.focal + camera.cx
    y = local[:, 1] / local[:, 2] * camera.focal + camera.cy
    xi = np.clip(np.rint(x), 0, w - 1).astype(np.int64)
    yi = np.clip(np.rint(y), 0, h - 1).astype(np.int64)
    front = head.mask[yi, xi] & (local[:, 2] <= head.depth[yi, xi] + 1e-3) & (xi == np.rint(x)) & (yi == np.rint(y))
    front.reshape(n, p)[:, 0] = False
    width = max(1, w // DRAPE_COLUMNS)
    column = np.clip(xi // width, 0, DRAPE_COLUMNS - 1)
    lowest = np.full(DRAPE_COLUMNS, -1.0)
    np.maximum.at(lowest, column[front], y[front])
    hair = mask & valid & head.mask
    reach = lowest.copy()
    for c in np.flatnonzero(lowest >= 0):
        rows = hair[:, c * width:(c + 1) * width].any(1)
        k = int(lowest[c]) + 1
        while k < h and (rows[k] or (k + 1 < h and rows[k + 1])):  # down the run, over 1-pixel gaps
            k += 1
        reach[c] = k - 1
    band = DRAPE_BAND * h
    top = lowest - band
    scale = np.where((lowest >= 0) & (reach > lowest + 1), (reach - top) / band, 1.0)
    # Per point: the stretch of its column, blended with the next one's (no seams).
    at = x / width - 0.5
    c0 = np.clip(np.floor(at).astype(np.int64), 0, DRAPE_COLUMNS - 1)
    c1 = np.clip(c0 + 1, 0, DRAPE_COLUMNS - 1)
    t = np.clip(at - c0, 0, 1)
    lo = top[c0] * (1 - t) + top[c1] * t
    s = scale[c0] * (1 - t) + scale[c1] * t
    new_y = np.where(front & (y > lo), lo + (y - lo) * s, y)
    moved = front & (new_y > y + 1e-6)
    if not moved.any():
        return strands
    yi = np.clip(np.rint(new_y), 0, h - 1).astype(np.int64)
    local[moved, 1] = (new_y[moved] - camera.cy) / camera.focal * local[moved, 2]
    limit = head.depth[yi, xi] - DRAPE_GAP
    pull = moved & (local[:, 2] > limit) & np.isfinite(limit)
    local[pull] *= (limit[pull] / local[pull, 2])[:, None]
    out = ((local - camera.t) @ camera.R).reshape(n, p, 3)
    out[:, 0] = strands[:, 0]
    return out
