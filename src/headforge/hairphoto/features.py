"""The network's input: the hair mask, the orientation field and the face's place, in the
face-aligned crop, computed the same way for photos and for synthetic renders.

The orientation field is measured on the crop at ``ORIENT_SIZE`` pixels; every channel is
then area-averaged to ``INPUT_SIZE``. Channels: hair mask; ``confidence * cos 2a`` and
``confidence * sin 2a`` inside the hair; the confidence inside the hair (with the two before
it, how coherent the flow is: straight hair keeps its vector when averaged, curls cancel);
the face oval; the part of the crop inside the photo.
"""
from __future__ import annotations

import cv2
import numpy as np

from headforge.hairphoto.orientation import OrientationField, orientation_field

ORIENT_SIZE = 128
INPUT_SIZE = 64
CHANNELS = ("hair", "flow_cos", "flow_sin", "texture", "face", "valid")


def _area(image: np.ndarray, size: int) -> np.ndarray:
    image = np.asarray(image, np.float32)
    if image.shape[0] == size:
        return image
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)


def crop_orientation(crop: np.ndarray) -> OrientationField:
    """The orientation field of an (S, S, 3) uint8 crop, measured at ``ORIENT_SIZE``."""
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    return orientation_field(_area(gray, ORIENT_SIZE))


def network_input(field: OrientationField, hair: np.ndarray, face: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(len(CHANNELS), INPUT_SIZE, INPUT_SIZE) float32 from the ``ORIENT_SIZE`` orientation
    field and the (S, S) bool ``hair``, ``face`` and ``valid`` masks of the crop."""
    mask = _area(hair, ORIENT_SIZE)
    flow = field.doubled() * mask
    channels = [mask, flow[0], flow[1], field.confidence * mask, _area(face, ORIENT_SIZE), _area(valid, ORIENT_SIZE)]
    return np.stack([_area(c, INPUT_SIZE) for c in channels]).astype(np.float32)

