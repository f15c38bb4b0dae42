"""Regenerate src/headforge/headmodel/data/anny_mediapipe478.npz from the head model itself.

The neutral head is rendered (grey skin, dark irises) from five directions; mediapipe's
landmarker runs on each render; every landmark is back-projected onto the surface through
the render's depth, the 3D points of the views where that spot faces the camera are averaged
and snapped to the nearest surface point (triangle + barycentric coordinates).

    python scripts/make_landmark_embedding.py [--check out.png]
"""
from __future__ import annotations

import argparse

import cv2
import numpy as np
import trimesh
from scipy.spatial import cKDTree

from headforge.detection.landmarks import FaceDetector
from headforge.headmodel.anny_head import eyeball_vertices, load_head_model
from headforge.headmodel.landmark_embedding import EMBEDDING_PATH
from headforge.render import render_mesh
from headforge.render.camera import Camera

VIEWS = [(0, 0), (-20, 0), (20, 0), (0, -12), (0, 12)]  # (yaw, pitch) degrees
SIZE = 1024
SKIN = np.array([200, 160, 140], np.uint8)


def vertex_colours(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Skin everywhere, white eyeballs with a dark iris disc facing forward."""
    colours = np.tile(SKIN, (len(vertices), 1))
    eyes = eyeball_vertices(faces, len(vertices))
    colours[eyes] = 235
    for side in (vertices[:, 0] > 0, vertices[:, 0] < 0):
        sel = eyes & side
        centre = vertices[sel].mean(0)
        front = vertices[sel][:, 2].max()
        iris = sel & (vertices[:, 2] > front - 0.0035) & (np.linalg.norm(vertices[:, :2] - centre[:2], axis=1) < 0.0065)
        colours[iris] = (60, 45, 35)
    return colours


def closest_surface_points(mesh: trimesh.Trimesh, points: np.ndarray):
    """Face index (N,) and closest point (N, 3) on ``mesh`` for each of the (N, 3) points,
    searched among the faces around the 8 nearest vertices."""
    _, near = cKDTree(mesh.vertices).query(points, k=8)
    vertex_faces = mesh.vertex_faces
    face_idx = np.zeros(len(points), np.int64)
    closest = np.zeros_like(points)
    for i, p in enumerate(points):
        cand = np.unique(vertex_faces[near[i]])
        cand = cand[cand >= 0]
        c = trimesh.triangles.closest_point(mesh.triangles[cand], np.repeat(p[None], len(cand), 0))
        j = np.argmin(np.linalg.norm(c - p, axis=1))
        face_idx[i], closest[i] = cand[j], c[j]
    return face_idx, closest


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", help="write a PNG of the landmarks on the frontal render")
    args = ap.parse_args()
    model = load_head_model()
    v, f = model.template, model.faces
    mesh = trimesh.Trimesh(v, f, process=False)
    colours = vertex_colours(v, f)
    detector = FaceDetector()
    samples = [[] for _ in range(478)]
    frontal = None
    for yaw, pitch in VIEWS:
        cam = Camera.orbit(SIZE, SIZE, yaw, pitch, distance=0.7, fov_deg=22, target=np.array([0, -0.02, 0]))
        r = render_mesh(v, f, cam, vertex_colors=colours, background=(90, 110, 130))
        lm = detector(r.image).points[:, :2]
        if frontal is None:
            frontal = (r.image.copy(), lm)
        px = np.clip(np.round(lm).astype(int), 0, SIZE - 1)
        z = r.depth[px[:, 1], px[:, 0]]
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
            raise SystemExit(f"landmark {i} was never seen")
        p = np.array([a for a, _ in s])
        w = np.array([b for _, b in s]) ** 2
        points[i] = (p * w[:, None]).sum(0) / w.sum()
    face_idx, closest = closest_surface_points(mesh, points)
    bary = trimesh.triangles.points_to_barycentric(mesh.triangles[face_idx], closest)
    bary = np.clip(bary, 0, 1)
    bary /= bary.sum(1, keepdims=True)
    np.savez_compressed(EMBEDDING_PATH, faces=face_idx.astype(np.int32), bary=bary.astype(np.float32))
    print(f"wrote {EMBEDDING_PATH}")
    if args.check:
        img, lm = frontal
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
        for x, y in lm:
            cv2.circle(img, (int(round(x)), int(round(y))), 2, (0, 255, 0), -1)
        cv2.imwrite(args.check, img)


if __name__ == "__main__":
    main()
