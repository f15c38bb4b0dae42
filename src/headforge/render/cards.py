"""Hair cards (:class:`headforge.hair.cards.HairCards`: any object with its arrays) drawn as a
glTF viewer draws the GLB's hair: alpha-tested (MASK) against a mipmapped RGBA texture,
colour = vertex colour x texture, two-sided with the normal flipped on back faces, lit by
the studio lights."""
from __future__ import annotations

import numpy as np

from headforge.render import shading
from headforge.core.camera import Camera
from headforge.render.mesh import Render, backdrop
from headforge.render.raster import rasterize
from headforge.core.geometry import interpolate, unit

ALPHA_CUTOFF = 0.5  # the glTF material's alphaCutoff (alphaMode MASK)
TINTED_HIGHLIGHT = 0.2  # the hair-coloured highlight along the fibres (Kajiya-Kay specular)
WHITE_HIGHLIGHT = 0.12  # the uncoloured one (the fibres' surface reflection; shows on dark hair)
HIGHLIGHT_POWER = 60.0
FIBRE_WEIGHT = 0.5  # share of the fibre (tangent) diffuse term; the rest follows the normals


def render_cards(
    cards,
    texture: np.ndarray,
    camera: Camera,
    *,
    base: Render | None = None,
    background=(255, 255, 255),
    lighting: str = "studio",
    depth_tol: float = 1e-3,
) -> Render:
    """Draw ``cards`` with the (H, W, 4) uint8 RGBA ``texture`` (row 0 at v = 0, the root).

    Each fragment is discarded where the nearest texel of the mip level its face's
    texel-to-pixel ratio picks has an alpha below ``ALPHA_CUTOFF``; the nearest kept fragment is drawn where
    it is no more than ``depth_tol`` metres behind the ``base`` render (same camera size),
    else over ``background``. 'studio' lighting: the studio lights on the normals, half of
    the diffuse from the fibre direction (Kajiya-Kay) and a highlight along the fibres;
    'flat': vertex colour x texture. Returns a Render whose ``strand`` holds the guide strand
    of the card drawn at each pixel.
    """
    if lighting not in ("studio", "flat"):
        raise ValueError(f"lighting must be 'studio' or 'flat', got {lighting!r}")
    h, w = camera.height, camera.width
    base = backdrop(base, camera, background)
    faces = cards.faces.astype(np.int64)
    screen = camera.to_screen(cards.positions)
    mips = mip_pyramid(texture)
    level = _face_levels(screen, faces, cards.uvs, texture.shape[:2], len(mips))

    solid = [m[..., 3] >= ALPHA_CUTOFF for m in mips]

    def opaque(face: np.ndarray, bary: np.ndarray) -> np.ndarray:
        uv = interpolate(cards.uvs, faces.take(face, 0), bary)
        return _nearest(solid, level.take(face), uv)

    limit = base.depth + depth_tol
    drawn = rasterize(screen, faces, w, h, perspective=True, keep=opaque, depth_limit=limit)
    face, bary, depth = drawn.face.ravel(), drawn.bary.reshape(-1, 3), drawn.depth.ravel()
    shown = np.flatnonzero(face >= 0)
    depth_shown = depth.take(shown)
    face = face.take(shown)
    corners = faces.take(face, 0)
    bary = bary.take(shown, 0)
    uv = interpolate(cards.uvs, corners, bary)
    grey = _sample(mips, level.take(face), uv, slice(0, 3))
    color = shading.linear_to_srgb(interpolate(cards.colors, corners, bary)).astype(np.float32)
    rgb = color * grey
    if lighting == "studio":
        diffuse, highlight = _light(cards, camera, screen, faces, face, corners, bary)
        rgb = rgb * (diffuse + TINTED_HIGHLIGHT * highlight) + WHITE_HIGHLIGHT * highlight * grey
    image = base.image.reshape(-1, 3).copy()
    image[shown] = np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)
    out_face, depth, mask = base.face.ravel().copy(), base.depth.ravel().copy(), base.mask.ravel().copy()
    out_face[shown], depth[shown], mask[shown] = -1, depth_shown, True
    strand = np.full(h * w, -1, np.int32) if base.strand is None else base.strand.ravel().copy()
    strand[shown] = cards.guide[cards.face_card.take(face)]
    return Render(image.reshape(h, w, 3), mask.reshape(h, w), out_face.reshape(h, w), depth.reshape(h, w),
                  strand.reshape(h, w))


def mip_pyramid(texture: np.ndarray) -> list[np.ndarray]:
    """Levels of an (H, W, C) uint8 texture as float32 0..1, each half the last (2 x 2 box
    filter) down to one texel in one direction."""
    level = texture.astype(np.float32) / 255
    levels = [level]
    while min(level.shape[:2]) >= 2:
        hh, ww = level.shape[0] // 2 * 2, level.shape[1] // 2 * 2
        level = level[:hh, :ww].reshape(hh // 2, 2, ww // 2, 2, -1).mean((1, 3))
        levels.append(level)
    return levels


def _face_levels(screen: np.ndarray, faces: np.ndarray, uvs: np.ndarray, size, count: int) -> np.ndarray:
    """(F,) int mip level of each face: log2 of texels per pixel (square roots of the
    face's texel and pixel areas), 0..count-1."""
    p = screen[faces][..., :2]
    t = uvs[faces] * np.array([size[1], size[0]], np.float64)
    pixels = np.abs(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]))
    texels = np.abs(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]))
    with np.errstate(divide="ignore", invalid="ignore"):
        level = 0.5 * np.log2(texels / pixels)
    return np.clip(np.nan_to_num(np.rint(level), nan=count - 1, posinf=count - 1), 0, count - 1).astype(np.int64)


def _nearest(masks: list[np.ndarray], level: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """(M,) bool: the texel of the (H_k, W_k) bool mip ``level`` (M,) nearest glTF (M, 2) ``uv``."""
    out = np.zeros(len(uv), bool)
    for k in np.flatnonzero(np.bincount(level, minlength=len(masks))):
        at = np.flatnonzero(level == k)
        h, w = masks[k].shape
        col = np.clip((uv[at, 0] * w).astype(np.int64), 0, w - 1)
        row = np.clip((uv[at, 1] * h).astype(np.int64), 0, h - 1)
        out[at] = masks[k].ravel().take(row * w + col)
    return out


def _sample(mips: list[np.ndarray], level: np.ndarray, uv: np.ndarray, channels: slice) -> np.ndarray:
    """(M, C) bilinear samples of ``channels`` of the mip ``level`` (M,) at glTF (M, 2) ``uv``
    (v runs down the image)."""
    out = np.zeros((len(uv), mips[0][..., channels].shape[-1]), np.float32)
    obj_uv = np.column_stack([uv[:, 0], 1 - uv[:, 1]])
    for k in np.flatnonzero(np.bincount(level, minlength=len(mips))):
        at = np.flatnonzero(level == k)
        out[at] = shading.sample_bilinear(mips[k][..., channels], obj_uv[at])
    return out


def _light(cards, camera, screen, faces, face, corners, bary) -> tuple[np.ndarray, np.ndarray]:
    """(M, 1) diffuse studio light and (M, 1) highlight (0..1) of the cards at the shown
    fragments (camera frame)."""
    R = np.asarray(camera.R, np.float32)
    normal = unit(interpolate(cards.normals, corners, bary) @ R.T)
    tangent = unit(interpolate(cards.tangents[:, :3], corners, bary) @ R.T)
    # Two-sided: a face seen from behind (clockwise on the screen) has its normal flipped.
    p = screen[faces.take(face, 0)][..., :2]
    back = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]) < 0
    normal[back] *= -1
    diffuse = (1 - FIBRE_WEIGHT) * shading.studio_light(normal) + FIBRE_WEIGHT * shading.strand_light(tangent)
    half = unit((shading.KEY[0] + [0.0, 0.0, -1.0])[None]).astype(np.float32)
    cos = tangent @ half[0]
    return diffuse, np.sqrt(np.maximum(1 - cos * cos, 0))[:, None] ** HIGHLIGHT_POWER
