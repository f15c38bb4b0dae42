"""The fitted head's 68 iBUG points in the photo.

Inner points (brows, nose, eyes, lips) are fixed surface points (the landmark embedding). The
17 jaw points are the face's outline: on a turned head, annotators (and AFLW2000-3D's fitted
ground truth) put them on the silhouette, not on fixed vertices.
"""
from __future__ import annotations

import numpy as np

from headforge.bench.landmarks68 import IBUG68


def model_68(backend, fit, face) -> np.ndarray:
    """(68, 2) pixel points of ``fit`` (a :class:`headforge.backends.base.HeadFit` of ``backend``)."""
    faces, bary = backend.embedding
    tri = fit.posed[fit.mesh.faces[faces[IBUG68]]]
    return fit.camera.project(np.einsum("nk,nkc->nc", bary[IBUG68], tri))
