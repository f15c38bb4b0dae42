"""Dense hair from guide strands: many roots, each strand a blend of its nearest guides.

Dense roots are spread uniformly by area over the scalp; a strand takes the shape of its
three nearest guides of the same group (no blending across a parting or between fringe and
the rest), as a smooth inverse-distance blend mixed with a copy of the nearest guide
(``clumping``), moved to its own root, with a per-strand scatter that grows to ``frizz``
metres at the tip (less for strands under ``FRIZZ_LENGTH``) and slightly uneven tips.
Positions stay on the guides' head (head frame, metres); :func:`headforge.hair.fit.fit_hairstyle`
settles them against a head.
"""
from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from headforge.hair.generator import HairParams, strand_groups
from headforge.hair.scalp import root_points, sample_surface
from headforge.core.strands import Hairstyle, polyline_lengths, resample, strand_colors

NEIGHBOURS = 3
DENSE_STRANDS = 10_000  # strands of a style whose parameters name no count
FRIZZ_LENGTH = 0.15  # metres: strands shorter than this scatter proportionally less
TIP_TRIM = 0.06  # free strands lose up to this fraction of their length (uneven tips)


def densify(guides: Hairstyle, vertices: np.ndarray, faces: np.ndarray, scalp: np.ndarray,
            count: int | None = None, seed: int = 0) -> Hairstyle:
    """``count`` strands (default: the guides' ``params['count']``, else ``DENSE_STRANDS``)
    grown from the guides of a hairstyle on the head (V, 3), (F, 3) with scalp faces ``scalp``.
    Guides that already number ``count`` or more are returned as they are. Deterministic."""
    params = _params(guides)
    count = int(guides.params.get("count", DENSE_STRANDS) if count is None else count)
    if guides.count == 0 or guides.count >= count:
        return guides
    rng = np.random.default_rng(seed)
    face, bary = sample_surface(vertices, faces, scalp, count, rng)
    roots, _ = root_points(vertices, faces, face, bary)
    g_roots = guides.strands[:, 0].astype(np.float64)
    offsets = guides.strands.astype(np.float64) - g_roots[:, None]
    tied = params is not None and params.tie != "none"
    groups = strand_groups(params, roots) if params else np.zeros(count, np.int64)
    g_groups = strand_groups(params, g_roots) if params else np.zeros(guides.count, np.int64)
    clumping = params.clumping if params else 0.5
    frizz = params.frizz if params else 0.002
    p = guides.points_per_strand
    out = np.empty((count, p, 3))
    shift = np.empty((count, 3))  # from the blended guide root to the strand's own root
    for g in np.unique(groups):
        mine = np.flatnonzero(groups == g)
        pool = np.flatnonzero(g_groups == g)
        if not len(pool):
            pool = np.arange(guides.count)
        k = min(NEIGHBOURS, len(pool))
        dist, idx = cKDTree(g_roots[pool]).query(roots[mine], k=k)
        dist, idx = dist.reshape(len(mine), k), pool[idx.reshape(len(mine), k)]
        w = 1 / (dist + 1e-4) ** 2
        w /= w.sum(1, keepdims=True)
        w = (1 - clumping) * w
        w[:, 0] += clumping
        shape = np.einsum("nk,nkpd->npd", w, offsets[idx])
        out[mine] = roots[mine, None] + shape
        shift[mine] = roots[mine] - np.einsum("nk,nkd->nd", w, g_roots[idx])
    along = np.linspace(0, 1, p)[None, :, None]
    length = np.linalg.norm(np.diff(out, axis=1), axis=2).sum(1)
    scatter = frizz * np.minimum(1, length / FRIZZ_LENGTH)  # short hair scatters less
    out += rng.normal(0, 1, (count, 1, 3)) * scatter[:, None, None] * along
    if tied:  # the blend is made at the guides' roots: gathered strands meet again at the tie
        out -= shift[:, None] * along
    else:
        out = _trim_tips(out, rng)
    colors = strand_colors(guides.color, count, rng)
    return Hairstyle(guides.name, out.astype(np.float32), face, bary, guides.color, colors, guides.params)


def _trim_tips(strands: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shorten every strand by a random fraction up to ``TIP_TRIM`` (P points, evenly spaced)."""
    keep = 1 - TIP_TRIM * rng.random(len(strands))
    return resample(strands, strands.shape[1], keep * polyline_lengths(strands))


def _params(style: Hairstyle) -> HairParams | None:
    """The generator parameters of a procedural style, None for an imported one."""
    try:
        return HairParams.from_dict(style.params)
    except (TypeError, ValueError):
        return None
