"""Exact queries on triangle meshes (metres, any frame): inside tests by ray parity and the
creases (sharp concave edges) where plane estimates of the distance to a surface go wrong.
Closest points are :func:`headforge.core.geometry.closest_points`."""
from __future__ import annotations

import numpy as np

CREASE_DEG = 30.0  # a concave edge this sharp makes a crease


def points_inside(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray, axis: int = 1,
                  cell: float = 0.003, batch: int = 1 << 22) -> np.ndarray:
    """(M,) bool: exact inside test of (M, 3) points against the closed mesh (V, 3), (F, 3)
    (use :meth:`ClosedSurface.from_mesh` to close a head first), by the parity of crossings
    of a ray along +``axis`` (default +Y: from hair, a ray up meets the least of a head).
    Triangles are binned on a grid of ``cell`` metres across the ray; an edge that the ray
    grazes exactly is decided by a symbolic perturbation of the ray, so shared edges count
    once."""
    order = [k for k in range(3) if k != axis] + [axis]  # the ray runs along the last axis
    tri = np.asarray(vertices, np.float64)[np.asarray(faces)][..., order]
    pts = np.asarray(points, np.float64).reshape(-1, 3)[:, order]
    inside = np.zeros(len(pts), bool)
    lo, hi = tri.reshape(-1, 3).min(0), tri.reshape(-1, 3).max(0)
    top = tri[:, :, 2].max(1)
    cand = np.flatnonzero(np.all((pts >= lo) & (pts <= hi), axis=1))
    if not len(cand):
        return inside
    shape = np.maximum(np.ceil((hi[:2] - lo[:2]) / cell).astype(np.int64), 1)
    tlo = np.clip(((tri[:, :, :2].min(1) - lo[:2]) // cell).astype(np.int64), 0, shape - 1)
    thi = np.clip(((tri[:, :, :2].max(1) - lo[:2]) // cell).astype(np.int64), 0, shape - 1)
    span = thi - tlo + 1
    counts = span[:, 0] * span[:, 1]
    tri_id = np.repeat(np.arange(len(tri)), counts)
    pos = np.arange(len(tri_id)) - np.repeat(np.cumsum(counts) - counts, counts)
    cx = tlo[tri_id, 0] + pos % span[tri_id, 0]
    cy = tlo[tri_id, 1] + pos // span[tri_id, 0]
    order = np.argsort(cx * shape[1] + cy, kind="stable")
    bins = (cx * shape[1] + cy)[order]
    tri_sorted = tri_id[order]
    starts = np.searchsorted(bins, np.arange(shape[0] * shape[1] + 1))
    pc = np.clip(((pts[cand, :2] - lo[:2]) // cell).astype(np.int64), 0, shape - 1)
    pbin = pc[:, 0] * shape[1] + pc[:, 1]
    per_point = starts[pbin + 1] - starts[pbin]
    crossings = np.zeros(len(cand), np.int64)
    ends = np.cumsum(per_point)
    first = 0
    while first < len(cand):
        last = max(int(np.searchsorted(ends, (ends[first - 1] if first else 0) + batch, "right")), first + 1)
        k = per_point[first:last]
        local = np.repeat(np.arange(first, last), k)
        offset = np.arange(len(local)) - np.repeat(np.cumsum(k) - k, k)
        tid = tri_sorted[starts[pbin[local]] + offset]
        above = top[tid] > pts[cand[local], 2]  # the ray only meets triangles reaching above q
        tid, local = tid[above], local[above]
        hit = _ray_hits(tri[tid], pts[cand[local]])
        crossings[first:last] = np.bincount(local[hit] - first, minlength=last - first)
        first = last
    inside[cand] = crossings % 2 == 1
    return inside


def _ray_hits(tri: np.ndarray, q: np.ndarray) -> np.ndarray:
    """(K,) bool: does the ray from (K, 3) q along +Z (the last axis) cross triangle (K, 3, 3)?"""
    inside = np.ones(len(q), bool)
    signs = []
    for a, b in ((0, 1), (1, 2), (2, 0)):
        pa, pb = tri[:, a, :2], tri[:, b, :2]
        e = (pb[:, 0] - pa[:, 0]) * (q[:, 1] - pa[:, 1]) - (pb[:, 1] - pa[:, 1]) * (q[:, 0] - pa[:, 0])
        # On the edge line: perturb the ray by (+eps, +eps^2) and take the sign it gets.
        tie = np.where(pb[:, 1] != pa[:, 1], -(pb[:, 1] - pa[:, 1]), pb[:, 0] - pa[:, 0])
        signs.append(np.sign(np.where(e != 0, e, tie)))
    inside &= (signs[0] == signs[1]) & (signs[1] == signs[2]) & (signs[0] != 0)
    # Height of the triangle's plane above q, along the ray.
    a, b, c = tri[:, 0], tri[:, 1], tri[:, 2]
    n = np.cross(b - a, c - a)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = a[:, 2] + (n[:, 0] * (a[:, 0] - q[:, 0]) + n[:, 1] * (a[:, 1] - q[:, 1])) / n[:, 2]
    return inside & (z > q[:, 2])


def crease_faces(vertices: np.ndarray, faces: np.ndarray, degrees: float = CREASE_DEG, rings: int = 2) -> np.ndarray:
    """(F,) bool: faces with a concave edge sharper than ``degrees`` (the neighbour across it
    rises above the face's plane), grown by ``rings`` rings of faces sharing a vertex."""
    tri = np.asarray(vertices, np.float64)[faces]
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-30)
    centre = tri.mean(1)
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    owner = np.tile(np.arange(len(faces)), 3)
    order = np.lexsort((edges[:, 1], edges[:, 0]))
    shared = np.flatnonzero((edges[order[1:]] == edges[order[:-1]]).all(1))
    a, b = owner[order[shared]], owner[order[shared + 1]]
    concave = np.einsum("ij,ij->i", centre[b] - centre[a], normal[a]) > 0
    sharp = np.einsum("ij,ij->i", normal[a], normal[b]) < np.cos(np.radians(degrees))
    flagged = np.zeros(len(faces), bool)
    flagged[a[concave & sharp]] = flagged[b[concave & sharp]] = True
    for _ in range(rings):
        touched = np.zeros(int(np.max(faces)) + 1, bool)
        touched[faces[flagged].ravel()] = True
        flagged = touched[faces].any(1)
    return flagged

