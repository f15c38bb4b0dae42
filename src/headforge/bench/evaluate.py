"""Quality of one avatar against its photo: the benchmark's per-photo metrics and images.

- PSNR / SSIM between the photo and the avatar rendered unlit in the fitted camera, over the
  face (the landmarks' face oval, where the head covers it) and over the whole rendered head;
- LPIPS (AlexNet) on the face crop, the render pasted over the photo;
- identity: dlib 128-D descriptor distances, photo vs the render in the input view and vs
  renders turned to yaw -40, -20, +20, +40 degrees (unlit, grey background);
- the landmark error of the fit;
- hair: IoU of the rendered hair and the photo's hair mask in the input view
  (:func:`headforge.hairphoto.evaluate.hair_iou`; none for a bald head), and the avatar with
  its hair from the front and in profile.
Images are computed on a copy whose longest side is at most ``EVAL_SIDE`` pixels.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from headforge.core.avatar import Avatar
from headforge.bench.metrics import face_mask_from_landmarks, masked_psnr, masked_ssim
from headforge.errors import ModelError
from headforge.headmodel.anny_head import MODEL_NAME
from headforge.headmodel.landmark_embedding import load_landmark_embedding
from headforge.export.preview import VIEW_DISTANCE, VIEW_FOV_DEG, VIEW_TARGET, avatar_cards, avatar_view, face_crop
from headforge.hairphoto.evaluate import hair_iou
from headforge.hairphoto.mask import PersonSegmenter
from headforge.io.image import load_photo, working_copy
from headforge.render import render_mesh
from headforge.core.camera import Camera
from headforge.texture.trust import FACE_OVAL
from headforge.core.geometry import interpolate

EVAL_SIDE = 768
NOVEL_YAWS = (-40, -20, 20, 40)
THUMB = 192
BACKGROUND = (128, 128, 128)


class Evaluator:
    """Scores avatars and writes the report's images into ``image_dir``."""

    def __init__(self, image_dir: Path) -> None:
        from headforge.bench.identity import IdentityEncoder
        from headforge.bench.lpips import LPIPS

        self.image_dir = image_dir
        image_dir.mkdir(parents=True, exist_ok=True)
        self.identity = IdentityEncoder()
        try:
            self.lpips: LPIPS | None = LPIPS()
        except ModelError:
            self.lpips = None
        self.segmenter = PersonSegmenter()

    def __call__(self, photo_path: Path, avatar: Avatar) -> dict:
        photo, scale = working_copy(load_photo(photo_path).rgb, EVAL_SIDE)
        h, w = photo.shape[:2]
        camera = avatar.camera.resized(scale, w, h)
        landmarks = avatar.landmarks * scale
        m = avatar.mesh
        posed = m.posed(avatar.expression)
        render = render_mesh(posed, m.faces, camera, uvs=m.uvs, face_uvs=m.face_uvs, texture=avatar.albedo,
                             lighting="flat", background=BACKGROUND)
        face = face_mask_from_landmarks(landmarks, (h, w), FACE_OVAL) & render.mask
        head = render.mask
        pasted = np.where(head[..., None], render.image, photo)
        metrics = {
            "landmark_error": avatar.params["detection"]["landmark_error"],
            "psnr_face": masked_psnr(photo, render.image, face),
            "ssim_face": masked_ssim(photo, render.image, face),
            "psnr_head": masked_psnr(photo, render.image, head),
            "ssim_head": masked_ssim(photo, render.image, head),
        }
        crop_photo, crop_render = face_crop(photo, landmarks, 256), face_crop(pasted, landmarks, 256)
        if self.lpips is not None:
            metrics["lpips_face"] = self.lpips(crop_photo, crop_render)

        # dlib's detector first; where it finds no face (turned renders, tight crops) the box
        # of the known landmarks stands in.
        reference = self._descriptor(photo, landmarks)
        points = avatar_landmarks_3d(avatar, camera, landmarks, render.depth)
        views = {"input": (pasted, landmarks)}
        for yaw in NOVEL_YAWS:
            views[f"yaw{yaw:+d}"] = novel_view(avatar, yaw, points)
        identity = {}
        for name, (image, marks) in views.items():
            d = self._descriptor(image, marks)
            identity[name] = float(np.linalg.norm(reference - d)) if reference is not None and d is not None else None
        metrics["identity_input"] = identity["input"]
        for yaw in NOVEL_YAWS:
            metrics[f"identity_yaw{yaw:+d}"] = identity[f"yaw{yaw:+d}"]
        if avatar.hair is not None:
            metrics["hair_iou"] = hair_iou(avatar, photo, landmarks, camera, self.segmenter)

        stem = photo_path.stem
        overlay = cv2.addWeighted(photo, 0.5, pasted, 0.5, 0)
        images = {"input": crop_photo, "render": crop_render, "overlay": face_crop(overlay, landmarks, 256)}
        images.update({k: v[0] for k, v in views.items() if k != "input"})
        cards = avatar_cards(avatar)
        images.update({"hair_front": avatar_view(avatar, 0.0, cards=cards),
                       "hair_profile": avatar_view(avatar, 90.0, cards=cards)})
        for name, image in images.items():
            thumb = cv2.resize(image, (THUMB, THUMB), interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(self.image_dir / f"{stem}_{name}.jpg"), cv2.cvtColor(thumb, cv2.COLOR_RGB2BGR))
        return {k: (None if v is None or (isinstance(v, float) and not np.isfinite(v)) else round(float(v), 5))
                for k, v in metrics.items()}


    def _descriptor(self, image: np.ndarray, landmarks: np.ndarray):
        d = self.identity.descriptor(image)
        if d is None:
            lo, hi = landmarks.min(0), landmarks.max(0)
            d = self.identity.descriptor(image, box=(lo[0], lo[1], hi[0], hi[1]))
        return d


def avatar_landmarks_3d(avatar: Avatar, camera: Camera, landmarks: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """(N, 3) the avatar's landmark points on its posed head (head frame, metres): the default
    head's 478 (its landmark embedding); on another head model (the FLAME back-ends), those of
    the (478, 2) pixel ``landmarks`` that hit the head in the ``depth`` render through ``camera``,
    back-projected."""
    if avatar.params.get("model", {}).get("name") == MODEL_NAME:
        faces, bary = load_landmark_embedding()
        return interpolate(avatar.mesh.posed(avatar.expression), avatar.mesh.faces[faces], bary)
    h, w = depth.shape
    px = np.clip(np.round(landmarks).astype(int), 0, [w - 1, h - 1])
    z = depth[px[:, 1], px[:, 0]]
    hit = np.isfinite(z)
    xy = (landmarks[hit] - [camera.cx, camera.cy]) / camera.focal * z[hit, None]
    return (np.column_stack([xy, z[hit]]) - camera.t) @ camera.R


def novel_view(avatar: Avatar, yaw_deg: float, points: np.ndarray, size: int = 384):
    """Unlit render of the avatar turned by ``yaw_deg`` on a grey background, (size, size, 3),
    and the (N, 2) pixel projections of the (N, 3) head-frame ``points``."""
    cam = Camera.orbit(size, size, yaw_deg, 0.0, VIEW_DISTANCE * 0.8, VIEW_FOV_DEG, VIEW_TARGET)
    m = avatar.mesh
    image = render_mesh(m.posed(avatar.expression), m.faces, cam, uvs=m.uvs, face_uvs=m.face_uvs,
                        texture=avatar.albedo, lighting="flat", background=BACKGROUND).image
    return image, cam.project(points)
