"""Unwrap the photo into the head's texture map and fill what the photo does not show.

Per texel of the (S, S) texture: its point on the posed head is projected into the photo; it
takes the photo's colour when that point is visible (z-buffer test), faces the camera and lies
on the face region. The photo's shading (grey spherical harmonics on the fitted head's smooth
normals, :mod:`headforge.texture.delight`) is divided out of those colours, so the texture is a
de-lit albedo; left-right symmetry then lends the other side's colour to hidden texels, and a
weighted pull-push pyramid fills the rest (back of the head, gutters between UV islands) from
the surrounding colours and the person's median skin tone, without seams.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.spatial import cKDTree

from headforge.core.camera import Camera
from headforge.render.raster import rasterize, rasterize_uv
from headforge.core.geometry import interpolate, unit
from headforge.core.images import pool_2x2
from headforge.core.geometry import vertex_normals
from headforge.texture.delight import delight, fit_shading, shading
from headforge.texture.trust import FaceMaps, skin_likelihood

VISIBILITY_TOLERANCE_M = 0.004
MIN_FACING = 0.2
MIRROR_TRUST = 0.8
VISIBILITY_SIDE = 1024
PRIOR_WEIGHT = 0.003  # per texel: low, so the border colours of the observed face reach far
LIGHT_FIT_WEIGHT = 0.5  # texels seen at least this well fit the shading
DELIT_TOLERANCE = 1.5  # skin-colour tolerance of the de-lit texels where head hair tends to fall
SKIN_FLOOR = 0.1  # likelihoods below this count as not skin, above 1 - this as skin


@dataclass
class Unwrapped:
    """albedo: (S, S, 3) uint8 de-lit colour, every texel filled; observed: (S, S) float32 in
    [0, 1], how much of each texel comes from the photo; light: (9,) float32 grey SH shading
    coefficients of the photo, camera frame (:func:`headforge.texture.delight.shading`)."""

    albedo: np.ndarray
    observed: np.ndarray
    light: np.ndarray


@dataclass
class TexelMap:
    """Where each texel lies on the mesh, for one UV layout and texture size.

    inside: (S, S) bool, texels on some UV island; rows, cols: (n,) indices of those texels;
    face: (n,) int32 face under each; bary: (n, 3) float32 barycentric weights on its corners;
    mirror: (S, S, 2) float32 texel (x, y) of the left-right mirrored surface point (-1 if none).
    """

    size: int
    inside: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    face: np.ndarray
    bary: np.ndarray
    mirror: np.ndarray


def build_texel_map(vertices, faces, uvs, face_uvs, size: int) -> TexelMap:
    """Rasterise the UV layout (``vertices`` (V, 3) of a symmetric neutral head, x = 0 the
    mirror plane) and find every texel's mirror texel."""
    frags = rasterize_uv(uvs, face_uvs, size)
    face, bary = frags.face, frags.bary

    # Mirror vertex of each vertex, then mirror face of each face (same vertex order).
    tree = cKDTree(vertices)
    dist, mirror_vertex = tree.query(vertices * np.array([-1, 1, 1]))
    mirror_vertex[dist > 1e-4] = -1
    key = {tuple(sorted(f)): i for i, f in enumerate(faces.tolist())}
    mirror_face = np.full(len(faces), -1)
    order = np.zeros((len(faces), 3), np.int64)
    for i, f in enumerate(faces.tolist()):
        m = [int(mirror_vertex[v]) for v in f]
        j = key.get(tuple(sorted(m)), -1) if min(m) >= 0 else -1
        if j >= 0:
            mirror_face[i] = j
            order[i] = [faces[j].tolist().index(v) for v in m]

    mirror = np.full((size, size, 2), -1, np.float32)
    ys, xs = np.nonzero(face >= 0)
    texel_face, texel_bary = face[ys, xs], bary[ys, xs]
    mf = mirror_face[texel_face]
    ok = mf >= 0
    f, mf, b = texel_face[ok], mf[ok], texel_bary[ok]
    # Barycentric weight of the mirror face's corner k is the weight of the corner mapped to it.
    mb = np.zeros_like(b)
    np.put_along_axis(mb, order[f], b, axis=1)
    muv = interpolate(uvs, face_uvs[mf], mb)  # corners in the mirror face's own order
    mirror[ys[ok], xs[ok]] = np.stack([muv[:, 0] * size - 0.5, (1 - muv[:, 1]) * size - 0.5], 1)
    return TexelMap(size, face >= 0, ys, xs, texel_face, texel_bary, mirror)


def unwrap_texture(
    photo: np.ndarray,
    camera: Camera,
    vertices: np.ndarray,
    faces: np.ndarray,
    texels: TexelMap,
    maps: FaceMaps,
) -> Unwrapped:
    """The de-lit texture of the head, filled, with the observed weight and the photo's light.

    photo: (H, W, 3) uint8 at the camera's resolution; camera: the fitted camera for that
    resolution; vertices: (V, 3) posed head (head frame); maps: where the photo shows the
    face's skin (:func:`headforge.texture.trust.face_maps`, at any resolution). Texels whose
    de-lit colour is not the skin's (hair, a microphone, a glasses frame) outside the features
    are occluders: the fill replaces them.
    """
    h, w = photo.shape[:2]
    size = texels.size
    ys, xs, b = texels.rows, texels.cols, texels.bary
    corners, v32 = faces[texels.face], vertices.astype(np.float32)
    points = interpolate(v32, corners, b)
    cam_points = camera.to_camera(points)
    pix = camera.project(points)

    # Visibility: the texel's depth against a z-buffer of the posed head (at most
    # VISIBILITY_SIDE pixels: enough for the test, and cheap for a 12-megapixel photo).
    factor = min(1.0, VISIBILITY_SIDE / max(w, h))
    vis_camera = camera.resized(factor, max(1, round(w * factor)), max(1, round(h * factor)))
    zbuf = rasterize(_raster_points(vis_camera, vertices), faces, vis_camera.width, vis_camera.height).depth
    vx, vy = _pixel_index(vis_camera.project(points), zbuf.shape)
    on_image = (pix[:, 0] >= 0) & (pix[:, 0] <= w - 1) & (pix[:, 1] >= 0) & (pix[:, 1] <= h - 1)
    visible = on_image & (cam_points[:, 2] <= zbuf[vy, vx] + VISIBILITY_TOLERANCE_M)
    tx, ty = _pixel_index((pix + 0.5) * (maps.trust.shape[1] / w) - 0.5, maps.trust.shape)

    # Smooth normals (camera frame): the facing weight and the shading do not show the facets.
    smooth = vertex_normals(vertices, faces)
    n_cam = unit(interpolate(smooth, faces[texels.face], b) @ camera.R.T.astype(np.float32))
    to_camera = -cam_points / np.linalg.norm(cam_points, axis=1, keepdims=True)
    facing = np.einsum("nc,nc->n", n_cam, to_camera)
    weight = np.clip((facing - MIN_FACING) / (1 - MIN_FACING), 0, 1) ** 0.5
    weight *= visible * maps.trust[ty, tx]

    color = np.zeros((size, size, 3), np.float32)
    observed = np.zeros((size, size), np.float32)
    map_x = np.full((size, size), -1, np.float32)
    map_y = np.full((size, size), -1, np.float32)
    map_x[ys, xs], map_y[ys, xs] = pix[:, 0], pix[:, 1]
    sampled = cv2.remap(photo, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    # De-lighting: grey SH shading on the smooth normals, divided out.
    seen = sampled[ys, xs].astype(np.float32)
    fit = weight >= LIGHT_FIT_WEIGHT
    light = fit_shading(seen[fit], n_cam[fit], weight[fit])
    delit = delight(seen, shading(n_cam, light))
    weight *= skin_weight(delit, weight, maps.features[ty, tx], maps.hair[ty, tx])
    color[ys, xs] = delit
    observed[ys, xs] = weight

    # Symmetry: a hidden texel borrows its mirror texel's colour, trusted a little less.
    mx, my = texels.mirror[..., 0], texels.mirror[..., 1]
    mirrored = cv2.remap(color, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    mirrored_w = cv2.remap(observed, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    mirrored_w *= MIRROR_TRUST * (mx >= 0)
    total = observed + mirrored_w * (1 - observed)
    blend = np.where(total[..., None] > 0, (color * observed[..., None] + mirrored * (mirrored_w * (1 - observed))[..., None]) / np.maximum(total, 1e-6)[..., None], 0)

    # Skin tone: robust median of well-observed texels, a weak everywhere-prior for the fill.
    good = observed > 0.7
    tone = np.median(color[good], axis=0) if good.sum() > 50 else np.array([180, 140, 120], np.float32)
    prior_w = PRIOR_WEIGHT * texels.inside
    weights = total + prior_w * (1 - total)
    data = blend * total[..., None] + tone * (prior_w * (1 - total))[..., None]
    filled = pull_push(data, weights)
    return Unwrapped(np.clip(filled + 0.5, 0, 255).astype(np.uint8), observed, light)


def skin_weight(colors: np.ndarray, weight: np.ndarray, features: np.ndarray, hair: np.ndarray) -> np.ndarray:
    """(N,) in [0, 1]: how much each de-lit (N, 3) sRGB colour looks like the skin of the
    well-seen (``weight`` > 0.7), featureless texels, where head hair tends to fall ((N,)
    ``hair`` territory, as :func:`headforge.texture.trust.face_maps` does on the lit photo, but
    the shading no longer makes skin look like hair); 1 on the (N,) ``features`` and on the
    central and lower face (beards, stubble and lips are the person's own)."""
    lab = cv2.cvtColor(colors.reshape(-1, 1, 3).astype(np.float32) / 255, cv2.COLOR_RGB2Lab).reshape(-1, 3)
    lab /= np.array([100, 128, 128], np.float32)
    sample = (weight > 0.7) & (features < 0.1)
    if sample.sum() < 200:
        return np.ones(len(colors), np.float32)
    like = skin_likelihood(lab, lab[sample], DELIT_TOLERANCE)
    skin = np.clip((like * hair + (1 - hair) - SKIN_FLOOR) / (1 - 2 * SKIN_FLOOR), 0, 1)
    return np.maximum(skin, features).astype(np.float32)


def _pixel_index(pix: np.ndarray, shape) -> tuple[np.ndarray, np.ndarray]:
    """Nearest (column, row) indices of (N, 2) pixel coordinates, clamped to an image of ``shape``."""
    x = np.clip(np.round(pix[:, 0]).astype(int), 0, shape[1] - 1)
    y = np.clip(np.round(pix[:, 1]).astype(int), 0, shape[0] - 1)
    return x, y


def _raster_points(camera: Camera, vertices: np.ndarray) -> np.ndarray:
    cam = camera.to_camera(vertices)
    return np.concatenate([camera.project(vertices), cam[:, 2:3]], 1)


def pull_push(weighted: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Fill an image from sparse samples: ``weighted`` (H, W, C) holds colour * weight,
    ``weight`` (H, W) in [0, 1]. Returns (H, W, C) colours, smooth where weights are low."""
    if min(weight.shape) <= 1 or weight.min() >= 1.0:
        return weighted / np.maximum(weight, 1e-6)[..., None]
    h, w = weight.shape
    ph, pw = h + h % 2, w + w % 2
    d = np.zeros((ph, pw, weighted.shape[2]), np.float32)
    wt = np.zeros((ph, pw), np.float32)
    d[:h, :w], wt[:h, :w] = weighted, weight
    d2, w2 = pool_2x2(d), pool_2x2(wt)
    scale = np.minimum(w2, 1.0) / np.maximum(w2, 1e-6)
    coarse = pull_push(d2 * scale[..., None], w2 * scale)
    up = cv2.resize(coarse, (pw, ph), interpolation=cv2.INTER_LINEAR)[:h, :w]
    if up.ndim == 2:
        up = up[..., None]
    a = np.minimum(weight, 1.0)[..., None]
    return weighted / np.maximum(weight, 1e-6)[..., None] * a + up * (1 - a)
