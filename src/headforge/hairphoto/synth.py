"""Synthetic training samples: generated hairstyles on random heads, rendered like photos.

A sample is a random style from :func:`headforge.hairphoto.styles.sample_style` grown on
the reference head, densified and fitted to a random identity of the head model, seen from
a random yaw, pitch and roll, with a random hair colour, skin tone, background, exposure,
blur and noise, sometimes cut by the photo's border (tight crops). It is rendered straight
into the face-aligned crop (the alignment comes from the projected landmarks, as for a
photo); the network input is then computed from the rendered image exactly as for a photo
(the orientation field is measured on the pixels, not taken from the strands). The hair
mask is the strands' coverage, jittered like an imperfect segmentation.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from headforge.fitting.landmark_fit import head_angles_deg
from headforge.hair.generator import HairParams
from headforge.hair.strands import Hairstyle
from headforge.hairphoto.align import BORDER, CROP, align_face
from headforge.hairphoto.features import crop_orientation, network_input
from headforge.hairphoto.grow import grow_style
from headforge.hairphoto.styles import encode, sample_style
from headforge.headmodel.anny_head import load_head_model
from headforge.headmodel.landmark_embedding import load_landmark_embedding
from headforge.render import render_mesh, render_strands
from headforge.render.camera import Camera
from headforge.texture.trust import FACE_OVAL

# Base hair colours (sRGB): black, dark brown, brown, auburn, red, dark blond, blond, grey.
HAIR_COLOURS = np.array([[25, 20, 18], [55, 38, 28], [95, 65, 42], [120, 55, 30], [165, 80, 40],
                         [150, 115, 70], [215, 185, 130], [170, 165, 160]], np.float64)
SKIN_TONES = np.array([[245, 205, 180], [225, 175, 140], [190, 140, 105], [140, 95, 65], [95, 62, 45]], np.float64)
GUIDES, POINTS, STRANDS = 200, 20, 3000  # guide strands, points per strand, dense strands


@dataclass
class Sample:
    """One synthetic sample. x: (C, 64, 64) network input; pose: (2,) yaw, pitch (degrees);
    values, classes: the targets (:func:`headforge.hairphoto.styles.encode`); params: the
    style; image: (S, S, 3) uint8 crop; hair: (S, S) bool jittered mask (the network's);
    truth: (S, S) bool the strands' coverage, closed; valid: (S, S) bool the photo's area;
    camera: the crop camera; vertices: (V, 3) the head; style: the fitted strands."""

    x: np.ndarray
    pose: np.ndarray
    values: np.ndarray
    classes: dict[str, int]
    params: HairParams
    image: np.ndarray
    hair: np.ndarray
    truth: np.ndarray
    valid: np.ndarray
    camera: Camera
    vertices: np.ndarray
    style: Hairstyle


@lru_cache(maxsize=1)
def _assets():
    model = load_head_model()
    faces, bary = load_landmark_embedding()
    return model, faces, bary


def random_identity(rng: np.random.Generator) -> np.ndarray:
    """(V, 3) a random neutral head of the default model."""
    model = _assets()[0]
    phen = rng.uniform(0.15, 0.85, len(model.phenotype_names))
    local = np.clip(rng.normal(0, 0.3, len(model.local_names)), -1, 1)
    return model.identity_vertices(phen, local)


def landmarks_3d(vertices: np.ndarray) -> np.ndarray:
    """(478, 3) mediapipe landmark positions on the head ``vertices``."""
    model, faces, bary = _assets()
    return np.einsum("nk,nkc->nc", bary, np.asarray(vertices, np.float64)[model.faces[faces]])


def photo_camera(rng: np.random.Generator) -> Camera:
    """A random portrait camera: yaw, pitch and roll, distance and field of view."""
    cam = Camera.orbit(640, 640, rng.uniform(-40, 40), rng.uniform(-18, 15), rng.uniform(0.6, 1.4),
                       rng.uniform(18, 40), np.array([0.0, -0.02, 0.0]))
    a = np.radians(rng.uniform(-12, 12))
    rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    return Camera(cam.width, cam.height, cam.focal, cam.cx, cam.cy, rz @ cam.R, rz @ cam.t)


def background(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size, 3) uint8: a flat colour, a gradient, or blurred noise (a random scene)."""
    base = rng.uniform(0, 255, 3)
    kind = rng.integers(3)
    if kind == 0:
        img = np.broadcast_to(base, (size, size, 3)).astype(np.float64)
    elif kind == 1:
        t = np.linspace(0, 1, size)[:, None, None]
        img = base * (1 - t) + rng.uniform(0, 255, 3) * t
        img = np.broadcast_to(img, (size, size, 3))
    else:
        noise = rng.uniform(0, 255, (size // 8, size // 8, 3)).astype(np.float32)
        img = cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC) * 0.6 + base * 0.4
    return np.clip(img, 0, 255).astype(np.uint8)


def photo_box(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size) bool: the photo's area in the crop; a third of the samples are tight
    crops that cut the top, sides or bottom of the head."""
    valid = np.ones((size, size), bool)
    if rng.random() < 0.35:
        top = int(rng.uniform(0, 0.26) * size)
        bottom = int(rng.uniform(0.55, 1.0) * size)
        left, right = (int(rng.uniform(0, 0.3) * size) for _ in range(2))
        valid[:] = False
        valid[top:bottom, left:size - right] = True
    return valid


def jitter_mask(hair: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An imperfect segmentation of the (S, S) bool hair: grown or shrunk by a few pixels,
    with a few blobs missed."""
    m = hair.astype(np.uint8)
    r = int(rng.integers(-3, 4))
    if r:
        op = cv2.dilate if r > 0 else cv2.erode
        m = op(m, np.ones((2 * abs(r) + 1,) * 2, np.uint8))
    for _ in range(int(rng.integers(0, 3))):
        y, x = rng.integers(0, m.shape[0], 2)
        cv2.circle(m, (int(x), int(y)), int(rng.integers(4, 16)), 0, -1)
    return m > 0


def camera_exposure(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random exposure, gamma, blur (a low-resolution photo) and sensor noise."""
    img = image.astype(np.float32) / 255
    img = np.clip(img * rng.uniform(0.7, 1.3), 0, 1) ** rng.uniform(0.8, 1.25)
    if rng.random() < 0.4:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.5))
    img = img + rng.normal(0, rng.uniform(0, 0.02), img.shape).astype(np.float32)
    return np.clip(img * 255, 0, 255).astype(np.uint8)


def make_samples(index: int, seed: int = 0, views: int = 2, size: int = CROP) -> list[Sample]:
    """The synthetic samples of style number ``index`` of the set ``seed`` (deterministic):
    one random style on one random head, in ``views`` random photos (camera, colours,
    background, exposure, crop)."""
    rng = np.random.default_rng([seed, index])
    params = sample_style(rng, guides=GUIDES, points=POINTS, count=STRANDS)
    vertices = random_identity(rng)
    style = grow_style(params, vertices, color=(128, 128, 128), seed=int(rng.integers(1 << 30)), count=STRANDS)
    values, classes = encode(params)
    return [_view(rng, params, style, vertices, values, classes, size) for _ in range(views)]


def _view(rng, params, style, vertices, values, classes, size) -> Sample:
    model = _assets()[0]
    photo_cam = photo_camera(rng)
    lm = photo_cam.project(landmarks_3d(vertices))
    alignment = align_face(lm, size)
    cam = alignment.camera(photo_cam)
    hair_rgb = np.clip(HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] * rng.uniform(0.8, 1.2, 3), 0, 255)
    colors = np.clip(style.colors.astype(np.float64) / 128 * hair_rgb, 0, 255).astype(np.uint8)
    skin = np.clip(SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.9, 1.1, 3), 0, 255)
    head = render_mesh(vertices, model.faces, cam, color=skin / 255)
    head.image[:] = np.where(head.mask[..., None], head.image, background(rng, size))
    shown = render_strands(style.strands, cam, colors=colors, base=head, width_px=float(rng.uniform(1.0, 2.0)))
    valid = photo_box(rng, size)
    image = camera_exposure(shown.image, rng)
    image[~valid] = BORDER
    covered = shown.strand >= 0
    truth = cv2.morphologyEx(covered.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)) > 0
    hair = jitter_mask(truth, rng) & valid
    face = _face_oval(alignment.to_crop(lm), size)
    x = network_input(crop_orientation(image), hair, face, valid)
    angles = head_angles_deg(cam.R)
    return Sample(x, np.array([angles["yaw"], angles["pitch"]], np.float32), values, classes, params, image,
                  hair, truth & valid, valid, cam, vertices, style)


def _face_oval(landmarks: np.ndarray, size: int) -> np.ndarray:
    face = np.zeros((size, size), np.uint8)
    cv2.fillPoly(face, [np.round(landmarks[FACE_OVAL]).astype(np.int32)], 1)
    return face > 0
