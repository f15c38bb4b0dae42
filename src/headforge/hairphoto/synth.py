"""Synthetic training samples: generated hairstyles on random heads, rendered like photos.

A sample is a random style from :func:`headforge.hairphoto.styles.sample_style` grown on
the reference head, densified and fitted to a random identity of the head model, seen from
a random yaw, pitch and roll, with a random hair colour, skin tone, background, exposure,
blur and noise, sometimes cut by the photo's border (tight crops, the photo's rectangle turned
as the face alignment turns it). The head stands on a neck and shoulders in clothes
(:class:`Torso`): hair that falls onto them drapes over the chest or behind the back
(:func:`drape_on_torso`), and hair behind them is hidden, as in a portrait. It is rendered straight
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
from headforge.core.strands import Hairstyle
from headforge.hairphoto.align import BORDER, CROP, align_face
from headforge.hairphoto.features import crop_orientation, network_input
from headforge.hairphoto.grow import grow_style
from headforge.hairphoto.styles import encode, sample_style
from headforge.headmodel.anny_head import load_head_model
from headforge.headmodel.landmark_embedding import load_landmark_embedding
from headforge.render import render_mesh, render_strands
from headforge.core.camera import Camera
from headforge.texture.trust import FACE_OVAL
from headforge.core.geometry import interpolate, rotation_x, rotation_y, rotation_z

# Base hair colours (sRGB): black, dark brown, brown, auburn, red, dark blond, blond, grey.
HAIR_COLORS = np.array([[25, 20, 18], [55, 38, 28], [95, 65, 42], [120, 55, 30], [165, 80, 40],
                         [150, 115, 70], [215, 185, 130], [170, 165, 160]], np.float64)
SKIN_TONES = np.array([[245, 205, 180], [225, 175, 140], [190, 140, 105], [140, 95, 65], [95, 62, 45]], np.float64)
GUIDES, POINTS, STRANDS = 200, 20, 3000  # guide strands, points per strand, dense strands
# The torso (head frame, metres): its axis runs down from NECK_TOP at x = 0, z = NECK_Z; at
# TORSO_DEPTHS below the top its cross-section is a superellipse (exponent TORSO_ROUNDNESS)
# of half-width TORSO_WIDTHS and half-depth TORSO_THICKNESS: neck, shoulders, chest.
NECK_TOP, NECK_Z = -0.10, -0.02
TORSO_DEPTHS = np.array([0.0, 0.06, 0.09, 0.12, 0.15, 0.20, 0.55])
TORSO_WIDTHS = np.array([0.052, 0.058, 0.11, 0.165, 0.195, 0.20, 0.185])
TORSO_THICKNESS = np.array([0.055, 0.058, 0.075, 0.095, 0.105, 0.11, 0.11])
TORSO_ROUNDNESS = 2.5
TORSO_RINGS, TORSO_SIDES = 40, 48
DRAPE_GAP = 0.003  # metres: hair draped on the torso lies this far off it


@dataclass
class Sample:
    """One synthetic sample. x: (C, 64, 64) network input; pose: (2,) yaw, pitch (degrees);
    values, classes: the targets (:func:`headforge.hairphoto.styles.encode`); params: the
    style; image: (S, S, 3) uint8 crop; hair: (S, S) bool jittered mask (the network's);
    truth: (S, S) bool the strands' coverage, closed; valid: (S, S) bool the photo's area;
    body: (S, S) bool where the torso shows; camera: the crop camera; vertices: (V, 3) the
    head; style: the fitted strands (hanging free, not draped on the torso)."""

    x: np.ndarray
    pose: np.ndarray
    values: np.ndarray
    classes: dict[str, int]
    params: HairParams
    image: np.ndarray
    hair: np.ndarray
    truth: np.ndarray
    valid: np.ndarray
    body: np.ndarray
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
    return interpolate(np.asarray(vertices, np.float64), model.faces[faces], bary)


def photo_camera(rng: np.random.Generator) -> Camera:
    """A random portrait camera: yaw, pitch and roll, distance and field of view."""
    cam = Camera.orbit(640, 640, rng.uniform(-40, 40), rng.uniform(-18, 15), rng.uniform(0.6, 1.4),
                       rng.uniform(18, 40), np.array([0.0, -0.02, 0.0]))
    rz = rotation_z(np.radians(rng.uniform(-12, 12)))
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
    """(size, size) bool: the photo's area in the crop. Half the samples are tight crops: a
    rectangle, turned by up to 15 degrees (the alignment levels the eyes of a tilted head),
    that cuts the top, sides or, most often, the bottom of the head and hair."""
    valid = np.ones((size, size), bool)
    if rng.random() < 0.5:
        top = rng.uniform(-0.05, 0.26) * size
        bottom = rng.uniform(0.55, 1.0) * size
        left, right = rng.uniform(-0.05, 0.3, 2) * size
        corners = np.array([[left, top], [size - right, top], [size - right, bottom], [left, bottom]])
        turn = rotation_z(np.radians(rng.uniform(-15, 15)))[:2, :2]
        centre = corners.mean(0)
        corners = (corners - centre) @ turn.T + centre
        box = np.zeros((size, size), np.uint8)
        cv2.fillConvexPoly(box, np.round(corners * 16).astype(np.int32), 1, shift=4)
        valid = box > 0
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


@dataclass(frozen=True)
class Torso:
    """A random neck and shoulders under the head: ``turn`` (3, 3) the body's rotation
    against the head (about the neck's top), ``width`` and ``length`` scales of the
    cross-sections and of the depths below the neck's top."""

    turn: np.ndarray
    width: float
    length: float

    @staticmethod
    def random(rng: np.random.Generator) -> "Torso":
        yaw, roll, pitch = np.radians([np.clip(rng.normal(0, 12), -30, 30), rng.uniform(-6, 6), rng.uniform(-8, 8)])
        return Torso(rotation_y(yaw) @ rotation_z(roll) @ rotation_x(pitch), float(rng.uniform(0.85, 1.15)), float(rng.uniform(0.85, 1.2)))

    def section(self, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Half-width and half-depth (metres) of the cross-sections ``depth`` metres below
        the neck's top."""
        t = np.asarray(depth, np.float64) / self.length
        return (np.interp(t, TORSO_DEPTHS, TORSO_WIDTHS) * self.width,
                np.interp(t, TORSO_DEPTHS, TORSO_THICKNESS) * self.width)

    def to_local(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) head-frame points -> the torso's frame (origin at the neck's top)."""
        return (np.asarray(points, np.float64) - [0.0, NECK_TOP, NECK_Z]) @ self.turn

    def mesh(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """vertices (V, 3) head frame, faces (F, 3), and each vertex's depth below the neck's
        top (V,) and its angle around the axis (V,) radians, 0 = the front."""
        depth = np.linspace(0, TORSO_DEPTHS[-1] * self.length, TORSO_RINGS)
        angle = np.linspace(0, 2 * np.pi, TORSO_SIDES, endpoint=False)
        w, d = self.section(depth)
        e = 2 / TORSO_ROUNDNESS
        s, c = np.sin(angle), np.cos(angle)
        x = w[:, None] * np.sign(s) * np.abs(s) ** e
        z = d[:, None] * np.sign(c) * np.abs(c) ** e
        local = np.stack([x, np.broadcast_to(-depth[:, None], x.shape), z], -1).reshape(-1, 3)
        vertices = local @ self.turn.T + [0.0, NECK_TOP, NECK_Z]
        i, j = np.meshgrid(np.arange(TORSO_RINGS - 1), np.arange(TORSO_SIDES), indexing="ij")
        a, b = i * TORSO_SIDES + j, i * TORSO_SIDES + (j + 1) % TORSO_SIDES
        faces = np.concatenate([np.stack([a, b, a + TORSO_SIDES], -1), np.stack([b, b + TORSO_SIDES, a + TORSO_SIDES], -1)])
        return vertices, faces.reshape(-1, 3), np.repeat(depth, TORSO_SIDES), np.tile(angle, TORSO_RINGS)


def drape_on_torso(strands: np.ndarray, torso: Torso) -> np.ndarray:
    """(N, P, 3) head-frame strands with every point inside the torso moved out to its front
    or back surface (whichever side of the torso's mid-plane the point is on): hair falling
    onto the shoulders lies over the chest or down the back."""
    local = torso.to_local(strands)
    depth = -local[..., 1]
    w, d = torso.section(np.clip(depth, 0, None))
    across = np.clip(np.abs(local[..., 0]) / w, 0, 1) ** TORSO_ROUNDNESS
    inside = (depth > 0) & (across + (np.abs(local[..., 2]) / d) ** TORSO_ROUNDNESS < 1)
    surface = d * (1 - across) ** (1 / TORSO_ROUNDNESS) + DRAPE_GAP
    local[..., 2] = np.where(inside, np.where(local[..., 2] >= 0, surface, -surface), local[..., 2])
    return (local @ torso.turn.T + [0.0, NECK_TOP, NECK_Z]).astype(np.float32)


def dress(torso: Torso, depth: np.ndarray, angle: np.ndarray, skin: np.ndarray,
          rng: np.random.Generator) -> np.ndarray:
    """(V, 3) float vertex colours (0..1) of the ``torso``'s mesh, its vertices' (V,)
    ``depth`` and ``angle`` as :meth:`Torso.mesh` gives them: skin above a random neckline
    (deeper at the front), clothes of a random colour below; some bare shoulders."""
    if rng.random() < 0.15:
        neckline = np.full_like(depth, np.inf)
    else:
        front, back = rng.uniform(0.04, 0.16), rng.uniform(0.03, 0.07)
        neckline = back + (front - back) * np.clip(np.cos(angle), 0, 1) ** 2
    clothes = rng.uniform(0, 255, 3) * (rng.uniform(0.2, 1.0) if rng.random() < 0.5 else 1.0)
    return np.where((depth < neckline * torso.length)[:, None], skin, clothes) / 255


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
    hair_rgb = np.clip(HAIR_COLORS[rng.integers(len(HAIR_COLORS))] * rng.uniform(0.8, 1.2, 3), 0, 255)
    colors = np.clip(style.colors.astype(np.float64) / 128 * hair_rgb, 0, 255).astype(np.uint8)
    skin = np.clip(SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.9, 1.1, 3), 0, 255)
    torso = Torso.random(rng)
    body, body_faces, depth, angle = torso.mesh()
    mesh = np.concatenate([vertices, body])
    tones = np.concatenate([np.broadcast_to(skin / 255, (len(vertices), 3)), dress(torso, depth, angle, skin, rng)])
    head = render_mesh(mesh, np.concatenate([model.faces, body_faces + len(vertices)]), cam, vertex_colors=tones)
    head.image[:] = np.where(head.mask[..., None], head.image, background(rng, size))
    draped = drape_on_torso(style.strands, torso) if style.count else style.strands
    shown = render_strands(draped, cam, colors=colors, base=head, width_px=float(rng.uniform(1.0, 2.0)))
    valid = photo_box(rng, size)
    image = camera_exposure(shown.image, rng)
    image[~valid] = BORDER
    covered = shown.strand >= 0
    truth = cv2.morphologyEx(covered.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)) > 0
    hair = jitter_mask(truth, rng) & valid
    face = _face_oval(alignment.to_crop(lm), size)
    x = network_input(crop_orientation(image), hair, face, valid)
    angles = head_angles_deg(cam.R)
    shows_body = (shown.face >= len(model.faces)) & ~truth & valid
    return Sample(x, np.array([angles["yaw"], angles["pitch"]], np.float32), values, classes, params, image,
                  hair, truth & valid, valid, shows_body, cam, vertices, style)


def _face_oval(landmarks: np.ndarray, size: int) -> np.ndarray:
    face = np.zeros((size, size), np.uint8)
    cv2.fillPoly(face, [np.round(landmarks[FACE_OVAL]).astype(np.int32)], 1)
    return face > 0
