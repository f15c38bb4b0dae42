"""Where mediapipe's 478 face-mesh landmarks lie on the default head's surface.

The file ``data/anny_mediapipe478.npz`` holds, per landmark, a triangle index into the head
model's faces and barycentric coordinates. ``scripts/make_landmark_embedding.py`` regenerates
it from the head model itself with :func:`embed_by_rendering` (render, detect, back-project),
which works for any head mesh (``scripts/make_flame_embedding.py`` uses it for FLAME).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from headforge.errors import ModelError
from headforge.core.geometry import closest_points

EMBEDDING_PATH = Path(__file__).parent / "data" / "anny_mediapipe478.npz"
VIEWS = [(0, 0), (-20, 0), (20, 0), (0, -12), (0, 12)]  # (yaw, pitch) degrees
RENDER_SIZE = 1024
SKIN = np.array([200, 160, 140], np.uint8)


def load_landmark_embedding(path: Path = EMBEDDING_PATH) -> tuple[np.ndarray, np.ndarray]:
    """(faces (478,) int32, bary (478, 3) float32)."""
    try:
        with np.load(path) as z:
            return z["faces"].astype(np.int32), z["bary"].astype(np.float32)
    except (OSError, KeyError) as e:
        raise ModelError(f"landmark embedding {path} is missing or unreadable: {e}") from e


def head_colors(vertices: np.ndarray, eyes: np.ndarray) -> np.ndarray:
    """(V, 3) uint8 vertex colours for :func:`embed_by_rendering`: skin everywhere, white
    eyeballs (``eyes``: (V,) bool) with a dark iris disc facing forward."""
    colors = np.tile(SKIN, (len(vertices), 1))
    colors[eyes] = 235
    for side in (vertices[:, 0] > 0, vertices[:, 0] < 0):
        sel = eyes & side
        centre = vertices[sel].mean(0)
        front = vertices[sel][:, 2].max()
        iris = sel & (vertices[:, 2] > front - 0.0035) & (np.linalg.norm(vertices[:, :2] - centre[:2], axis=1) < 0.0065)
        colors[iris] = (60, 45, 35)
    return colors


def _snap_to_surface(px: np.ndarray, face_image: np.ndarray, depth: np.ndarray, allowed: np.ndarray):
    """(N, 2) pixel (x, y) positions moved to the nearest pixel whose face is ``allowed``, and
    (N,) depths: the nearest ``allowed`` surface within 2 px (the lip in front of the mouth's
    interior, the eyelid in front of the eyeball)."""
    from scipy.ndimage import distance_transform_edt, minimum_filter

    ok = np.where(face_image >= 0, allowed[np.maximum(face_image, 0)], False)
    _, (iy, ix) = distance_transform_edt(~ok, return_indices=True)
    snapped = np.stack([ix[px[:, 1], px[:, 0]], iy[px[:, 1], px[:, 0]]], 1)
    front = minimum_filter(np.where(ok, depth, np.inf), size=5)
    return snapped, front[snapped[:, 1], snapped[:, 0]]


def embed_by_rendering(vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray,
                       check_png: Path | None = None, skin_faces: np.ndarray | None = None,
                       eye_faces: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(faces (478,) int32, bary (478, 3) float32) of mediapipe's landmarks on a neutral head.

    The head ((V, 3) head-frame vertices, (F, 3) faces, (V, 3) uint8 vertex colours: skin, white
    eyeballs, dark irises) is rendered from the ``VIEWS``; mediapipe's landmarker runs on each
    render; every landmark is back-projected onto the surface through the render's depth, the
    3D points of the views where that spot faces the camera are averaged and snapped to the
    nearest surface point. ``check_png``: write the frontal render with its landmarks there.

    ``skin_faces``, ``eye_faces``: (F,) bool, where the 468 face-mesh points and the 10 iris
    points may lie (default: anywhere). A point whose pixel shows something else (an eyelid
    margin seen against the eyeball, the lip line against the mouth interior) is moved to the
    nearest pixel of its own surface before it is back-projected.
    """
    import cv2
    import trimesh

    from headforge.detection.landmarks import FaceDetector
    from headforge.render import render_mesh
    from headforge.core.camera import Camera

    mesh = trimesh.Trimesh(vertices, faces, process=False)
    detector = FaceDetector()
    samples = [[] for _ in range(478)]
    for yaw, pitch in VIEWS:
        cam = Camera.orbit(RENDER_SIZE, RENDER_SIZE, yaw, pitch, distance=0.7, fov_deg=22, target=np.array([0, -0.02, 0]))
        r = render_mesh(vertices, faces, cam, vertex_colors=colors, background=(90, 110, 130))
        lm = detector(r.image).points[:, :2]
        if check_png is not None and (yaw, pitch) == (0, 0):
            img = cv2.cvtColor(r.image, cv2.COLOR_RGB2BGR)
            for x, y in lm:
                cv2.circle(img, (int(round(x)), int(round(y))), 2, (0, 255, 0), -1)
            cv2.imwrite(str(check_png), img)
        px = np.clip(np.round(lm).astype(int), 0, RENDER_SIZE - 1)
        z = r.depth[px[:, 1], px[:, 0]]
        for allowed, rows in ((skin_faces, slice(0, 468)), (eye_faces, slice(468, 478))):
            if allowed is not None:
                px[rows], z[rows] = _snap_to_surface(px[rows], r.face, r.depth, allowed)
        lm = px.astype(np.float64)
        hit = np.isfinite(z)
        z = np.where(hit, z, 1.0)
        cam_pts = np.stack([(lm[:, 0] - cam.cx) / cam.focal * z, (lm[:, 1] - cam.cy) / cam.focal * z, z], 1)
        world = (cam_pts - cam.t) @ cam.R
        normals = mesh.face_normals[np.maximum(r.face[px[:, 1], px[:, 0]], 0)]
        to_cam = -(world @ cam.R.T + cam.t)
        to_cam /= np.linalg.norm(to_cam, axis=1, keepdims=True)
        facing = np.einsum("nc,nc->n", normals @ cam.R.T, to_cam)
        for i in np.flatnonzero(hit):
            samples[i].append((world[i], max(facing[i], 0.05)))
    points = np.zeros((478, 3))
    for i, s in enumerate(samples):
        if not s:
            raise ModelError(f"landmark {i} was never seen on the renders of the head")
        p = np.array([a for a, _ in s])
        w = np.array([b for _, b in s]) ** 2
        points[i] = (p * w[:, None]).sum(0) / w.sum()
    face_idx, bary, _ = closest_points(vertices, faces, points)
    for allowed, rows in ((skin_faces, np.arange(468)), (eye_faces, np.arange(468, 478))):
        if allowed is not None:
            face_idx[rows], bary[rows], _ = closest_points(vertices, faces, points[rows], np.flatnonzero(allowed))
    return face_idx.astype(np.int32), bary.astype(np.float32)
