"""Hair cards: textured triangle strips built from strands, for tools that draw only triangles.

Frames and units: the head frame (metres, Y up, the face along +Z). A card is a strip of
``segments`` quads that follows one strand (the guide of a clump of neighbouring strands),
as wide as the clump is spread, narrowing towards the tip. Its plane lies along the scalp
(across the strand and the outward direction from the head's centre), turned about the
strand by a small per-card angle so that some cards face every view. Texture coordinates
follow glTF: u runs across the card (0..1), v from the root (0) to the tip (1); the
texture's row 0 is the root. Normals point out of the hair volume (from the head's centre,
tilted across the card so it shades round); tangents run along the strand, root to tip.

The material's texture (:func:`strand_texture`) draws single fibres: alpha is their
coverage, which thins towards the tip and the card's edges; its grey scales the card's
colour from dark roots to lighter tips. The renderer (:mod:`headforge.render.cards`) and
the GLB (:mod:`headforge.export.gltf`) draw the same cards with the same texture.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from headforge.core.strands import Hairstyle, resample
from headforge.render.shading import srgb_to_linear
from headforge.core.geometry import unit


@dataclass(frozen=True)
class CardBudget:
    """At most ``triangles`` triangles of cards of at most ``segments`` quads each."""

    triangles: int
    segments: int


BUDGETS = {"web": CardBudget(60_000, 10), "high": CardBudget(300_000, 24)}
DEFAULT_BUDGET = "web"
MIN_WIDTH = 0.006  # metres: the narrowest card at its root
MAX_WIDTH = 0.03  # metres: the widest card anywhere
TIP_WIDTH = 0.7  # a card's width at its tip, relative to the clump's spread there
SPREAD = 2.5  # card width / RMS distance of the clump's strands from its guide
TWIST_DEG = 60.0  # cards turn about their strand by up to this angle
NORMAL_TILT = 0.5  # how far the normals lean across the card (tan of the angle at the edges)
HEAD_CENTRE = np.array([0.0, 0.0, -0.01])  # metres, head frame: where "outward" starts
ROOT_SHADE = 0.6  # the texture's grey at the root (1 from a third of the length on)
UNDER_LAYER = 0.6  # alpha of the texture's under-layer in the middle of the card
SUBSTEPS = 4  # resampled points per card segment, averaged along the strand
END_SPREAD = 0.04  # spread of the fibres' ends (fraction of the length) in the texture
_SEED = 17


@dataclass
class HairCards:
    """Cards as one indexed triangle mesh, C cards of S quads, V = 2 C (S + 1) vertices.

    positions, normals: (V, 3) float32 (metres; unit). tangents: (V, 4) float32, xyz the
    unit strand direction root -> tip, w = 1. uvs: (V, 2) float32 (glTF: u across, v root
    0 to tip 1). colors: (V, 3) float32 linear RGB, the guide strand's colour. faces: (F, 3)
    uint32, F = 2 C S, counter-clockwise seen from outside the hair. guide: (C,) int64 the
    strand each card follows. Vertex 2 (c (S + 1) + r) + k is card c, row r (root 0),
    edge k (u = 0 or 1 after the card's flip).
    """

    positions: np.ndarray
    normals: np.ndarray
    tangents: np.ndarray
    uvs: np.ndarray
    colors: np.ndarray
    faces: np.ndarray
    guide: np.ndarray

    @property
    def count(self) -> int:
        return int(len(self.guide))

    @property
    def face_card(self) -> np.ndarray:
        """(F,) int64: the card of each face."""
        per_card = len(self.faces) // max(self.count, 1)
        return np.arange(len(self.faces)) // max(per_card, 1)


def card_budget(name: str) -> CardBudget:
    """The named budget ("web" or "high"); ValueError for another name."""
    if name not in BUDGETS:
        raise ValueError(f"hair card budget must be one of {sorted(BUDGETS)}, got {name!r}")
    return BUDGETS[name]


def build_cards(hair: Hairstyle, limit: CardBudget, centre: np.ndarray = HEAD_CENTRE) -> HairCards:
    """Cards for ``hair``'s (N, P, 3) strands within ``limit``: one per strand when they fit,
    else one per clump (strands grouped around C random seeds by root, middle and tip),
    following the clump's longest strand."""
    n, p = hair.strands.shape[:2]
    if n == 0 or p < 2:
        raise ValueError("hair cards need at least one strand of two points")
    segments = min(limit.segments, p - 1)
    cards = max(1, min(n, limit.triangles // (2 * segments)))
    rng = np.random.default_rng(_SEED)
    paths = resample(hair.strands, segments + 1)  # (N, S + 1, 3) float64
    seeds = np.sort(rng.permutation(n)[:cards])
    clump = _clumps(paths, seeds)
    guide = _longest(hair.lengths(), clump, cards)
    axis = smoothed_paths(hair.strands[guide], segments)
    width = _widths(paths, axis, clump)
    centre = np.asarray(centre, np.float64)
    # Outer cards first: they hide the inner ones from any outside view, so a renderer that
    # draws the faces in order (a GPU's early depth test) shades fewer hidden fragments.
    order = np.argsort(-np.linalg.norm(axis - centre, axis=2).mean(1), kind="stable")
    return _strips(axis[order], width[order], hair.colors[guide[order]], guide[order], centre, rng)


def smoothed_paths(strands: np.ndarray, segments: int) -> np.ndarray:
    """(N, segments + 1, 3) float64 points along (N, P, 3) strands, evenly spaced by arc
    length, each the mean of the strand over its own stretch (a box filter one segment
    long), so that curls shorter than a segment average out to their axis instead of
    aliasing into zigzags; the root and the tip are kept."""
    fine = resample(strands, SUBSTEPS * segments + 1)
    half = SUBSTEPS // 2
    padded = np.concatenate([np.repeat(fine[:, :1], half, 1), fine, np.repeat(fine[:, -1:], half, 1)], 1)
    total = np.cumsum(np.concatenate([np.zeros_like(padded[:, :1]), padded], 1), axis=1)
    mean = (total[:, SUBSTEPS:] - total[:, :-SUBSTEPS]) / SUBSTEPS  # window centred on each fine point
    out = mean[:, ::SUBSTEPS].copy()
    out[:, 0], out[:, -1] = fine[:, 0], fine[:, -1]
    return out


_LAST: list = [None]  # (hair, limit, cards) of the last cached_cards call


def cached_cards(hair: Hairstyle, limit: CardBudget) -> HairCards:
    """:func:`build_cards`, remembered for the last hairstyle object and budget asked: an
    avatar's preview and its GLB share one build."""
    last = _LAST[0]
    if last is not None and last[0] is hair and last[1] == limit:
        return last[2]
    cards = build_cards(hair, limit)
    _LAST[0] = (hair, limit, cards)
    return cards


def _clumps(paths: np.ndarray, guide: np.ndarray) -> np.ndarray:
    """(N,) the guide (index into ``guide``) nearest each (N, S + 1, 3) path by its root,
    middle and tip together."""
    s = paths.shape[1] - 1
    key = paths[:, [0, s // 2, s]].reshape(len(paths), 9)
    return cKDTree(key[guide]).query(key, workers=1)[1]


def _longest(lengths: np.ndarray, clump: np.ndarray, cards: int) -> np.ndarray:
    """(C,) the longest strand of each clump (its card reaches the clump's farthest tip)."""
    order = np.lexsort((lengths, clump))
    last = np.r_[np.flatnonzero(np.diff(clump[order])), len(order) - 1]
    out = np.zeros(cards, np.int64)
    out[clump[order[last]]] = order[last]
    return out


def _widths(paths: np.ndarray, axis: np.ndarray, clump: np.ndarray) -> np.ndarray:
    """(C, S + 1) card widths in metres: ``SPREAD`` times the RMS distance of each clump's
    (N, S + 1, 3) paths from its card's (C, S + 1, 3) ``axis`` at every row (at least 1.5
    times the root spacing of the cards), clipped to [MIN_WIDTH, MAX_WIDTH], then narrowed
    linearly to ``TIP_WIDTH`` at the tip."""
    c, rows = len(axis), paths.shape[1]
    offset = paths - axis[clump]
    sq = np.einsum("nrk,nrk->nr", offset, offset)
    members = np.bincount(clump, minlength=c)[:, None]
    rms = np.sqrt(np.stack([np.bincount(clump, sq[:, r], c) for r in range(rows)], 1) / members)
    roots = axis[:, 0]
    spacing = cKDTree(roots).query(roots, k=2, workers=1)[0][:, 1] if c > 1 else np.full(1, MIN_WIDTH)
    width = np.maximum(SPREAD * rms, 1.5 * spacing[:, None])
    taper = 1 - (1 - TIP_WIDTH) * np.linspace(0, 1, rows)
    return np.clip(width, MIN_WIDTH, MAX_WIDTH) * taper


def _strips(paths, width, colors, guide, centre, rng) -> HairCards:
    """Two vertices per row of every (C, R, 3) path, ``width`` (C, R) apart (see the module
    notes for the frame)."""
    c, rows = paths.shape[:2]
    tangent = unit(np.gradient(paths, axis=1))
    out = _outward(paths - centre, tangent)
    side = np.cross(tangent, out)  # across the card, along the scalp
    twist = np.radians(rng.uniform(-TWIST_DEG, TWIST_DEG, c))[:, None, None]
    across = np.cos(twist) * side + np.sin(twist) * out
    half = 0.5 * width[..., None] * across
    positions = np.stack([paths - half, paths + half], 2)  # (C, R, 2, 3): edge u = 0, u = 1
    normals = unit(np.stack([out - NORMAL_TILT * side, out + NORMAL_TILT * side], 2))
    flip = rng.random(c) < 0.5  # half the cards read the texture mirrored
    u = np.where(flip[:, None], [1.0, 0.0], [0.0, 1.0])
    uvs = np.stack(np.broadcast_arrays(u[:, None, :], np.linspace(0, 1, rows)[None, :, None]), -1)
    tangents = np.concatenate([np.repeat(tangent[:, :, None], 2, 2), np.ones((c, rows, 2, 1))], -1)
    linear = np.repeat(srgb_to_linear(colors), 2 * rows, 0)
    return HairCards(
        positions.reshape(-1, 3).astype(np.float32),
        normals.reshape(-1, 3).astype(np.float32),
        tangents.reshape(-1, 4).astype(np.float32),
        uvs.reshape(-1, 2).astype(np.float32),
        linear.astype(np.float32),
        _strip_faces(c, rows),
        guide.astype(np.int64),
    )


def _outward(radial: np.ndarray, tangent: np.ndarray) -> np.ndarray:
    """(C, R, 3) unit directions across the (C, R, 3) unit tangents, as near the ``radial``
    directions (from the head's centre) as they allow. Where a card runs almost radially
    (a spiky root) the nearest row of the same card that does not gives the direction,
    made perpendicular again."""
    across = radial - tangent * np.einsum("crk,crk->cr", radial, tangent)[..., None]
    ok = np.linalg.norm(across, axis=2) > 0.3 * np.linalg.norm(radial, axis=2)
    rows = np.arange(ok.shape[1])
    before = np.maximum.accumulate(np.where(ok, rows, -1), axis=1)
    after = np.minimum.accumulate(np.where(ok, rows, rows[-1] + 1)[:, ::-1], axis=1)[:, ::-1]
    near = np.where((before >= 0) & ((rows - before <= after - rows) | (after > rows[-1])), before, after)
    fallback = np.where(ok.any(1, keepdims=True), np.clip(near, 0, rows[-1]), rows)
    chosen = np.take_along_axis(across, fallback[..., None], 1)
    chosen = np.where(ok.any(1, keepdims=True)[..., None], chosen, _any_normal(tangent))
    chosen = chosen - tangent * np.einsum("crk,crk->cr", chosen, tangent)[..., None]
    return unit(np.where(np.linalg.norm(chosen, axis=2, keepdims=True) > 1e-9, chosen, _any_normal(tangent)))


def _strip_faces(cards: int, rows: int) -> np.ndarray:
    """(2 C (R - 1), 3) uint32 triangles of C strips of R vertex pairs (left, right), each
    quad as (left, right, next left) and (right, next right, next left): counter-clockwise
    seen from the side the outward normals point to."""
    base = (np.arange(cards)[:, None] * rows + np.arange(rows - 1)[None]).ravel() * 2
    l0, r0, l1, r1 = base, base + 1, base + 2, base + 3
    return np.stack([np.stack([l0, r0, l1], 1), np.stack([r0, r1, l1], 1)], 1).reshape(-1, 3).astype(np.uint32)


@functools.lru_cache(maxsize=1)
def strand_texture(height: int = 512, width: int = 128, fibres: int = 44) -> np.ndarray:
    """(height, width, 4) uint8 RGBA texture of a card, row 0 at the root (v = 0); read-only
    (computed once).

    ``fibres`` strands across, each 2-4 texels wide with a slight wave, most reaching the
    tip (``END_SPREAD``) and narrowing there; their centres crowd the middle of the card.
    Alpha: fibre coverage (antialiased over one texel) over a denser under-layer in the
    middle of the card (so that mipmaps keep the middle above the cutoff), opaque near the
    root. RGB (sRGB grey, multiplied by the card's colour): ``ROOT_SHADE`` at the root
    rising to 1 by a third of the length, each fibre a little lighter or darker with fine
    streaks along it, the under-layer darker."""
    rng = np.random.default_rng(_SEED)
    v = (np.arange(height) + 0.5)[:, None] / height  # (H, 1)
    x = np.arange(width)[None, :] + 0.5  # (1, W) texels
    centre = width * np.clip(rng.beta(2.0, 2.0, fibres), 0.03, 0.97)
    end = np.clip(1 - np.abs(rng.normal(0, END_SPREAD, fibres)), 0.8, 1.0)
    radius = rng.uniform(1.0, 2.0, fibres)
    phase, wave = rng.uniform(0, 2 * np.pi, fibres), rng.uniform(0.5, 2.0, fibres)
    shade = np.exp(rng.normal(0, 0.12, fibres))
    middle = np.exp(-(((x - width / 2) / (0.3 * width)) ** 4))  # (1, W)
    alpha = np.maximum(UNDER_LAYER * middle * np.clip((1 - v) / 0.12, 0, 1), np.clip((0.2 - v) / 0.12, 0, 1) * middle)
    grey = np.full((height, width), 0.7)
    for k in range(fibres):
        # Only the columns the fibre can reach: its centre +- (wave + radius + 1).
        lo = max(int(centre[k] - wave[k] - radius[k] - 2), 0)
        hi = min(int(centre[k] + wave[k] + radius[k] + 3), width)
        along = np.clip(v / end[k], 0, None)
        r = radius[k] * np.clip(1.0 - 0.3 * along ** 4, 0.7, 1.0)
        cx = centre[k] + wave[k] * np.sin(2 * np.pi * 3 * v + phase[k])
        cover = np.clip(r + 0.5 - np.abs(x[:, lo:hi] - cx), 0, 1) * (along <= 1)
        streak = 1 + 0.08 * np.sin(2 * np.pi * (x[:, lo:hi] - cx) / 2.5 + 40 * v * shade[k])
        grey[:, lo:hi] = np.where(cover > 0.5, shade[k] * streak, grey[:, lo:hi])
        alpha[:, lo:hi] = np.maximum(alpha[:, lo:hi], cover)
    gradient = ROOT_SHADE + (1 - ROOT_SHADE) * np.clip(v / 0.33, 0, 1) ** 0.7
    rgb = np.repeat(np.clip(grey * gradient, 0, 1)[..., None], 3, 2)
    texture = np.rint(np.concatenate([rgb, alpha[..., None]], 2) * 255).astype(np.uint8)
    texture.flags.writeable = False
    return texture


def _any_normal(t: np.ndarray) -> np.ndarray:
    """A vector perpendicular to each unit (..., 3) ``t``."""
    axis = np.where(np.abs(t[..., :1]) < 0.9, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0])
    return np.cross(t, axis)
