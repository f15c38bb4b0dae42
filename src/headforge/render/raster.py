"""Vectorised triangle rasteriser with a per-pixel z-buffer (pure numpy, deterministic).

Screen frame: x right, y down, in pixels; pixel centres at integer coordinates, so pixel
(row i, column j) is sampled at (x=j, y=i). Depth is positive in front of the camera and
smaller depth is nearer. A pixel belongs to a triangle when its centre lies inside or on an
edge. Triangles are scanned row by row; where a row crosses an edge, the crossing is
computed from that edge's two end points alone, identically for both faces that share it,
so meshes rasterise without cracks. Both windings are drawn unless ``cull_backfaces``.
Each pixel keeps the face with the smallest depth interpolated at its centre (compared in
float32), ties going to the lower face index; no painter's ordering is involved. A fragment
behind its pixel's nearest one so far is dropped before any work on it; alpha-tested faces
(deep stacks of hair cards) are drawn nearest first, in batches, a face behind everything
already drawn over its bounding box (a z-test on a max-depth pyramid of pixel blocks)
skipped whole. Neither changes the result.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from headforge.core.images import pool_2x2
from headforge.render.batching import chunk_ranges, expand

# Upper bounds on the work arrays: at most this many (face, row) spans (~150 bytes each)
# and candidate pixels (~80 bytes each) are expanded at once, so memory stays < ~150 MB.
_MAX_ROWS = 1 << 19
_MAX_CANDIDATES = 1 << 20
_BATCHES = 32  # nearest-first batches of alpha-tested faces (see the module docstring)
_NO_FACE = 0xFFFFFFFF  # low half of an empty key
_EMPTY_KEY = np.iinfo(np.int64).max  # its low half is _NO_FACE
_INF32_BITS = np.array(np.inf, np.float32).view(np.int32)
_FAR = np.iinfo(np.int32).max  # depth order of an empty pixel
_ORDER_MARGIN = 256  # float32 steps: a fragment's rounded depth may beat its corners' by this


@dataclass
class Fragments:
    """Per-pixel result of :func:`rasterize` for an image of H rows and W columns.

    face: (H, W) int32 index of the visible face, -1 where empty.
    bary: (H, W, 3) float32 barycentric weights of the pixel centre on that face's three
    vertices (screen-space, or perspective-correct when rasterised with ``perspective``);
    zero where empty. depth: (H, W) float32 interpolated depth, inf where empty.
    """

    face: np.ndarray
    bary: np.ndarray
    depth: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """(H, W) bool, pixels covered by some face."""
        return self.face >= 0


def rasterize(
    points: np.ndarray,
    faces: np.ndarray,
    width: int,
    height: int,
    *,
    perspective: bool = False,
    cull_backfaces: bool = False,
    keep: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    depth_limit: np.ndarray | None = None,
) -> Fragments:
    """Rasterise triangles whose vertices are already projected to the screen.

    points: (V, 3) float (x_pixel, y_pixel, depth); faces: (F, 3) int vertex indices.
    With ``perspective`` the depth is taken to be camera z of a pinhole projection: 1/z is
    interpolated linearly on the screen, so ``depth`` is the true z of the surface and
    ``bary`` are the perspective-correct weights (use them to interpolate UVs, normals,
    colours). Without it depth and weights are linear on the screen (orthographic or UV
    space). Faces with a non-finite vertex, a vertex at depth <= 0 (no near clipping) or
    zero screen area are skipped. ``cull_backfaces`` drops faces that are clockwise on
    the screen (i.e. counter-clockwise in a y-up view: the OBJ front side). ``keep``
    (alpha testing): called with the (M,) face indices and (M, 3) float32 barycentric
    weights of candidate fragments, returns (M,) bool; the others are discarded before the
    z-test, so the surface behind them shows. ``depth_limit``: (H, W) float, the deepest
    depth drawn at each pixel (inf: no limit); deeper fragments are discarded before
    ``keep``, and a pixel with none nearer stays empty.
    """
    pts = np.asarray(points, np.float64)
    faces = np.asarray(faces, np.int64).reshape(-1, 3)
    keys = _start_keys(depth_limit, width, height, perspective)
    tri = _triangles(pts, faces, width, height, perspective, cull_backfaces)
    if tri is not None:
        test = None if keep is None else _AlphaTest(tri, keep, width)
        faces_in = np.arange(len(tri.face)) if keep is None else np.argsort(tri.near, kind="stable")
        for batch in np.array_split(faces_in, 1 if keep is None else _BATCHES):
            if keep is not None or depth_limit is not None:  # else nothing is drawn yet to hide them
                batch = np.sort(batch[_unhidden(tri, batch, keys, width, height)])
            for lo, hi in chunk_ranges(tri.n_rows.take(batch), _MAX_ROWS):
                spans = _spans(tri, batch[lo:hi], width)
                for start, stop in chunk_ranges(spans.n, _MAX_CANDIDATES):
                    _z_test(tri, spans, start, stop, keys, test)
    return _fragments(tri, keys, width, height)


def _start_keys(depth_limit, width: int, height: int, perspective: bool) -> np.ndarray:
    """(H*W,) int64 z-buffer keys before any face: empty, or at ``depth_limit`` with no face
    (so that only nearer fragments, or equally deep ones, get in)."""
    keys = np.full(width * height, _EMPTY_KEY, np.int64)
    if depth_limit is None:
        return keys
    limit = np.asarray(depth_limit, np.float64).reshape(-1)
    if limit.shape != keys.shape:
        raise ValueError(f"depth_limit must be ({height}, {width}), got {np.shape(depth_limit)}")
    at = np.flatnonzero(np.isfinite(limit))
    keys[at] = (_depth_order(limit[at], perspective).astype(np.int64) << 32) | _NO_FACE
    return keys


def _depth_order(depth: np.ndarray, perspective: bool) -> np.ndarray:
    """(N,) int32 that orders like ``depth`` (> 0), as the z-test's keys do."""
    value = np.maximum((1 / depth if perspective else depth).astype(np.float32), np.float32(1e-30))
    order = value.view(np.int32)
    return _INF32_BITS - order if perspective else order


def rasterize_uv(uvs: np.ndarray, face_uvs: np.ndarray, size: int) -> Fragments:
    """Rasterise a mesh in texture space: which face covers each texel of an (S, S) map.

    uvs: (T, 2) OBJ texture coordinates ((0, 0) bottom-left, v up); face_uvs: (F, 3).
    Texel (row i, column j) is centred at u = (j + 0.5) / S, v = 1 - (i + 0.5) / S, the
    convention the renderer's texture sampling uses. ``bary`` weights the face's uv corners.
    """
    uv = np.asarray(uvs, np.float64)
    pts = np.column_stack([uv[:, 0] * size - 0.5, (1.0 - uv[:, 1]) * size - 0.5, np.ones(len(uv))])
    return rasterize(pts, face_uvs, size, size)


@dataclass
class _Triangles:
    """The K drawable faces: scanline set-up, depth plane and barycentric planes.

    Corners sorted by screen y are top (x_top, y_top), mid and bottom; the slopes are
    dx/dy of the edges top-bottom (long), top-mid (upper), mid-bottom (lower), 0 when
    horizontal. The depth value (depth, or 1/depth with perspective) is the plane
    p * x + q * y + s. Barycentric weight i (input corner order) is proportional to the
    plane u[i] * x + v[i] * y + w[i], (3, K) arrays, >= 0 inside the triangle.
    """

    face: np.ndarray  # (K,) index into the input faces, increasing
    x_top: np.ndarray
    y_top: np.ndarray
    x_mid: np.ndarray
    y_mid: np.ndarray
    slope_long: np.ndarray
    slope_upper: np.ndarray
    slope_lower: np.ndarray
    y0: np.ndarray  # (K,) first pixel row
    n_rows: np.ndarray  # (K,)
    near: np.ndarray  # (K,) int32 depth order no fragment of the face is nearer than
    box: np.ndarray  # (4, K) int64 pixel bounding box: x0, x1, y0, y1 (clipped to the image)
    p: np.ndarray
    q: np.ndarray
    s: np.ndarray
    u: np.ndarray
    v: np.ndarray
    w: np.ndarray
    perspective: bool


def _triangles(pts, faces, width, height, perspective, cull_backfaces) -> _Triangles | None:
    x, y, z = (np.ascontiguousarray(pts[:, i]).take(faces.T) for i in range(3))  # (3, F)
    area2 = (x[1] - x[0]) * (y[2] - y[0]) - (x[2] - x[0]) * (y[1] - y[0])  # > 0: clockwise on screen
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(x).all(0) & np.isfinite(y).all(0) & np.isfinite(z).all(0) & (z > 0).all(0)
        keep &= (np.abs(area2) > 1e-12) & (x.max(0) >= 0) & (x.min(0) <= width - 1)
        keep &= (y.max(0) >= 0) & (y.min(0) <= height - 1)
        if cull_backfaces:
            keep &= area2 > 0
    idx = np.flatnonzero(keep)
    if len(idx) == 0:
        return None
    x, y, z = x[:, idx], y[:, idx], z[:, idx]
    sign = np.sign(area2[idx])
    xj, yj, xk, yk = np.roll(x, -1, 0), np.roll(y, -1, 0), np.roll(x, -2, 0), np.roll(y, -2, 0)
    a, b, c = (yj - yk) * sign, (xk - xj) * sign, (xj * yk - yj * xk) * sign  # edge i: >= 0 inside
    inv_area2 = 1.0 / np.abs(area2[idx])
    d = inv_area2 / z if perspective else inv_area2 * z  # value = sum_i edge_i * d_i
    weight = 1.0 / z if perspective else np.ones_like(z)  # perspective-correct bary ~ edge_i / z_i
    top, mid, bot = _sort_by_y(x, y)
    y0 = np.maximum(np.ceil(top[1]), 0).astype(np.int64)
    y1 = np.minimum(np.floor(bot[1]), height - 1).astype(np.int64)
    return _Triangles(
        face=idx,
        x_top=top[0],
        y_top=top[1],
        x_mid=mid[0],
        y_mid=mid[1],
        # Each edge is walked from its upper end point, whichever face it belongs to.
        slope_long=_slope(top, bot),
        slope_upper=_slope(top, mid),
        slope_lower=_slope(mid, bot),
        y0=y0,
        n_rows=np.maximum(y1 - y0 + 1, 0),
        near=_depth_order(z.min(0), perspective) - _ORDER_MARGIN,
        box=np.stack([np.clip(np.ceil(x.min(0)), 0, width - 1), np.clip(np.floor(x.max(0)), 0, width - 1),
                      y0.clip(0, height - 1), y1.clip(0, height - 1)]).astype(np.int64),
        p=np.add.reduce(a * d),
        q=np.add.reduce(b * d),
        s=np.add.reduce(c * d),
        u=a * weight,
        v=b * weight,
        w=c * weight,
        perspective=perspective,
    )


def _sort_by_y(x: np.ndarray, y: np.ndarray):
    """(3, K) corner coordinates -> top, mid, bottom corners as (x, y) pairs of (K,)."""
    c = [(x[0], y[0]), (x[1], y[1]), (x[2], y[2])]
    for i, j in ((0, 1), (1, 2), (0, 1)):
        swap = c[j][1] < c[i][1]
        c[i], c[j] = (
            (np.where(swap, c[j][0], c[i][0]), np.where(swap, c[j][1], c[i][1])),
            (np.where(swap, c[i][0], c[j][0]), np.where(swap, c[i][1], c[j][1])),
        )
    return c


def _slope(start, end) -> np.ndarray:
    dy = end[1] - start[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(dy > 0, (end[0] - start[0]) / dy, 0.0)


@dataclass
class _Spans:
    """One entry per (face, pixel row): the inside pixels of that row, n of them, the
    first at flat index pix0. Along the run the depth value is value0 + p * offset."""

    k: np.ndarray  # (R,) index into _Triangles
    pix0: np.ndarray
    n: np.ndarray
    p: np.ndarray  # float32
    value0: np.ndarray  # float32


def _spans(tri: _Triangles, faces: np.ndarray, width: int) -> _Spans:
    """The spans of the triangles ``faces`` (indices into ``tri``)."""
    item, pos = expand(tri.n_rows.take(faces))
    k = faces.take(item)
    y = tri.y0.take(k) + pos
    yf = y.astype(np.float64)
    dy_top = yf - tri.y_top.take(k)
    y_mid = tri.y_mid.take(k)
    x_top = tri.x_top.take(k)
    x_long = x_top + dy_top * tri.slope_long.take(k)
    x_short = np.where(
        yf < y_mid,
        x_top + dy_top * tri.slope_upper.take(k),
        tri.x_mid.take(k) + (yf - y_mid) * tri.slope_lower.take(k),
    )
    x0 = np.clip(np.ceil(np.minimum(x_long, x_short)), 0, width).astype(np.int64)
    x1 = np.clip(np.floor(np.maximum(x_long, x_short)), -1, width - 1).astype(np.int64)
    p = tri.p.take(k)
    value0 = p * x0 + tri.q.take(k) * yf + tri.s.take(k)
    return _Spans(k, y * width + x0, np.maximum(x1 - x0 + 1, 0), p.astype(np.float32), value0.astype(np.float32))


def _unhidden(tri: _Triangles, faces: np.ndarray, keys: np.ndarray, width: int, height: int) -> np.ndarray:
    """(M,) bool: which triangles ``faces`` (indices into ``tri``) may still show, given the
    z-buffer ``keys``. Level l of a max pyramid holds the farthest pixel of each 2^l x 2^l
    block; a triangle whose bounding box fits in 2 x 2 blocks of level l is hidden when it is
    behind all four."""
    level = (keys >> 32).astype(np.int32).reshape(height, width)
    flat, starts, widths = [], [], []
    while True:
        starts.append(sum(len(f) for f in flat))
        widths.append(level.shape[1])
        flat.append(level.ravel())
        if max(level.shape) == 1:
            break
        h, w = level.shape
        padded = np.full((h + h % 2, w + w % 2), _FAR, np.int32)
        padded[:h, :w] = level
        level = pool_2x2(padded, np.maximum)
    table = np.concatenate(flat)
    x0, x1, y0, y1 = tri.box[:, faces]
    extent = np.maximum(np.maximum(x1 - x0, y1 - y0), 0)
    lv = np.minimum(np.ceil(np.log2(extent + 1.0)).astype(np.int64), len(starts) - 1)
    start, row = np.asarray(starts, np.int64).take(lv), np.asarray(widths, np.int64).take(lv)
    far = np.maximum.reduce([table.take(start + (yy >> lv) * row + (xx >> lv))
                             for xx in (x0, x1) for yy in (y0, y1)])
    return tri.near.take(faces) <= far


class _AlphaTest:
    """The ``keep`` test of candidate fragments, with the barycentric planes of the K
    triangles as one (K, 9) float32 table (x, y and constant coefficients of the three
    weights): one gather per fragment, precise enough to look up a texture."""

    def __init__(self, tri: _Triangles, keep, width: int):
        self.keep, self.width, self.face = keep, width, tri.face
        self.planes = np.ascontiguousarray(np.concatenate([tri.u, tri.v, tri.w]).T, np.float32)

    def __call__(self, k: np.ndarray, pix: np.ndarray) -> np.ndarray:
        """(M,) bool for fragments of triangles ``k`` at the flat pixels ``pix``."""
        p = self.planes[k]
        x = (pix % self.width).astype(np.float32)[:, None]
        y = (pix // self.width).astype(np.float32)[:, None]
        weight = np.maximum(p[:, 0:3] * x + p[:, 3:6] * y + p[:, 6:9], 0)
        weight /= np.maximum(weight.sum(1, keepdims=True), np.float32(1e-30))
        return self.keep(self.face.take(k), weight)


def _z_test(tri: _Triangles, sp: _Spans, start: int, stop: int, keys: np.ndarray, test: _AlphaTest | None):
    """Z-test the pixels of spans start..stop into the flat (H*W,) ``keys``; fragments
    behind their pixel's key are dropped first, then those ``test`` refuses.

    A key packs the float32 depth value (order-preserving bits, nearest smallest) above
    the triangle index: nearest depth wins, then the lowest face index."""
    row, pos = expand(sp.n[start:stop], start)
    pix = sp.pix0.take(row) + pos
    value = sp.p.take(row) * pos.astype(np.float32) + sp.value0.take(row)
    value = np.maximum(value, np.float32(1e-30), out=value)  # rounding must not flip the sign
    order = value.view(np.int32)  # positive floats order like their bit patterns
    if tri.perspective:  # the value is 1/depth: flip
        order = _INF32_BITS - order
    k = sp.k.take(row)
    key = (order.astype(np.int64) << 32) | k
    ok = np.flatnonzero(key < keys.take(pix))
    if test is not None:
        ok = ok[test(k.take(ok), pix.take(ok))]
    np.minimum.at(keys, pix.take(ok), key.take(ok))


def _weights(tri: _Triangles, k: np.ndarray, pix: np.ndarray, width: int) -> np.ndarray:
    """(3, M) float32 barycentric weights of the flat pixels ``pix`` on triangles ``k``."""
    x, y = (pix % width).astype(np.float64), (pix // width).astype(np.float64)
    weight = np.maximum(tri.u.take(k, 1) * x + tri.v.take(k, 1) * y + tri.w.take(k, 1), 0)
    weight /= np.maximum(np.add.reduce(weight), 1e-300)
    return weight.astype(np.float32)


def _fragments(tri: _Triangles | None, keys: np.ndarray, width: int, height: int) -> Fragments:
    """Decode the z-test keys into faces, depths and barycentric weights, in blocks of
    pixels to bound the temporary memory."""
    face = np.full(width * height, -1, np.int32)
    bary = np.zeros((width * height, 3), np.float32)
    depth = np.full(width * height, np.inf, np.float32)
    for start in range(0, len(keys), _MAX_CANDIDATES):
        pix = start + np.flatnonzero((keys[start : start + _MAX_CANDIDATES] & _NO_FACE) != _NO_FACE)
        if len(pix) == 0:
            continue
        key = keys[pix]
        k = key & 0xFFFFFFFF
        order = (key >> 32).astype(np.int32)
        value = (_INF32_BITS - order if tri.perspective else order).view(np.float32)
        face[pix] = tri.face.take(k)
        bary[pix] = _weights(tri, k, pix, width).T
        depth[pix] = 1 / value if tri.perspective else value
    return Fragments(face.reshape(height, width), bary.reshape(height, width, 3), depth.reshape(height, width))
