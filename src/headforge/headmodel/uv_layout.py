"""A head-specific texture layout.

anny's head keeps the UVs of MakeHuman's full-body atlas: the head island fills about a fifth of
the texture. :func:`repack_head_uvs` moves the islands so that the head (skin) island fills the
left ~70% of the texture at full height and the small islands (eyes, mouth interior) share the
right-hand column. Islands keep their shape (uniform scale + translation), so the texture stays
free of new distortion.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

MARGIN = 0.01
HEAD_COLUMN = 0.72


def uv_islands(face_uvs: np.ndarray, n_uvs: int) -> np.ndarray:
    """(T,) island label of each texture coordinate (connected through shared faces)."""
    edges = np.concatenate([face_uvs[:, [0, 1]], face_uvs[:, [1, 2]]])
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n_uvs, n_uvs))
    return connected_components(graph, directed=False)[1]


def magnify(points: np.ndarray, centre: np.ndarray, strength: float) -> np.ndarray:
    """Radial warp of (N, 2) points about ``centre``: r -> R log(1 + k r / R) / log(1 + k).

    Monotonic in r, so an island stays free of overlaps; the centre is magnified
    k / log(1 + k) times (2.5x for k = 4) and the rim compressed.
    """
    d = points - centre
    r = np.linalg.norm(d, axis=1, keepdims=True)
    big_r = r.max()
    warped = big_r * np.log1p(strength * r / big_r) / np.log1p(strength)
    return centre + d * np.where(r > 0, warped / np.maximum(r, 1e-12), 0)


def repack_head_uvs(uvs: np.ndarray, face_uvs: np.ndarray, face_centre: np.ndarray | None = None,
                    strength: float = 0.0) -> np.ndarray:
    """(T, 2) new texture coordinates in [0, 1]; unused coordinates are left at 0.

    With ``face_centre`` (a (2,) texture coordinate on the head island) the head island is
    first magnified about it (see :func:`magnify`), giving the face more texels.
    """
    labels = uv_islands(face_uvs, len(uvs))
    used = np.zeros(len(uvs), bool)
    used[face_uvs.ravel()] = True
    tri = uvs[face_uvs]
    area = 0.5 * np.abs(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]))
    island_area = np.bincount(labels[face_uvs[:, 0]], weights=area, minlength=labels.max() + 1)
    order = [i for i in np.argsort(-island_area) if island_area[i] > 0]
    out = np.zeros_like(uvs)

    def place(island: int, scale: float, corner: np.ndarray) -> np.ndarray:
        sel = (labels == island) & used
        lo = uvs[sel].min(0)
        out[sel] = (uvs[sel] - lo) * scale + corner
        return (uvs[sel].max(0) - lo) * scale

    head, rest = order[0], order[1:]
    sel = (labels == head) & used
    if face_centre is not None:
        uvs = uvs.copy()
        uvs[sel] = magnify(uvs[sel], face_centre, strength)
    size = np.ptp(uvs[sel], axis=0)
    scale = min((HEAD_COLUMN - 2 * MARGIN) / size[0], (1 - 2 * MARGIN) / size[1])
    place(head, scale, np.array([MARGIN, MARGIN]))

    # Small islands: one common scale, stacked top to bottom in the right-hand column.
    sizes = np.array([np.ptp(uvs[(labels == i) & used], axis=0) for i in rest])
    width = 1 - HEAD_COLUMN - 2 * MARGIN
    common = min(width / sizes[:, 0].max(), (1 - MARGIN * (len(rest) + 1)) / sizes[:, 1].sum())
    y = 1 - MARGIN
    for island, s in zip(rest, sizes):
        y -= s[1] * common
        place(island, common, np.array([HEAD_COLUMN + MARGIN, y]))
        y -= MARGIN
    return out
