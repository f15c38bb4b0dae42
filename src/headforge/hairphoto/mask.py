"""The hair mask of a portrait, in the face-aligned crop (:mod:`headforge.hairphoto.align`).

No hair-segmentation weights ship offline, so the mask is assembled from what does:

1. mediapipe's bundled person segmentation (selfie model) separates the person from the
   background (also blond hair on white and dark hair on dark, which colour alone cannot);
2. the face mesh's face oval and a skin-colour model sampled on the cheeks and nose mark the
   face, the skin-coloured neck and a bald scalp;
3. GrabCut, seeded by those priors (sure hair: clearly non-skin person pixels around the top
   of the head; sure not hair: background, face interior, skin, the neck and the middle of the
   chest), separates hair from clothes and neck by colour. The background takes one flat
   colour first, so GrabCut's "not hair" colours are the person's skin and clothes only.
   Below the chin only pixels coloured like the sure hair start as likely hair (hair over the
   shoulders; a collar or shirt of another colour starts as likely not), only hair-coloured
   pixels stay, and only pieces that reach the head.

A grey-scale photo has no colour to tell blond hair from skin: there the hair is the person's
textured part outside the face and neck (the orientation field's confidence, blurred, above
``GREY_TEXTURE``), and GrabCut is not run.

A head whose crown ring (just outside the face oval, above the brows) looks like the face's
skin (robust statistics: the median lightness and chroma differences) is bald: the mask is
empty (in a grey-scale photo the crown must also be smooth). A crown cut off by the photo's
border is not evidence of baldness.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from headforge.detection.landmarks import quiet_stderr
from headforge.hairphoto.align import Alignment
from headforge.hairphoto.features import crop_orientation
from headforge.texture.trust import FACE_OVAL, SKIN_SAMPLES

BALD_CROWN = (-8.0, 8.0)  # bald: the crown's median Lab lightness difference to the skin is
# above the first and its median chroma difference below the second
SKIN_SIGMA = np.array([6.0, 3.0, 3.0])  # Lab floor of the skin model's spread
BRIGHTER = 3.0  # brighter than the skin counts this many times less (lit skin is skin)
BROWS = (105, 334)
FLAT = (255, 0, 255)  # colour the background takes before GrabCut
GREY_TEXTURE = 0.4  # grey-scale photo: hair is where the streak confidence, blurred
GREY_BLUR = 0.016  # by this fraction of the crop (Gaussian sigma), is above this
BORDER_PX = 3  # hair this close (pixels) to the photo's border runs off it
BELOW_CHIN_LIKE = 2.0  # below the chin, a pixel this close to the sure hair's colours (robust
# deviations) starts GrabCut as likely hair (long hair over the shoulders), others as likely not


@dataclass
class HairMask:
    """In the (S, S) crop: ``hair`` bool; ``person`` float32 person probability; ``face``
    bool face oval; ``valid`` bool inside the photo; ``crown``: (lightness, chroma) median
    Lab differences of the crown ring to the skin (None when too little of it is visible)."""

    hair: np.ndarray
    person: np.ndarray
    face: np.ndarray
    valid: np.ndarray
    crown: tuple[float, float] | None


class PersonSegmenter:
    """mediapipe's selfie segmentation (general model, 256 x 256 input); thread-safe."""

    def __init__(self) -> None:
        import mediapipe as mp

        with quiet_stderr():
            self._model = mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=0)
            self._model.process(np.full((256, 256, 3), 128, np.uint8))
        self._lock = threading.Lock()

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W) float32 person probability of an (H, W, 3) uint8 image."""
        with self._lock:
            result = self._model.process(np.ascontiguousarray(rgb))
        return np.asarray(result.segmentation_mask, np.float32)

    def in_crop(self, photo: np.ndarray, alignment: Alignment) -> np.ndarray:
        """(S, S) float32 person probability in the crop, segmented on the part of the
        (H, W, 3) ``photo`` that the crop shows (not on the padded crop: padding looks like
        a person's outline to the model)."""
        x0, y0, x1, y1 = alignment.photo_box(photo.shape)
        return alignment.shifted(x0, y0).warp(self(photo[y0:y1, x0:x1]))


@dataclass
class FaceFrame:
    """Face-relative coordinates of every crop pixel, from the landmarks.

    height: (S, S) 0 at the chin, 1 at the forehead landmark (10), along the face's up axis;
    across: (S, S) 0 on the midline, +-0.5 at the oval's sides; ring: (S, S) elliptic radius
    around the oval's centre (about 1 on the oval); brow: height of the eyebrows."""

    height: np.ndarray
    across: np.ndarray
    ring: np.ndarray
    brow: float
    face_height: float


def _up(landmarks: np.ndarray) -> np.ndarray:
    """(2,) unit vector from the chin (152) to the forehead landmark (10)."""
    d = landmarks[10] - landmarks[152]
    return d / (np.linalg.norm(d) + 1e-9)


def face_frame(landmarks: np.ndarray, size: int) -> FaceFrame:
    """The :class:`FaceFrame` of (478, 2) crop-pixel landmarks in an (size, size) crop."""
    top, chin = landmarks[10], landmarks[152]
    up = _up(landmarks)
    right = np.array([-up[1], up[0]])
    face_h = float(np.linalg.norm(top - chin))
    oval = landmarks[FACE_OVAL]
    width = float(np.ptp(oval @ right))
    centre_x = float((oval @ right).min() + width / 2 - chin @ right)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    rel_x, rel_y = xs - chin[0], ys - chin[1]
    height = (rel_x * up[0] + rel_y * up[1]) / face_h
    across = (rel_x * right[0] + rel_y * right[1] - centre_x) / width
    ring = np.sqrt((2 * across) ** 2 + ((height - 0.5) / 0.55) ** 2)
    brow = float((landmarks[list(BROWS)].mean(0) - chin) @ up / face_h)
    return FaceFrame(height, across, ring, brow, face_h)


def skin_probability(lab: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """(H, W) float32 in [0, 1]: closeness of Lab pixels (cv2 float Lab) to the (N, 3) skin
    samples (median and MAD). Brighter than the skin is forgiven ``BRIGHTER`` times more,
    except in a grey-scale photo, where brightness is all that tells blond hair from skin."""
    med = np.median(samples, axis=0)
    mad = np.median(np.abs(samples - med), axis=0) * 1.4826
    d = (lab - med) / np.maximum(1.5 * mad, SKIN_SIGMA)
    d[..., 0] /= np.where((d[..., 0] > 0) & (not is_grey(lab)), BRIGHTER, 1.0)
    return np.exp(-0.5 * (d**2).sum(-1)).astype(np.float32)


def is_grey(lab: np.ndarray) -> bool:
    """Whether an (H, W, 3) cv2 float Lab image has no colour (a grey-scale photo)."""
    return bool(np.abs(lab[..., 1:]).max() < 2.0)


def hair_mask(crop: np.ndarray, landmarks: np.ndarray, valid: np.ndarray, person: np.ndarray) -> HairMask:
    """The hair of a face-aligned (S, S, 3) uint8 ``crop`` with its (478, 2) crop-pixel
    ``landmarks``, ``valid`` (S, S) bool photo area and ``person`` (S, S) float32 probability."""
    s = crop.shape[0]
    f = face_frame(landmarks, s)
    person = person * valid
    face = np.zeros((s, s), np.uint8)
    cv2.fillPoly(face, [np.round(landmarks[FACE_OVAL]).astype(np.int32)], 1)
    face = face.astype(bool)

    lab = cv2.cvtColor(crop.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    disc = np.zeros((s, s), np.uint8)
    radius = max(2, int(0.04 * f.face_height))
    for x, y in landmarks[SKIN_SAMPLES]:
        cv2.circle(disc, (int(round(x)), int(round(y))), radius, 1, -1)
    samples = lab[(disc > 0) & valid]
    samples = samples if len(samples) else lab[face]
    skin = skin_probability(lab, samples)
    above_brows = f.height > f.brow
    nose = float((landmarks[2] - landmarks[152]) @ _up(landmarks) / f.face_height)
    # Hair may cover the forehead and the outer cheeks above the nose, not the rest of the face.
    inner = face & (((f.height < f.brow + 0.05) & (np.abs(f.across) < 0.36)) | (f.height < nose))
    neck = (f.height < 0.05) & (np.abs(f.across) < 0.3)  # and the middle of the chest
    hairy = (person > 0.5) & (skin < 0.4) & ~inner
    # Without colour, blond hair and skin differ in texture (streaks), not in brightness.
    streaks = None
    if is_grey(lab):
        streaks = cv2.GaussianBlur(cv2.resize(crop_orientation(crop).confidence, (s, s)), (0, 0), GREY_BLUR * s)

    crown = (f.ring > 1.02) & (f.ring < 1.5) & above_brows
    seen = crown & valid & (person > 0.5)
    crown_delta = None
    if (crown & valid).sum() > 0.3 * crown.sum() and seen.any():
        diff = lab[seen] - np.median(samples, axis=0)
        crown_delta = (float(np.median(diff[:, 0])), float(np.median(np.hypot(diff[:, 1], diff[:, 2]))))
        smooth = streaks is None or float(np.median(streaks[seen])) < GREY_TEXTURE
        if crown_delta[0] > BALD_CROWN[0] and crown_delta[1] < BALD_CROWN[1] and smooth:
            return HairMask(np.zeros((s, s), bool), person, face, valid, crown_delta)
    if streaks is not None:
        hair = (person > 0.5) & (streaks > GREY_TEXTURE) & ~inner & ~neck
        return HairMask(_head_connected(hair, f), person, face, valid, crown_delta)
    seeds = np.full((s, s), cv2.GC_PR_BGD, np.uint8)
    seeds[hairy] = cv2.GC_PR_FGD
    seeds[hairy & (person > 0.8) & (skin < 0.15) & (f.ring < 1.6) & above_brows] = cv2.GC_FGD
    seeds[person < 0.2] = cv2.GC_BGD
    seeds[inner] = cv2.GC_BGD
    seeds[(skin > 0.7) & ~hairy] = cv2.GC_BGD
    seeds[neck] = cv2.GC_BGD
    # Below the chin: by colour only, hair-coloured (like the sure hair) starting as likely hair.
    below = (f.height < 0) & (seeds == cv2.GC_PR_FGD)
    seeds[below & ~_like(lab, seeds == cv2.GC_FGD, BELOW_CHIN_LIKE)] = cv2.GC_PR_BGD
    seeds[~valid] = cv2.GC_BGD
    if not (seeds == cv2.GC_FGD).any() or not (seeds == cv2.GC_BGD).any():
        return HairMask(_head_connected(hairy, f), person, face, valid, crown_delta)
    image = crop.copy()
    image[person < 0.2] = FLAT
    bgd, fgd = np.zeros((1, 65)), np.zeros((1, 65))
    cv2.grabCut(np.ascontiguousarray(image[..., ::-1]), seeds, None, bgd, fgd, 2, cv2.GC_INIT_WITH_MASK)
    hair = ((seeds == cv2.GC_FGD) | (seeds == cv2.GC_PR_FGD)) & (person > 0.3)
    hair &= ~((f.height < 0.1) & ~_like(lab, hair & (f.height > 0.3)))  # no clothes below the chin
    return HairMask(_head_connected(hair, f), person, face, valid, crown_delta)


def runs_off_below_chin(hair: np.ndarray, valid: np.ndarray, landmarks: np.ndarray) -> float | None:
    """How far below the chin (face heights, the :class:`FaceFrame` height's units) the
    (S, S) bool ``hair`` leaves the photo: the lowest hair pixel within ``BORDER_PX`` of the
    border of ``valid`` (S, S) bool (the crop's edge included); None when no hair below the
    chin runs off the photo. ``landmarks``: (478, 2) crop pixels."""
    f = face_frame(landmarks, hair.shape[0])
    k = 2 * BORDER_PX + 1
    inner = cv2.erode(np.pad(valid, 1).astype(np.uint8), np.ones((k, k), np.uint8))[1:-1, 1:-1] > 0
    off = hair & valid & ~inner & (f.height < 0)
    return float(-f.height[off].min()) if off.any() else None


def body_mask(person: np.ndarray, hair: np.ndarray, head: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(S, S) bool: the person below the chin that is neither hair nor the ``head`` render's
    (S, S) bool coverage: neck, shoulders, clothes, which hide the hair behind them.
    ``person``: (S, S) float32 probability; ``hair``: (S, S) bool; ``landmarks``: (478, 2)
    crop pixels."""
    below = face_frame(landmarks, person.shape[0]).height < 0
    return (person > 0.5) & below & ~hair & ~head


def _like(lab: np.ndarray, reference: np.ndarray, spread: float = 2.5) -> np.ndarray:
    """(H, W) bool: Lab pixels within ``spread`` robust deviations (per channel, at least
    4 units) of the colours under the ``reference`` (H, W) bool mask (all True if empty)."""
    if not reference.any():
        return np.ones(lab.shape[:2], bool)
    samples = lab[reference]
    med = np.median(samples, axis=0)
    mad = np.maximum(np.median(np.abs(samples - med), axis=0) * 1.4826, 4.0)
    return (np.abs(lab - med) / mad).max(-1) < spread


def _head_connected(hair: np.ndarray, f: FaceFrame) -> np.ndarray:
    """Hair opened a little, keeping only the pieces that reach the head above the brows."""
    k = max(3, int(0.03 * f.face_height) | 1)
    opened = cv2.morphologyEx(hair.astype(np.uint8), cv2.MORPH_OPEN, np.ones((k, k), np.uint8))
    n, labels = cv2.connectedComponents(opened, connectivity=8)
    if n <= 1:
        return opened.astype(bool)
    near = np.unique(labels[(f.ring < 1.6) & (f.height > f.brow) & (opened > 0)])
    return np.isin(labels, near[near > 0])
