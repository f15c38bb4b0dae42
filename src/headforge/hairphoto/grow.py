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
