"""photo -> Avatar: the reconstruction pipeline, one timed stage per module.

load (io.image) -> detect (detection.landmarks) -> fit (fitting.landmark_fit) ->
texture (texture.unwrap) -> normal map (texture.normal_map) -> preview (export.preview).
Writing the zip is ``Avatar.save_zip``.
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import headforge
from headforge.avatar import Avatar, HeadMesh
from headforge.detection.landmarks import FaceDetector, FaceLandmarks
from headforge.emotion import apply_emotions, emotion_params
from headforge.emotion.mapping import intensity_vector
from headforge.export.preview import make_preview
from headforge.fitting.landmark_fit import FitResult, FitSettings, fit_landmarks
from headforge.headmodel.anny_head import HeadModel, load_head_model
from headforge.headmodel.landmark_embedding import load_landmark_embedding
from headforge.io.image import load_photo, working_copy
from headforge.render.camera import Camera
from headforge.texture.normal_map import detail_normal_map
from headforge.texture.trust import face_trust_mask
from headforge.texture.unwrap import TexelMap, build_texel_map, unwrap_texture

PARAMS_SCHEMA = "headforge.params/1"
TEXTURE_SIZES = (512, 1024, 2048)


@dataclass
class Options:
    """texture_size: 512, 1024 or 2048 texels; keep_expression: start from the photo's own
    expression (False: a neutral avatar); max_side: longest side, in pixels, of the copy that
    detection and fitting work on (the texture samples the full-resolution photo); emotions:
    {name: intensity in [0, 1]} applied on top (see :mod:`headforge.emotion`)."""

    texture_size: int = 1024
    keep_expression: bool = True
    max_side: int = 1024
    emotions: dict[str, float] = field(default_factory=dict)

    def __post_init__(self):
        if self.texture_size not in TEXTURE_SIZES:
            raise ValueError(f"texture size must be one of {TEXTURE_SIZES}, not {self.texture_size}")
        intensity_vector(self.emotions)  # raises EmotionError before any work is done


class Reconstructor:
    """Holds what every reconstruction re-uses (models, UV rasters). Thread-safe to call."""

    def __init__(self) -> None:
        self.model: HeadModel = load_head_model()
        self.embedding = load_landmark_embedding()
        self.detector = FaceDetector()
        self._texels: dict[int, TexelMap] = {}
        self._lock = threading.Lock()

    def texel_map(self, size: int) -> TexelMap:
        with self._lock:
            if size not in self._texels:
                m = self.model
                self._texels[size] = build_texel_map(m.template, m.faces, m.uvs, m.face_uvs, size)
            return self._texels[size]

    def warm_up(self, sizes=(1024,)) -> None:
        """Build the UV rasters now, so the first photo is not slower than the next."""
        for size in sizes:
            self.texel_map(size)

    def __call__(self, image, options: Options | None = None) -> Avatar:
        """Reconstruct the largest face in ``image`` (a path, bytes or an (H, W, 3) array)."""
        opts = options or Options()
        timings: dict[str, float] = {}

        @contextmanager
        def stage(name):
            t0 = time.perf_counter()
            yield
            timings[name] = round(time.perf_counter() - t0, 4)

        with stage("load"):
            photo = load_photo(image)
            work, scale = working_copy(photo.rgb, opts.max_side)
        with stage("detect"):
            face = self.detector(work)
        with stage("fit"):
            fit = fit_landmarks(
                self.model, self.embedding, face, work.shape[:2], FitSettings(keep_expression=opts.keep_expression)
            )
        m = self.model
        identity = m.identity_vertices(fit.phenotypes, fit.local)
        mesh = HeadMesh(identity, m.faces, m.uvs, m.face_uvs, list(m.action_names), m.action_basis)
        posed = mesh.posed(fit.actions)
        landmarks = (face.points[:, :2] + 0.5) / scale - 0.5  # photo pixels
        full_camera = fit.camera.resized(1 / scale, photo.rgb.shape[1], photo.rgb.shape[0])
        with stage("texture"):
            trust = face_trust_mask(face.points[:, :2], work)
            albedo, observed = unwrap_texture(
                photo.rgb, full_camera, posed, m.faces, self.texel_map(opts.texture_size), trust
            )
        with stage("normal_map"):
            normal_map = detail_normal_map(albedo, observed)
        expression = apply_emotions(fit.actions, opts.emotions, opts.keep_expression)
        avatar = Avatar(mesh, expression, albedo, normal_map, landmarks=landmarks, camera=full_camera)
        with stage("preview"):
            avatar.preview = make_preview(photo.rgb, avatar.landmarks, avatar)
        avatar.params = make_params(m, fit, face, photo.rgb.shape, scale, full_camera, expression, timings)
        avatar.params["emotions"] = emotion_params(opts.emotions, opts.keep_expression)
        return avatar


def make_params(model: HeadModel, fit: FitResult, face: FaceLandmarks, shape, scale: float,
                camera: Camera, expression: np.ndarray, timings: dict[str, float]) -> dict:
    """The ``params.json`` content (schema ``headforge.params/1``); camera in photo pixels."""
    def rounded(values):
        return [round(float(v), 6) for v in np.ravel(values)]

    return {
        "schema": PARAMS_SCHEMA,
        "generator": f"headforge {headforge.__version__}",
        "model": {"name": model.name, "version": model.version},
        "identity": {
            "phenotypes": dict(zip(model.phenotype_names, rounded(fit.phenotypes))),
            "local_changes": dict(zip(model.local_names, rounded(fit.local))),
        },
        "expression": {
            "arkit": dict(zip(model.action_names, rounded(expression))),
            "fitted_arkit": dict(zip(model.action_names, rounded(fit.actions))),
        },
        "pose": {
            "rotation_matrix": [rounded(r) for r in camera.R],
            "translation_m": rounded(camera.t),
            "angles_deg": {k: round(v, 2) for k, v in fit.head_angles_deg.items()},
        },
        "camera": {
            "model": "pinhole, OpenCV axes (x right, y down, z forward); x_cam = R @ x_head + t",
            "focal_px": round(camera.focal, 3),
            "cx_px": round(camera.cx, 3),
            "cy_px": round(camera.cy, 3),
        },
        "image": {"width": int(shape[1]), "height": int(shape[0]), "processing_scale": round(scale, 6)},
        "detection": {
            "face_count": face.face_count,
            "box_px": [round(v / scale, 2) for v in face.box],
            "landmark_error": round(fit.error, 6),
        },
        "timings_s": timings,
    }


_default: Reconstructor | None = None
_default_lock = threading.Lock()


def default_reconstructor() -> Reconstructor:
    """The process-wide Reconstructor, created on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Reconstructor()
        return _default


def reconstruct(image: str | Path | bytes | np.ndarray, *, texture_size: int = 1024,
                keep_expression: bool = True, emotions: dict[str, float] | None = None) -> Avatar:
    """One portrait in, one avatar out. ``image``: a path, encoded bytes or an (H, W, 3) uint8
    RGB array; ``emotions``: e.g. ``{"happiness": 0.8}`` (see :mod:`headforge.emotion`).
    Raises a :class:`headforge.errors.HeadforgeError` for bad input."""
    options = Options(texture_size=texture_size, keep_expression=keep_expression, emotions=dict(emotions or {}))
    return default_reconstructor()(image, options)
