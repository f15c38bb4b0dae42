"""The default back-end: anny's head (:mod:`headforge.headmodel.anny_head`) fitted by
:mod:`headforge.fitting.landmark_fit` to all 478 landmarks. Needs no model files."""
from __future__ import annotations

import numpy as np

from headforge.core.avatar import HeadMesh
from headforge.backends.base import HeadFit, rounded
from headforge.detection.landmarks import FaceLandmarks
from headforge.fitting.landmark_fit import FitSettings, fit_landmarks
from headforge.headmodel.anny_head import load_head_model
from headforge.headmodel.landmark_embedding import load_landmark_embedding
from headforge.texture.normal_map import detail_normal_map
from headforge.texture.unwrap import TexelMap


class AnnyBackend:
    """anny's linear head: identity = 6 phenotypes + local shape changes, expression = its own
    52 ARKit actions (``params.json``: ``model`` and ``identity`` blocks)."""

    name = "anny"

    def __init__(self) -> None:
        self.model = load_head_model()
        self.embedding = load_landmark_embedding()
        m = self.model
        self.texture_mesh = (m.template, m.faces, m.uvs, m.face_uvs)

    def fit(self, image: np.ndarray, face: FaceLandmarks, keep_expression: bool) -> HeadFit:
        m = self.model
        fit = fit_landmarks(m, self.embedding, face, image.shape[:2], FitSettings(keep_expression=keep_expression))
        mesh = HeadMesh(m.identity_vertices(fit.phenotypes, fit.local), m.faces, m.uvs, m.face_uvs,
                        list(m.action_names), m.action_basis)
        params = {
            "model": {"name": m.name, "version": m.version},
            "identity": {
                "phenotypes": dict(zip(m.phenotype_names, rounded(fit.phenotypes))),
                "local_changes": dict(zip(m.local_names, rounded(fit.local))),
            },
        }
        return HeadFit(mesh, mesh.posed(fit.actions), fit.actions, fit.camera, fit.head_angles_deg, fit.error, params)

    def normal_map(self, fit: HeadFit, albedo: np.ndarray, observed: np.ndarray, texels: TexelMap) -> np.ndarray:
        return detail_normal_map(albedo, observed)

    def expression_params(self, params: dict, expression: np.ndarray) -> None:
        """anny's expression is the ARKit weights themselves: nothing to add."""
