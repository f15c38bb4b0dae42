"""How well an avatar's hair matches its photo: the silhouette of the rendered hair against
the photo's hair mask in the input view (the face-aligned crop of the photo, hair hidden by
the head not counted, only inside the photo). The strands' coverage is closed over gaps of a
few pixels, as a segmentation of real hair would be. The photo's neck, shoulders and clothes
(:func:`headforge.hairphoto.mask.body_mask`) are not scored: there the photo hides the hair
behind the body, and the avatar has no body to hide it."""
from __future__ import annotations

import cv2
import numpy as np

from headforge.core.avatar import Avatar
from headforge.hairphoto.align import BORDER, align_face
from headforge.hairphoto.mask import PersonSegmenter, body_mask, hair_mask
from headforge.hairphoto.refine import iou
from headforge.render import render_mesh, render_strands
from headforge.core.camera import Camera


def hair_iou(avatar: Avatar, photo: np.ndarray, landmarks: np.ndarray, camera: Camera,
             segmenter: PersonSegmenter) -> float | None:
    """IoU of the avatar's rendered hair and the hair mask of the (H, W, 3) uint8 ``photo``,
    with its (478, 2) ``landmarks`` and the avatar's ``camera`` in that photo's pixels; None
    when the mask is empty (a bald head: nothing to compare)."""
    alignment = align_face(landmarks)
    crop = alignment.warp(photo, border=BORDER)
    valid = alignment.valid(photo.shape)
    lm = alignment.to_crop(landmarks)
    mask = hair_mask(crop, lm, valid, segmenter.in_crop(photo, alignment))
    if not mask.hair.any():
        return None
    cam = alignment.camera(camera)
    m = avatar.mesh
    head = render_mesh(m.posed(avatar.expression), m.faces, cam, lighting="flat")
    shown = np.zeros_like(mask.hair)
    if avatar.hair is not None and avatar.hair.count:
        drawn = render_strands(avatar.hair.strands, cam, colors=avatar.hair.colors, base=head, lighting="flat")
        shown = cv2.morphologyEx((drawn.strand >= 0).astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)) > 0
    return iou(shown, mask.hair, valid & ~body_mask(mask.person, mask.hair, head.mask, lm))
