"""The scalp under the hair, painted as the hair's roots would colour it.

Strands are thin; between them a real head shows more hair, and where hair is thin or
parted, scalp. The paint follows the strands' root density on the surface: at every texel
of a coarse grid (``GRID`` texels across) the density of roots around its point on the head
is a Gaussian kernel estimate (roots per square metre; the kernel ``SIGMA`` wide, or
``SPACINGS`` root spacings when roots are sparse, so that thin hair gives an even thin
paint rather than spots), and the paint's opacity rises with it,
``OPACITY * (1 - exp(-density / FULL_DENSITY))``: nearly opaque under a full
head of hair, partial under thin hair, none along a parting or past the hairline, which
fades over a few millimetres. The colour is the kernel-weighted mean of the nearby strands'
own colours, ``ROOT_SHADE`` darker (roots, shadow). The grid is filled past its UV islands'
edges (nearest texel) before it is scaled up to the albedo's size, so seams get no dark rim.
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import distance_transform_edt
from scipy.spatial import cKDTree

from headforge.render.raster import rasterize_uv

SIGMA = 0.0035  # metres: the density kernel's narrowest width (roots of 10k strands lie ~1.3 mm apart)
SPACINGS = 2.5  # ... and at least this many times the roots' median spacing (sparse hair: wider)
REACH = 2.0  # kernels are cut at this many sigmas
NEIGHBOURS = 64  # at most this many roots per kernel (~25 lie within the reach)
FULL_DENSITY = 3e4  # roots per m^2 that give 63 % of OPACITY (a full 10k-strand head: ~1.4e5)
OPACITY = 0.92  # the paint's opacity under dense hair (a little skin tone stays)
ROOT_SHADE = 0.6  # the painted colour: the strands' colour this much darker
GRID = 256  # texels across the grid the density is estimated on
EDGE = 1.0  # the grid's smoothing (Gaussian sigma, grid texels) before it is scaled up


def paint_scalp(albedo: np.ndarray, vertices: np.ndarray, faces: np.ndarray, uvs: np.ndarray,
                face_uvs: np.ndarray, roots: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 copy of ``albedo`` with the scalp under the hair painted.

    vertices: (V, 3) head (metres, same frame as ``roots``); faces, face_uvs: (F, 3) int;
    uvs: (T, 2) texture coordinates (OBJ convention: v up); roots: (N, 3) strand roots;
    colors: (N, 3) sRGB uint8 colours of those strands (or (3,) one for all)."""
    roots = np.asarray(roots, np.float64)
    if not len(roots):
        return albedo
    alpha, paint = scalp_paint(vertices, faces, uvs, face_uvs, roots, colors, GRID)
    if not alpha.any():
        return albedo
    size = albedo.shape[0]
    layers = cv2.GaussianBlur(np.dstack([paint * alpha[..., None], alpha]), (0, 0), EDGE)  # premultiplied
    layers = cv2.resize(layers, (size, size), interpolation=cv2.INTER_LINEAR)
    alpha = layers[..., 3:]
    return np.clip(albedo * (1 - alpha) + layers[..., :3] + 0.5, 0, 255).astype(np.uint8)


def scalp_paint(vertices, faces, uvs, face_uvs, roots: np.ndarray, colors, grid: int) -> tuple[np.ndarray, np.ndarray]:
    """(grid, grid) float32 opacity and (grid, grid, 3) float32 sRGB paint (0..255) in texture
    space, both filled past the UV islands with their nearest island texel."""
    frags = rasterize_uv(uvs, face_uvs, grid)
    inside = frags.face >= 0
    corners = np.asarray(vertices, np.float64)[np.asarray(faces)[frags.face[inside]]]  # (n, 3, 3)
    points = np.einsum("nk,nkc->nc", frags.bary[inside].astype(np.float64), corners)
    tree = cKDTree(roots)
    spacing = float(np.median(tree.query(roots, k=2)[0][:, 1])) if len(roots) > 1 else 0.0
    sigma = max(SIGMA, SPACINGS * spacing)
    reach = REACH * sigma
    near_hair = np.isfinite(tree.query(points, distance_upper_bound=reach)[0])  # most texels are not
    distance = np.full((len(points), min(NEIGHBOURS, len(roots))), np.inf)
    index = np.full(distance.shape, len(roots))
    found = tree.query(points[near_hair], k=distance.shape[1], distance_upper_bound=reach, workers=2)
    distance[near_hair], index[near_hair] = (a.reshape(-1, distance.shape[1]) for a in found)
    near = np.isfinite(distance)
    weight = np.where(near, np.exp(-0.5 * (np.where(near, distance, 0) / sigma) ** 2), 0.0)
    density = weight.sum(1) / (2 * np.pi * sigma**2)
    colors = np.broadcast_to(np.asarray(colors, np.float64).reshape(-1, 3), (len(roots), 3))
    mean = np.einsum("nk,nkc->nc", weight, colors[np.minimum(index, len(roots) - 1)])
    mean = np.where(density[:, None] > 0, mean / np.maximum(weight.sum(1, keepdims=True), 1e-12), 0.0)
    alpha = np.zeros((grid, grid), np.float32)
    paint = np.zeros((grid, grid, 3), np.float32)
    alpha[inside] = OPACITY * (1 - np.exp(-density / FULL_DENSITY))
    paint[inside] = ROOT_SHADE * mean
    # Nearest island texel everywhere outside the islands: scaling up and smoothing then
    # blend each island edge with itself, not with the empty space around it.
    _, (rows, cols) = distance_transform_edt(~inside, return_indices=True)
    return alpha[rows, cols], paint[rows, cols]


def worn_albedo(avatar) -> np.ndarray:
    """(S, S, 3) uint8: the :class:`~headforge.core.avatar.Avatar`'s albedo as exported and
    shown, the scalp under its hair painted in the hair's color; ``avatar.albedo`` itself when
    it has no hair. Computed once per hair and albedo (cached on the avatar)."""
    if avatar.hair is None or not avatar.hair.count:
        return avatar.albedo
    hair, albedo, worn = avatar._worn
    if hair is not avatar.hair or albedo is not avatar.albedo:
        m = avatar.mesh
        worn = paint_scalp(avatar.albedo, m.vertices, m.faces, m.uvs, m.face_uvs, avatar.hair.strands[:, 0],
                           avatar.hair.colors)
        avatar._worn = (avatar.hair, avatar.albedo, worn)
    return worn
