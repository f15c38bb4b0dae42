"""Offscreen rendering of triangle meshes (textured or not) and vertex visibility."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from headforge.render import shading
from headforge.core.camera import Camera
from headforge.render.raster import Fragments, rasterize
from headforge.core.geometry import interpolate, unit, vertex_normals


@dataclass
class Render:
    """An image and its per-pixel geometry, H x W as the camera.

    image: (H, W, 3) uint8 RGB. mask: (H, W) bool, pixels covered by the mesh (or strands).
    face: (H, W) int32 index of the visible mesh face, -1 where none (background, or a
    strand on top). depth: (H, W) float32 camera z in metres of the visible surface, inf
    where empty. strand: (H, W) int32 index of the visible hair strand, -1 where none;
    None for a render without strands.
    """

    image: np.ndarray
    mask: np.ndarray
    face: np.ndarray
    depth: np.ndarray
    strand: np.ndarray | None = None


def backdrop(base: Render | None, camera: Camera, background) -> Render:
    """What strands or cards are drawn over: ``base`` (checked to be the camera's size), or,
    when None, an empty render of the ``background`` colour (0..255 or 0..1 RGB)."""
    h, w = camera.height, camera.width
    if base is None:
        return Render(
            np.broadcast_to(np.rint(shading.as_rgb01(background) * 255).astype(np.uint8), (h, w, 3)),
            np.zeros((h, w), bool), np.full((h, w), -1, np.int32), np.full((h, w), np.inf, np.float32))
    if base.image.shape[:2] != (h, w):
        raise ValueError(f"base render is {base.image.shape[:2]}, camera is {(h, w)}")
    return base


def render_mesh(
    vertices: np.ndarray,
    faces: np.ndarray,
    camera: Camera,
    *,
    uvs: np.ndarray | None = None,
    face_uvs: np.ndarray | None = None,
    texture: np.ndarray | None = None,
    vertex_colors: np.ndarray | None = None,
    color=(0.75, 0.75, 0.75),
    normal_map: np.ndarray | None = None,
    background=(255, 255, 255),
    lighting: str = "studio",
    supersample: int = 1,
) -> Render:
    """Render a mesh with a pinhole camera; deterministic, CPU only.

    vertices: (V, 3) world metres; faces: (F, 3) int (either winding: both sides are drawn
    and lit). Albedo, first given wins: ``texture`` (S, S, 3) uint8 sampled bilinearly at
    perspective-correct ``uvs`` (T, 2) via ``face_uvs`` (F, 3) (``face_uvs`` defaults to
    ``faces`` when uvs are per vertex); ``vertex_colors`` (V, 3); the constant ``color``
    (integers 0..255, floats 0..1). ``normal_map``: optional (S, S, 3) uint8 tangent-space
    map (OpenGL convention, green = +v), needs uvs. ``lighting``: 'studio' (ambient, key
    light from the camera's upper left, weak fill, a little specular; smooth vertex
    normals) or 'flat' (the albedo exactly, unlit). ``supersample`` n renders the image on
    an n times finer grid and box-filters it (antialiasing); mask, face and depth are
    always sampled at the pixel centres.
    """
    if lighting not in ("studio", "flat"):
        raise ValueError(f"lighting must be 'studio' or 'flat', got {lighting!r}")
    vertices = np.asarray(vertices, np.float64)
    faces = np.asarray(faces, np.int64).reshape(-1, 3)
    if uvs is not None and face_uvs is None:
        face_uvs = faces
    surface = _Surface(vertices, faces, camera, uvs, face_uvs, texture, vertex_colors, color, normal_map, lighting)
    frags = _raster(vertices, faces, camera)
    fine_cam = camera.scaled(supersample) if supersample > 1 else camera
    fine = frags if fine_cam is camera else _raster(vertices, faces, fine_cam)
    rgb = np.empty((fine_cam.height * fine_cam.width, 3), np.float32)
    rgb[:] = shading.as_rgb01(background)
    covered = np.flatnonzero(fine.face.ravel() >= 0)
    rgb[covered] = surface.shade(fine, covered)
    rgb = rgb.reshape(fine_cam.height, fine_cam.width, 3)
    if supersample > 1:
        rgb = rgb.reshape(camera.height, supersample, camera.width, supersample, 3).mean((1, 3))
    image = np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)
    return Render(image, frags.mask, frags.face, frags.depth)


def visible_vertices(vertices: np.ndarray, faces: np.ndarray, camera: Camera, *, tol: float = 0.005) -> np.ndarray:
    """(V,) bool: the vertex projects inside the image and is not hidden by the mesh.

    A vertex counts as visible when the face seen at its nearest pixel is one of its own
    faces, or when its camera depth is at most (1 + tol) times the depth seen there (tol is
    relative: 0.005 is 3 mm at 0.6 m). Faces at grazing angles count as visible: weigh
    them by the normal if that matters.
    """
    vertices = np.asarray(vertices, np.float64)
    faces = np.asarray(faces, np.int64).reshape(-1, 3)
    frags = _raster(vertices, faces, camera)
    scr = camera.to_screen(vertices)
    with np.errstate(invalid="ignore"):
        px, py = np.rint(scr[:, 0]), np.rint(scr[:, 1])
        ok = (scr[:, 2] > 0) & (px >= 0) & (px < camera.width) & (py >= 0) & (py < camera.height)
    idx = np.flatnonzero(ok)
    pix = py[idx].astype(np.int64) * camera.width + px[idx].astype(np.int64)
    seen_face = frags.face.ravel()[pix]
    own = (seen_face >= 0) & (faces[np.maximum(seen_face, 0)] == idx[:, None]).any(1)
    in_front = scr[idx, 2] <= frags.depth.ravel()[pix] * (1 + tol)
    visible = np.zeros(len(vertices), bool)
    visible[idx] = own | in_front
    return visible


def _raster(vertices: np.ndarray, faces: np.ndarray, camera: Camera) -> Fragments:
    return rasterize(camera.to_screen(vertices), faces, camera.width, camera.height, perspective=True)


class _Surface:
    """Per-vertex attributes of a mesh prepared once, shaded at covered pixels."""

    def __init__(self, vertices, faces, camera, uvs, face_uvs, texture, vertex_colors, color, normal_map, lighting):
        if uvs is None and (texture is not None or normal_map is not None):
            raise ValueError("a texture or normal_map needs uvs")
        self.faces = faces
        self.face_uvs = None if face_uvs is None else np.asarray(face_uvs, np.int64).reshape(-1, 3)
        self.uvs = None if uvs is None else np.asarray(uvs, np.float32)
        self.texture = texture
        self.vertex_colors = None if vertex_colors is None else shading.as_rgb01(vertex_colors)
        self.color = shading.as_rgb01(color)
        self.lit = lighting == "studio"
        self.normal_map = normal_map if self.lit else None  # flat: the albedo only
        if not self.lit:
            return
        R = np.asarray(camera.R, np.float64)
        self.normals = (vertex_normals(vertices, faces) @ R.T).astype(np.float32)
        # Faces seen from their back side get their normals flipped (two-sided lighting).
        tri = camera.to_camera(vertices)[faces]
        geometric = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        self.side = np.where(np.sum(geometric * tri[:, 0], 1) > 0, -1.0, 1.0).astype(np.float32)
        if normal_map is not None:
            t, b = shading.uv_tangents(vertices, faces, self.uvs, self.face_uvs)
            self.tangents = (t @ R.T).astype(np.float32)
            self.bitangents = (b @ R.T).astype(np.float32)

    def shade(self, frags: Fragments, pixels: np.ndarray) -> np.ndarray:
        """(N, 3) float32 0..1 colours of the flat pixel indices ``pixels`` of ``frags``."""
        face = frags.face.ravel().take(pixels)
        bary = frags.bary.reshape(-1, 3).take(pixels, 0)
        uv = None
        if self.uvs is not None and (self.texture is not None or self.normal_map is not None):
            uv = interpolate(self.uvs, self.face_uvs.take(face, 0), bary)
        if self.texture is not None:
            albedo = shading.sample_bilinear(self.texture, uv) * np.float32(1 / 255)
        elif self.vertex_colors is not None:
            albedo = interpolate(self.vertex_colors, self.faces.take(face, 0), bary)
        else:
            albedo = np.broadcast_to(self.color, (len(face), 3))
        if not self.lit:
            return albedo
        normal = interpolate(self.normals, self.faces.take(face, 0), bary)
        if self.normal_map is not None:
            corners = self.face_uvs.take(face, 0)
            tangent = interpolate(self.tangents, corners, bary)
            bitangent = interpolate(self.bitangents, corners, bary)
            texel = shading.sample_bilinear(self.normal_map, uv) * np.float32(1 / 255)
            normal = shading.perturb_normals(normal, tangent, bitangent, texel)
        normal *= self.side.take(face)[:, None]
        return albedo * shading.studio_light(unit(normal))
