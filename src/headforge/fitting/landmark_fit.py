"""Fit the default head model (anny) to detected landmarks: identity, expression, head pose
and focal length, by the shared two-stage loop of :mod:`headforge.fitting.loop`.

Model: v = template + B_id(identity) + B_act @ actions (head frame, metres), then
x_cam = R(rotvec) @ v + t and pixels = f * x_cam[:2] / x_cam[2] + (cx, cy) (OpenCV camera).
Only the landmark points are evaluated during the fit (478 x ~340 basis rows), so one
iteration costs well under a millisecond.

This model's priors (1.0 = 1% of the face-box diagonal, squared, as the loop's losses):
identity towards the mean, actions towards mediapipe's own blendshape scores.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from headforge.detection.landmarks import FaceLandmarks
from headforge.headmodel.anny_head import HeadModel
from headforge.core.camera import FRONT, Camera
from headforge.core.geometry import interpolate
from headforge.fitting.loop import LandmarkProblem, LoopSettings, fit_two_stage


@dataclass
class FitSettings(LoopSettings):
    """The shared loop's settings, and this model's prior weights."""

    identity_weight: float = 3.0
    phenotype_weight: float = 1.0
    action_prior_weight: float = 0.3
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


def fit_landmarks(
    model: HeadModel,
    embedding: tuple[np.ndarray, np.ndarray],
    detected: FaceLandmarks,
    image_size: tuple[int, int],
    settings: FitSettings | None = None,
) -> FitResult:
    """Fit ``model`` to ``detected`` landmarks in an image of (height, width) pixels, by the
    shared two-stage loop (:func:`headforge.fitting.loop.fit_two_stage`).

    embedding: (faces (N,), bary (N, 3)) of each detected landmark on the model's surface.
    """
    s = settings or FitSettings()
    emb_faces, emb_bary = embedding
    basis = {k: torch.from_numpy(v.astype(np.float32)) for k, v in landmark_basis(model, emb_faces, emb_bary).items()}
    phen = torch.zeros(len(model.phenotype_names), requires_grad=True)  # offset from 0.5
    local = torch.zeros(len(model.local_names), requires_grad=True)
    mp_scores = torch.tensor([detected.blendshapes.get(n, 0.0) for n in model.action_names], dtype=torch.float32)
    action_prior = mp_scores if s.keep_expression else torch.zeros_like(mp_scores)
    act_logit = torch.logit(action_prior.clamp(0.02, 0.98)).clone().requires_grad_(True)

    # Bases flattened to (K, N*3) matrices: one matrix product per group and iteration.
    flat = {k: v.reshape(v.shape[0], -1) for k, v in basis.items() if k != "template"}
    n_points = len(detected.points)

    def landmarks_3d(with_shape: bool) -> torch.Tensor:
        v = torch.sigmoid(act_logit) @ flat["action"]
        if with_shape:
            v = v + phen @ flat["phenotype"] + torch.relu(local) @ flat["local_pos"] + torch.relu(-local) @ flat["local_neg"]
        return basis["template"] + v.reshape(n_points, 3)

    def add_priors(loss: torch.Tensor) -> torch.Tensor:
        loss = loss + s.identity_weight * local.pow(2).sum() / 10 + s.phenotype_weight * phen.pow(2).sum()
        return loss + s.action_prior_weight * (torch.sigmoid(act_logit) - action_prior).pow(2).sum()

    def clamp() -> None:
        phen.clamp_(-0.5, 0.5)
        local.clamp_(-1, 1)

    problem = LandmarkProblem(landmarks_3d, [phen, local, act_logit], add_priors, clamp,
                              basis["template"].numpy(), emb_faces, model)
    pose = fit_two_stage(problem, detected.points, detected.box_diagonal, image_size, s)
    return FitResult(
        phenotypes=(phen.detach().numpy() + 0.5).astype(np.float32),
        local=local.detach().numpy().astype(np.float32),
        actions=torch.sigmoid(act_logit).detach().numpy().astype(np.float32),
        rotation=pose.rotation,
        camera=pose.camera,
        landmarks_2d=pose.landmarks_2d,
        error=pose.error,
    )
