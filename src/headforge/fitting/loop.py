"""The two-stage landmark fit every head model shares: camera first, then the model's own
parameters with the camera.

A back-end supplies a :class:`LandmarkProblem`: its landmark function (the model's N landmark
points in the head frame, metres, from its current parameters), its free parameters, its
priors and constraints. :func:`fit_two_stage` fits the head pose (axis-angle ``rot``, head ->
camera, and translation ``trans``, metres) and the focal length by Adam:

- stage 1 (``rigid_iterations``): pose and focal length only, the landmarks held fixed;
- stage 2 (``full_iterations``): pose, focal length and the back-end's parameters.

Losses (1.0 = 1% of the face-box diagonal, squared): the 2D landmarks, each weighted by how
squarely its surface faces the camera; mediapipe's relative depth (weakly), for the face's 3D
shape; the back-end's priors (stage 2); the focal length towards ~40 degrees of field of view.
Camera: OpenCV pinhole, pixels = f * x_cam[:2] / x_cam[2] + (cx, cy), x_cam = R v + t.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from headforge.core.camera import FRONT, Camera
from headforge.core.geometry import rotation_matrices


@dataclass
class LandmarkProblem:
    """A back-end's side of the fit.

    landmarks: ``landmarks(full)`` -> (N, 3) float32 head-frame landmark points from the current
      parameters (``full`` False in stage 1, where only the pose moves);
    parameters: the back-end's free tensors, fitted in stage 2;
    add_priors: ``add_priors(loss)`` -> the stage-2 loss with the back-end's priors added;
    clamp: called after every step (keep parameters in range), or None;
    start: (N, 3) points the pose is first estimated from (PnP);
    faces: (N,) face index of each landmark on ``mesh`` (any model with ``faces`` (F, 3) and
      a neutral ``template`` (V, 3)), for the facing weights.
    """

    landmarks: Callable[[bool], torch.Tensor]
    parameters: Sequence[torch.Tensor]
    add_priors: Callable[[torch.Tensor], torch.Tensor]
    clamp: Callable[[], None] | None
    start: np.ndarray
    faces: np.ndarray
    mesh: object


@dataclass
class LoopSettings:
    """Iterations, step and the shared loss weights (the back-ends' settings carry these too)."""

    rigid_iterations: int = 60
    full_iterations: int = 160
    learning_rate: float = 0.03
    depth_weight: float = 0.05
    focal_weight: float = 0.5


@dataclass
class PoseFit:
    """camera: the fitted camera (world = head frame, photo pixels); landmarks_2d: (N, 2)
    float32 projected landmarks; rotation (3,) float32 axis-angle head -> camera; error: mean
    2D landmark error / face-box diagonal."""

    camera: Camera
    landmarks_2d: np.ndarray
    rotation: np.ndarray
    error: float


def fit_two_stage(problem: LandmarkProblem, points: np.ndarray, box_diagonal: float,
                  image_size: tuple[int, int], settings: LoopSettings) -> PoseFit:
    """Fit ``problem`` to the (N, 3) detected ``points`` (pixels x, y and mediapipe's relative
    depth z) of an image of (height, width) pixels; returns the pose and camera (the
    back-end's parameters are fitted in place)."""
    s = settings
    height, width = image_size
    target = torch.from_numpy(points[:, :2].astype(np.float32))
    target_z = torch.from_numpy(points[:, 2].astype(np.float32))
    scale = 100.0 / box_diagonal  # 1.0 = 1% of the face-box diagonal
    centre = np.array([(width - 1) / 2, (height - 1) / 2], np.float32)
    c = torch.from_numpy(centre)
    focal0 = 1.4 * max(width, height)
    rvec, tvec = initial_pose(problem.start, points[:, :2], focal0, centre)
    rot = torch.tensor(rvec, dtype=torch.float32, requires_grad=True)
    trans = torch.tensor(tvec, dtype=torch.float32, requires_grad=True)
    log_focal = torch.zeros((), requires_grad=True)

    def project(v):
        x = v @ rotation_matrices(rot).T + trans
        f = focal0 * torch.exp(log_focal)
        return x[:, :2] / x[:, 2:3] * f + c, x, f

    def run(params, iterations, full):
        opt = torch.optim.Adam(params, lr=s.learning_rate)
        weights = torch.ones(len(target))
        v = problem.landmarks(False).detach()
        for i in range(iterations):
            opt.zero_grad()
            if full:
                v = problem.landmarks(True)
            uv, x, f = project(v)
            if i % 20 == 0:
                weights = facing_weights(x.detach(), rot.detach(), problem.faces, problem.mesh)
            loss = (weights * ((uv - target) * scale).pow(2).sum(1)).sum() / weights.sum()
            # Relative depth: mediapipe z ~ pixels, same scale as x; compare centred profiles.
            z = x[:, 2] * f / x[:, 2].mean()
            dz = (z - z.mean()) - (target_z - target_z.mean())
            loss = loss + s.depth_weight * (dz * scale).pow(2).mean()
            if full:
                loss = problem.add_priors(loss)
            loss = loss + s.focal_weight * log_focal.pow(2)
            loss.backward()
            opt.step()
            with torch.no_grad():
                if problem.clamp is not None:
                    problem.clamp()
                log_focal.clamp_(-1.0, 1.0)

    # The tensors are tiny: one thread is fastest, and immune to other busy processes.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run([rot, trans, log_focal], s.rigid_iterations, full=False)
        run([rot, trans, log_focal, *problem.parameters], s.full_iterations, full=True)
    finally:
        torch.set_num_threads(threads)

    with torch.no_grad():
        uv, _, f = project(problem.landmarks(True))
        r = rotation_matrices(rot).numpy().astype(np.float64)
    uv = uv.numpy()
    error = float(np.linalg.norm(uv - points[:, :2], axis=1).mean() / box_diagonal)
    camera = Camera(width, height, float(f), float(centre[0]), float(centre[1]), r,
                    trans.detach().numpy().astype(np.float64))
    return PoseFit(camera, uv.astype(np.float32), rot.detach().numpy().astype(np.float32), error)


def initial_pose(points3d: np.ndarray, points2d: np.ndarray, focal: float, centre: np.ndarray):
    """Rotation vector (3,) head -> camera and translation (3,) metres from PnP of (N, 3)
    head-frame points on their (N, 2) pixels, starting from a frontal head."""
    import cv2

    k = np.array([[focal, 0, centre[0]], [0, focal, centre[1]], [0, 0, 1]], np.float64)
    # Start from a frontal head one focal-consistent distance away, then refine.
    r0, _ = cv2.Rodrigues(FRONT)
    span = np.ptp(points2d, axis=0).max()
    t0 = np.array([0.0, 0.0, focal * np.ptp(points3d[:, 0]) / max(span, 1.0)])
    ok, rvec, tvec = cv2.solvePnP(
        points3d.astype(np.float64), points2d.astype(np.float64), k, None,
        rvec=r0.copy(), tvec=t0.reshape(3, 1), useExtrinsicGuess=True, flags=cv2.SOLVEPNP_ITERATIVE,
    )
    if not ok or tvec[2, 0] <= 0:
        return r0.ravel(), t0
    return rvec.ravel(), tvec.ravel()


def facing_weights(x, rot, emb_faces, model) -> torch.Tensor:
    """(N,) weight per landmark: the cosine between its surface normal and the direction to
    the camera, floored at 0.2 (points on the far side of a turned face count less).

    x: (N, 3) camera-frame landmark points; rot: (3,) axis-angle; emb_faces: (N,) face index of
    each landmark; model: any head model with ``faces`` (F, 3) and ``template`` (V, 3) (anny or
    FLAME), whose neutral template gives the normals."""
    tri = torch.from_numpy(model.faces[emb_faces].astype(np.int64))
    verts = torch.from_numpy(model.template)
    n = torch.cross(verts[tri[:, 1]] - verts[tri[:, 0]], verts[tri[:, 2]] - verts[tri[:, 0]], dim=1)
    n = n / n.norm(dim=1, keepdim=True).clamp_min(1e-12)
    n_cam = n @ rotation_matrices(rot).T
    to_cam = -x / x.norm(dim=1, keepdim=True)
    return (n_cam * to_cam).sum(1).clamp(0.2, 1.0)
