"""A style from its parameters, grown on the reference head and fitted to a person's head
(the hair generator, densifier and fitting of :mod:`headforge.hair`), or, for silhouettes
only, carried there by moving each strand with its root (no collision pass: fast).

Photo hair may also root a little below the generator's hairline, where the photo shows hair
on the forehead and temples (:func:`photo_scalp`): a person's hairline is their own."""
from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

import numpy as np

from headforge.hair.collision import ClosedSurface
from headforge.hair.densify import densify
from headforge.hair.fit import fit_on_head
from headforge.hair.generator import HairParams, generate_guides
from headforge.hair.reference import reference_head
from headforge.hair.scalp import HEAD_CENTRE, MIN_RADIUS, azimuth_deg, hairline_height, root_points
from headforge.core.strands import Hairstyle
from headforge.core.camera import Camera
from headforge.render.mesh import Render

HAIRLINE_DROP = 0.03  # metres: photo hair roots at most this far below the generator's hairline
LOWEST_FOREHEAD = 0.04  # metres (head frame): nor below this height within FOREHEAD_AZIMUTH
FOREHEAD_AZIMUTH = 45.0  # degrees either side of the front
TEMPLE_AZIMUTH = 80.0  # degrees: nothing from here back (the ears and behind: the scalp's own)


@lru_cache(maxsize=1)
def hairline_band() -> np.ndarray:
    """(K,) int32 faces of the reference head that photo hair may root on besides the
    scalp: the outer surface below the hairline by at most ``HAIRLINE_DROP``, the forehead
    no lower than ``LOWEST_FOREHEAD``, in front of ``TEMPLE_AZIMUTH``."""
    ref = reference_head()
    main = ClosedSurface.from_mesh(ref.vertices, ref.faces).source_faces
    centre = ref.vertices[ref.faces[main]].mean(1)
    az = np.abs(azimuth_deg(centre - HEAD_CENTRE))
    keep = ((centre[:, 1] > hairline_height(az) - HAIRLINE_DROP) & (az < TEMPLE_AZIMUTH)
            & ((az > FOREHEAD_AZIMUTH) | (centre[:, 1] > LOWEST_FOREHEAD))
            & (np.linalg.norm(centre - HEAD_CENTRE, axis=1) > MIN_RADIUS))
    return np.setdiff1d(main[keep], ref.scalp).astype(np.int32)


def photo_scalp(vertices: np.ndarray, camera: Camera, head: Render, mask: np.ndarray,
                valid: np.ndarray) -> np.ndarray:
    """(K,) int32 root faces for photo hair: the reference scalp and the faces of
    :func:`hairline_band` whose centre the ``camera`` sees (facing it, not hidden in the
    ``head`` render) on the (S, S) hair ``mask`` inside ``valid``. ``vertices``: (V, 3) the
    head, reference topology, in the camera's world frame."""
    ref = reference_head()
    band = hairline_band()
    tri = np.asarray(vertices, np.float64)[ref.faces[band]]
    centre = tri.mean(1)
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    screen = camera.to_screen(centre)
    x = np.rint(screen[:, 0]).astype(np.int64)
    y = np.rint(screen[:, 1]).astype(np.int64)
    inside = (x >= 0) & (x < camera.width) & (y >= 0) & (y < camera.height)
    x, y = np.clip(x, 0, camera.width - 1), np.clip(y, 0, camera.height - 1)
    facing = np.einsum("nd,nd->n", normal @ camera.R.T, camera.to_camera(centre)) < 0
    seen = inside & facing & (screen[:, 2] <= head.depth[y, x] + 0.003)
    return np.union1d(ref.scalp, band[seen & mask[y, x] & valid[y, x]]).astype(np.int32)


def grow_style(params: HairParams, vertices: np.ndarray, faces: np.ndarray | None = None, color=(60, 42, 30),
               seed: int = 0, count: int | None = None, name: str = "photo",
               scalp: np.ndarray | None = None) -> Hairstyle:
    """``params`` grown on the reference head (roots on ``scalp`` faces, default its scalp),
    densified to ``count`` strands (default ``params.count``) and fitted to the head (V, 3)
    ``vertices``, head frame: a head of the reference topology by its triangles, any other
    (its (F, 3) ``faces`` needed) by registration (:func:`headforge.hair.fit.fit_on_head`)."""
    ref = reference_head()
    scalp = ref.scalp if scalp is None else scalp
    guides = generate_guides(params, ref.vertices, ref.faces, scalp, ref.collider, name=name, color=color,
                             seed=seed)
    dense = densify(guides, ref.vertices, ref.faces, scalp, count=params.count if count is None else count,
                    seed=seed)
    return fit_on_head(dense, vertices, ref.faces if faces is None else faces, ref)


def carried_style(params: HairParams, vertices: np.ndarray, seed: int = 0,
                  scalp: np.ndarray | None = None) -> Hairstyle:
    """``params`` grown and densified on the reference head (roots on ``scalp``, default its
    scalp), each strand then moved by its root's displacement onto the head ``vertices`` (V,
    3) of the reference topology. For silhouettes: strands may dip into the head where it is
    fuller than the reference."""
    ref = reference_head()
    scalp = ref.scalp if scalp is None else scalp
    guides = generate_guides(params, ref.vertices, ref.faces, scalp, ref.collider, seed=seed)
    dense = densify(guides, ref.vertices, ref.faces, scalp, count=params.count, seed=seed)
    if not dense.count:
        return dense
    before, _ = root_points(ref.vertices, ref.faces, dense.root_face, dense.root_bary)
    after, _ = root_points(vertices, ref.faces, dense.root_face, dense.root_bary)
    return replace(dense, strands=(dense.strands + (after - before)[:, None]).astype(np.float32))


SHELL_BINS = (128, 64)  # azimuth x elevation bins of the head's radial shell
SHELL_MARGIN = 0.001  # metres: strand points pushed out of the shell keep this far outside it


def radial_shell(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(SHELL_BINS) float64 the head's outer radius (metres from ``HEAD_CENTRE``) per
    direction (azimuth atan2(x, z), elevation asin(y / r), equal-angle bins): the largest
    radius of the surface's vertices and triangle centres in each bin and its neighbours
    (the head as seen from its centre: conservative where the surface folds, as at the
    ears). ``vertices`` (V, 3), head frame; ``faces`` (F, 3)."""
    v = np.asarray(vertices, np.float64)
    points = np.concatenate([v, v[np.asarray(faces)].mean(1)]) - HEAD_CENTRE
    i, j, r = _shell_bins(points)
    shell = np.zeros(SHELL_BINS)
    np.maximum.at(shell, (i, j), r)
    for _ in range(4):  # fill empty bins from their neighbours
        grown = shell.copy()
        for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            grown = np.maximum(grown, np.roll(np.roll(shell, di, 0), dj, 1))
        shell = np.where(shell > 0, shell, grown)
    near = shell.copy()
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            near = np.maximum(near, np.roll(np.roll(shell, di, 0), dj, 1))
    return near


def _shell_bins(points: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N,) azimuth bin, (N,) elevation bin and (N,) radius of (N, 3) points about the centre."""
    r = np.linalg.norm(points, axis=1)
    az = np.arctan2(points[:, 0], points[:, 2])
    el = np.arcsin(np.clip(points[:, 1] / np.maximum(r, 1e-12), -1, 1))
    i = np.clip(((az + np.pi) / (2 * np.pi) * SHELL_BINS[0]).astype(np.int64), 0, SHELL_BINS[0] - 1)
    j = np.clip(((el + np.pi / 2) / np.pi * SHELL_BINS[1]).astype(np.int64), 0, SHELL_BINS[1] - 1)
    return i, j, r


def pushed_out(strands: np.ndarray, shell: np.ndarray) -> np.ndarray:
    """(N, P, 3) ``strands`` (head frame) whose points (roots excepted) lie inside the head's
    radial ``shell`` (:func:`radial_shell`) moved out along their direction from the centre to
    ``SHELL_MARGIN`` beyond it: hair blended between its neighbours' shapes (densified) or
    combed does not dip into the head."""
    s = np.asarray(strands, np.float64)
    points = s[:, 1:].reshape(-1, 3) - HEAD_CENTRE
    i, j, r = _shell_bins(points)
    limit = shell[i, j] + SHELL_MARGIN
    inside = r < limit
    points[inside] *= (limit[inside] / np.maximum(r[inside], 1e-9))[:, None]
    out = s.copy()
    out[:, 1:] = (points + HEAD_CENTRE).reshape(len(s), -1, 3)
    return out
