"""The FLAME back-ends: ``flame`` (landmark fit alone), ``deca`` and ``emoca`` (the fit starts
from, and is pulled towards, the network's estimate; DECA's detail networks give the normal map).

Downstream everything is the default path: the head is FLAME's mesh with its own UV layout, its
52 morph targets are the ARKit actions as FLAME expression + jaw + eye combinations
(:mod:`.flame_arkit`), and the fit's ARKit weights (:mod:`.flame_fit`) are the exported
expression. ``params.json`` gets a ``flame`` block: the fitted ``shape``, ``expression`` and
``pose`` (``global``: the head's rotation seen from the camera, as FLAME's global pose, about the
origin; ``neck``, ``jaw``, ``eyes``), and ``exported``: the FLAME expression, jaw and eyes of the
zip's ARKit weights (emotions included).
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from headforge.core.avatar import HeadMesh
from headforge.backends import registry
from headforge.backends.base import HeadFit, rounded, symmetrised
from headforge.backends.flame import load_flame
from headforge.backends.flame_arkit import arkit_table
from headforge.backends.flame_files import LandmarkEmbedding, derived_embedding_path, read_embedding, read_uv_layout
from headforge.backends.flame_fit import FlameFitSettings, fit_flame, prior_centre
from headforge.detection.landmarks import FaceLandmarks
from headforge.fitting.landmark_fit import head_angles_deg
from headforge.core.camera import FRONT
from headforge.texture.displacement import displacement_normal_map
from headforge.texture.normal_map import detail_normal_map
from headforge.texture.unwrap import TexelMap


class FlameBackend:
    """FLAME from the files ``registry.require`` found; ``encoder``: a DECA-like callable
    ``(image, face) -> FlameInit`` or None."""

    def __init__(self, name: str, files: dict[str, Path], encoder=None, settings: FlameFitSettings | None = None):
        self.name = name
        self.model_file = files["flame"]
        with registry.reading(files["flame"], registry.FLAME_MODEL):
            self.flame = load_flame(files["flame"])
        faces = self.flame.faces
        with registry.reading(files["uv"], registry.UV_LAYOUT):
            self.uvs, self.face_uvs = read_uv_layout(files["uv"], faces)
        self.embedding = load_embedding(files["embedding"], self.model_file, len(faces))
        self.table = arkit_table(self.flame, self.embedding, self.model_file)
        self.texture_mesh = (symmetrised(self.flame.template), faces, self.uvs, self.face_uvs)
        self.encoder = encoder
        self.settings = settings or FlameFitSettings()

    def fit(self, image: np.ndarray, face: FaceLandmarks, keep_expression: bool) -> HeadFit:
        flame, table, s = self.flame, self.table, self.settings
        init = self.encoder(image, face) if self.encoder is not None else None
        n_shape, n_exp = min(s.n_shape, flame.n_shape), min(s.n_expression, flame.n_expression)
        centre = prior_centre(table, face, keep_expression, init, n_shape, n_exp)
        fit = fit_flame(flame, self.embedding, face, image.shape[:2], table, centre, s)
        t = lambda x: torch.from_numpy(x)[None]  # noqa: E731
        with torch.no_grad():
            neutral = flame(t(fit.shape), torch.zeros(1, 0), flame.pose())[0].numpy()
            posed = flame(t(fit.shape), t(fit.expression), flame.pose(t(fit.neck), t(fit.jaw), t(fit.eyes)))[0].numpy()
        mesh = HeadMesh(neutral, flame.faces, self.uvs, self.face_uvs, list(table.names), table.deltas(flame, fit.shape))
        rotation = cv2.Rodrigues(FRONT @ fit.camera.R)[0].ravel()
        params = {
            "model": {"name": "flame", "version": flame.version, "file": self.model_file.name, "backend": self.name,
                      "landmarks": self.embedding.source, "init": init.source if init is not None else "none"},
            "flame": {
                "shape": rounded(fit.shape),
                "expression": rounded(fit.expression),
                "pose": {"global": rounded(rotation), "neck": rounded(fit.neck), "jaw": rounded(fit.jaw),
                         "eyes": rounded(fit.eyes)},
            },
        }
        return HeadFit(mesh, posed, fit.actions, fit.camera, head_angles_deg(fit.camera.R), fit.error, params,
                       init.displacement if init is not None else None)

    def normal_map(self, fit: HeadFit, albedo: np.ndarray, observed: np.ndarray, texels: TexelMap) -> np.ndarray:
        if fit.displacement is None:
            return detail_normal_map(albedo, observed)
        m = fit.mesh
        return displacement_normal_map(fit.displacement, texels, m.vertices, m.faces, m.uvs, m.face_uvs)

    def expression_params(self, params: dict, expression: np.ndarray) -> None:
        e, jaw, eyes = self.table.combine(expression)
        params["flame"]["exported"] = {"expression": rounded(e), "jaw": rounded(jaw), "eyes": rounded(eyes)}


def load_embedding(path: Path, model_file: Path, n_faces: int) -> LandmarkEmbedding:
    """The derived 478-point embedding of this FLAME file when it was made, else ``path``'s."""
    derived = derived_embedding_path(model_file)
    if derived.is_file():
        path = derived
    with registry.reading(path, registry.EMBEDDING):
        return read_embedding(path, n_faces)


def load_flame_backend(name: str, folder: str | Path | None = None) -> FlameBackend:
    """``flame``, ``deca`` or ``emoca`` with the files found in ``folder`` (see :mod:`.registry`)."""
    from headforge.backends.deca import read_deca
    from headforge.backends.emoca import read_emoca

    files = registry.require(name, folder)
    extras = {k: files.get(k) for k in ("fixed_displacement", "uv_mask")}
    encoder = None
    if name == "deca":
        with registry.reading(files["deca"], registry.DECA_MODEL):
            encoder = read_deca(files["deca"], **extras)
    elif name == "emoca":
        with registry.reading(files["emoca"], registry.EMOCA_MODEL):
            encoder = read_emoca(files["emoca"], files.get("deca"), **extras)
    return FlameBackend(name, files, encoder)
