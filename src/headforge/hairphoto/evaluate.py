"""How well an avatar's hair matches its photo, in the input view (the face-aligned crop of
the photo; hair hidden by the head not counted; only inside the photo). The photo's neck,
shoulders and clothes (:func:`headforge.hairphoto.mask.body_mask`) are not scored: there the
photo hides the hair behind the body, and the avatar has no body to hide it.

- ``hair_iou``: the rendered strands' coverage (closed over gaps of a few pixels, as a
  segmentation of real hair would be) against the photo's hair mask.
- ``hair_color_de``: CIEDE2000 between the photo's hair and the avatar's hair rendered under
  the renderer's studio light, over the pixels both cover: the crop is cut into
  ``COLOR_BLOCK`` pixel blocks, each block's median CIELAB (so highlights and shadows, the
  extremes, do not pull it) on each side, the blocks' differences averaged weighted by their
  pixels. Gradients (darker roots, lighter ends) count, a single base colour does not hide them.
- ``hair_orientation_deg``: HairStep's HairSale: the mean angle (0..90 degrees) between the
  photo's 2D orientation field (:mod:`headforge.hairphoto.orientation`) and the rendered
  strands' 2D directions, over the hair pixels both cover where the photo shows a clear
  direction (confidence at least ``MIN_CONFIDENCE``), at ``ORIENT_SIZE`` pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from skimage.color import deltaE_ciede2000, rgb2lab

from headforge.core.avatar import Avatar
from headforge.hairphoto.align import BORDER, align_face
from headforge.hairphoto.features import ORIENT_SIZE, crop_orientation
from headforge.hairphoto.mask import HairMask, PersonSegmenter, body_mask, hair_mask
from headforge.hairphoto.refine import iou
from headforge.render import render_mesh, render_strands
from headforge.core.camera import Camera
from headforge.render.mesh import Render

COLOR_BLOCK = 32  # pixels of the 256 px crop
MIN_BLOCK = 30  # pixels both cover for a block to count
MIN_CONFIDENCE = 0.2
MIN_PIXELS = 50  # fewer shared pixels: not measurable (None)


@dataclass
class InputView:
    """The photo's hair and the avatar's head in the face-aligned crop: ``crop`` (S, S, 3)
    uint8, the ``mask`` read from it, the crop ``camera``, the ``head`` render (flat) and
    ``scored`` (S, S) bool: inside the photo, off the photo's body."""

    crop: np.ndarray
    mask: HairMask
    camera: Camera
    head: Render
    scored: np.ndarray


def input_view(avatar: Avatar, photo: np.ndarray, landmarks: np.ndarray, camera: Camera,
               segmenter: PersonSegmenter) -> InputView:
    """The :class:`InputView` of the (H, W, 3) uint8 ``photo`` with its (478, 2) pixel
    ``landmarks`` and the avatar's ``camera`` in that photo's pixels."""
    alignment = align_face(landmarks)
    crop = alignment.warp(photo, border=BORDER)
    valid = alignment.valid(photo.shape)
    lm = alignment.to_crop(landmarks)
    mask = hair_mask(crop, lm, valid, segmenter.in_crop(photo, alignment))
    cam = alignment.camera(camera)
    m = avatar.mesh
    head = render_mesh(m.posed(avatar.expression), m.faces, cam, lighting="flat")
    return InputView(crop, mask, cam, head, valid & ~body_mask(mask.person, mask.hair, head.mask, lm))


def hair_measures(avatar: Avatar, photo: np.ndarray, landmarks: np.ndarray, camera: Camera,
                  segmenter: PersonSegmenter) -> dict[str, float | None]:
    """``hair_iou``, ``hair_color_de`` and ``hair_orientation_deg`` (see the module notes) of
    the avatar against the (H, W, 3) uint8 ``photo`` (its (478, 2) pixel ``landmarks``, the
    avatar's ``camera`` in its pixels); None where not measurable (the IoU of a bald photo,
    colour and orientation where the hair does not overlap)."""
    view = input_view(avatar, photo, landmarks, camera, segmenter)
    out: dict[str, float | None] = {"hair_iou": None, "hair_color_de": None, "hair_orientation_deg": None}
    hair = avatar.hair
    if hair is None or not hair.count:
        out["hair_iou"] = None if not view.mask.hair.any() else 0.0
        return out
    drawn = render_strands(hair.strands, view.camera, colors=hair.colors, base=view.head, lighting="studio")
    shown = drawn.strand >= 0
    if view.mask.hair.any():
        closed = cv2.morphologyEx(shown.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)) > 0
        out["hair_iou"] = iou(closed, view.mask.hair, view.scored)
    both = shown & view.mask.hair & view.scored
    out["hair_color_de"] = color_error(view.crop, drawn.image, both)
    out["hair_orientation_deg"] = orientation_error(view.crop, hair.strands, view.camera, view.head, both)
    return out


def color_error(photo: np.ndarray, render: np.ndarray, both: np.ndarray) -> float | None:
    """Mean CIEDE2000 of the blockwise median CIELAB of the (S, S, 3) uint8 ``photo`` and
    ``render`` over the (S, S) bool ``both`` pixels (see the module notes)."""
    if both.sum() < MIN_PIXELS:
        return None
    lab_a, lab_b = rgb2lab(photo), rgb2lab(render)
    rows, cols = np.nonzero(both)
    block = (rows // COLOR_BLOCK) * (photo.shape[1] // COLOR_BLOCK + 1) + cols // COLOR_BLOCK
    errors, weights = [], []
    for b in np.unique(block):
        pick = block == b
        if pick.sum() < MIN_BLOCK:
            continue
        r, c = rows[pick], cols[pick]
        a = np.median(lab_a[r, c], axis=0)
        z = np.median(lab_b[r, c], axis=0)
        errors.append(float(deltaE_ciede2000(a, z)))
        weights.append(pick.sum())
    if not errors:
        a, z = np.median(lab_a[both], axis=0), np.median(lab_b[both], axis=0)
        return float(deltaE_ciede2000(a, z))
    return float(np.average(errors, weights=weights))


def strand_directions(strands: np.ndarray, camera: Camera, head: Render) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) float32 angle in [0, pi) (x right, y down) of the nearest strand at each pixel
    the (N, P, 3) ``strands`` cover in front of the ``head`` render, and (H, W) bool
    coverage; ``camera`` and ``head`` of the same size."""
    p = camera.project(np.asarray(strands, np.float64).reshape(-1, 3))[:, :2].reshape(*strands.shape[:2], 2)
    d = np.diff(p, axis=1)
    d = np.concatenate([d, d[:, -1:]], axis=1)
    a = np.arctan2(d[..., 1], d[..., 0])
    # The doubled angle interpolates without jumping at 0 / pi; encoded as flat colours.
    colors = np.stack([0.5 + 0.5 * np.cos(2 * a), 0.5 + 0.5 * np.sin(2 * a), np.zeros_like(a)], -1)
    r = render_strands(strands, camera, colors=colors, base=head, lighting="flat")
    c = r.image.astype(np.float32) / 255 * 2 - 1
    angle = np.mod(0.5 * np.arctan2(c[..., 1], c[..., 0]), np.pi).astype(np.float32)
    return angle, r.strand >= 0


def orientation_error(crop: np.ndarray, strands: np.ndarray, camera: Camera, head: Render,
                      both: np.ndarray) -> float | None:
    """Mean angle in degrees (0..90) between the orientation field of the (S, S, 3) uint8
    ``crop`` and the 2D directions of the (N, P, 3) ``strands`` seen by the crop ``camera``
    (in front of the ``head`` render), over the (S, S) bool ``both`` pixels where the photo's
    direction is clear; measured at ``ORIENT_SIZE`` pixels."""
    field = crop_orientation(crop)
    size = ORIENT_SIZE
    factor = size / camera.width
    small = camera.resized(factor, size, size)
    head_small = render_mesh_like(head, size)
    angle, covered = strand_directions(strands, small, head_small)
    where = (cv2.resize(both.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST) > 0) & covered
    where &= field.confidence >= MIN_CONFIDENCE
    if where.sum() < MIN_PIXELS:
        return None
    diff = np.abs(angle[where] - field.angle[where])
    diff = np.minimum(diff, np.pi - diff)
    return float(np.degrees(diff).mean())


def render_mesh_like(head: Render, size: int) -> Render:
    """The (S, S) ``head`` render's depth and mask at ``size`` pixels (nearest), as a base
    render strands are depth-tested against."""
    depth = cv2.resize(head.depth, (size, size), interpolation=cv2.INTER_NEAREST)
    mask = cv2.resize(head.mask.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST) > 0
    image = cv2.resize(head.image, (size, size), interpolation=cv2.INTER_AREA)
    face = cv2.resize(head.face, (size, size), interpolation=cv2.INTER_NEAREST)
    return Render(image, mask, face, depth.astype(np.float32))


def hair_iou(avatar: Avatar, photo: np.ndarray, landmarks: np.ndarray, camera: Camera,
             segmenter: PersonSegmenter) -> float | None:
    """The ``hair_iou`` of :func:`hair_measures`; None when the photo's mask is empty."""
    return hair_measures(avatar, photo, landmarks, camera, segmenter)["hair_iou"]
