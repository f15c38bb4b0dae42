"""Procedural strand hairstyles from a small parameter vector (:class:`HairParams`).

Guide strands are grown from well-spread roots on the scalp of the reference head (head
frame, metres): each starts along a combing direction (away from the parting, forward over
the forehead for a fringe, down the sides and back) lifted off the scalp, bends towards -Y
under gravity against its stiffness, and slides over the head instead of entering it (kept
outside a shell of ``volume``); hair that is not a fringe is walled off the face. Curls (a
helix around the strand) and waves (a planar sine) are added along the strand, a blunt cut
trims everything below ``cut_height``, and tied styles gather the strands over the scalp to
a tie point at the back (ponytail: a tail from there; bun: wound round a ball). Dense hair
is made from the guides by :func:`headforge.hair.densify.densify`.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from headforge.hair.collision import MARGIN, Collider, HeadShape, settle
from headforge.hair.scalp import HEAD_CENTRE, azimuth_deg, root_points, sample_surface, spread_samples
from headforge.core.strands import Hairstyle, empty_hairstyle, resample, strand_colors
from headforge.core.geometry import unit

PARTINGS = {"none": None, "left": 0.032, "centre": 0.0, "right": -0.032}  # parting line x (m)
TIES = ("none", "ponytail", "bun")
CROWN = np.array([0.0, 0.095, -0.045])  # the whorl the hair grows away from (head frame, m)
BROW_HEIGHT = 0.028  # a fringe stops here (m, head frame)
FACE_HALF_WIDTH = 0.074  # loose hair in front of the face stays beyond |x| = this below the brow
FACE_FRONT = 0.02  # metres: "in front of the face" is z above this (the ears are behind it)
UP = np.array([0.0, 1.0, 0.0])
STEPS_PER_POINT = 2  # growth steps per output point
BEND_RATE = 40.0  # rad/m: how fast a limp strand turns down under full gravity
TAIL_MARGIN = 0.015  # metres: a ponytail's centreline keeps this far off the head


@dataclass(frozen=True)
class HairParams:
    """Parameters of a procedural hairstyle (lengths in metres along the strand).

    length_*: strand length at the front hairline (fringe area), on top, at the sides and at
    the back; 0 everywhere is bald. parting: "none", "left", "centre" or "right". fringe:
    0..1, how much the front hair falls forward over the forehead (0: combed back or aside).
    curl_radius (m) and curl_frequency (turns per metre): a helix; waviness (m amplitude) and
    wave_frequency (waves per metre): a planar sine. volume: thickness (m) of the hair shell
    over the scalp; lift: 0..1, how steeply strands leave the scalp; gravity, stiffness: 0..1.
    cut_height: blunt cut at this head-frame height (m), or None. tie: "none", "ponytail" or
    "bun"; tie_height: 0 (nape) .. 1 (crown); tail_length: ponytail tail (m) or bun radius
    (m). frizz: per-strand scatter (m) around the guides; clumping: 0 (smooth blend of the
    guides) .. 1 (strands copy their nearest guide: curl clumps). guides, points, count:
    guide strands, points per strand, strands in the dense hair.
    """

    length_fringe: float = 0.10
    length_top: float = 0.12
    length_sides: float = 0.10
    length_back: float = 0.12
    parting: str = "none"
    fringe: float = 0.0
    curl_radius: float = 0.0
    curl_frequency: float = 0.0
    waviness: float = 0.0
    wave_frequency: float = 10.0
    volume: float = 0.006
    lift: float = 0.3
    gravity: float = 1.0
    stiffness: float = 0.3
    cut_height: float | None = None
    tie: str = "none"
    tie_height: float = 0.5
    tail_length: float = 0.15
    frizz: float = 0.002
    clumping: float = 0.3
    guides: int = 600
    points: int = 32
    count: int = 10000

    def __post_init__(self):
        if self.parting not in PARTINGS:
            raise ValueError(f"parting must be one of {sorted(PARTINGS)}, not {self.parting!r}")
        if self.tie not in TIES:
            raise ValueError(f"tie must be one of {TIES}, not {self.tie!r}")
        for name in ("fringe", "lift", "gravity", "stiffness", "tie_height", "clumping"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], not {getattr(self, name)}")
        if self.points < 2 or self.guides < 1 or self.count < 0:
            raise ValueError("points must be >= 2, guides >= 1 and count >= 0")

    @property
    def bald(self) -> bool:
        return max(self.length_fringe, self.length_top, self.length_sides, self.length_back) <= 0

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(values: dict) -> "HairParams":
        """Parameters from a dict; unknown keys are an error."""
        known = {f.name for f in fields(HairParams)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown hair parameters: {sorted(unknown)}")
        return HairParams(**values)


def generate_guides(params: HairParams, vertices: np.ndarray, faces: np.ndarray, scalp: np.ndarray,
                    collider: Collider, name: str = "", color=(60, 40, 30), seed: int = 0) -> Hairstyle:
    """Guide strands of ``params`` on the head (V, 3), (F, 3) with scalp faces ``scalp``
    (K,) and its :class:`Collider`. Deterministic for a given ``seed``. Returns a Hairstyle of
    ``params.guides`` strands x ``params.points`` points (no strands when bald)."""
    rng = np.random.default_rng(seed)
    if params.bald:
        return empty_hairstyle(name, color, params.points, params.to_dict())
    face, bary = sample_surface(vertices, faces, scalp, 8 * params.guides, rng)
    cand, _ = root_points(vertices, faces, face, bary)
    pick = np.sort(spread_samples(cand, params.guides))
    face, bary = face[pick], bary[pick]
    roots, normals = root_points(vertices, faces, face, bary)
    if params.tie == "none":
        curves = grow(params, roots, normals, collider, rng)
    else:
        curves = tie(params, roots, normals, collider, rng)
    curves = add_curl(params, curves, normals, rng)
    if params.tie == "none":  # curls and waves swing too: keep the loose ones off the face
        curves = _clear_face(curves, _fringe_mask(params, roots))
    margins = shell_margins(params, curves, rng.random(len(curves)))
    curves = settle_on(collider, curves, margins)
    strands = resample(cut(curves, params.cut_height), params.points)
    strands = settle_on(collider, strands, shell_margins(params, strands, np.zeros(len(strands))))
    return Hairstyle(name, strands.astype(np.float32), face, bary, np.asarray(color, np.uint8),
                     strand_colors(color, len(strands), rng), params.to_dict())


def strand_groups(params: HairParams, roots: np.ndarray) -> np.ndarray:
    """(N,) int group of each root: strands blend only with guides of their own group (0:
    default, 1/2: the two sides of the parting, 3: the fringe)."""
    groups = np.zeros(len(roots), np.int64)
    part = PARTINGS[params.parting]
    if part is not None and params.tie == "none":
        near = (roots[:, 2] > CROWN[2] - 0.01) & (roots[:, 1] > 0.03)
        groups[near] = np.where(roots[near, 0] >= part, 1, 2)
    if params.fringe > 0 and params.tie == "none":
        groups[_fringe_zone(roots, part)] = 3
    return groups


def region_lengths(params: HairParams, roots: np.ndarray) -> np.ndarray:
    """(N,) strand length (m) at each root, blended between the four regions."""
    a = np.abs(azimuth_deg(roots - HEAD_CENTRE))
    front = 1 - _smoothstep(a, 35, 70)
    back = _smoothstep(a, 100, 150)
    sides = np.clip(1 - front - back, 0, 1)
    top = _smoothstep(roots[:, 1], 0.07, 0.1)
    ring = front * params.length_fringe + sides * params.length_sides + back * params.length_back
    return top * params.length_top + (1 - top) * ring


def comb_directions(params: HairParams, roots: np.ndarray, normals: np.ndarray) -> np.ndarray:
    """(N, 3) unit tangent directions the strands are combed in at their roots."""
    radial = roots - CROWN
    radial[:, 1] = np.minimum(radial[:, 1], 0) - 0.01  # never up, always a little down
    radial[:, 2] -= 0.015  # and a little back, which decides at the whorl itself
    front = _smoothstep(roots[:, 2], CROWN[2] - 0.01, CROWN[2] + 0.03)
    part = PARTINGS[params.parting]
    if part is not None:
        side = np.where(roots[:, 0] >= part, 1.0, -1.0)
        near = np.exp(-(((roots[:, 0] - part) / 0.045) ** 2)) * front
        away = np.column_stack([side, -0.35 * np.ones(len(roots)), -0.2 * np.ones(len(roots))])
        target = unit(radial) * (1 - near[:, None]) + unit(away) * near[:, None]
    else:
        back = np.tile([0.0, 0.15, -1.0], (len(roots), 1))  # swept back over the top
        target = unit(radial) * (1 - front[:, None]) + unit(back) * front[:, None]
    if params.fringe > 0:
        zone = _fringe_zone(roots, part).astype(float) * params.fringe
        forward = np.tile([0.0, -0.3, 1.0], (len(roots), 1))
        target = target * (1 - zone[:, None]) + unit(forward) * zone[:, None]
    tangent = target - np.einsum("ij,ij->i", target, normals)[:, None] * normals
    return unit(tangent)


def grow(params: HairParams, roots: np.ndarray, normals: np.ndarray, collider: Collider,
         rng: np.random.Generator) -> np.ndarray:
    """(N, S, 3) free strands grown from the roots: combed, lifted, bent by gravity, kept out
    of the head's shell and off the face."""
    steps = STEPS_PER_POINT * params.points
    length = region_lengths(params, roots)
    ds = length / (steps - 1)
    fringe = _fringe_mask(params, roots)
    lift = (0.1 + 1.3 * params.lift) * np.where(fringe, 0.3, 1.0)
    d = unit(comb_directions(params, roots, normals) + lift[:, None] * normals)
    bend = BEND_RATE * params.gravity * (1 - 0.85 * params.stiffness)
    layer = rng.random(len(roots))
    out = np.empty((len(roots), steps, 3))
    out[:, 0] = roots
    arc = np.zeros(len(roots))
    stopped = np.zeros(len(roots), bool)
    for k in range(1, steps):
        d = unit(d - (bend * ds)[:, None] * UP)
        p = out[:, k - 1] + ds[:, None] * d
        arc += ds
        p, stop = _keep_off_face(p, out[:, k - 1], fringe, ds)
        stopped |= stop
        margin = _shell(params, arc, layer)
        p, d = _slide(collider, p, d, margin)
        out[:, k] = np.where(stopped[:, None], out[:, k - 1], p)
    return out


def tie(params: HairParams, roots: np.ndarray, normals: np.ndarray, collider: Collider,
        rng: np.random.Generator) -> np.ndarray:
    """(N, S, 3) tied strands: over the scalp to the tie point, then a ponytail or a bun."""
    n = len(roots)
    steps = STEPS_PER_POINT * params.points
    anchor, out_dir = tie_point(params, collider)
    radius = params.tail_length if params.tie == "bun" else 0.012
    knot = anchor + out_dir * (radius + 0.004 if params.tie == "bun" else 0.008)
    # Over the scalp: round the head centre, arching up and back (never across the face),
    # then pushed onto the shell.
    k1 = steps // 2
    t = np.linspace(0, 1, k1)[None, :, None]
    a, b = roots - HEAD_CENTRE, anchor - HEAD_CENTRE
    ra, rb = np.linalg.norm(a, axis=1)[:, None, None], np.linalg.norm(b)
    ua, ub = unit(a)[:, None], unit(b)[None, None]
    arch = unit(ua + ub + np.array([0.0, 1.0, -0.5]))
    direction = unit((1 - t) * ua + t * ub + 4 * t * (1 - t) * arch)
    path = HEAD_CENTRE + direction * (ra * (1 - t) + rb * t)
    path[:, -1] = anchor + out_dir * 0.004 + _disc(rng, n, out_dir) * 0.006
    layer = rng.random(n)
    for _ in range(6):
        margin = MARGIN + 0.0015 * layer[:, None] * np.sin(np.pi * t[..., 0]) ** 0.5
        ids = collider.sample_ids(path)
        depth = margin - collider.rest.signed_distance(path, ids)
        path += np.maximum(depth, 0)[..., None] * collider.rest.normals[ids]
        path[:, 1:-1] = 0.5 * path[:, 1:-1] + 0.25 * (path[:, :-2] + path[:, 2:])
    path[:, 0] = roots
    k2 = steps - k1
    s = np.linspace(0, 1, k2 + 1)[1:][None, :, None]
    if params.tie == "bun":
        u = unit(path[:, -1] - knot)
        v = unit(np.cross(u, rng.normal(size=(n, 3))))
        turns = 1.2 + 1.3 * rng.random(n)
        theta = 2 * np.pi * turns[:, None, None] * s
        r = radius * (0.55 + 0.45 * np.sqrt(rng.random(n)))[:, None, None] * (1 - 0.3 * s)
        tail = knot + r * (np.cos(theta) * u[:, None] + np.sin(theta) * v[:, None])
    else:
        centre = _tail_centre(params, knot, out_dir, collider, k2)
        tangent = unit(np.gradient(centre, axis=0))
        side = unit(np.cross(tangent, np.array([1.0, 0, 0])) + 1e-9)
        other = np.cross(tangent, side)
        spread = (0.006 + 0.012 * s[0, :, 0] + params.frizz * 2)[None, :, None]
        angle = (rng.random(n) * 2 * np.pi)[:, None, None]
        rho = np.sqrt(rng.random(n))[:, None, None]
        tail = centre[None] + rho * (np.cos(angle) * side[None] + np.sin(angle) * other[None]) * spread
    return np.concatenate([path, tail], axis=1)


def tie_point(params: HairParams, collider: Collider) -> tuple[np.ndarray, np.ndarray]:
    """Where a tied style is gathered: a point on the back midline of the head at
    ``tie_height`` (0: nape, 1: crown) and the outward normal there."""
    pts, nrm = collider.rest.points, collider.rest.normals
    height = -0.045 + 0.14 * params.tie_height
    row = np.flatnonzero((np.abs(pts[:, 0]) < 0.01) & (np.abs(pts[:, 1] - height) < 0.006) & (pts[:, 2] < 0))
    i = row[pts[row, 2].argmin()]  # the back-most: on the outside of the head
    return pts[i], nrm[i]


def add_curl(params: HairParams, curves: np.ndarray, normals: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add the helix (curl) and the planar sine (waves) around every (N, S, 3) curve, faded in
    over the first 2 cm from the root. ``normals``: (N, 3) scalp normals at the roots."""
    if params.curl_radius <= 0 and params.waviness <= 0:
        return curves
    n, s = curves.shape[:2]
    tangent = unit(np.gradient(curves, axis=1))
    b1 = np.empty_like(curves)
    ref = normals
    for k in range(s):  # rotation-minimising frame, started from the scalp normal
        ref = unit(ref - np.einsum("ij,ij->i", ref, tangent[:, k])[:, None] * tangent[:, k] + 1e-12)
        b1[:, k] = ref
    b2 = np.cross(tangent, b1)
    arc = np.concatenate([np.zeros((n, 1)), np.cumsum(np.linalg.norm(np.diff(curves, axis=1), axis=2), 1)], 1)
    fade = np.clip(arc / 0.02, 0, 1)[..., None]
    out = curves.copy()
    if params.curl_radius > 0:
        freq = params.curl_frequency * (1 + 0.15 * rng.normal(size=(n, 1)))
        theta = 2 * np.pi * freq * arc + rng.random((n, 1)) * 2 * np.pi
        radius = params.curl_radius * (0.75 + 0.5 * rng.random((n, 1)))
        out += fade * radius[..., None] * (np.cos(theta)[..., None] * b1 + np.sin(theta)[..., None] * b2)
    if params.waviness > 0:
        phase = rng.random((n, 1)) * 2 * np.pi
        wave = params.waviness * np.sin(2 * np.pi * params.wave_frequency * arc + phase)
        out += fade * wave[..., None] * b2
    return out


def cut(curves: np.ndarray, height: float | None) -> np.ndarray:
    """Blunt cut: every curve ends where it first goes below ``height`` (head-frame y); the
    cut part is folded back onto the last kept point (resampling drops it)."""
    if height is None:
        return curves
    below = curves[..., 1] < height
    below[:, :2] = False
    first = np.where(below.any(1), below.argmax(1), curves.shape[1])
    keep = np.arange(curves.shape[1])[None] < first[:, None]
    last = curves[np.arange(len(curves)), first - 1]
    return np.where(keep[..., None], curves, last[:, None])


def shell_margins(params: HairParams, strands: np.ndarray, layer: np.ndarray) -> np.ndarray:
    """(N, P) distances to keep from the head: the collision margin (no more than a point's
    arc length from its root allows) plus the volume shell at ``layer`` (N,) in [0, 1]."""
    arc = np.concatenate([np.zeros((len(strands), 1)),
                          np.cumsum(np.linalg.norm(np.diff(strands, axis=1), axis=2), axis=1)], axis=1)
    base = np.minimum(MARGIN, 0.0004 + arc)
    if params.tie != "none":
        return base
    return base + _shell(params, arc, layer[:, None]) - MARGIN


def settle_on(collider: Collider, strands: np.ndarray, margins) -> np.ndarray:
    """Push strands out of the collider's rest head (follow the leader, lengths kept)."""
    lengths = np.linalg.norm(np.diff(strands, axis=1), axis=2)
    return settle(strands, HeadShape(collider, collider.rest), collider.sample_ids(strands), margins, lengths)[0]


def _shell(params: HairParams, arc, layer):
    """Margin (m) at arc length ``arc`` for a strand in shell layer ``layer`` in [0, 1]."""
    return MARGIN + params.volume * layer * np.clip(np.asarray(arc) / 0.02, 0, 1)


def _tail_centre(params: HairParams, knot: np.ndarray, out_dir: np.ndarray, collider: Collider,
                 count: int) -> np.ndarray:
    """(count, 3) centreline of a ponytail from the knot, hanging under gravity off the head."""
    d = unit(out_dir + np.array([0, -0.4, 0]))[None]
    ds = params.tail_length / count
    bend = BEND_RATE * params.gravity * (1 - 0.8 * params.stiffness) * ds
    points = np.empty((count, 3))
    p = knot[None]
    for k in range(count):
        d = unit(d - bend * UP)
        p, d = _slide(collider, p + ds * d, d, TAIL_MARGIN)
        points[k] = p[0]
    return points


def _slide(collider: Collider, p: np.ndarray, d: np.ndarray, margin) -> tuple[np.ndarray, np.ndarray]:
    """Points (N, 3) pushed out to ``margin`` off the rest head; for those pushed, the
    direction of growth (N, 3) loses its part into the surface (the strand slides along)."""
    ids = collider.sample_ids(p)
    normal = collider.rest.normals[ids]
    depth = margin - collider.rest.signed_distance(p, ids)
    hit = (depth > 0)[:, None]
    p = p + np.maximum(depth, 0)[:, None] * normal
    into = np.minimum(np.einsum("ij,ij->i", d, normal), 0)[:, None]
    return p, np.where(hit, unit(d - into * normal), d)


def _keep_off_face(p: np.ndarray, previous: np.ndarray, fringe: np.ndarray,
                   step: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """No hair in front of the face below the brow: a fringe stops at the brow; other hair
    there steps sideways from ``previous`` instead (its ``step`` (N,) long, no lower) until
    it is past the face. Returns the moved (N, 3) points and (N,) which fringe strands just
    reached the brow."""
    zone = (p[:, 2] > FACE_FRONT) & (np.abs(p[:, 0]) < FACE_HALF_WIDTH) & (p[:, 1] < BROW_HEIGHT)
    p = p.copy()
    aside = np.flatnonzero(zone & ~fringe)
    p[aside] = previous[aside]
    p[aside, 0] += np.where(p[aside, 0] >= 0, 1.0, -1.0) * step[aside]
    return p, zone & fringe


def _clear_face(curves: np.ndarray, fringe: np.ndarray) -> np.ndarray:
    """(N, S, 3) curves whose points in front of the face below the brow (fringe strands
    excepted) are moved sideways out of it."""
    x, y, z = curves[..., 0], curves[..., 1], curves[..., 2]
    zone = (z > FACE_FRONT) & (np.abs(x) < FACE_HALF_WIDTH) & (y < BROW_HEIGHT) & ~fringe[:, None]
    out = curves.copy()
    out[..., 0] = np.where(zone, np.where(x >= 0, FACE_HALF_WIDTH, -FACE_HALF_WIDTH), x)
    return out


def _fringe_mask(params: HairParams, roots: np.ndarray) -> np.ndarray:
    """(N,) bool: the roots a fringe style combs forward (none without a fringe)."""
    if params.fringe <= 0:
        return np.zeros(len(roots), bool)
    return _fringe_zone(roots, PARTINGS[params.parting])


def _fringe_zone(roots: np.ndarray, part: float | None) -> np.ndarray:
    """(N,) bool: roots along the front hairline that a fringe combs forward."""
    zone = (roots[:, 2] > 0.035) & (np.abs(roots[:, 0]) < 0.055) & (roots[:, 1] > 0.035)
    if part is not None:
        zone &= np.abs(roots[:, 0] - part) > 0.008
    return zone


def _disc(rng: np.random.Generator, n: int, normal: np.ndarray) -> np.ndarray:
    """(n, 3) points uniform in the unit disc perpendicular to ``normal``."""
    a = unit(np.cross(normal, [1.0, 0, 0]) + 1e-9)
    b = np.cross(normal, a)
    ang, rho = rng.random(n) * 2 * np.pi, np.sqrt(rng.random(n))
    return rho[:, None] * (np.cos(ang)[:, None] * a + np.sin(ang)[:, None] * b)


def _smoothstep(x, lo: float, hi: float):
    t = np.clip((np.asarray(x, np.float64) - lo) / (hi - lo), 0, 1)
    return t * t * (3 - 2 * t)
