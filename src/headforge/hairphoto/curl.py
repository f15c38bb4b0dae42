"""The curl class a photo shows: how coherent its hair's flow stays over about a centimetre.

Straight hair keeps one direction over a neighbourhood; waves turn it slowly, curls fast.
The measure is the median, over the hair (the mask shrunk by two pixels), of the length of
the orientation field's doubled vector averaged over a Gaussian of ``SIGMA`` pixels of the
256 px crop (about 12 mm) divided by the average confidence there (1: one direction
throughout; towards 0: every direction). The field is measured at the crop's own
resolution (2 mm a pixel), finer than the network's.

Thresholds: below ``CURLY`` the hair is curly (on the synthetic renders of seed 2, 8 of 10
curly styles fall below 0.55 and 3 of 35 straight ones, all short); below ``WAVY`` hair that
hangs past the ears (the style's class medium or long) is wavy. The synthetic renders'
waves do not separate from straight hair by this measure (0.31-0.77 against 0.62-0.93); on
the portraits, set by eye, the four wavy heads give 0.55-0.70 and the long straight ones
0.78 and above: ``WAVY`` rests on those portraits alone. Coily hair (tight coils a few
millimetres across) is finer than the crop resolves and is not told from straight.
"""
from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from headforge.hair.generator import HairParams
from headforge.hairphoto.orientation import orientation_field
from headforge.hairphoto.styles import WAVE_FREQUENCY, length_class

SIGMA = 6.0  # pixels of the 256 px crop
CURLY = 0.52
WAVY = 0.75
MIN_PIXELS = 50
CURL = dict(curl_radius=0.006, curl_frequency=35.0)  # the library's curly styles' turns
WAVE = 0.006  # metres: the wave amplitude given to wavy hair


def flow_coherence(crop: np.ndarray, hair: np.ndarray) -> float | None:
    """The coherence (0..1, see the module notes) of the hair flow of the (S, S, 3) uint8
    ``crop`` over its (S, S) bool ``hair`` mask; None when too little hair shows."""
    inner = cv2.erode(hair.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    if inner.sum() < MIN_PIXELS:
        return None
    field = orientation_field(cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY))
    v = field.doubled()
    c = cv2.GaussianBlur(v[0], (0, 0), SIGMA)
    s = cv2.GaussianBlur(v[1], (0, 0), SIGMA)
    confidence = cv2.GaussianBlur(field.confidence, (0, 0), SIGMA)
    return float(np.median((np.hypot(c, s) / np.maximum(confidence, 1e-6))[inner]))


def curled(params: HairParams, coherence: float | None) -> HairParams:
    """``params`` with the curl the photo's ``coherence`` shows (see the module notes):
    curls of the library's curly styles, or waves, or as it is (straight, or the network's
    own curl)."""
    if coherence is None or params.bald or params.curl_radius > 0:
        return params
    if coherence < CURLY:
        return replace(params, **CURL, waviness=0.0)
    if coherence < WAVY and length_class(params) in ("medium", "long") and params.waviness <= 0:
        return replace(params, waviness=WAVE, wave_frequency=WAVE_FREQUENCY)
    return params
