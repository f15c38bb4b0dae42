"""photo -> Avatar: the reconstruction pipeline, one timed stage per module.

load (io.image) -> detect (detection.landmarks) -> fit (the back-end: anny with fitting.landmark_fit
by default, or FLAME / DECA / EMOCA, see headforge.backends) -> texture (texture.unwrap) ->
normal map (texture.normal_map) -> preview (export.preview). Writing the zip is :func:`headforge.export.package.write_zip`.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import headforge
from headforge.core.avatar import Avatar
from headforge.backends import load_backend
from headforge.backends.base import HeadFit, rounded
from headforge.backends.registry import model_dir as resolve_model_dir
from headforge.body.fullbody import BODY_CHOICES, check_body_shape, full_body
from headforge.detection.landmarks import FaceDetector, FaceLandmarks
from headforge.emotion import apply_emotions, emotion_params
from headforge.emotion.mapping import intensity_vector
from headforge.errors import SeveralFacesError
from headforge.export.preview import make_preview
from headforge.export.vrm import LICENCES
from headforge.hair.drape import drape_on_body
from headforge.hair.fit import fit_on_head
from headforge.hair.library import load_hairstyle, open_library
from headforge.tryon import hair_params
from headforge.hairphoto import HairJob, PhotoHairReader
from headforge.io.image import load_photo, working_copy
from headforge.core.camera import Camera
from headforge.headmodel.parts_atlas import iris_color
from headforge.texture.trust import face_maps
from headforge.texture.unwrap import TexelMap, build_texel_map, unwrap_texture

PARAMS_SCHEMA = "headforge.params/1"
TEXTURE_SIZES = (512, 1024, 2048)
HAIR_CHOICES = ("auto", "none")
# Stage -> typical share of a reconstruction's time spent before it starts (for progress bars).
STAGE_STARTS = {"load": 0.0, "detect": 0.01, "fit": 0.03, "texture": 0.4, "normal_map": 0.8, "preview": 0.85}


@dataclass
class Options:
    """texture_size: 512, 1024 or 2048 texels; keep_expression: start from the photo's own
    expression (False: a neutral avatar); max_side: longest side, in pixels, of the copy that
    detection and fitting work on (the texture samples the full-resolution photo); emotions:
    {name: intensity in [0, 1]} applied on top (see :mod:`headforge.emotion`); single_face:
    refuse a photo in which the detector sees more than one face (False: use the largest);
    hair: "auto" (the person's own hair, read from the photo: :mod:`headforge.hairphoto`),
    "none" (no hair) or the name of a stored hairstyle (:mod:`headforge.hair`), fitted to the
    head; body: "head" (a head-only avatar) or "full" (the head on a rigged, dressed body:
    :mod:`headforge.body`), body_shape: {phenotype: value in [0, 1]} for the body (gender,
    age, muscle, weight, height, proportions); unset ones come from the head fit; licence: the
    VRM's (:data:`headforge.export.vrm.LICENCES`: personal, cc-by-4.0, cc0)."""

    texture_size: int = 1024
    keep_expression: bool = True
    max_side: int = 1024
    emotions: dict[str, float] = field(default_factory=dict)
    single_face: bool = False
    hair: str = "auto"
    body: str = "head"
    body_shape: dict[str, float] = field(default_factory=dict)
    licence: str = "personal"

    def __post_init__(self):
        if self.body not in BODY_CHOICES:
            raise ValueError(f"body must be one of {BODY_CHOICES}, not {self.body!r}")
        check_body_shape(self.body_shape)
        if self.licence not in LICENCES:
            raise ValueError(f"licence must be one of {tuple(LICENCES)}, not {self.licence!r}")
        if self.texture_size not in TEXTURE_SIZES:
            raise ValueError(f"texture size must be one of {TEXTURE_SIZES}, not {self.texture_size}")
        if self.hair not in HAIR_CHOICES:
            open_library().record(self.hair)  # raises UnknownHairstyleError before any work
        intensity_vector(self.emotions)  # raises EmotionError before any work is done


class Reconstructor:
    """Holds what every reconstruction re-uses (models, UV rasters). Thread-safe to call.

    backend: "anny" (the default, built in), "flame", "deca" or "emoca"; model_dir: the folder
    with the FLAME / DECA / EMOCA files (default ``$HEADFORGE_MODEL_DIR``). A back-end whose files
    are missing or wrong raises :class:`headforge.errors.ModelError` naming the file."""

    def __init__(self, backend: str = "anny", model_dir: str | Path | None = None) -> None:
        self.backend = load_backend(backend, model_dir)
        self.detector = FaceDetector()
        self._texels: dict[int, TexelMap] = {}
        self._hair: PhotoHairReader | None = None
        self._lock = threading.Lock()

    def texel_map(self, size: int) -> TexelMap:
        with self._lock:
            if size not in self._texels:
                self._texels[size] = build_texel_map(*self.backend.texture_mesh, size)
            return self._texels[size]

    def hair_reader(self) -> PhotoHairReader:
        """The hair-from-photo stage's models, loaded on first use."""
        with self._lock:
            if self._hair is None:
                self._hair = PhotoHairReader()
            return self._hair

    def warm_up(self, sizes=(1024,)) -> None:
        """Build the UV rasters, load the hair models and the USD library now, so the first photo is not slower
        than the next."""
        for size in sizes:
            self.texel_map(size)
        self.hair_reader()
        import pxr.UsdGeom  # noqa: F401 - the zip's hair.usdc; half a second on first import

    def __call__(self, image, options: Options | None = None,
                 progress: Callable[[str, float], None] | None = None) -> Avatar:
        """Reconstruct the largest face in ``image`` (a path, bytes or an (H, W, 3) array).
        ``progress(stage, fraction)`` is called as each stage starts, ``fraction`` being the
        typical share of the work done before it (``STAGE_STARTS``)."""
        opts = options or Options()
        timings: dict[str, float] = {}

        @contextmanager
        def stage(name):
            if progress is not None:
                progress(name, STAGE_STARTS[name])
            t0 = time.perf_counter()
            yield
            timings[name] = round(time.perf_counter() - t0, 4)

        with stage("load"):
            photo = load_photo(image)
            work, scale = working_copy(photo.rgb, opts.max_side)
        with stage("detect"):
            face = self.detector(work)
            if opts.single_face and face.face_count > 1:
                raise SeveralFacesError(f"{face.face_count} faces found; upload a photo of one person")
        # The hair stage reads the photo beside the fit, then fits its strands beside the texture.
        hair = HairJob(self.hair_reader(), work, face.points[:, :2]) if opts.hair == "auto" else None
        try:
            with stage("fit"):
                fit = self.backend.fit(work, face, opts.keep_expression)
        except BaseException:
            if hair is not None:
                hair.cancel()
            raise
        mesh = fit.mesh
        if hair is not None:
            hair.fitted(fit.camera, mesh.vertices, fit.posed, mesh.faces)
        landmarks = (face.points[:, :2] + 0.5) / scale - 0.5  # photo pixels
        full_camera = fit.camera.resized(1 / scale, photo.rgb.shape[1], photo.rgb.shape[0])
        with stage("texture"):
            maps = face_maps(face.points[:, :2], work)
            skin = unwrap_texture(photo.rgb, full_camera, fit.posed, mesh.faces, self.texel_map(opts.texture_size), maps)
            albedo, observed = skin.albedo, skin.observed
        with stage("normal_map"):
            normal_map = self.backend.normal_map(fit, albedo, observed, self.texel_map(opts.texture_size))
        expression = apply_emotions(fit.actions, opts.emotions, opts.keep_expression)
        avatar = Avatar(mesh, expression, albedo, normal_map, landmarks=landmarks, camera=full_camera,
                        observed=observed, light=skin.light, iris=iris_color(photo.rgb, landmarks))
        if hair is not None:
            photo_hair = hair.result()
            avatar.hair = photo_hair.style
            timings["hair"] = hair.seconds  # in parallel with texture and normal_map
        elif opts.hair != "none":
            style = load_hairstyle(opts.hair)
            t0 = time.perf_counter()
            avatar.hair = fit_on_head(style, mesh.vertices, mesh.faces)
            timings["hair"] = round(time.perf_counter() - t0, 4)
        with stage("preview"):
            avatar.preview = make_preview(photo.rgb, avatar.landmarks, avatar)
        avatar.params = make_params(fit, face, photo.rgb.shape, scale, full_camera, expression, timings)
        avatar.params["emotions"] = emotion_params(opts.emotions, opts.keep_expression)
        if hair is not None:
            avatar.params["hair"] = photo_hair.to_json()
        else:
            avatar.params["hair"] = {"source": "none"} if opts.hair == "none" else hair_params(avatar.hair, timings["hair"])
        self.backend.expression_params(avatar.params, expression)
        if opts.body == "full":
            t0 = time.perf_counter()
            avatar.body = full_body(avatar, opts.body_shape)
            if avatar.hair is not None:
                avatar.body.hair = drape_on_body(avatar.hair, avatar.body)
            timings["body"] = round(time.perf_counter() - t0, 4)
            avatar.params["body"] = {"rig": "mixamo (Ready Player Me names)", "phenotypes": avatar.body.phenotypes,
                                     "chosen": sorted(opts.body_shape), "licence": opts.licence}
        return avatar


def make_params(fit: HeadFit, face: FaceLandmarks, shape, scale: float,
                camera: Camera, expression: np.ndarray, timings: dict[str, float]) -> dict:
    """The ``params.json`` content (schema ``headforge.params/1``): the back-end's own blocks
    (``model``, and ``identity`` for anny or ``flame`` for FLAME) and the shared ones; camera in
    photo pixels."""
    names = fit.mesh.morph_names
    return {
        "schema": PARAMS_SCHEMA,
        "generator": f"headforge {headforge.__version__}",
        **fit.params,
        "expression": {
            "arkit": dict(zip(names, rounded(expression))),
            "fitted_arkit": dict(zip(names, rounded(fit.actions))),
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


_defaults: dict[tuple[str, str | None], Reconstructor] = {}
_default_lock = threading.Lock()


def default_reconstructor(backend: str = "anny", folder: str | Path | None = None) -> Reconstructor:
    """The process-wide Reconstructor of ``backend`` (files in ``folder``, default
    ``$HEADFORGE_MODEL_DIR``), created on first use."""
    where = None if backend == "anny" else resolve_model_dir(folder)
    key = (backend, None if where is None else str(where))
    with _default_lock:
        if key not in _defaults:
            _defaults[key] = Reconstructor(backend, where)
        return _defaults[key]


def reconstruct(image: str | Path | bytes | np.ndarray, *, texture_size: int = 1024,
                keep_expression: bool = True, emotions: dict[str, float] | None = None,
                backend: str = "anny", model_dir: str | Path | None = None, hair: str = "auto",
                body: str = "head", body_shape: dict[str, float] | None = None) -> Avatar:
    """One portrait in, one avatar out. ``image``: a path, encoded bytes or an (H, W, 3) uint8
    RGB array; ``emotions``: e.g. ``{"happiness": 0.8}`` (see :mod:`headforge.emotion`);
    ``backend``: "anny" (default), "flame", "deca" or "emoca", with their files in ``model_dir``
    (default ``$HEADFORGE_MODEL_DIR``; see :mod:`headforge.backends`); ``hair``: "auto" (from
    the photo), "none" or a stored hairstyle's name (``headforge hairstyles list``); ``body``:
    "head" (default) or "full" (a rigged full body), ``body_shape``: its phenotypes.
    Raises a :class:`headforge.errors.HeadforgeError` for bad input or missing model files."""
    options = Options(texture_size=texture_size, keep_expression=keep_expression, emotions=dict(emotions or {}),
                      hair=hair, body=body, body_shape=dict(body_shape or {}))
    return default_reconstructor(backend, model_dir)(image, options)
