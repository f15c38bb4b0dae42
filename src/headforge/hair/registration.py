"""Registration: closest points on meshes, similarity ICP, a smooth non-rigid warp between
head surfaces, and the frame of an imported hairstyle registered to our scalp.

All in metres. A :class:`Similarity` maps x -> scale * rotation @ x + translation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.spatial import cKDTree

from headforge.core.geometry import Similarity, closest_points, rotation_y, umeyama
from headforge.hair.collision import ClosedSurface

NONRIGID_SIGMAS = (0.03, 0.015, 0.008)  # metres: smoothing widths of the warp, coarse to fine
SCALP_SAMPLES = 4000  # uniform samples of the scalp for the root registration
SURFACE_ITERATIONS = 150  # most root-to-head-surface refinement steps


@dataclass
class SurfaceRegistration:
    """similarity: the best scale + rotation + translation of the source onto the target;
    warped: (V, 3) source vertices moved onto the target surface (similarity, then a smooth
    non-rigid warp, then snapped onto the nearest target point where that is close)."""

    similarity: Similarity
    warped: np.ndarray


def similarity_icp(source: np.ndarray, target: np.ndarray, init: Similarity | None = None,
                   iterations: int = 30, scale: bool = True, symmetric: bool = False) -> tuple[Similarity, float]:
    """Similarity that moves (N, 3) ``source`` points onto the (M, 3) ``target`` cloud by
    iterated closest points (pairs beyond 2.5x the median distance are ignored);
    ``symmetric`` also pairs every target point with its closest source point, so that the
    source must cover the target too. Returns it and the final RMS distance (m)."""
    tree = cKDTree(target)
    sim = init or Similarity(1.0, np.eye(3), np.zeros(3))
    rms = np.inf
    for _ in range(iterations):
        moved = sim.apply(source)
        dist, idx = tree.query(moved)
        pairs_from, pairs_to = [moved], [target[idx]]
        if symmetric:
            back, back_idx = cKDTree(moved).query(target)
            dist = np.concatenate([dist, back])
            pairs_from.append(moved[back_idx])
            pairs_to.append(target)
        a, b = np.concatenate(pairs_from), np.concatenate(pairs_to)
        keep = dist <= 2.5 * np.median(dist) + 1e-9
        step = umeyama(a[keep], b[keep], scale)
        sim = step.after(sim)
        new_rms = float(np.sqrt(np.mean(dist[keep] ** 2)))
        if abs(rms - new_rms) < 1e-7:
            break
        rms = new_rms
    return sim, rms


def register_surfaces(src_vertices: np.ndarray, src_faces: np.ndarray, dst_vertices: np.ndarray,
                      dst_faces: np.ndarray, iterations: int = 4) -> SurfaceRegistration:
    """Register the source head surface onto the target head surface (any topologies, roughly
    the same frame and size): similarity ICP of the source's vertices onto samples of the
    target, then a non-rigid warp (Gaussian-smoothed closest-point steps, coarse to fine),
    then a snap of every vertex within 3 mm of the target onto it."""
    src = np.asarray(src_vertices, np.float64)
    used = np.unique(ClosedSurface.from_mesh(src, src_faces).faces)
    used = used[used < len(src)]
    dst_surface = ClosedSurface.from_mesh(dst_vertices, dst_faces)
    dst_samples = dst_surface.samples(dst_vertices).points
    centre = Similarity(1.0, np.eye(3), dst_samples.mean(0) - src[used].mean(0))
    sim, _ = similarity_icp(src[used], dst_samples, centre)
    tree = cKDTree(dst_samples)
    moved = sim.apply(src[used])
    for sigma in NONRIGID_SIGMAS:
        smooth = _gaussian_smoother(moved, sigma)
        for _ in range(iterations):
            dist, idx = tree.query(moved)
            step = dst_samples[idx] - moved
            step[dist > 3 * sigma] = 0
            moved = moved + smooth @ step
    dst_main = dst_surface.source_faces
    _, _, snapped = closest_points(dst_vertices, np.asarray(dst_faces)[dst_main], moved)
    close = np.linalg.norm(snapped - moved, axis=1) < 0.003
    moved[close] = snapped[close]
    warped = sim.apply(src)
    warped[used] = moved
    return SurfaceRegistration(sim, warped)


def register_roots(roots: np.ndarray, vertices: np.ndarray, faces: np.ndarray, scalp: np.ndarray,
                   up: np.ndarray | None = None, front: np.ndarray | None = None) -> tuple[Similarity, float]:
    """Similarity that puts an imported hairstyle's (M, 3) roots (its own frame and units) on
    the scalp faces ``scalp`` of the head (V, 3), (F, 3) (head frame, metres).

    The initial guess matches the two clouds' fitted spheres (the scalp sampled uniformly):
    scale from the radii, the axis from sphere centre to cloud centre, and around it the
    direction to the lowest roots (the nape) -- or the source frame's ``up`` and ``front``
    directions when given. Symmetric ICP (roots on the scalp samples, and the samples covered
    by roots) refines it from that guess and from the guess turned about the axis in steps of
    30 degrees; the best fit is then refined against the head's surface itself (closest
    points on its triangles: a head is not round, so this holds the turn). Returns the
    similarity and the RMS distance (m) of the roots to the scalp."""
    from headforge.hair.scalp import sample_surface, surface_frame

    src = np.asarray(roots, np.float64)
    face, bary = sample_surface(vertices, faces, scalp, SCALP_SAMPLES, np.random.default_rng(0))
    dst, _ = surface_frame(vertices, faces, face, bary)
    c_src, r_src = fit_sphere(src)
    c_dst, r_dst = fit_sphere(dst)
    if up is not None and front is not None:
        frame_src = _cap_frame(src, c_src, np.asarray(up, float), np.asarray(front, float))
        frame_dst = _cap_frame(dst, c_dst, np.array([0.0, 1, 0]), np.array([0.0, 0, 1]))
        turns = (0,)
    else:
        frame_src, frame_dst = _cap_frame(src, c_src), _cap_frame(dst, c_dst)
        turns = range(0, 360, 30)
    scale = r_dst / r_src
    best = None
    for angle in turns:
        rotation = frame_dst @ rotation_y(np.radians(angle)) @ frame_src.T
        init = Similarity(scale, rotation, c_dst - scale * rotation @ c_src)
        sim, rms = similarity_icp(src, dst, init, symmetric=True)
        if best is None or rms < best[1]:
            best = (sim, rms)
    sim = best[0]
    head = ClosedSurface.from_mesh(vertices, faces).source_faces
    for _ in range(SURFACE_ITERATIONS):  # slides slowly: many small steps, until they vanish
        moved = sim.apply(src)
        _, _, on_head = closest_points(vertices, faces, moved, head)
        step = umeyama(moved, on_head)
        sim = step.after(sim)
        if np.abs(step.apply(moved) - moved).max() < 1e-6:
            break
    moved = sim.apply(src)
    _, _, on_scalp = closest_points(vertices, faces, moved, scalp)
    return sim, float(np.sqrt(np.mean(np.sum((on_scalp - moved) ** 2, axis=1))))


def fit_sphere(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares sphere through (N, 3) points: centre (3,) and radius."""
    a = np.column_stack([2 * points, np.ones(len(points))])
    b = (points ** 2).sum(1)
    sol, *_ = np.linalg.lstsq(a, b, rcond=None)
    centre = sol[:3]
    return centre, float(np.sqrt(max(sol[3] + centre @ centre, 1e-12)))


def _cap_frame(points: np.ndarray, centre: np.ndarray, up: np.ndarray | None = None,
               front: np.ndarray | None = None) -> np.ndarray:
    """(3, 3) rotation whose columns are a scalp cloud's right, up and front axes: up from
    the sphere centre to the cloud's centre (or ``up``), front away from the lowest tenth of
    the points (the nape) (or ``front``)."""
    if up is None:
        up = points.mean(0) - centre
    up = up / np.linalg.norm(up)
    if front is None:
        height = (points - centre) @ up
        low = points[height <= np.quantile(height, 0.1)].mean(0) - points.mean(0)
        front = -(low - (low @ up) * up)
    front = front - (front @ up) * up
    front = front / np.linalg.norm(front)
    return np.column_stack([np.cross(up, front), up, front])


def _gaussian_smoother(points: np.ndarray, sigma: float, k: int = 24) -> csr_matrix:
    """(N, N) row-normalised Gaussian weights over each point's k nearest neighbours."""
    k = min(k, len(points))
    dist, idx = cKDTree(points).query(points, k=k)
    w = np.exp(-0.5 * (dist / sigma) ** 2)
    w /= w.sum(1, keepdims=True)
    rows = np.repeat(np.arange(len(points)), k)
    return csr_matrix((w.ravel(), (rows, idx.ravel())), shape=(len(points), len(points)))
