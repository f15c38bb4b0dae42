"""Fit FLAME to detected landmarks: shape, expression, neck, jaw and eye rotations, head pose and
focal length -- the same two-stage fit and losses as :mod:`headforge.fitting.landmark_fit`
(2D landmarks weighted by how squarely they face the camera, mediapipe's relative depth,
priors), with FLAME's skinned model evaluated at the landmarks' triangles only.

The expression, jaw and eye rotations are parametrised as the ARKit table's combination of 52
weights in [0, 1] (:mod:`.flame_arkit`) plus a small FLAME residual, so the fit yields ARKit
weights for the exported morph targets as the default head's fit does, and FLAME's own
parameters. Priors pull the weights towards mediapipe's blendshape scores, the FLAME parameters
towards a network's estimate (DECA/EMOCA) when there is one, the residual towards zero. The
global rotation is the camera's (FLAME's own global rotation stays zero).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from headforge.backends.flame import FlameModel
from headforge.backends.flame_arkit import ArkitTable
from headforge.backends.flame_files import LandmarkEmbedding
from headforge.detection.landmarks import FaceLandmarks
from headforge.core.geometry import interpolate
from headforge.fitting.loop import LandmarkProblem, LoopSettings, fit_two_stage
from headforge.core.camera import Camera


@dataclass
class FlameInit:
    """A network's estimate: shape (S,), expression (E',) coefficients, jaw (3,) rotation;
    displacement: optional (H, W) UV displacement map (metres); source: who estimated it."""

    shape: np.ndarray
    expression: np.ndarray
    jaw: np.ndarray
    displacement: np.ndarray | None = None
    source: str = ""


@dataclass
class FlameFitSettings(LoopSettings):
    """The shared loop's settings (200 iterations with the camera), FLAME's prior weights;
    ``n_shape`` / ``n_expression``: how many components are fitted."""

    full_iterations: int = 200
    n_shape: int = 300
    n_expression: int = 100
    shape_weight: float = 0.3
    action_prior_weight: float = 0.3
    expression_weight: float = 0.05
    residual_weight: float = 0.5
    pose_weight: float = 5.0


@dataclass
class FlameCentre:
    """What the fit starts from and is pulled towards: shape (S,), expression (E,), jaw (3,)
    and the (52,) ARKit weights."""

    shape: np.ndarray
    expression: np.ndarray
    jaw: np.ndarray
    actions: np.ndarray


@dataclass
class FlameFit:
    """shape (S,), expression (E,), neck (3,), jaw (3,), eyes (6,) float32: FLAME's parameters;
    actions (52,): the ARKit weights part of the expression, jaw and eyes; camera (world = head
    frame); error: mean 2D landmark error / face-box diagonal."""

    shape: np.ndarray
    expression: np.ndarray
    neck: np.ndarray
    jaw: np.ndarray
    eyes: np.ndarray
    actions: np.ndarray
    camera: Camera
    error: float


def prior_centre(table: ArkitTable, detected: FaceLandmarks, keep_expression: bool, init: FlameInit | None,
                 n_shape: int, n_expression: int) -> FlameCentre:
    """The centre: the ARKit weights are mediapipe's blendshape scores (zeros for a neutral
    avatar, as for the default head); shape, expression and jaw are the network's when there is
    one, else zero shape and the weights through the ARKit table."""
    shape, expression = np.zeros(n_shape, np.float32), np.zeros(n_expression, np.float32)
    scores = np.array([detected.blendshapes.get(n, 0.0) for n in table.names], np.float32)
    if not keep_expression:
        scores[:] = 0
    e, jaw, _ = table.combine(scores)
    expression[:] = e[:n_expression]
    if init is not None:
        shape[: len(init.shape)] = init.shape[:n_shape]
        expression[:] = 0
        expression[: len(init.expression)] = init.expression[:n_expression]
        jaw = np.asarray(init.jaw, np.float32)
    return FlameCentre(shape, expression, jaw, scores)


def fit_flame(model: FlameModel, embedding: LandmarkEmbedding, detected: FaceLandmarks, image_size: tuple[int, int],
              table: ArkitTable, centre: FlameCentre, settings: FlameFitSettings | None = None) -> FlameFit:
    """Fit ``model`` to the ``detected`` landmarks of an image of (height, width) pixels, by the
    shared two-stage loop (:func:`headforge.fitting.loop.fit_two_stage`).

    The expression, jaw and eyes are the ARKit table's combination of 52 weights in [0, 1] plus
    a FLAME residual; priors pull the weights towards ``centre.actions``, the whole expression
    and jaw towards ``centre``'s, the residual towards zero."""
    s = settings or FlameFitSettings()
    # Only the vertices of the landmarks' triangles are skinned during the fit.
    corners = model.faces[embedding.faces]
    ids, local = np.unique(corners, return_inverse=True)
    local = torch.from_numpy(local.reshape(corners.shape))
    ids = torch.from_numpy(ids)
    bary = torch.from_numpy(embedding.bary)

    n_exp = len(centre.expression)
    t = lambda x: torch.from_numpy(np.asarray(x, np.float32))  # noqa: E731
    t_exp, t_jaw, t_eyes = t(table.expression[:, :n_exp]), t(table.jaw), t(table.eyes)
    shape0, expression0, jaw0, actions0 = t(centre.shape), t(centre.expression), t(centre.jaw), t(centre.actions)
    shape = shape0.clone().requires_grad_(True)
    act_logit = torch.logit(actions0.clamp(0.02, 0.98)).requires_grad_(True)
    start = torch.sigmoid(act_logit.detach())
    residual = (expression0 - start @ t_exp).requires_grad_(True)
    jaw_residual = (jaw0 - start @ t_jaw).requires_grad_(True)
    eye_residual = torch.zeros(6, requires_grad=True)
    neck = torch.zeros(3, requires_grad=True)

    def native():
        w = torch.sigmoid(act_logit)
        return w, w @ t_exp + residual, w @ t_jaw + jaw_residual, w @ t_eyes + eye_residual

    def landmarks_3d(full: bool = True) -> torch.Tensor:
        _, expression, jaw, eyes = native()
        v = model(shape[None], expression[None], model.pose(neck[None], jaw[None], eyes[None]), ids)[0]
        return interpolate(v, local, bary)

    def add_priors(loss: torch.Tensor) -> torch.Tensor:
        w, expression, jaw, _ = native()
        loss = loss + s.shape_weight * (shape - shape0).pow(2).sum()
        loss = loss + s.action_prior_weight * (w - actions0).pow(2).sum()
        loss = loss + s.expression_weight * (expression - expression0).pow(2).sum()
        loss = loss + s.residual_weight * residual.pow(2).sum()
        return loss + s.pose_weight * ((jaw - jaw0).pow(2).sum() + jaw_residual.pow(2).sum()
                                       + eye_residual.pow(2).sum() + neck.pow(2).sum())

    with torch.no_grad():
        start_points = landmarks_3d().numpy()
    problem = LandmarkProblem(landmarks_3d, [shape, act_logit, residual, jaw_residual, eye_residual, neck],
                              add_priors, None, start_points, embedding.faces, model)
    pose = fit_two_stage(problem, detected.points[embedding.mediapipe], detected.box_diagonal, image_size, s)
    with torch.no_grad():
        w, expression, jaw, eyes = native()
    out = [x.detach().numpy().astype(np.float32) for x in (shape, expression, neck, jaw, eyes, w)]
    return FlameFit(*out, camera=pose.camera, error=pose.error)
