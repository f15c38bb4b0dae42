"""Shading helpers: colours, texture sampling, normals, tangents and the fixed studio lights.

Colours given as integers are 0..255, as floats 0..1; internally everything is float32
0..1. Light directions are in the camera frame (x right, y down, z forward) and point from
the surface towards the light.
"""
from __future__ import annotations

import numpy as np

from headforge.core.geometry import scatter_add, unit, uv_gradients

AMBIENT = 0.22
# Key light from the camera's upper left, a weak fill from the right; (direction, intensity).
KEY = (np.array([-0.55, -0.6, -1.0]) / np.linalg.norm([-0.55, -0.6, -1.0]), 0.72)
FILL = (np.array([0.8, -0.1, -0.6]) / np.linalg.norm([0.8, -0.1, -0.6]), 0.25)
SPECULAR = 0.12
SHININESS = 24.0


def as_rgb01(color) -> np.ndarray:
    """Colour array (..., 3): integer dtype 0..255 or float 0..1 -> float32 0..1."""
    c = np.asarray(color)
    return (c / 255.0 if np.issubdtype(c.dtype, np.integer) else c).astype(np.float32)


def srgb_to_linear(color) -> np.ndarray:
    """(..., 3) sRGB colours (integers 0..255, floats 0..1) -> float64 linear 0..1."""
    c = as_rgb01(color).astype(np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(color) -> np.ndarray:
    """(..., 3) float linear 0..1 -> float64 sRGB 0..1 (clipped to 0..1 first)."""
    c = np.clip(np.asarray(color, np.float64), 0, 1)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)


def sample_bilinear(image: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinearly sample an (H, W, C) image at (N, 2) OBJ texture coordinates.

    (0, 0) is the bottom-left corner of the image and v grows upwards; texel (row i,
    column j) is centred at u = (j + 0.5) / W, v = 1 - (i + 0.5) / H. Clamps at the
    borders. Returns (N, C) float32 in the image's own units.
    """
    h, w = image.shape[:2]
    img = image.reshape(h * w, -1)
    x = np.clip(uv[:, 0].astype(np.float32) * w - 0.5, 0, w - 1)
    y = np.clip((1 - uv[:, 1].astype(np.float32)) * h - 0.5, 0, h - 1)
    x0 = np.minimum(x.astype(np.int64), max(w - 2, 0))
    y0 = np.minimum(y.astype(np.int64), max(h - 2, 0))
    fx = (x - x0.astype(np.float32))[:, None]
    fy = (y - y0.astype(np.float32))[:, None]
    i = y0 * w + x0
    dx, dy = min(1, w - 1), min(1, h - 1) * w
    tl, tr = img.take(i, 0).astype(np.float32), img.take(i + dx, 0).astype(np.float32)
    bl, br = img.take(i + dy, 0).astype(np.float32), img.take(i + dy + dx, 0).astype(np.float32)
    top = tl + (tr - tl) * fx
    bottom = bl + (br - bl) * fx
    return top + (bottom - top) * fy


def uv_tangents(vertices, faces, uvs, face_uvs) -> tuple[np.ndarray, np.ndarray]:
    """Per texture-coordinate (T, 3) tangents (direction of +u) and bitangents (+v) in the
    vertices' frame, accumulated over the faces that use each texture coordinate (so
    they stay continuous in UV space, and split at UV seams)."""
    tangent, bitangent = uv_gradients(vertices, faces, uvs, face_uvs)
    idx, n = face_uvs.ravel(), len(uvs)
    return (
        scatter_add(idx, np.repeat(tangent, 3, 0), n),
        scatter_add(idx, np.repeat(bitangent, 3, 0), n),
    )


def perturb_normals(normal, tangent, bitangent, texel) -> np.ndarray:
    """Apply tangent-space normal-map texels (N, 3) 0..1 (OpenGL convention: green = +v)
    to (N, 3) surface normals with interpolated (N, 3) tangents and bitangents."""
    n = unit(normal)
    t = unit(tangent - n * np.einsum("ij,ij->i", tangent, n)[:, None])
    b = np.cross(n, t)
    b *= np.where(np.einsum("ij,ij->i", b, bitangent) < 0, -1.0, 1.0).astype(np.float32)[:, None]
    m = texel * 2.0 - 1.0
    return unit(t * m[:, 0:1] + b * m[:, 1:2] + n * m[:, 2:3])


def studio_light(normal: np.ndarray) -> np.ndarray:
    """(N, 1) float32 intensity for (N, 3) unit camera-frame normals: ambient, diffuse key
    and fill, and a Blinn-Phong highlight of the key light for a distant viewer."""
    n = normal.astype(np.float32, copy=False)
    out = np.full(len(n), AMBIENT, np.float32)
    for d, i in (KEY, FILL):
        out += i * np.maximum(n @ d.astype(np.float32), 0)
    half = (KEY[0] + [0.0, 0.0, -1.0]) / np.linalg.norm(KEY[0] + [0.0, 0.0, -1.0])
    out += SPECULAR * np.maximum(n @ half.astype(np.float32), 0) ** SHININESS
    return out[:, None]


def strand_light(tangent: np.ndarray) -> np.ndarray:
    """(N, 1) diffuse intensity of hair fibres with (N, 3) unit camera-frame tangents
    (Kajiya-Kay: brightest when the light is perpendicular to the fibre)."""
    out = np.full((len(tangent), 1), AMBIENT, np.float32)
    for d, i in (KEY, FILL):
        cos = tangent @ d.astype(np.float32)
        out[:, 0] += i * np.sqrt(np.maximum(1 - cos * cos, 0))
    return out
