"""The reference head that hairstyles are made and stored on: the default head model's
template (head frame, metres), its scalp faces and its collision grid (cached on disk)."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from headforge.hair.collision import ClosedSurface, Collider
from headforge.hair.scalp import scalp_faces
from headforge.headmodel.anny_head import HeadModel, load_head_model
from headforge.paths import cache_dir
from headforge.core.files import atomic_file


@dataclass
class ReferenceHead:
    """vertices: (V, 3) float64 template; faces: (F, 3) int32; scalp: (K,) int32 scalp face
    ids; collider: the collision grid of the template."""

    vertices: np.ndarray
    faces: np.ndarray
    scalp: np.ndarray
    collider: Collider


@lru_cache(maxsize=1)
def reference_head() -> ReferenceHead:
    """The default head model's reference head (first call: ~3 s without the disk cache)."""
    return make_reference_head(load_head_model())


def make_reference_head(model: HeadModel) -> ReferenceHead:
    vertices = np.asarray(model.template, np.float64)
    return ReferenceHead(vertices, model.faces, scalp_faces(vertices, model.faces),
                         _cached_collider(vertices, model.faces))


def _cached_collider(vertices: np.ndarray, faces: np.ndarray) -> Collider:
    """The collider of (vertices, faces), its grid read from / written to the cache folder."""
    code = (Path(__file__).parent / "collision.py").read_bytes()
    mesh = vertices.astype(np.float32).tobytes() + np.asarray(faces, np.int32).tobytes()
    key = hashlib.sha1(mesh + code).hexdigest()[:16]
    path = cache_dir() / f"hair-collider-{key}.npz"
    surface = ClosedSurface.from_mesh(vertices, faces)
    if path.is_file():
        try:
            with np.load(path) as z:
                return Collider(surface, surface.samples(vertices), z["origin"], float(z["spacing"]),
                                z["nearest"].astype(np.int32))
        except (OSError, KeyError, ValueError):
            pass  # rebuilt below
    collider = Collider.build(vertices, faces)
    with atomic_file(path) as file:
        np.savez_compressed(file, origin=collider.origin, spacing=collider.spacing,
                            nearest=collider.nearest.astype(np.uint16 if len(collider.rest.points) < 65536 else np.int32))
    return collider
