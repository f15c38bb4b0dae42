"""A style from its parameters, grown on the reference head and fitted to a person's head
(the hair generator, densifier and fitting of :mod:`headforge.hair`), or, for silhouettes
only, carried there by moving each strand with its root (no collision pass: fast)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from headforge.hair.densify import densify
from headforge.hair.fit import fit_on_head
from headforge.hair.generator import HairParams, generate_guides
from headforge.hair.reference import reference_head
from headforge.hair.scalp import root_points
from headforge.hair.strands import Hairstyle


def grow_style(params: HairParams, vertices: np.ndarray, faces: np.ndarray | None = None, color=(60, 42, 30),
               seed: int = 0, count: int | None = None, name: str = "photo") -> Hairstyle:
    """``params`` grown on the reference head, densified to ``count`` strands (default
    ``params.count``) and fitted to the head (V, 3) ``vertices``, head frame: a head of the
    reference topology by its triangles, any other (its (F, 3) ``faces`` needed) by
    registration (:func:`headforge.hair.fit.fit_on_head`)."""
    ref = reference_head()
    guides = generate_guides(params, ref.vertices, ref.faces, ref.scalp, ref.collider, name=name, color=color,
                             seed=seed)
    dense = densify(guides, ref.vertices, ref.faces, ref.scalp, count=params.count if count is None else count,
                    seed=seed)
    return fit_on_head(dense, vertices, ref.faces if faces is None else faces, ref)


def carried_style(params: HairParams, vertices: np.ndarray, seed: int = 0) -> Hairstyle:
    """``params`` grown and densified on the reference head, each strand then moved by its
    root's displacement onto the head ``vertices`` (V, 3) of the reference topology. For
    silhouettes: strands may dip into the head where it is fuller than the reference."""
    ref = reference_head()
    guides = generate_guides(params, ref.vertices, ref.faces, ref.scalp, ref.collider, seed=seed)
    dense = densify(guides, ref.vertices, ref.faces, ref.scalp, count=params.count, seed=seed)
    if not dense.count:
        return dense
    before, _ = root_points(ref.vertices, ref.faces, dense.root_face, dense.root_bary)
    after, _ = root_points(vertices, ref.faces, dense.root_face, dense.root_bary)
    return replace(dense, strands=(dense.strands + (after - before)[:, None]).astype(np.float32))
