"""Hair from the photo, end to end: the pipeline's hair stage.

face-aligned crop (align) -> hair mask (mask) -> orientation field + network input
(orientation, features) -> style parameters (model, styles; a short cut whose hair runs off
the photo below the chin continued as long) -> length and volume fitted to
the mask's silhouette, hair hidden behind the person's neck, shoulders and clothes not
judged (refine) -> the dense style grown from the scalp and the hairline the
photo shows (grow) and fitted to the person's head, spread over the photo's hair beyond the
head's outline, cut where it leaves the photo's hair and draped over the face as far as the
photo's fringe reaches (refine), coloured from the photo; its region lengths (and so its
length class) read back off the finished strands.
"""
from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field, replace

import numpy as np

from headforge.fitting.landmark_fit import head_angles_deg
from headforge.hair.densify import densify
from headforge.hair.generator import HairParams
from headforge.hair.reference import reference_head
from headforge.hair.registration import register_surfaces
from headforge.hair.scalp import root_points
from headforge.core.strands import Hairstyle, resample
from headforge.hairphoto.align import BORDER, Alignment, align_face
from headforge.hairphoto.color import hair_color, photo_strand_colors
from headforge.hairphoto.curl import curled, flow_coherence
from headforge.hairphoto.features import crop_orientation, network_input
from headforge.hairphoto.flow import comb_strands
from headforge.hairphoto.grow import carried_style, grow_style, photo_scalp, pushed_out, radial_shell
from headforge.hairphoto.mask import HairMask, PersonSegmenter, body_mask, hair_mask, runs_off_below_chin
from headforge.hairphoto.model import Prediction, load_model, predict
from headforge.hairphoto.orientation import OrientationField
from headforge.hairphoto.refine import behind_body, carve, drape, measured, refine_style, spread
from headforge.hairphoto.styles import LENGTH_CLASSES, bald, curl_class, decode, length_class, lengthened
from headforge.render import render_mesh
from headforge.core.camera import Camera
from headforge.render.mesh import Render

STRANDS = dict(guides=300, points=24, count=4000)  # the style shaped to the photo
EXPORT = dict(count=10000, points=32)  # the finished style, densified from the shaped one
COMB, COMB_WAVY = 0.85, 0.5  # how far straight and wavy strands turn towards the photo's flow
MIN_HAIR = 0.002  # a mask under this share of the crop is no hair
DEFAULT_COLOR = np.array([60, 42, 30], np.uint8)
# The strand renderer's light and root darkening make hair look this much darker than its
# base colour (measured on synthetic renders); the photo's colour is divided by it.
SHADING = 0.9
RUNS_OFF = 0.1  # face heights below the chin (see photo_style)


@dataclass
class PhotoHair:
    """The person's own hair: ``style`` (fitted to the head, head frame, metres), its
    ``params`` (region lengths as measured on ``style``), the network's ``length_class``, base
    ``color`` (3,) uint8, ``mask_iou`` (silhouette of the refined light style against the hair
    mask in the photo's view), the ``mask`` and the crop ``alignment`` it was read in, the
    network's ``prediction`` and per-step ``timings``."""

    style: Hairstyle
    params: HairParams
    length_class: str
    color: np.ndarray
    mask_iou: float
    mask: HairMask
    alignment: Alignment
    prediction: Prediction | None
    predicted_iou: float = 0.0
    length_scales: dict[str, float] = field(default_factory=dict)
    volume_scale: float = 1.0
    timings: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict:
        """The ``hair`` block of ``params.json``."""
        p = self.params.to_dict()
        for k in ("guides", "points", "count"):
            p.pop(k)
        out = {
            "source": "photo",
            "length_class": length_class(self.params),
            "curl_class": curl_class(self.params),
            "predicted_length_class": self.length_class,
            "generator_params": {k: (round(v, 5) if isinstance(v, float) else v) for k, v in p.items()},
            "color_srgb": [int(c) for c in self.color],
            "strands": self.style.count,
            "mask_iou": round(self.mask_iou, 4),
            "mask_iou_predicted": round(self.predicted_iou, 4),
            "mask_share": round(float(self.mask.hair.mean()), 4),
            "refinement": {"length_scales": {k: round(v, 3) for k, v in self.length_scales.items()},
                           "volume_scale": self.volume_scale},
            "timings_s": self.timings,
        }
        if self.prediction is not None:
            out["class_probabilities"] = {k: [round(float(x), 4) for x in v]
                                          for k, v in self.prediction.probabilities.items()}
        return out


@dataclass
class PhotoRead:
    """The part of the hair stage that needs only the photo (it runs beside the fit):
    ``landmarks`` (478, 2) in crop pixels, the face ``alignment``, its (S, S, 3) uint8 ``crop``
    and (S, S) bool ``valid`` area, the hair ``mask``, the base ``color`` (3,) uint8, the
    crop's ``orientation`` field and the hair's ``coherence`` (:func:`curl.flow_coherence`),
    both None for a bald photo; ``seconds`` it took."""

    landmarks: np.ndarray
    alignment: Alignment
    crop: np.ndarray
    valid: np.ndarray
    mask: HairMask
    color: np.ndarray
    orientation: OrientationField | None
    coherence: float | None
    seconds: float


class PhotoHairReader:
    """Holds the segmenter, the network and the reference head; call it per photo."""

    def __init__(self) -> None:
        self.segmenter = PersonSegmenter()
        self.net = load_model()
        reference_head()

    def read_photo(self, photo: np.ndarray, landmarks: np.ndarray) -> PhotoRead:
        """What the photo alone tells (no fit needed): ``photo`` (H, W, 3) uint8 and its
        (478, 2) pixel ``landmarks``."""
        t0 = time.perf_counter()
        alignment = align_face(landmarks)
        crop = alignment.warp(photo, border=BORDER)
        valid = alignment.valid(photo.shape)
        person = self.segmenter.in_crop(photo, alignment)
        mask = hair_mask(crop, alignment.to_crop(landmarks), valid, person)
        color = hair_color(crop, mask.hair)
        color = DEFAULT_COLOR if color is None else np.clip(color / SHADING, 0, 255).astype(np.uint8)
        has_hair = mask.hair.mean() >= MIN_HAIR
        orientation = crop_orientation(crop) if has_hair else None
        coherence = flow_coherence(crop, mask.hair) if has_hair else None
        return PhotoRead(alignment.to_crop(landmarks), alignment, crop, valid, mask, color, orientation,
                         coherence, round(time.perf_counter() - t0, 4))

    def __call__(self, photo: np.ndarray, landmarks: np.ndarray, camera: Camera, vertices: np.ndarray,
                 posed: np.ndarray, faces: np.ndarray) -> PhotoHair:
        """The hair of ``photo`` (H, W, 3) uint8 with its (478, 2) pixel ``landmarks`` and the
        fitted ``camera`` (same pixels); ``vertices`` (V, 3) the neutral head the hair is
        fitted to, ``posed`` (V, 3) the head as in the photo, ``faces`` (F, 3)."""
        return self.finish(self.read_photo(photo, landmarks), camera, vertices, posed, faces)

    def finish(self, read: PhotoRead, camera: Camera, vertices: np.ndarray, posed: np.ndarray,
               faces: np.ndarray) -> PhotoHair:
        """The hair of a photo :meth:`read_photo` has ``read``, once the head is fitted (see
        :meth:`__call__`)."""
        timings: dict[str, float] = {"mask": read.seconds}
        t = time.perf_counter()

        def lap(name: str) -> None:
            nonlocal t
            now = time.perf_counter()
            timings[name] = round(now - t, 4)
            t = now

        alignment, crop, valid, mask, color = read.alignment, read.crop, read.valid, read.mask, read.color
        cam = alignment.camera(camera)
        if read.orientation is None:
            params = bald(**STRANDS)
            style = grow_style(params, vertices, faces, color)
            score = 1.0 if not mask.hair.any() else 0.0
            return PhotoHair(style, params, "bald", color, score, mask, alignment, None, score, timings=timings)
        orientation = read.orientation
        x = network_input(orientation, mask.hair, mask.face, valid)
        angles = head_angles_deg(cam.R)
        prediction = predict(x, np.array([angles["yaw"], angles["pitch"]]), self.net)
        params = curled(photo_style(prediction, mask.hair, valid, read.landmarks), read.coherence)
        lap("predict")

        ref = reference_head()
        # Silhouettes are drawn on a head of the reference topology (the person's own, or the
        # reference registered onto it).
        target = vertices if len(vertices) == len(ref.vertices) else \
            register_surfaces(ref.vertices, ref.faces, vertices, faces).warped

        head = render_mesh(posed, faces, cam, lighting="flat")
        body = body_mask(mask.person, mask.hair, head.mask, read.landmarks)
        scalp = photo_scalp(target, cam, head, mask.hair, valid)
        refined = refine_style(params, lambda p: carried_style(p, target, scalp=scalp), posed, faces, cam,
                               mask.hair, valid, body, class_confidence(prediction, params))
        lap("refine")
        style, params = finish_style(refined.params, vertices, faces, color, scalp, cam, behind_body(head, body),
                                     mask.hair, valid, orientation, crop)
        lap("grow")
        return PhotoHair(style, params, LENGTH_CLASSES[prediction.classes["length"]], color,
                         refined.iou, mask, alignment, prediction, refined.predicted_iou, refined.length_scales,
                         refined.volume_scale, timings)


def photo_style(prediction: Prediction, hair: np.ndarray, valid: np.ndarray, landmarks: np.ndarray) -> HairParams:
    """The style the network's ``prediction`` decodes to, for a photo whose (S, S) bool
    ``hair`` mask shows hair (a bald class: the likeliest length with hair). A short cut does
    not run off the photo below the chin (on the synthetic training set 4 % of short styles
    do, against 18 % of medium and 59 % of long ones): a predicted buzz or short cut whose hair
    leaves the photo more than ``RUNS_OFF`` face heights below the chin is continued beyond
    the border as the likeliest class that does, long (:func:`styles.lengthened`).
    ``valid``: (S, S) bool the photo's area; ``landmarks``: (478, 2) crop pixels."""
    classes = dict(prediction.classes)
    if classes["length"] == 0:
        classes["length"] = 1 + int(np.argmax(prediction.probabilities["length"][1:]))
    if LENGTH_CLASSES[classes["length"]] in ("buzz", "short"):
        off = runs_off_below_chin(hair, valid, landmarks)
        if off is not None and off > RUNS_OFF:
            classes["length"] = LENGTH_CLASSES.index("long")
            return lengthened(decode(prediction.values, classes, **STRANDS), "long")
    return decode(prediction.values, classes, **STRANDS)


def class_confidence(prediction: Prediction, params: HairParams) -> float:
    """The network's probability of the length class of ``params`` (the style it decoded to)."""
    return float(prediction.probabilities["length"][LENGTH_CLASSES.index(length_class(params))])


def finish_style(params: HairParams, vertices: np.ndarray, faces: np.ndarray | None, color, scalp: np.ndarray | None,
                 camera: Camera, head: Render, mask: np.ndarray, valid: np.ndarray,
                 orientation: OrientationField | None = None,
                 crop: np.ndarray | None = None) -> tuple[Hairstyle, HairParams]:
    """The finished style of the refined ``params``: grown on the head (V, 3) ``vertices``
    (``faces`` (F, 3), default the reference's; roots on ``scalp``) at the ``STRANDS``
    budget, spread over, cut to and draped along the (S, S) hair ``mask`` inside ``valid``
    as the crop ``camera`` sees it in front of the ``head`` render (the body's pixels in it
    hiding the hair behind them: :func:`refine.behind_body`), combed along the photo's
    ``orientation`` field (straight hair by ``COMB``, wavy by ``COMB_WAVY``; curls keep their
    own turns) and shaped to the mask again (spread and cut), densified to
    the ``EXPORT`` budget on the same roots' faces (points that dip into the head pushed
    out of it: :func:`grow.pushed_out`) and, given the (S, S, 3) ``crop``, each
    strand coloured from the photo; and its params with the region lengths read back off it."""
    style = spread(grow_style(params, vertices, faces, color, scalp=scalp), camera, head, mask, valid)
    style = drape(carve(style, camera, head, mask, valid), camera, head, mask, valid)
    measured_params = measured(params, style)
    if not style.count:
        return style, measured_params
    if orientation is not None and params.curl_radius <= 0:
        weight = COMB_WAVY if params.waviness > 0 else COMB
        combed = comb_strands(style.strands, camera, head, orientation, mask, valid, weight)
        style = replace(style, strands=combed.astype(np.float32))
        style = carve(spread(style, camera, head, mask, valid), camera, head, mask, valid)
    faces = reference_head().faces if faces is None else faces
    # Each new strand copies its nearest shaped strand (clumping 1): a blend of neighbours
    # would pull the spread silhouette inwards.
    shaped = replace(style, strands=resample(style.strands, EXPORT["points"]).astype(np.float32),
                     params={**style.params, "clumping": 1.0})
    dense = replace(densify(shaped, vertices, faces, np.unique(style.root_face), count=EXPORT["count"]),
                    params=style.params)
    dense = replace(dense, strands=pushed_out(dense.strands, radial_shell(vertices, faces)).astype(np.float32))
    if crop is not None:
        roots, _ = root_points(vertices, faces, dense.root_face, dense.root_bary)
        colors, _ = photo_strand_colors(dense.strands, roots, dense.colors, dense.color, camera, head, crop, mask, valid)
        dense = replace(dense, colors=colors)
    return dense, measured_params


class HairJob:
    """The hair stage of one photo in a thread (numpy, OpenCV, torch and mediapipe release
    the GIL): it reads the photo beside the fit, then finishes beside the texture stages once
    :meth:`fitted` hands it the head (:meth:`cancel` when the fit fails). ``result()`` waits
    and returns the :class:`PhotoHair` (or raises what the stage raised); ``seconds`` is its
    own run time, the wait for the fit left out."""

    def __init__(self, reader: PhotoHairReader, photo: np.ndarray, landmarks: np.ndarray) -> None:
        self._reader = reader
        self._photo = (photo, landmarks)
        self._fit: queue.Queue = queue.Queue(maxsize=1)
        self._result: PhotoHair | None = None
        self._error: BaseException | None = None
        self.seconds = 0.0
        self._thread = threading.Thread(target=self._run, name="headforge-hair", daemon=True)
        self._thread.start()

    def fitted(self, camera: Camera, vertices: np.ndarray, posed: np.ndarray, faces: np.ndarray) -> None:
        """The fitted head: ``camera`` (the photo's pixels), neutral (V, 3) ``vertices``, the
        ``posed`` (V, 3) head as in the photo and its (F, 3) ``faces``."""
        self._fit.put((camera, vertices, posed, faces))

    def cancel(self) -> None:
        """No head is coming: the thread ends without a result."""
        self._fit.put(None)

    def _run(self) -> None:
        t0 = time.perf_counter()
        try:
            read = self._reader.read_photo(*self._photo)
            busy = time.perf_counter() - t0
            head = self._fit.get()
            if head is None:
                return
            t1 = time.perf_counter()
            self._result = self._reader.finish(read, *head)
            self.seconds = round(busy + time.perf_counter() - t1, 4)
        except BaseException as e:  # noqa: BLE001 - handed to the caller by result()
            self._error = e

    def result(self) -> PhotoHair:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result
