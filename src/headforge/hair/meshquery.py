"""Exact queries on triangle meshes (metres, any frame): inside tests by ray parity,
closest points, and the creases (sharp concave edges) where plane estimates of the distance
to a surface go wrong."""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

CANDIDATE_FACES = 8  # faces (by centre) searched for each closest-point query
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


def closest_points(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray,
                   face_ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closest point on the mesh (restricted to ``face_ids`` if given) to each (M, 3) point:
    (M,) face ids, (M, 3) barycentric coordinates, (M, 3) positions. Candidate faces are the
    ``CANDIDATE_FACES`` nearest by centre, which is exact for meshes of even triangles."""
    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces)
    ids = np.arange(len(f)) if face_ids is None else np.asarray(face_ids)
    tri = v[f[ids]]
    k = min(CANDIDATE_FACES, len(ids))
    _, cand = cKDTree(tri.mean(1)).query(points, k=k)
    cand = cand.reshape(len(points), k)
    p = np.repeat(np.asarray(points, np.float64), k, axis=0)
    t = tri[cand.ravel()]
    bary = closest_on_triangles(p, t[:, 0], t[:, 1], t[:, 2])
    q = np.einsum("nk,nkd->nd", bary, t)
    best = np.linalg.norm(q - p, axis=1).reshape(len(points), k).argmin(1)
    pick = np.arange(len(points)) * k + best
    return ids[cand.ravel()[pick]], bary[pick], q[pick]


def closest_on_triangles(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """(N, 3) barycentric coordinates of the point of triangle (a, b, c) closest to p
    (all (N, 3)), by the Voronoi regions of the vertices, edges and face."""
    ab, ac = b - a, c - a
    def dot(x, y):
        return np.einsum("nd,nd->n", x, y)
    d1, d2 = dot(ab, p - a), dot(ac, p - a)
    d3, d4 = dot(ab, p - b), dot(ac, p - b)
    d5, d6 = dot(ab, p - c), dot(ac, p - c)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = va + vb + vc
        v, w = vb / denom, vc / denom
        bary = np.column_stack([1 - v - w, v, w])
        # Later rules win, so the order is the reverse of the usual sequence of tests.
        t = (d4 - d3) / ((d4 - d3) + (d5 - d6))
        bary = _where(va <= 0, (d4 - d3 >= 0) & (d5 - d6 >= 0), bary, np.column_stack([0 * t, 1 - t, t]))
        t = d2 / (d2 - d6)
        bary = _where(vb <= 0, (d2 >= 0) & (d6 <= 0), bary, np.column_stack([1 - t, 0 * t, t]))
        bary = _where(d6 >= 0, d5 <= d6, bary, np.array([0.0, 0, 1]))
        t = d1 / (d1 - d3)
        bary = _where(vc <= 0, (d1 >= 0) & (d3 <= 0), bary, np.column_stack([1 - t, t, 0 * t]))
        bary = _where(d3 >= 0, d4 <= d3, bary, np.array([0.0, 1, 0]))
        bary = _where(d1 <= 0, d2 <= 0, bary, np.array([1.0, 0, 0]))
    return np.nan_to_num(bary, nan=1 / 3)


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


def _where(c1: np.ndarray, c2: np.ndarray, current: np.ndarray, value: np.ndarray) -> np.ndarray:
    return np.where((c1 & c2)[:, None], value, current)
