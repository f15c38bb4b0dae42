"""Quality of one avatar against its photo: the benchmark's per-photo metrics and images.

- PSNR / SSIM between the photo and the avatar rendered in the fitted camera under the photo's
  own estimated light (the de-lit albedo times its grey SH shading, :mod:`headforge.texture.delight`;
  unlit when the avatar has none), over the face (the landmarks' face oval, where the head
  covers it) and over the whole rendered head;
- LPIPS (AlexNet) on the face crop, the render pasted over the photo;
- identity: dlib 128-D descriptor distances, photo vs the render in the input view and vs
  renders turned to yaw -40, -20, +20, +40 degrees (unlit, grey background); where the folder
  holds other photos of the same person, the same renders against those (``identity_other_*``,
  the mean over them) and the photos against each other (``identity_other_photo``);
- the landmark error of the fit;
- skin seams (:mod:`headforge.bench.seams`): ``seam_uv`` (texture) and ``seam_yaw-40`` /
  ``seam_yaw+40`` (unlit renders), CIEDE2000 across the photo/fill boundary; ``tone_uv``,
  ``tone_yaw-40``, ``tone_yaw+40``: the median skin of each region, photo part against fill;
- hair (:func:`headforge.hairphoto.evaluate.hair_measures`), in the input view: IoU of the
  rendered hair and the photo's hair mask (none for a bald head), colour error (CIEDE2000)
  and orientation error (degrees, HairStep's HairSale); and the avatar with its hair from
  the front and in profile.
Images are computed on a copy whose longest side is at most ``EVAL_SIDE`` pixels.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from headforge.core.avatar import Avatar
from headforge.bench.metrics import face_mask_from_landmarks, masked_psnr, masked_ssim
from headforge.bench.seams import seam_delta_e, tone_delta_e
from headforge.errors import ModelError
from headforge.headmodel.anny_head import MODEL_NAME
from headforge.headmodel.landmark_embedding import load_landmark_embedding
from headforge.export.preview import VIEW_DISTANCE, VIEW_FOV_DEG, VIEW_TARGET, avatar_cards, avatar_view, face_crop
from headforge.hairphoto.evaluate import hair_measures
from headforge.hairphoto.mask import PersonSegmenter
from headforge.io.image import load_photo, working_copy
from headforge.render import render_mesh
from headforge.core.camera import Camera
from headforge.render.raster import rasterize_uv
from headforge.core.geometry import vertex_normals
from headforge.texture.delight import MAX_SHADING, relight, shading
from headforge.texture.trust import FACE_OVAL
from headforge.core.geometry import interpolate

EVAL_SIDE = 768
NOVEL_YAWS = (-40, -20, 20, 40)
THUMB = 192
BACKGROUND = (128, 128, 128)
SAME_SHOT = 0.15  # dlib distance under which two photos are taken for one shot
SEAM_RADIUS = 0.004  # of the texture's or the render's side: the texels either side of the seam
TONE_BAND = 0.04  # of the side: the bands whose median skins are compared


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
        self._inside: dict[int, np.ndarray] = {}

    def __call__(self, photo_path: Path, avatar: Avatar, others: list[np.ndarray] | None = None) -> dict:
        """Metrics of ``avatar`` made from the photo at ``photo_path``; ``others``: (128,)
        descriptors of other photos of the same person (see :func:`same_person`)."""
        photo, scale = working_copy(load_photo(photo_path).rgb, EVAL_SIDE)
        h, w = photo.shape[:2]
        camera = avatar.camera.resized(scale, w, h)
        landmarks = avatar.landmarks * scale
        m = avatar.mesh
        posed = m.posed(avatar.expression)
        render = photo_light_render(avatar, posed, camera)
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
        identity, other = {}, {}
        for name, (image, marks) in views.items():
            d = self._descriptor(image, marks)
            identity[name] = float(np.linalg.norm(reference - d)) if reference is not None and d is not None else None
            if others:
                other[name] = None if d is None else float(np.mean([np.linalg.norm(o - d) for o in others]))
        metrics["identity_input"] = identity["input"]
        for yaw in NOVEL_YAWS:
            metrics[f"identity_yaw{yaw:+d}"] = identity[f"yaw{yaw:+d}"]
        if others:
            metrics.update({f"identity_other_{k}": v for k, v in other.items()})
            if reference is not None:
                metrics["identity_other_photo"] = float(np.mean([np.linalg.norm(o - reference) for o in others]))
        metrics.update(self._seams(avatar))
        if avatar.hair is not None:
            metrics.update(hair_measures(avatar, photo, landmarks, camera, self.segmenter))

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

    def _seams(self, avatar: Avatar) -> dict:
        """``seam_*`` and ``tone_*`` in UV space and at yaw -40 and +40 (CIEDE2000); empty
        when the avatar does not say which texels the photo gave."""
        if avatar.observed is None:
            return {}
        size = avatar.albedo.shape[0]
        if size not in self._inside:
            m = avatar.mesh
            self._inside[size] = rasterize_uv(m.uvs, m.face_uvs, size).face >= 0
        inside = self._inside[size]
        out = {"seam_uv": seam_delta_e(avatar.albedo, avatar.observed, inside, SEAM_RADIUS * size),
               "tone_uv": tone_delta_e(avatar.albedo, avatar.observed, inside, TONE_BAND * size)}
        for yaw in (-40, 40):
            image, observed, mask = observed_view(avatar, yaw)
            out[f"seam_yaw{yaw:+d}"] = seam_delta_e(image, observed, mask, SEAM_RADIUS * image.shape[0])
            out[f"tone_yaw{yaw:+d}"] = tone_delta_e(image, observed, mask, TONE_BAND * image.shape[0])
        return out

    def photo_descriptor(self, photo_path: Path) -> np.ndarray | None:
        """(128,) dlib descriptor of the photo (its evaluation copy), None if dlib finds no face."""
        photo, _ = working_copy(load_photo(photo_path).rgb, EVAL_SIDE)
        return self.identity.descriptor(photo)

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


def photo_light_render(avatar: Avatar, posed: np.ndarray, camera: Camera):
    """The avatar in ``camera`` as the photo lit it: unlit albedo times the grey SH shading of
    ``avatar.light`` (in linear light) on the smooth normals; unlit when it has no light."""
    m = avatar.mesh
    flat = render_mesh(posed, m.faces, camera, uvs=m.uvs, face_uvs=m.face_uvs, texture=avatar.albedo,
                       lighting="flat", background=BACKGROUND)
    if avatar.light is None:
        return flat
    normals = vertex_normals(posed, m.faces) @ camera.R.T.astype(np.float32)
    grey = np.repeat(shading(normals, avatar.light)[:, None] / MAX_SHADING, 3, 1)
    shade = render_mesh(posed, m.faces, camera, vertex_colors=grey, lighting="flat", background=(0, 0, 0))
    image = flat.image.copy()
    on = flat.mask
    image[on] = np.round(relight(flat.image[on], shade.image[on][:, 0] / 255.0 * MAX_SHADING)).astype(np.uint8)
    return replace(flat, image=image)


def observed_view(avatar: Avatar, yaw_deg: float, size: int = 384):
    """Unlit render (size, size, 3) uint8 turned by ``yaw_deg``, the photo's share of each pixel
    (size, size) float32 (``avatar.observed`` rendered as a texture) and the head's mask."""
    cam = Camera.orbit(size, size, yaw_deg, 0.0, VIEW_DISTANCE * 0.8, VIEW_FOV_DEG, VIEW_TARGET)
    m = avatar.mesh
    posed = m.posed(avatar.expression)
    render = render_mesh(posed, m.faces, cam, uvs=m.uvs, face_uvs=m.face_uvs, texture=avatar.albedo,
                         lighting="flat", background=BACKGROUND)
    weight = np.repeat(np.round(avatar.observed * 255).astype(np.uint8)[..., None], 3, 2)
    seen = render_mesh(posed, m.faces, cam, uvs=m.uvs, face_uvs=m.face_uvs, texture=weight, lighting="flat",
                       background=(0, 0, 0))
    return render.image, seen.image[..., 0].astype(np.float32) / 255.0, render.mask


def same_person(descriptors: dict[str, np.ndarray | None]) -> dict[str, list[str]]:
    """{photo: the other photos of the same person} by dlib's distance between the photos
    (below ``SAME_PERSON_THRESHOLD``); pairs closer than ``SAME_SHOT`` are taken for copies of
    one shot (a crop of the same picture), which say nothing about new views, and left out."""
    from headforge.bench.identity import SAME_PERSON_THRESHOLD

    names = [n for n, d in descriptors.items() if d is not None]
    out: dict[str, list[str]] = {}
    for a in names:
        for b in names:
            dist = float(np.linalg.norm(descriptors[a] - descriptors[b]))
            if a != b and SAME_SHOT <= dist < SAME_PERSON_THRESHOLD:
                out.setdefault(a, []).append(b)
    return out
