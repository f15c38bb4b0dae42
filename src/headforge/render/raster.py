"""Vectorised triangle rasteriser with an exact z-buffer (pure numpy, deterministic).

Screen frame: x right, y down, in pixels; pixel centres at integer coordinates, so pixel
(row i, column j) is sampled at (x=j, y=i). Depth is positive in front of the camera and
smaller depth is nearer. A pixel belongs to a triangle when its centre lies inside or on an
edge; the edge tests are exactly antisymmetric across a shared edge, so meshes rasterise
without cracks. Both windings are drawn unless ``cull_backfaces``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Upper bounds on the work arrays: at most this many (face, row) spans (~250 bytes each)
# and candidate pixels (~80 bytes each) are expanded at once, so memory stays < ~150 MB.
_MAX_ROWS = 1 << 18
_MAX_CANDIDATES = 1 << 20
# Slack (pixels) when turning a span's end points into pixel columns; the end pixels are
# then decided by the exact edge test.
_SPAN_EPS = 1e-6
_EMPTY_KEY = np.iinfo(np.int64).max
_INF_BITS = np.array(np.inf).view(np.int64)


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
) -> Fragments:
    """Rasterise triangles whose vertices are already projected to the screen.

    points: (V, 3) float (x_pixel, y_pixel, depth); faces: (F, 3) int vertex indices.
    With ``perspective`` the depth is taken to be camera z of a pinhole projection: 1/z is
    interpolated linearly on the screen, so ``depth`` is the true z of the surface and
    ``bary`` are the perspective-correct weights (use them to interpolate UVs, normals,
    colours). Without it depth and weights are linear on the screen (orthographic or UV
    space). Faces with a non-finite vertex, a vertex at depth <= 0 (no near clipping) or
    zero screen area are skipped. ``cull_backfaces`` drops faces that are clockwise on
    the screen (i.e. counter-clockwise in a y-up view: the OBJ front side).
    """
    pts = np.asarray(points, np.float64)
    faces = np.asarray(faces, np.int64).reshape(-1, 3)
    buf = _Buffers.empty(width, height)
    tri = _triangles(pts, faces, width, height, perspective, cull_backfaces)
    if tri is not None:
        face_bits = max(1, int(len(faces) - 1).bit_length())
        for lo, hi in _chunks(tri.n_rows, _MAX_ROWS):
            spans = _spans(tri, lo, hi, width)
            for start, stop in _chunks(spans.n, _MAX_CANDIDATES):
                _draw(tri, spans, start, stop, face_bits, buf)
    return Fragments(
        buf.face.reshape(height, width),
        buf.bary.reshape(height, width, 3),
        buf.depth.reshape(height, width),
    )


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
class _Buffers:
    """Flat (H*W,) image buffers; ``key`` packs depth and face for the z-test."""

    width: int
    key: np.ndarray
    face: np.ndarray
    bary: np.ndarray
    depth: np.ndarray

    @staticmethod
    def empty(width: int, height: int) -> "_Buffers":
        n = width * height
        return _Buffers(
            width,
            np.full(n, _EMPTY_KEY, np.int64),
            np.full(n, -1, np.int32),
            np.zeros((n, 3), np.float32),
            np.full(n, np.inf, np.float32),
        )


@dataclass
class _Triangles:
    """The drawable faces (K of them) with sign-normalised edge equations.

    Edge i (opposite corner i) is e_i(x, y) = a[i] * x + b[i] * y + c[i], >= 0 on the
    inside; the screen-space barycentric weight of corner i is e_i * inv_area2. The
    interpolated depth value is sum_i e_i * d_i: depth itself, or 1/depth if perspective.
    Per-corner arrays are (3, K) so that per-corner operations run on contiguous rows.
    """

    face: np.ndarray  # (K,) index into the input faces
    a: np.ndarray  # (3, K)
    b: np.ndarray  # (3, K)
    c: np.ndarray  # (3, K)
    d: np.ndarray  # (3, K)
    inv_area2: np.ndarray  # (K,)
    z: np.ndarray  # (3, K) corner depths
    perspective: bool
    y0: np.ndarray  # (K,) first pixel row
    n_rows: np.ndarray  # (K,)
    x0: np.ndarray  # (K,) bounding box columns, clipped to the image
    x1: np.ndarray


def _triangles(pts, faces, width, height, perspective, cull_backfaces) -> _Triangles | None:
    tri = pts[faces.T]  # (3 corners, F, 3 coords)
    x, y, z = tri[..., 0], tri[..., 1], tri[..., 2]
    xj, yj = np.roll(x, -1, 0), np.roll(y, -1, 0)
    xk, yk = np.roll(x, -2, 0), np.roll(y, -2, 0)
    # Written so that swapping j and k negates every rounded value exactly: a pixel on an
    # edge shared by two faces is then inside at least one of them (no cracks).
    a = yj - yk
    b = xk - xj
    c = xj * yk - yj * xk
    area2 = c[0] + c[1] + c[2]  # twice the signed area; > 0 when clockwise as seen on screen (y down)
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(tri).all((0, 2)) & (z > 0).all(0) & (np.abs(area2) > 1e-12)
        keep &= (x.max(0) >= 0) & (x.min(0) <= width - 1) & (y.max(0) >= 0) & (y.min(0) <= height - 1)
        if cull_backfaces:
            keep &= area2 > 0
    idx = np.flatnonzero(keep)
    if len(idx) == 0:
        return None
    x, y, z = x[:, idx], y[:, idx], z[:, idx]
    sign = np.sign(area2[idx])
    inv_area2 = 1.0 / np.abs(area2[idx])
    y0 = np.maximum(np.ceil(y.min(0)), 0).astype(np.int64)
    y1 = np.minimum(np.floor(y.max(0)), height - 1).astype(np.int64)
    return _Triangles(
        face=idx,
        a=a[:, idx] * sign,
        b=b[:, idx] * sign,
        c=c[:, idx] * sign,
        d=inv_area2 / z if perspective else inv_area2 * z,
        inv_area2=inv_area2,
        z=z,
        perspective=perspective,
        y0=y0,
        n_rows=np.maximum(y1 - y0 + 1, 0),
        x0=np.maximum(np.ceil(x.min(0)), 0).astype(np.int64),
        x1=np.minimum(np.floor(x.max(0)), width - 1).astype(np.int64),
    )


def _chunks(counts: np.ndarray, budget: int):
    """Yield (start, stop) index ranges whose counts sum to <= budget (or a single item)."""
    ends = np.cumsum(counts)
    start = 0
    while start < len(counts):
        base = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, base + budget, "right")), start + 1)
        yield start, stop
        start = stop


def _expand(counts: np.ndarray, start: int):
    """For items start.. with these counts: (item index, 0-based position within item)."""
    item = np.repeat(np.arange(start, start + len(counts)), counts)
    pos = np.arange(len(item)) - np.repeat(np.cumsum(counts) - counts, counts)
    return item, pos


def _inside(a: np.ndarray, r: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Exact edge test at column x of rows with edges a * x + r: (3, R), (3, R), (R,)."""
    e = a * x.astype(np.float64) + r
    return (e[0] >= 0) & (e[1] >= 0) & (e[2] >= 0)


@dataclass
class _Spans:
    """One entry per (face, pixel row): the run of inside pixels x0 .. x0 + n - 1.

    Along the run the depth value is alpha * (x - x0) + value0 and edge i is
    e_i = a_i * x + r_i with r (3, R); pix0 is the flat index of the first pixel."""

    k: np.ndarray  # (R,) index into _Triangles
    face: np.ndarray  # (R,) index into the input faces
    x0: np.ndarray
    pix0: np.ndarray
    n: np.ndarray
    r: np.ndarray
    alpha: np.ndarray
    value0: np.ndarray


def _spans(tri: _Triangles, lo: int, hi: int, width: int) -> _Spans:
    k, pos = _expand(tri.n_rows[lo:hi], lo)
    y = tri.y0.take(k) + pos
    a = tri.a.take(k, 1)
    r = tri.b.take(k, 1) * y.astype(np.float64) + tri.c.take(k, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = -r / a
    bx0, bx1 = tri.x0.take(k), tri.x1.take(k)
    left = np.clip(np.maximum.reduce(np.where(a > 0, bound, -np.inf)), bx0 - 1, bx1 + 1)
    right = np.clip(np.minimum.reduce(np.where(a < 0, bound, np.inf)), bx0 - 1, bx1 + 1)
    x0 = np.maximum(np.ceil(left - _SPAN_EPS), bx0).astype(np.int64)
    x1 = np.minimum(np.floor(right + _SPAN_EPS), bx1).astype(np.int64)
    # Only the end pixels can be within rounding of an edge: settle them exactly.
    x0 += ~_inside(a, r, x0)
    x1 -= ~_inside(a, r, x1)
    empty = np.logical_or.reduce((a == 0) & (r < 0))
    n = np.where(empty, 0, np.maximum(x1 - x0 + 1, 0))
    d = tri.d.take(k, 1)
    alpha = np.add.reduce(a * d)
    value0 = alpha * x0 + np.add.reduce(r * d)
    return _Spans(k, tri.face.take(k), x0, y * width + x0, n, r, alpha, value0)


def _draw(tri: _Triangles, sp: _Spans, start: int, stop: int, face_bits: int, buf: _Buffers):
    """Z-test the pixels of spans start..stop and write the nearest into the buffers."""
    row, pos = _expand(sp.n[start:stop], start)
    pix = sp.pix0.take(row) + pos
    value = sp.alpha.take(row) * pos + sp.value0.take(row)
    # Positive floats order like their bit patterns; with perspective the value is 1/depth,
    # so its order is flipped. Nearest depth wins, then the lowest face index.
    order = value.view(np.int64)
    if tri.perspective:
        order = _INF_BITS - order
    key = ((order >> face_bits) << face_bits) | sp.face.take(row)
    np.minimum.at(buf.key, pix, key)
    win = np.flatnonzero(buf.key.take(pix) == key)
    row, pix, value = row.take(win), pix.take(win), value.take(win)
    k = sp.k.take(row)
    x = sp.x0.take(row) + pos.take(win)
    bary = (tri.a.take(k, 1) * x + sp.r.take(row, 1)) * tri.inv_area2.take(k)
    if tri.perspective:
        bary /= tri.z.take(k, 1)
        bary /= np.add.reduce(bary)
    buf.face[pix] = sp.face.take(row)
    buf.bary[pix] = bary.T
    buf.depth[pix] = 1.0 / value if tri.perspective else value
