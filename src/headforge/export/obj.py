"""Wavefront OBJ export: the head with the fitted expression applied, its MTL and textures.

Files (fixed names): head.obj (v in metres, head frame; vt in OBJ convention; vn smooth;
f v/vt/vn), head.mtl, head_albedo.png and head_normal.png (tangent-space normal map).
:func:`read_obj` reads such a head.obj back (with trimesh).
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import trimesh

from headforge.core.avatar import Avatar
from headforge.core.geometry import vertex_normals
from headforge.core.images import encode_png

OBJ_NAME, MTL_NAME = "head.obj", "head.mtl"
ALBEDO_NAME, NORMAL_NAME = "head_albedo.png", "head_normal.png"

_MTL = f"""newmtl head
Ka 1.000000 1.000000 1.000000
Kd 1.000000 1.000000 1.000000
Ks 0.000000 0.000000 0.000000
d 1.000000
illum 1
map_Kd {ALBEDO_NAME}
map_Bump -bm 1 {NORMAL_NAME}
norm {NORMAL_NAME}
"""


def obj_text(avatar: Avatar) -> str:
    """The head.obj text of the posed mesh (``avatar.mesh.posed(avatar.expression)``)."""
    mesh = avatar.mesh
    vertices = mesh.posed(avatar.expression)
    faces = np.asarray(mesh.faces, np.int64)
    corners = np.stack([faces, np.asarray(mesh.face_uvs, np.int64), faces], axis=2) + 1
    return "".join([
        f"mtllib {MTL_NAME}\no head\n",
        _lines("v %.6f %.6f %.6f\n", vertices),
        _lines("vt %.6f %.6f\n", mesh.uvs),
        _lines("vn %.6f %.6f %.6f\n", vertex_normals(vertices, faces)),
        "usemtl head\n",
        _lines("f %d/%d/%d %d/%d/%d %d/%d/%d\n", corners.reshape(len(faces), 9)),
    ])


def _lines(fmt: str, rows: np.ndarray) -> str:
    """``fmt`` applied to every row of a 2-D array, in one string formatting call."""
    return (fmt * len(rows)) % tuple(np.asarray(rows).ravel().tolist())


def read_obj(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(V, 3) float32 vertices, (F, 3) int32 faces, (T, 2) float32 uvs and (F, 3) int32 face
    uvs of a head.obj as :func:`obj_text` writes it. trimesh splits a vertex wherever its
    corners have other uvs (a UV seam); the positions are merged back, bitwise-equal ones into
    one, in the file's order, so vertex i is the file's ``v`` line i (every one is used by a
    face and no two are equal, as a head's are). The uvs are the distinct ``vt`` values in the
    order the vertices first use them."""
    mesh = trimesh.load(io.BytesIO(data), file_type="obj", process=False, skip_materials=True, force="mesh")
    faces = np.asarray(mesh.faces, np.int64)
    vertices, vertex_of = _distinct(np.asarray(mesh.vertices, np.float64))
    uvs, uv_of = _distinct(np.asarray(mesh.visual.uv, np.float64))
    return (vertices.astype(np.float32), vertex_of[faces].astype(np.int32), uvs.astype(np.float32),
            uv_of[faces].astype(np.int32))


def _distinct(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (bitwise) rows of a (N, D) float64 array in the order they first appear,
    and the (N,) index of each row among them."""
    bits = np.ascontiguousarray(rows).view(np.uint64)
    _, first, inverse = np.unique(bits, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rows[first[order]], rank[inverse.reshape(-1)]


def obj_files(
    avatar: Avatar, albedo_png: bytes | None = None, normal_png: bytes | None = None
) -> dict[str, bytes]:
    """{file name: content} for the four OBJ files. ``albedo_png``/``normal_png``: already
    encoded textures to reuse; encoded from ``avatar`` when None."""
    return {
        OBJ_NAME: obj_text(avatar).encode(),
        MTL_NAME: _MTL.encode(),
        ALBEDO_NAME: encode_png(avatar.albedo) if albedo_png is None else albedo_png,
        NORMAL_NAME: encode_png(avatar.normal_map) if normal_png is None else normal_png,
    }


def write_obj(avatar: Avatar, folder: str | Path) -> Path:
    """Write head.obj, head.mtl and the two textures into ``folder`` (created if needed).
    Returns the path of head.obj."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in obj_files(avatar).items():
        (folder / name).write_bytes(data)
    return folder / OBJ_NAME
