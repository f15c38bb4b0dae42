"""What a reconstruction back-end gives the pipeline, whatever its head model.

A back-end fits its head model to the detected landmarks and hands back a :class:`HeadFit`:
the person's neutral head with the 52 ARKit morph targets (so export, emotions, preview and the
web viewer work unchanged), the fitted geometry the texture is unwrapped from, the camera, and
its own blocks for ``params.json``. Texture, normal map, preview and export are shared.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from scipy.spatial import cKDTree

from headforge.core.avatar import HeadMesh
from headforge.detection.landmarks import FaceLandmarks
from headforge.core.camera import Camera
from headforge.texture.unwrap import TexelMap


@dataclass
class HeadFit:
    """One fitted head.

    mesh: neutral identity (V, 3) with the 52 ARKit morph targets; posed: (V, 3) the head as
    fitted to the photo (head frame; what the texture is unwrapped from); actions: (52,) ARKit
    weights in [0, 1] closest to the fitted expression, in ``mesh.morph_names`` order; camera:
    sees ``posed`` as in the working copy of the photo; head_angles_deg: yaw, pitch, roll;
    error: mean 2D landmark error / face-box diagonal; params: the back-end's own
    ``params.json`` blocks (at least ``"model"``); displacement: optional (H, W) float32 map
    in the texture's UV layout, metres along the surface normal (finer than the mesh).
    """

    mesh: HeadMesh
    posed: np.ndarray
    actions: np.ndarray
    camera: Camera
    head_angles_deg: dict[str, float]
    error: float
    params: dict = field(default_factory=dict)
    displacement: np.ndarray | None = None


class Backend(Protocol):
    """A head model and its fitter. ``texture_mesh``: (vertices (V, 3) of a left-right symmetric
    neutral head, faces, uvs, face_uvs) for the UV rasters."""

    name: str
    texture_mesh: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

    def fit(self, image: np.ndarray, face: FaceLandmarks, keep_expression: bool) -> HeadFit:
        """Fit to ``face`` detected in ``image`` ((H, W, 3) uint8, the working copy)."""

    def normal_map(self, fit: HeadFit, albedo: np.ndarray, observed: np.ndarray, texels: TexelMap) -> np.ndarray:
        """(S, S, 3) uint8 tangent-space normal map for the (S, S, 3) albedo."""

    def expression_params(self, params: dict, expression: np.ndarray) -> None:
        """Add what the back-end says about the exported (52,) ARKit ``expression`` to ``params``."""


def symmetrised(vertices: np.ndarray, tolerance: float = 0.005) -> np.ndarray:
    """(V, 3) copy of a nearly left-right symmetric mesh (mirror plane x = 0) made exactly
    symmetric: each vertex whose mirror image has a mutual nearest vertex within ``tolerance``
    metres moves to the mean of itself and that vertex's mirror image."""
    v = np.asarray(vertices, np.float64)
    flip = np.array([-1.0, 1.0, 1.0])
    dist, mirror = cKDTree(v).query(v * flip)
    ok = (dist < tolerance) & (mirror[mirror] == np.arange(len(v)))
    out = v.copy()
    out[ok] = (v[ok] + v[mirror[ok]] * flip) / 2
    return out.astype(np.float32)


def rounded(values) -> list[float]:
    """Flat list of floats rounded to 6 decimals (for ``params.json``)."""
    return [round(float(v), 6) for v in np.ravel(values)]
