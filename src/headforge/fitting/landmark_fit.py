"""Fit the head model to detected landmarks: identity, expression, head pose and focal length.

Model: v = template + B_id(identity) + B_act @ actions (head frame, metres), then
x_cam = R(rotvec) @ v + t and pixels = f * x_cam[:2] / x_cam[2] + (cx, cy) (OpenCV camera).
Only the landmark points are evaluated during the fit (478 x ~340 basis rows), so one
iteration costs well under a millisecond.

Losses (all scaled so that 1.0 = 1% of the face-box diagonal, squared):
- 2D landmarks, each point weighted by how squarely its surface faces the camera;
- mediapipe's relative depth, weakly, for the 3D shape of the face;
- priors: identity towards the mean, actions towards mediapipe's own blendshape scores,
  focal length towards a ~40 degree field of view.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from headforge.detection.landmarks import FaceLandmarks
from headforge.headmodel.anny_head import HeadModel
from headforge.core.camera import FRONT, Camera
from headforge.core.geometry import interpolate, rotation_matrices


@dataclass
class FitSettings:
    """Weights and iteration counts of the two-stage fit."""

    rigid_iterations: int = 60
    full_iterations: int = 160
    learning_rate: float = 0.03
    depth_weight: float = 0.05
    identity_weight: float = 3.0
    phenotype_weight: float = 1.0
    action_prior_weight: float = 0.3
    focal_weight: float = 0.5
    keep_expression: bool = True


@dataclass
class FitResult:
    """Fitted parameters and the camera that sees the head as in the photo.

    phenotypes (P,) in [0, 1]; local (L,) in [-1, 1]; actions (52,) in [0, 1];
    rotation (3,) axis-angle head -> camera composed with the front view; translation (3,) m;
    camera: the fitted pinhole camera (world = head frame); landmarks_2d: (478, 2) projected
    model landmarks in pixels; error: mean 2D landmark error / face-box diagonal.
    """

    phenotypes: np.ndarray
    local: np.ndarray
    actions: np.ndarray
    rotation: np.ndarray
    camera: Camera
    landmarks_2d: np.ndarray
    error: float

    @property
    def head_angles_deg(self) -> dict[str, float]:
        """See :func:`head_angles_deg`."""
        return head_angles_deg(self.camera.R)


def head_angles_deg(rotation: np.ndarray) -> dict[str, float]:
    """Yaw (about Y, + = the head turns to its left), pitch (about X, + = looks down), roll
    (about Z) of a camera's (3, 3) head -> camera ``rotation``, relative to a frontal view."""
    r = FRONT.T @ rotation  # head -> front-view camera, without the axis flip
    yaw = np.degrees(np.arctan2(r[0, 2], r[2, 2]))
    pitch = np.degrees(np.arcsin(np.clip(-r[1, 2], -1, 1)))
    roll = np.degrees(np.arctan2(r[1, 0], r[1, 1]))
    return {"yaw": float(yaw), "pitch": float(pitch), "roll": float(roll)}


def landmark_basis(model: HeadModel, faces: np.ndarray, bary: np.ndarray) -> dict[str, np.ndarray]:
    """Basis rows of the model evaluated at surface points (face index + barycentric).

    Returns arrays shaped like the model's with V replaced by the number of points N.
    """
    tri = model.faces[faces]  # (N, 3)
    return {
        "template": interpolate(model.template, tri, bary),
        "phenotype": interpolate(model.phenotype_basis, tri, bary),
        "local_pos": interpolate(model.local_pos, tri, bary),
        "local_neg": interpolate(model.local_neg, tri, bary),
        "action": interpolate(model.action_basis, tri, bary),
    }


def initial_pose(points3d: np.ndarray, points2d: np.ndarray, focal: float, centre: np.ndarray):
    """Rotation vector (head -> camera) and translation from PnP on the template's landmarks."""
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


def fit_landmarks(
    model: HeadModel,
    embedding: tuple[np.ndarray, np.ndarray],
    detected: FaceLandmarks,
    image_size: tuple[int, int],
    settings: FitSettings | None = None,
) -> FitResult:
    """Fit ``model`` to ``detected`` landmarks in an image of (height, width) pixels.

    embedding: (faces (N,), bary (N, 3)) of each detected landmark on the model's surface.
    """
    s = settings or FitSettings()
    height, width = image_size
    emb_faces, emb_bary = embedding
    basis = {k: torch.from_numpy(v.astype(np.float32)) for k, v in landmark_basis(model, emb_faces, emb_bary).items()}
    target = torch.from_numpy(detected.points[:, :2].astype(np.float32))
    target_z = torch.from_numpy(detected.points[:, 2].astype(np.float32))
    diag = detected.box_diagonal
    scale = 100.0 / diag  # 1.0 = 1% of the face-box diagonal
    centre = np.array([(width - 1) / 2, (height - 1) / 2], np.float32)
    focal0 = 1.4 * max(width, height)

    rvec, tvec = initial_pose(basis["template"].numpy(), detected.points[:, :2], focal0, centre)
    rot = torch.tensor(rvec, dtype=torch.float32, requires_grad=True)
    trans = torch.tensor(tvec, dtype=torch.float32, requires_grad=True)
    log_focal = torch.zeros((), requires_grad=True)
    phen = torch.zeros(len(model.phenotype_names), requires_grad=True)  # offset from 0.5
    local = torch.zeros(len(model.local_names), requires_grad=True)
    names = model.action_names
    mp_scores = torch.tensor([detected.blendshapes.get(n, 0.0) for n in names], dtype=torch.float32)
    action_prior = mp_scores if s.keep_expression else torch.zeros_like(mp_scores)
    act_logit = torch.logit(action_prior.clamp(0.02, 0.98)).clone().requires_grad_(True)
    c = torch.from_numpy(centre)

    # Bases flattened to (K, N*3) matrices: one matrix product per group and iteration.
    flat = {k: v.reshape(v.shape[0], -1) for k, v in basis.items() if k != "template"}
    n_points = len(target)

    def landmarks_3d(with_shape: bool) -> torch.Tensor:
        v = torch.sigmoid(act_logit) @ flat["action"]
        if with_shape:
            v = v + phen @ flat["phenotype"] + torch.relu(local) @ flat["local_pos"] + torch.relu(-local) @ flat["local_neg"]
        return basis["template"] + v.reshape(n_points, 3)

    def project(v):
        x = v @ rotation_matrices(rot).T + trans
        f = focal0 * torch.exp(log_focal)
        return x[:, :2] / x[:, 2:3] * f + c, x, f

    def run(params, iterations, with_shape):
        opt = torch.optim.Adam(params, lr=s.learning_rate)
        weights = torch.ones(len(target))
        for i in range(iterations):
            opt.zero_grad()
            v = landmarks_3d(with_shape)
            uv, x, f = project(v)
            if i % 20 == 0:
                weights = facing_weights(x.detach(), rot.detach(), emb_faces, model)
            err = ((uv - target) * scale).pow(2).sum(1)
            loss = (weights * err).sum() / weights.sum()
            # Relative depth: mediapipe z ~ pixels, same scale as x; compare centred profiles.
            z = x[:, 2] * f / x[:, 2].mean()
            dz = (z - z.mean()) - (target_z - target_z.mean())
            loss = loss + s.depth_weight * (dz * scale).pow(2).mean()
            if with_shape:
                loss = loss + s.identity_weight * local.pow(2).sum() / 10 + s.phenotype_weight * phen.pow(2).sum()
                loss = loss + s.action_prior_weight * (torch.sigmoid(act_logit) - action_prior).pow(2).sum()
            loss = loss + s.focal_weight * log_focal.pow(2)
            loss.backward()
            opt.step()
            with torch.no_grad():
                phen.clamp_(-0.5, 0.5)
                local.clamp_(-1, 1)
                log_focal.clamp_(-1.0, 1.0)

    # The tensors are tiny: one thread is fastest, and immune to other busy processes.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run([rot, trans, log_focal], s.rigid_iterations, with_shape=False)
        run([rot, trans, log_focal, phen, local, act_logit], s.full_iterations, with_shape=True)
    finally:
        torch.set_num_threads(threads)

    with torch.no_grad():
        uv, _, f = project(landmarks_3d(True))
        r = rotation_matrices(rot).numpy().astype(np.float64)
    uv = uv.numpy()
    error = float(np.linalg.norm(uv - detected.points[:, :2], axis=1).mean() / diag)
    camera = Camera(width, height, float(f), float(centre[0]), float(centre[1]), r, trans.detach().numpy().astype(np.float64))
    return FitResult(
        phenotypes=(phen.detach().numpy() + 0.5).astype(np.float32),
        local=local.detach().numpy().astype(np.float32),
        actions=torch.sigmoid(act_logit).detach().numpy().astype(np.float32),
        rotation=rot.detach().numpy().astype(np.float32),
        camera=camera,
        landmarks_2d=uv.astype(np.float32),
        error=error,
    )


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
