"""Hair strands drawn as depth-tested polylines, over a mesh render or on their own."""
from __future__ import annotations

import numpy as np

from headforge.render import shading
from headforge.render.batching import chunk_ranges, expand
from headforge.core.camera import Camera
from headforge.render.mesh import Render, backdrop
from headforge.core.geometry import unit

_MAX_SAMPLES = 1 << 20  # line samples expanded at once (~60 bytes each)
_EMPTY_KEY = np.iinfo(np.int64).max
_NEAR = 1e-6  # metres; segments with an end point nearer than this are skipped


def render_strands(
    strands: np.ndarray,
    camera: Camera,
    *,
    colors: np.ndarray,
    width_px: float = 1.0,
    base: Render | None = None,
    background=(255, 255, 255),
    lighting: str = "studio",
    depth_tol: float = 1e-3,
) -> Render:
    """Draw (N, P, 3) world polylines (metres) as opaque lines ``width_px`` pixels wide.

    colors: (N, 3) per strand or (N, P, 3) per point (integers 0..255, floats 0..1).
    Each segment is sampled at every pixel step and splatted with a z-test: the
    nearest strand wins, and a strand is hidden where the ``base`` render (same camera
    size) has a surface more than ``depth_tol`` metres in front of it. 'studio' lighting
    shades fibres Kajiya-Kay style and darkens them towards the roots (point 0); 'flat'
    draws the colours exactly. Without ``base`` the strands go over ``background``.
    Returns a Render whose ``strand`` holds the strand index drawn at each pixel.
    """
    if lighting not in ("studio", "flat"):
        raise ValueError(f"lighting must be 'studio' or 'flat', got {lighting!r}")
    h, w = camera.height, camera.width
    base = backdrop(base, camera, background)
    strands = np.asarray(strands, np.float64)
    n_strands, n_points = strands.shape[:2]
    cam = camera.to_camera(strands.reshape(-1, 3)).reshape(n_strands, n_points, 3)
    segs = _Segments.build(cam, camera)
    keys = np.full(h * w, _EMPTY_KEY, np.int64)
    if len(segs.index):
        _splat(segs, camera, base.depth.ravel() + np.float32(depth_tol), _footprint(width_px), keys)
    pix = np.flatnonzero(keys != _EMPTY_KEY)
    key = keys[pix]
    seg, t = segs.locate(key & 0xFFFFFFFF)
    strand_id, point = np.divmod(segs.index[seg], max(n_points - 1, 1))
    rgb = _strand_colors(np.asarray(colors), strand_id, point, t)
    if lighting == "studio":
        along = (point + t) / max(n_points - 1, 1)
        rgb = rgb * shading.strand_light(segs.tangent[seg]) * (0.6 + 0.4 * along)[:, None]
    image = base.image.reshape(-1, 3).copy()
    image[pix] = np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)
    face = base.face.ravel().copy()
    face[pix] = -1
    depth = base.depth.ravel().copy()
    depth[pix] = (key >> 32).astype(np.int32).view(np.float32)
    strand = np.full(h * w, -1, np.int32) if base.strand is None else base.strand.ravel().copy()
    strand[pix] = strand_id
    mask = base.mask.ravel().copy()
    mask[pix] = True
    return Render(image.reshape(h, w, 3), mask.reshape(h, w), face.reshape(h, w), depth.reshape(h, w), strand.reshape(h, w))


class _Segments:
    """The drawable segments of the strands, on screen.

    index: (S,) segment number n * (P - 1) + j (segment j of strand n); start (3, S) and
    delta (3, S) float32: first end point (x_pixel, y_pixel, 1/z) and the step to the
    other; n_samples (S,): samples along the segment, inv_n their inverse (float32);
    first: (S,) global id of its first sample; tangent (S, 3) float32: unit direction in
    the camera frame."""

    def __init__(self, index, start, delta, n_samples, tangent):
        self.index = index
        self.start = start
        self.delta = delta
        self.n_samples = n_samples
        self.inv_n = (1 / n_samples).astype(np.float32)
        self.first = np.cumsum(n_samples) - n_samples
        self.tangent = tangent

    @staticmethod
    def build(cam: np.ndarray, camera: Camera) -> "_Segments":
        """From (N, P, 3) camera-frame strand points."""
        n, p = cam.shape[:2]
        with np.errstate(all="ignore"):
            scr = _screen(cam.reshape(-1, 3), camera).reshape(n, p, 3)
            a, b = scr[:, :-1].reshape(-1, 3), scr[:, 1:].reshape(-1, 3)
            ok = np.isfinite(scr).all(2) & (cam[..., 2] > _NEAR)
            ok = (ok[:, :-1] & ok[:, 1:]).ravel()
            lo, hi = np.minimum(a, b), np.maximum(a, b)
            ok &= (hi[:, 0] >= -0.5) & (lo[:, 0] <= camera.width - 0.5)
            ok &= (hi[:, 1] >= -0.5) & (lo[:, 1] <= camera.height - 0.5)
        index = np.flatnonzero(ok)
        a, b = a[index], b[index]
        # One sample per pixel step along the major axis keeps the line 8-connected.
        length = np.maximum(np.abs(b[:, 0] - a[:, 0]), np.abs(b[:, 1] - a[:, 1]))
        n_samples = np.maximum(np.ceil(length), 1).astype(np.int64)
        if n_samples.sum() >= 1 << 32:
            raise ValueError("too many line samples; lower the resolution or the strand count")
        direction = np.diff(cam, axis=1).reshape(-1, 3)[index]
        tangent = unit(direction).astype(np.float32)
        start, delta = np.ascontiguousarray(a.T, np.float32), np.ascontiguousarray((b - a).T, np.float32)
        return _Segments(index, start, delta, n_samples, tangent)

    def locate(self, sample: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Global sample ids -> (segment position, float32 parameter t in [0, 1))."""
        seg = np.searchsorted(self.first, sample, "right") - 1
        t = (sample - self.first[seg]) / self.n_samples[seg]
        return seg, t.astype(np.float32)


def _screen(p: np.ndarray, camera: Camera) -> np.ndarray:
    """(M, 3) camera-frame points -> (M, 3) (x_pixel, y_pixel, 1/z)."""
    inv_z = 1.0 / p[:, 2]
    return np.column_stack([p[:, 0] * inv_z * camera.focal + camera.cx, p[:, 1] * inv_z * camera.focal + camera.cy, inv_z])


def _footprint(width_px: float) -> list[tuple[int, int]]:
    """Pixel offsets of a disc ``width_px`` across (at least the centre pixel)."""
    r = width_px / 2
    n = int(np.ceil(r))
    return [(dx, dy) for dy in range(-n, n + 1) for dx in range(-n, n + 1) if dx * dx + dy * dy <= r * r]


def _splat(segs: _Segments, camera: Camera, limit: np.ndarray, footprint, keys: np.ndarray):
    """Z-test every sample (and footprint offset) into the flat (H*W,) keys: the float32
    depth's bits above the global sample id. ``limit``: (H*W,) depth a sample must beat."""
    h, w = camera.height, camera.width
    (x0, y0, iz0), (dx, dy, diz) = segs.start, segs.delta
    for lo, hi in chunk_ranges(segs.n_samples, _MAX_SAMPLES):
        seg, pos = expand(segs.n_samples[lo:hi], lo)
        t = pos.astype(np.float32) * segs.inv_n.take(seg)
        x = np.rint(x0.take(seg) + dx.take(seg) * t).astype(np.int32)
        y = np.rint(y0.take(seg) + dy.take(seg) * t).astype(np.int32)
        depth = 1 / (iz0.take(seg) + diz.take(seg) * t)
        sample = segs.first.take(seg) + pos
        for ox, oy in footprint:
            px, py = x + ox, y + oy
            # One unsigned comparison per axis also rejects negative coordinates.
            keep = np.flatnonzero((px.view(np.uint32) < w) & (py.view(np.uint32) < h))
            pix = py.take(keep) * w + px.take(keep)
            d = depth.take(keep)
            front = np.flatnonzero(d < limit.take(pix))
            key = (d.take(front).view(np.int32).astype(np.int64) << 32) | sample.take(keep.take(front))
            np.minimum.at(keys, pix.take(front), key)


def _strand_colors(colors: np.ndarray, strand: np.ndarray, point: np.ndarray, t: np.ndarray) -> np.ndarray:
    """(M, 3) float32 0..1 colours at parameter t of segment ``point`` of ``strand``."""
    c = shading.as_rgb01(colors)
    if c.ndim == 2:
        return c[strand]
    return c[strand, point] * (1 - t)[:, None] + c[strand, point + 1] * t[:, None]
