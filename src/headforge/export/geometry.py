"""Per-vertex data the exporters need: UV-seam splitting and tangents (smooth normals come
from :func:`headforge.render.shading.vertex_normals`).

All positions are (N, 3) in the head frame (metres); faces are (F, 3) counter-clockwise
seen from outside; texture coordinates follow OBJ (v grows upwards).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from headforge.core.geometry import unit, uv_gradients


@dataclass
class SeamSplit:
    """A mesh re-indexed so that each vertex has exactly one texture coordinate.

    vertex_ids: (N,) int64 index of the original vertex of each split vertex.
    uvs: (N, 2) float32 texture coordinate of each split vertex (OBJ convention).
    faces: (F, 3) int64 faces indexing the split vertices, same order as the input faces.
    """

    vertex_ids: np.ndarray
    uvs: np.ndarray
    faces: np.ndarray


def split_uv_seams(faces: np.ndarray, face_uvs: np.ndarray, uvs: np.ndarray) -> SeamSplit:
    """Split vertices at UV seams: one output vertex per unique (vertex, uv value) pair.

    faces, face_uvs: (F, 3) int indices into the vertices and into ``uvs`` (T, 2).
    """
    corner_uv = np.asarray(uvs, np.float32)[np.asarray(face_uvs).ravel()]
    keys = np.column_stack([np.asarray(faces).ravel().astype(np.float64), corner_uv])
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    return SeamSplit(
        vertex_ids=unique[:, 0].astype(np.int64),
        uvs=unique[:, 1:].astype(np.float32),
        faces=inverse.reshape(-1, 3).astype(np.int64),
    )


def tangents(
    vertices: np.ndarray, normals: np.ndarray, uvs: np.ndarray, faces: np.ndarray
) -> np.ndarray:
    """(N, 4) float32 tangents for normal mapping, from per-vertex positions, unit normals
    and OBJ-convention ``uvs`` (N, 2).

    xyz is the unit direction of increasing u, made orthogonal to the normal; w = +1 or -1
    so that cross(normal, xyz) * w points along increasing v (image up), as glTF expects.
    """
    p = np.asarray(vertices, np.float64)
    face_t, face_b = uv_gradients(p, faces, uvs, faces)  # dP/du, dP/dv scaled by the UV area
    acc_t, acc_b = np.zeros_like(p), np.zeros_like(p)
    for corner in range(3):
        np.add.at(acc_t, faces[:, corner], face_t)
        np.add.at(acc_b, faces[:, corner], face_b)
    n = np.asarray(normals, np.float64)
    acc_t -= n * np.sum(acc_t * n, axis=1, keepdims=True)
    # Fallback for vertices without a usable UV gradient: any direction orthogonal to n.
    helper = np.where(np.abs(n[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])
    fallback = np.cross(np.cross(n, helper), n)
    length = np.linalg.norm(acc_t, axis=1, keepdims=True)
    tan = np.where(length > 1e-12, acc_t / np.maximum(length, 1e-30), unit(fallback, helper))
    w = np.where(np.sum(np.cross(n, tan) * acc_b, axis=1) < 0.0, -1.0, 1.0)
    return np.column_stack([tan, w]).astype(np.float32)
