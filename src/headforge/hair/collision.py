"""Keeping strands out of the head: a closed collision surface, a signed-distance lookup and
a follow-the-leader pass that pushes strand points out to a margin.

Frame and units: the head frame, metres. The collision solid is the head's largest
connected component (head and neck; eyeballs and mouth interior left out) with every hole
(the neck cut) closed by a fan around the hole's centre.

Signed distance (positive outside) is measured to the plane of the nearest surface *sample*:
points spread over every face (sub-triangles no larger than ``SAMPLE_SPACING``) that carry
their face's normal. Where the surface is convex (the scalp) a nearby face's plane never
overstates the distance, so the estimate errs on the safe side. The nearest sample of any
point of a box around the head is precomputed on a voxel grid (:class:`Collider`). The same
sample ids serve any head with the same topology (:class:`HeadShape`: look the point up where
it would sit on the rest head), and a smooth field of the samples' shifts (:class:`Smoother`)
carries strands along when the head changes shape: that is how a hairstyle made on the
reference head is kept out of a fitted head cheaply.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from headforge.core.geometry import interpolate, unit

MARGIN = 0.0015  # metres: strand points are kept at least this far outside the head
GRID_SPACING = 0.0025  # metres, voxel size of the nearest-sample grid
GRID_PAD = 0.04  # metres of grid around the head's bounding box
GRID_BAND = 0.012  # metres: voxels this near the surface know their exact nearest sample
TANGENT_LIMIT = 0.006  # metres: a grid answer this much farther to the side is re-checked
NEAR_LIMIT = 0.02  # metres: ... when the point is nearer the surface than this
FIELD_SPACING = 0.01  # metres between nodes of the smooth displacement field
FIELD_WIDTH = 0.008  # metres: narrowest Gaussian width of that field (near the surface)
FIELD_NEIGHBOURS = 16  # samples averaged at each node of that field
SAMPLE_SPACING = 0.005  # metres: faces are split until no sub-triangle edge is longer


@dataclass
class ClosedSurface:
    """The collision solid of a triangle mesh, as faces over an extended vertex array.

    faces: (F', 3) int32 into ``extend(vertices)``: the largest component's faces (their
    original indices in ``source_faces``) followed by the fans that close its holes.
    loops: one (k,) int32 array of original vertex ids per closed hole, in order.
    n_vertices: V of the mesh it was made from. sample_face (S,) int32 and sample_bary
    (S, 3) float64: the surface samples, as points on the closed faces.
    """

    faces: np.ndarray
    source_faces: np.ndarray
    loops: list[np.ndarray]
    n_vertices: int
    sample_face: np.ndarray
    sample_bary: np.ndarray

    @staticmethod
    def from_mesh(vertices: np.ndarray, faces: np.ndarray, spacing: float = SAMPLE_SPACING) -> "ClosedSurface":
        """Largest connected component of ``faces`` (F, 3), holes closed with fans; samples
        on (V, 3) ``vertices`` at most ``spacing`` metres apart."""
        faces = np.asarray(faces, np.int64)
        n = len(vertices)
        edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]]])
        graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
        _, labels = connected_components(graph, directed=False)
        main = np.bincount(labels[faces[:, 0]]).argmax()
        keep = np.flatnonzero(labels[faces[:, 0]] == main)
        kept = faces[keep]
        loops = _boundary_loops(kept)
        fans = []
        for i, loop in enumerate(loops):
            centre = n + i
            # The hole's edges run a -> b in their faces; the fan runs them b -> a.
            fans.append(np.column_stack([np.roll(loop, -1), loop, np.full(len(loop), centre)]))
        closed = np.concatenate([kept, *fans]).astype(np.int32)
        surface = ClosedSurface(closed, keep.astype(np.int32), loops, n, np.zeros(0, np.int32), np.zeros((0, 3)))
        tri = surface.extend(vertices)[closed]
        longest = np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=2).max(1)
        levels = np.ceil(longest / spacing).astype(np.int64)
        levels[len(kept):] = np.minimum(levels[len(kept):], 3)  # the cap is no place for hair
        surface.sample_face, surface.sample_bary = _face_samples(levels)
        return surface

    def extend(self, vertices: np.ndarray) -> np.ndarray:
        """(V + holes, 3) float64: the mesh's vertices and the centre of every hole."""
        v = np.asarray(vertices, np.float64)
        if len(v) != self.n_vertices:
            raise ValueError(f"expected {self.n_vertices} vertices, got {len(v)}")
        return np.concatenate([v, *(v[loop].mean(0, keepdims=True) for loop in self.loops)])

    def samples(self, vertices: np.ndarray) -> "SurfaceSamples":
        """The surface samples and their faces' outward unit normals on ``vertices`` (V, 3)."""
        extended = self.extend(vertices)
        tri = extended[self.faces]
        normal = unit(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]))
        points = interpolate(extended, self.faces[self.sample_face], self.sample_bary)
        return SurfaceSamples(points, normal[self.sample_face])


@dataclass
class SurfaceSamples:
    """points, normals: (S, 3) float64 sample positions and unit outward normals."""

    points: np.ndarray
    normals: np.ndarray

    def signed_distance(self, points: np.ndarray, sample_ids: np.ndarray) -> np.ndarray:
        """(...,) distance of (..., 3) ``points`` to the tangent planes of their samples
        (..., ) ids; positive outside."""
        return np.einsum("...k,...k->...", points - self.points[sample_ids], self.normals[sample_ids])


@dataclass
class Collider:
    """A closed head surface and, on a voxel grid around it, each voxel's nearest sample.

    origin: (3,) centre of voxel (0, 0, 0); spacing: voxel size (m); nearest: (X, Y, Z)
    int32 sample id of every voxel centre, measured on ``rest`` (the samples of the head the
    grid was built on). Points outside the grid use the nearest border voxel.
    """

    surface: ClosedSurface
    rest: SurfaceSamples
    origin: np.ndarray
    spacing: float
    nearest: np.ndarray

    @staticmethod
    def build(vertices: np.ndarray, faces: np.ndarray, spacing: float = GRID_SPACING,
              pad: float = GRID_PAD) -> "Collider":
        """Build the grid for the head (V, 3), (F, 3) (a second or two): voxels within
        ``GRID_BAND`` of the surface get their exact nearest sample, the others the sample of
        the nearest such voxel (far from the head any nearby sample tells the side)."""
        surface = ClosedSurface.from_mesh(vertices, faces)
        rest = surface.samples(vertices)
        lo, hi = rest.points.min(0) - pad, rest.points.max(0) + pad
        shape = tuple(np.ceil((hi - lo) / spacing).astype(int) + 1)
        occupied = np.zeros(shape, bool)
        occupied[tuple(np.rint((rest.points - lo) / spacing).astype(int).T)] = True
        band = ndimage.binary_dilation(occupied, iterations=int(np.ceil(GRID_BAND / spacing)))
        near = np.flatnonzero(band)
        centres = lo + spacing * np.column_stack(np.unravel_index(near, shape))
        nearest = np.zeros(shape, np.int32)
        nearest.ravel()[near] = cKDTree(rest.points).query(centres, workers=-1)[1]
        _, closest = ndimage.distance_transform_edt(~band, return_indices=True)
        return Collider(surface, rest, lo, spacing, nearest[tuple(closest)])

    def sample_ids(self, points: np.ndarray) -> np.ndarray:
        """(...,) int32 nearest-sample id of (..., 3) points (grid lookup, nearest voxel)."""
        idx = np.rint((np.asarray(points, np.float64) - self.origin) / self.spacing).astype(np.int64)
        for k in range(3):
            np.clip(idx[..., k], 0, self.nearest.shape[k] - 1, out=idx[..., k])
        return self.nearest[idx[..., 0], idx[..., 1], idx[..., 2]]

    def signed_distance(self, points: np.ndarray, samples: SurfaceSamples | None = None) -> np.ndarray:
        """(...,) signed distance of (..., 3) points to the rest head (or to ``samples`` of
        a head with the same topology, looked up at the same grid positions)."""
        return (samples or self.rest).signed_distance(points, self.sample_ids(points))

    @cached_property
    def smoother(self) -> "Smoother":
        """The smooth interpolation of sample shifts over space (built on first use)."""
        return Smoother.build(self.rest.points, self.origin, np.array(self.nearest.shape) * self.spacing)


@dataclass
class Smoother:
    """A smooth 3D field from values at the surface samples: on a coarse node grid (origin
    (3,), spacing m, shape (3,)), each node a Gaussian average over its ``FIELD_NEIGHBOURS``
    nearest samples of a spread subset (``select``: one per cube of half the node spacing; the
    width grows with the node's distance from the surface); between nodes, trilinear."""

    origin: np.ndarray
    spacing: float
    shape: np.ndarray
    select: np.ndarray
    weights: csr_matrix

    @staticmethod
    def build(samples: np.ndarray, origin: np.ndarray, size: np.ndarray, spacing: float = FIELD_SPACING) -> "Smoother":
        _, select = np.unique(np.rint(samples / (spacing / 2)).astype(np.int64), axis=0, return_index=True)
        shape = np.ceil(size / spacing).astype(int) + 1
        axes = [origin[i] + spacing * np.arange(shape[i]) for i in range(3)]
        nodes = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
        dist, idx = cKDTree(samples[select]).query(nodes, k=FIELD_NEIGHBOURS, workers=-1)
        sigma = np.maximum(FIELD_WIDTH, 0.5 * dist[:, :1])
        w = np.exp(-0.5 * ((dist - dist[:, :1]) / sigma) ** 2)
        w /= w.sum(1, keepdims=True)
        rows = np.repeat(np.arange(len(nodes)), FIELD_NEIGHBOURS)
        weights = csr_matrix((w.ravel(), (rows, idx.ravel())), shape=(len(nodes), len(select)))
        return Smoother(origin, spacing, shape, select, weights)

    def __call__(self, values: np.ndarray, points: np.ndarray) -> np.ndarray:
        """(M, C) field at (M, 3) points, from (S, C) ``values`` at the samples."""
        node_values = self.weights @ values[self.select]
        f = np.clip((points - self.origin) / self.spacing, 0, self.shape - 1.000001)
        i = f.astype(np.int64)
        t = f - i
        stride = np.array([self.shape[1] * self.shape[2], self.shape[2], 1])
        base = i @ stride
        out = np.zeros((len(points), node_values.shape[1]))
        for corner in range(8):
            o = np.array([(corner >> 2) & 1, (corner >> 1) & 1, corner & 1])
            w = np.where(o, t, 1 - t).prod(1)
            out += w[:, None] * node_values[base + o @ stride]
        return out


@dataclass
class HeadShape:
    """A head with the topology of ``collider``'s rest head, in some shape (``samples``).

    A point's nearest sample is found by undoing the change of the surface under it (the
    ``hint`` sample's shift from the rest head) and looking that position up in the rest
    grid. Where that answer is implausible for a point near the head (the point lies
    ``TANGENT_LIMIT`` farther to the side of the sample than its undone position does on the
    rest head: the shapes differ too much there, as around big ears), the exact nearest
    sample is searched instead.
    """

    collider: Collider
    samples: SurfaceSamples

    def __post_init__(self):
        self.shift = self.samples.points - self.collider.rest.points
        self._tree = None

    def sample_ids(self, points: np.ndarray, hint: np.ndarray | None = None) -> np.ndarray:
        """(M,) nearest-sample ids of (M, 3) points; ``hint``: (M,) ids of a nearby sample
        (default: the rest grid's answer at the points themselves)."""
        if hint is None:
            hint = self.collider.sample_ids(points)
        undone = points - self.shift[hint]
        ids = self.collider.sample_ids(undone)
        height, side = _height_and_side(points, self.samples, ids)
        _, rest_side = _height_and_side(undone, self.collider.rest, ids)
        doubt = np.flatnonzero((side > rest_side + TANGENT_LIMIT) & (np.abs(height) < NEAR_LIMIT))
        if len(doubt):
            if self._tree is None:
                self._tree = cKDTree(self.samples.points)
            ids[doubt] = self._tree.query(points[doubt])[1]
        return ids


def settle(strands: np.ndarray, shape: HeadShape, hints: np.ndarray, margins: np.ndarray | float = MARGIN,
           lengths: np.ndarray | None = None, slides: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Follow-the-leader pass from root to tip that keeps every point outside the head.

    strands: (N, P, 3) points (the roots, point 0, are left where they are); shape: the head;
    hints: (N, P) sample ids near each point (see :meth:`HeadShape.sample_ids`); margins: a
    scalar or (N, P) distances (m) to keep from the surface; lengths: optional (N, P-1)
    segment lengths to keep: each point is put back at its length from the previous one,
    pushed out to its margin along the normal of its nearest sample and, ``slides`` times,
    put back at its length again and pushed (so it slides over the surface rather than
    shortening the strand); the last push always holds. Returns the new (N, P, 3) points and
    (N, P) the sample each was last measured against.
    """
    out = np.array(strands, np.float64)
    ids = np.array(hints)
    n, p = out.shape[:2]
    margins = np.broadcast_to(np.asarray(margins, np.float64), (n, p))
    samples = shape.samples
    for j in range(1, p):
        point = out[:, j]
        for _ in range(1 + slides if lengths is not None else 1):
            if lengths is not None:
                point = at_length(out[:, j - 1], point, lengths[:, j - 1])
            ids[:, j] = shape.sample_ids(point, ids[:, j])
            normal = samples.normals[ids[:, j]]
            depth = margins[:, j] - np.einsum("ik,ik->i", point - samples.points[ids[:, j]], normal)
            point = point + np.maximum(depth, 0)[:, None] * normal
        out[:, j] = point
    return out, ids


def _height_and_side(points: np.ndarray, samples: SurfaceSamples, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Height of (M, 3) points over the planes of their samples and distance to the side."""
    offset = points - samples.points[ids]
    height = np.einsum("ik,ik->i", offset, samples.normals[ids])
    side = np.sqrt(np.maximum(np.einsum("ik,ik->i", offset, offset) - height ** 2, 0))
    return height, side


def at_length(previous: np.ndarray, point: np.ndarray, length: np.ndarray) -> np.ndarray:
    """(N, 3) ``point`` moved along the line from ``previous`` to ``length`` away from it."""
    seg = point - previous
    norm = np.linalg.norm(seg, axis=1)
    scale = np.divide(length, norm, out=np.ones_like(norm), where=norm > 1e-12)
    return previous + seg * scale[:, None]


def _boundary_loops(faces: np.ndarray) -> list[np.ndarray]:
    """Closed loops of the edges used by one face only, each in its faces' direction."""
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    key = np.sort(directed, axis=1)
    _, inverse, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    border = directed[counts[inverse.ravel()] == 1]
    following = dict(zip(border[:, 0].tolist(), border[:, 1].tolist()))
    loops = []
    while following:
        start, nxt = following.popitem()
        loop = [start]
        while nxt != start and nxt in following:
            loop.append(nxt)
            nxt = following.pop(nxt)
        if nxt == start and len(loop) >= 3:
            loops.append(np.array(loop, np.int32))
    return loops


def _face_samples(levels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Samples of faces split into levels[f]^2 similar triangles, one at the centre of each:
    (S,) face ids and (S, 3) barycentric coordinates."""
    face, bary = [], []
    for m in np.unique(np.maximum(levels, 1)):
        ids = np.flatnonzero(np.maximum(levels, 1) == m)
        i, j = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
        up = np.column_stack([i[i + j < m] + 1 / 3, j[i + j < m] + 1 / 3]) / m
        down = np.column_stack([i[i + j < m - 1] + 2 / 3, j[i + j < m - 1] + 2 / 3]) / m
        uv = np.concatenate([up, down])
        face.append(np.repeat(ids, len(uv)))
        bary.append(np.tile(np.column_stack([1 - uv.sum(1), uv]), (len(ids), 1)))
    return np.concatenate(face).astype(np.int32), np.concatenate(bary)
