"""Shared geometry: rotations, unit vectors, barycentric interpolation, closest points on a
triangle mesh, vertex normals, least-squares similarities and UV gradients.

Units follow the caller (the head frame is metres, Y up, the face looks along +Z); angles are
radians. Functions take plain numpy arrays (or torch tensors where stated) with the shapes in
their docstrings. torch and scipy are imported by the functions that use them, so that the data
types built on this module (camera, avatar) stay light to import.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

CANDIDATE_FACES = 8  # faces (by centre) searched for each closest-point query


def rotation_matrices(rotvec: "torch.Tensor") -> "torch.Tensor":
    """(..., 3) axis-angle -> (..., 3, 3) rotations (Rodrigues), differentiable at zero."""
    import torch

    theta2 = (rotvec * rotvec).sum(-1, keepdim=True)[..., None]
    theta = torch.sqrt(theta2 + 1e-12)
    x, y, z = rotvec.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*rotvec.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=rotvec.dtype).expand_as(k)
    return eye + torch.sin(theta) / theta * k + (1 - torch.cos(theta)) / (theta2 + 1e-12) * (k @ k)


def rotation_x(angle: float) -> np.ndarray:
    """(3, 3) rotation by ``angle`` radians about +X (right-handed: +Y turns towards +Z)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])


def rotation_y(angle: float) -> np.ndarray:
    """(3, 3) rotation by ``angle`` radians about +Y, the yaw (right-handed: +Z turns towards +X)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rotation_z(angle: float) -> np.ndarray:
    """(3, 3) rotation by ``angle`` radians about +Z (right-handed: +X turns towards +Y)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def unit(v: np.ndarray, default: np.ndarray | None = None) -> np.ndarray:
    """``v`` (..., D) scaled to unit length along the last axis. Zero vectors stay zero, or
    (with ``default``, broadcastable to ``v``) rows shorter than 1e-20 become ``default``."""
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    if default is None:
        return v / np.where(n > 0, n, 1)
    return np.where(n > 1e-20, v / np.maximum(n, 1e-30), default)


def scatter_add(index: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Sum (M, 3) ``values`` into (n, 3) rows given by (M,) ``index``."""
    return np.stack([np.bincount(index, values[:, c], n) for c in range(3)], 1)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) float32 unit area-weighted vertex normals, outward for counter-clockwise faces;
    vertices with no (or only degenerate) faces get +Z, so every normal is a unit vector."""
    v = np.asarray(vertices, np.float64)
    faces = np.asarray(faces)
    tri = v[faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    acc = scatter_add(faces.ravel(), np.repeat(fn, 3, 0), len(v))
    length = np.linalg.norm(acc, axis=1, keepdims=True)
    return np.where(length > 1e-20, acc / np.maximum(length, 1e-30), [0.0, 0.0, 1.0]).astype(np.float32)


def interpolate(values, corners: np.ndarray, bary):
    """Per-vertex ``values`` (..., V, C) blended at N surface points given by the (N, 3) vertex
    ids of their triangles ``corners`` and their (N, 3) barycentric weights -> (..., N, C).
    numpy arrays or torch tensors (then ``bary`` is a tensor too)."""
    if isinstance(values, np.ndarray):
        return np.einsum("nk,...nkc->...nc", bary, np.take(values, corners, axis=-2))
    import torch

    return torch.einsum("nk,...nkc->...nc", bary, values[..., corners, :])


def closest_points(vertices: np.ndarray, faces: np.ndarray, points: np.ndarray,
                   face_ids: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closest point on the mesh (V, 3), (F, 3) (restricted to ``face_ids`` if given) to each
    (M, 3) point: (M,) face ids, (M, 3) barycentric coordinates, (M, 3) positions (float64).
    Candidate faces are the ``CANDIDATE_FACES`` nearest by centre, which is exact for meshes of
    even triangles."""
    from scipy.spatial import cKDTree

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


def _where(c1: np.ndarray, c2: np.ndarray, current: np.ndarray, value: np.ndarray) -> np.ndarray:
    return np.where((c1 & c2)[:, None], value, current)


@dataclass
class Similarity:
    """x -> scale * rotation @ x + translation (rotation (3, 3), translation (3,))."""

    scale: float
    rotation: np.ndarray
    translation: np.ndarray

    def apply(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) points mapped, float64."""
        return self.scale * np.asarray(points, np.float64) @ self.rotation.T + self.translation

    def after(self, first: "Similarity") -> "Similarity":
        """The similarity that applies ``first``, then this one."""
        return Similarity(self.scale * first.scale, self.rotation @ first.rotation,
                          self.scale * self.rotation @ first.translation + self.translation)


def umeyama(source: np.ndarray, target: np.ndarray, scale: bool = True) -> Similarity:
    """Least-squares similarity (or rigid when ``scale`` is False) that maps the (N, 3)
    ``source`` points onto their paired (N, 3) ``target`` points (Umeyama 1991)."""
    ms, mt = source.mean(0), target.mean(0)
    xs, xt = source - ms, target - mt
    u, sig, vt = np.linalg.svd(xt.T @ xs / len(source))
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rotation = u @ d @ vt
    s = float(np.trace(np.diag(sig) @ d) / (xs ** 2).sum(1).mean()) if scale else 1.0
    return Similarity(s, rotation, mt - s * rotation @ ms)


def uv_gradients(vertices: np.ndarray, faces: np.ndarray, uvs: np.ndarray,
                 face_uvs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per face (F, 3) float64 tangent (direction of +u) and bitangent (+v) of the surface in
    the vertices' frame, each scaled by the face's UV area (``vertices`` (V, 3), ``faces`` and
    ``face_uvs`` (F, 3), ``uvs`` (T, 2)). The exact gradient divides by det (twice the UV area);
    multiplying back by |det| keeps its sign and weighs faces by their UV area when summed at
    the vertices, like area-weighted normals."""
    v = np.asarray(vertices, np.float64)[faces]
    t = np.asarray(uvs, np.float64)[face_uvs]
    dp1, dp2 = v[:, 1] - v[:, 0], v[:, 2] - v[:, 0]
    du1, dv1 = t[:, 1, 0] - t[:, 0, 0], t[:, 1, 1] - t[:, 0, 1]
    du2, dv2 = t[:, 2, 0] - t[:, 0, 0], t[:, 2, 1] - t[:, 0, 1]
    w = np.sign(du1 * dv2 - du2 * dv1)[:, None]
    tangent = (dp1 * dv2[:, None] - dp2 * dv1[:, None]) * w
    bitangent = (dp2 * du1[:, None] - dp1 * du2[:, None]) * w
    return tangent, bitangent
