"""Try-on: a hairstyle made on the reference head, fitted to another head.

Same topology (every head the default model makes): the roots keep their (face,
barycentric) place and move with the target's triangles; every other point is carried by a
smooth field of the surface's change (the change of the nearby surface for points near the
head, a wider average farther out: :class:`headforge.hair.collision.Smoother`), so hair near
the head follows its shape and hair away from it moves as a whole. Strand lengths are then
restored root to tip while points are pushed out of the target head (follow the leader), and
points near creases of the target (where ears meet the head), for which the plane estimate
of the distance can be wrong, are checked exactly and moved out if inside: none is left
inside and the hair keeps its scale (it is not resized with the head).

Other topologies (e.g. a FLAME head) go through :func:`fit_to_mesh`: the reference head is
registered onto the target surface (similarity, then a smooth non-rigid warp), the hair
follows that warp, and is re-rooted and settled on the target mesh itself.
"""
from __future__ import annotations

import numpy as np

from headforge.hair.collision import MARGIN, Collider, HeadShape, settle
from headforge.core.geometry import closest_points
from headforge.hair.meshquery import crease_faces, points_inside
from headforge.hair.reference import ReferenceHead, reference_head
from headforge.hair.registration import register_surfaces
from headforge.hair.scalp import ROOT_LIFT, root_points
from headforge.core.strands import Hairstyle

GUARD_BAND = 0.012  # metres: points this near a crease (by the estimate) are checked exactly
GUARD_ROUNDS = 3
FIELD_STRIDE = 4  # the head's change is evaluated at every 4th strand point


def fit_hairstyle(style: Hairstyle, head: ReferenceHead, vertices: np.ndarray) -> Hairstyle:
    """``style`` (on ``head``'s reference vertices) fitted to ``vertices`` (V, 3), a head of
    the same topology in the head frame. Returns a new Hairstyle on ``vertices``."""
    if style.count == 0:
        return style
    target = np.asarray(vertices, np.float64)
    collider = head.collider
    shape = HeadShape(collider, collider.surface.samples(target))
    roots, _ = root_points(target, head.faces, style.root_face, style.root_bary)
    ids = collider.sample_ids(style.strands)
    rest_distance = collider.rest.signed_distance(style.strands, ids)
    strands = style.strands + _along_strands(collider.smoother, shape.shift, style.strands)
    strands[:, 0] = roots
    strands, ids = settle(strands, shape, ids, _margins(rest_distance), _segment_lengths(style.strands))
    strands = guard(strands, ids, shape, target)
    return _with_strands(style, strands, style.root_face, style.root_bary)


def fit_on_head(style: Hairstyle, vertices: np.ndarray, faces: np.ndarray,
                head: ReferenceHead | None = None) -> Hairstyle:
    """``style`` (on the reference head, default :func:`reference_head`) fitted to a head (V,
    3), (F, 3): by its triangles when it has the reference topology (fast), else by
    registration (:func:`fit_to_mesh`, seconds)."""
    head = head or reference_head()
    if len(vertices) == len(head.vertices) and np.array_equal(faces, head.faces):
        return fit_hairstyle(style, head, vertices)
    return fit_to_mesh(style, head, vertices, faces)


def fit_to_mesh(style: Hairstyle, head: ReferenceHead, vertices: np.ndarray, faces: np.ndarray) -> Hairstyle:
    """``style`` fitted to a head of any topology, (V', 3) ``vertices`` and (F', 3) ``faces``
    roughly in the head frame (the registration solves for scale, rotation and translation
    and a smooth non-rigid warp). Roots land on the target's own triangles. Takes seconds
    (the target's collision grid is built)."""
    if style.count == 0:
        return style
    warped = register_surfaces(head.vertices, head.faces, vertices, faces).warped
    carried = fit_hairstyle(style, head, warped)
    face, bary, on_target = closest_points(vertices, faces, carried.strands[:, 0].astype(np.float64))
    tri = np.asarray(vertices, np.float64)[np.asarray(faces)[face]]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    strands = carried.strands.astype(np.float64)
    strands[:, 0] = on_target + ROOT_LIFT * normal / np.linalg.norm(normal, axis=1, keepdims=True)
    collider = Collider.build(vertices, faces)
    shape = HeadShape(collider, collider.rest)
    margins = _margins(head.collider.signed_distance(style.strands))
    strands, ids = settle(strands, shape, collider.sample_ids(strands), margins, _segment_lengths(style.strands))
    strands = guard(strands, ids, shape, vertices)
    return _with_strands(style, strands, face.astype(np.int32), bary.astype(np.float32))


def guard(strands: np.ndarray, ids: np.ndarray, shape: HeadShape, vertices: np.ndarray) -> np.ndarray:
    """Exact check of the (N, P, 3) points (nearest samples ``ids`` (N, P)) that lie within
    ``GUARD_BAND`` of a crease face of ``shape``'s head on ``vertices``: any inside the head
    moves to ``MARGIN`` outside its closest surface point (a few rounds)."""
    surface = shape.collider.surface
    ext = surface.extend(vertices)
    risky = crease_faces(ext, surface.faces)[surface.sample_face]
    points = strands[:, 1:].reshape(-1, 3).copy()
    flat = ids[:, 1:].ravel()
    check = np.flatnonzero(risky[flat] & (shape.samples.signed_distance(points, flat) < GUARD_BAND))
    for _ in range(GUARD_ROUNDS):
        if not len(check):
            break
        check = check[points_inside(ext, surface.faces, points[check])]
        face, _, closest = closest_points(ext, surface.faces, points[check])
        tri = ext[surface.faces[face]]
        normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        points[check] = closest + MARGIN * normal / np.linalg.norm(normal, axis=1, keepdims=True)
    out = strands.copy()
    out[:, 1:] = points.reshape(len(strands), -1, 3)
    return out


def _along_strands(field, values: np.ndarray, strands: np.ndarray, every: int = FIELD_STRIDE) -> np.ndarray:
    """(N, P, C) smooth ``field`` of the sample ``values`` at the strand points, evaluated at
    every ``every``-th point (and the tip) and interpolated along the strand in between."""
    p = strands.shape[1]
    at = np.unique(np.append(np.arange(0, p, every), p - 1))
    coarse = field(values, strands[:, at].reshape(-1, 3)).reshape(len(strands), len(at), -1)
    j = np.arange(p)
    k = np.clip(np.searchsorted(at, j, side="right") - 1, 0, len(at) - 2)
    t = ((j - at[k]) / (at[k + 1] - at[k]))[None, :, None]
    return coarse[:, k] * (1 - t) + coarse[:, k + 1] * t


def _margins(rest_distance: np.ndarray) -> np.ndarray:
    """(N, P) distance to keep from the target head: as far out as on the rest head, at
    least the roots' lift and at most ``MARGIN`` (short strands stay as short)."""
    return np.clip(rest_distance, ROOT_LIFT, MARGIN)


def _segment_lengths(strands: np.ndarray) -> np.ndarray:
    return np.linalg.norm(np.diff(strands.astype(np.float64), axis=1), axis=2)


def _with_strands(style: Hairstyle, strands: np.ndarray, face: np.ndarray, bary: np.ndarray) -> Hairstyle:
    return Hairstyle(style.name, strands.astype(np.float32), face, bary, style.color, style.colors, style.params)
