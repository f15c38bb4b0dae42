"""The 52 ARKit actions on any FLAME head, each as a FLAME expression + jaw + eye rotation.

Derived once per FLAME file (and landmark embedding) from the default head, whose 52 actions are
ARKit's (:mod:`headforge.headmodel.anny_head`):

1. corresponding points: the landmarks both heads share (mediapipe ids) align anny to FLAME by a
   similarity transform, then a thin-plate spline through those landmarks warps anny onto
   FLAME; each FLAME vertex takes the nearest point of the warped anny surface (eyeball vertices
   the nearest eyeball point), trusted fully within 5 mm and not at all beyond 15 mm;
2. targets: each anny action's displacement at those points, rotated and scaled into FLAME;
3. per action, the FLAME expression coefficients, jaw rotation and (eyeLook* only) eyeball
   rotations whose displacement of the neutral FLAME head best matches the target (least
   squares over the trusted vertices, lightly regularised): a ridge solve of FLAME linearised
   at rest, then L-BFGS on the full skinned model.

``reproduced`` says how well: 1 - |residual| / |target| (root sum of squares over the trusted
vertices); NaN where anny's action barely moves the surface FLAME has (``tongueOut``). The table
is derived from the user's licensed FLAME file, so it is stored in the cache, never in the
repository; ``scripts/make_flame_arkit.py`` builds it and prints the per-action report.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from headforge.backends.flame import FlameModel
from headforge.backends.flame_files import LandmarkEmbedding, content_tag
from headforge.core.files import atomic_file
from headforge.core.geometry import closest_points, interpolate, umeyama
from headforge.headmodel.anny_head import HeadModel
from headforge.paths import cache_dir

TABLE_VERSION = 2  # 2: closest points and the similarity from headforge.core.geometry
TRUST_MM = (5.0, 15.0)  # full trust within, none beyond (correspondence distance)
EXPRESSION_PRIOR = 1.0  # mm^2 per unit^2 of expression coefficient
POSE_PRIOR = 10.0  # mm^2 per rad^2 of jaw or eye rotation
MIN_PEAK_MM = 0.5  # an action moving FLAME's surface less than this has no counterpart
ITERATIONS = 20  # L-BFGS iterations after the linearised solve


@dataclass
class ArkitTable:
    """names: the 52 ARKit names; expression (52, E), jaw (52, 3), eyes (52, 6) float32: each
    action at weight 1; reproduced (52,) in [0, 1] or NaN; peak_mm (52,) the target's largest
    displacement."""

    names: list[str]
    expression: np.ndarray
    jaw: np.ndarray
    eyes: np.ndarray
    reproduced: np.ndarray
    peak_mm: np.ndarray

    def combine(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """FLAME (expression (E,), jaw (3,), eyes (6,)) of (52,) ARKit ``weights`` (linear)."""
        w = np.asarray(weights, np.float32)
        return w @ self.expression, w @ self.jaw, w @ self.eyes

    def deltas(self, flame: FlameModel, shape: np.ndarray) -> np.ndarray:
        """(52, V, 3) float32 morph targets: each action's FLAME head minus the neutral one,
        for the (S,) ``shape`` coefficients."""
        n = len(self.names)
        with torch.no_grad():
            betas = torch.from_numpy(np.asarray(shape, np.float32))[None]
            neutral = flame(betas, torch.zeros(1, 0), flame.pose())[0]
            posed = flame(betas.expand(n, -1), torch.from_numpy(self.expression),
                          flame.pose(jaw=torch.from_numpy(self.jaw), eyes=torch.from_numpy(self.eyes), batch=n))
        return (posed - neutral).numpy()


def _surface_samples(vertices: np.ndarray, faces: np.ndarray, keep: np.ndarray, points: np.ndarray):
    """Nearest point on the part of the mesh whose faces have all corners in ``keep`` (V,):
    (tri (N, 3) vertex ids, bary (N, 3), distance (N,))."""
    face, bary, closest = closest_points(vertices, faces, points, np.flatnonzero(keep[faces].all(1)))
    return faces[face], bary, np.linalg.norm(closest - points, axis=1)


def transfer_targets(flame: FlameModel, embedding: LandmarkEmbedding, anny: HeadModel,
                     anny_embedding: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """anny's 52 action displacements at corresponding FLAME vertices: (targets (52, V, 3)
    metres in FLAME's frame, trust (V,) in [0, 1])."""
    from scipy.interpolate import RBFInterpolator

    from headforge.headmodel.anny_head import eyeball_vertices, mesh_components

    a_faces, a_bary = anny_embedding
    src = interpolate(anny.template, anny.faces[a_faces[embedding.mediapipe]], a_bary[embedding.mediapipe])
    dst = embedding.points(flame.template, flame.faces)
    sim = umeyama(src.astype(np.float64), dst.astype(np.float64))
    s, r, t = sim.scale, sim.rotation, sim.translation
    moved = lambda p: s * p @ r.T + t  # noqa: E731
    warp = RBFInterpolator(moved(src), dst - moved(src), kernel="thin_plate_spline", smoothing=1e-6)
    anny_v = moved(anny.template.astype(np.float64))
    anny_v = anny_v + warp(anny_v)

    f_eyes = flame.weights[:, 3:5].sum(1).numpy() > 0.5
    a_eyes = eyeball_vertices(anny.faces, len(anny.template))
    a_main = mesh_components(anny.faces, len(anny.template)) == 0  # the skin, not the mouth's interior
    v = flame.template.astype(np.float64)
    tri = np.zeros((len(v), 3), np.int64)
    bary = np.zeros((len(v), 3))
    dist = np.full(len(v), np.inf)
    for f_sel, a_sel in ((~f_eyes, a_main), (f_eyes, a_eyes)):
        if f_sel.any() and a_sel.any():
            tri[f_sel], bary[f_sel], dist[f_sel] = _surface_samples(anny_v, anny.faces, a_sel, v[f_sel])
    lo, hi = TRUST_MM
    trust = np.clip((hi - 1000 * dist) / (hi - lo), 0, 1)
    actions = anny.action_basis.astype(np.float64) @ r.T * s  # (52, Va, 3) in FLAME's frame
    targets = interpolate(actions, tri, bary)
    return targets, trust


def _pose_columns(flame: FlameModel, step: float = 1e-3) -> torch.Tensor:
    """(3V, 9) millimetres per radian: the neutral head's vertices against the jaw's and the
    two eyeballs' rotations about x, y, z, at rest (central differences)."""
    rot = torch.zeros(18, len(flame.parents), 3)
    for k in range(9):
        joint, axis = 2 + k // 3, k % 3
        rot[2 * k, joint, axis], rot[2 * k + 1, joint, axis] = step, -step
    with torch.no_grad():
        v = flame(torch.zeros(18, 0), torch.zeros(18, 0), rot)
    return (1000 * (v[0::2] - v[1::2]) / (2 * step)).reshape(9, -1).T


def solve_table(flame: FlameModel, names: list[str], targets: np.ndarray, trust: np.ndarray,
                iterations: int = ITERATIONS) -> ArkitTable:
    """Per action, the FLAME expression + jaw + eyes closest to ``targets`` (52, V, 3) over the
    ``trust`` (V,) weighted vertices: a ridge solve of the model linearised at rest, then
    L-BFGS on the full model (see the module text)."""
    n, n_exp = len(names), flame.n_expression
    w = torch.from_numpy(trust.astype(np.float32))
    w3 = w.repeat_interleave(3)[:, None]
    goal = torch.from_numpy((1000 * targets).astype(np.float32))  # millimetres
    looks = torch.tensor([[float(name.startswith("eyeLook"))] for name in names])  # only they turn the eyes

    a = torch.cat([1000 * flame.expression_dirs.T, _pose_columns(flame)], 1)  # (3V, E + 9)
    lhs = a.T @ (w3 * a) + torch.diag(torch.tensor([EXPRESSION_PRIOR] * n_exp + [POSE_PRIOR] * 9))
    rhs = a.T @ (w3 * goal.reshape(n, -1).T)  # (E + 9, 52)
    start = torch.zeros(n, n_exp + 9)
    for eyes_free in (False, True):
        rows = (looks[:, 0] > 0) == eyes_free
        keep = n_exp + 3 + 6 * eyes_free
        start[rows, :keep] = torch.linalg.solve(lhs[:keep, :keep], rhs[:keep, rows]).T
    expression = start[:, :n_exp].clone().requires_grad_(True)
    jaw = start[:, n_exp:n_exp + 3].clone().requires_grad_(True)
    eyes = start[:, n_exp + 3:].clone().requires_grad_(True)
    base = 1000 * flame.v_template
    no_shape = torch.zeros(n, 0)

    def residual():
        v = 1000 * flame(no_shape, expression, flame.pose(jaw=jaw, eyes=eyes * looks, batch=n))
        return v - base - goal

    def closure():
        opt.zero_grad()
        loss = (w[None, :, None] * residual() ** 2).sum() + EXPRESSION_PRIOR * (expression**2).sum()
        loss = loss + POSE_PRIOR * ((jaw**2).sum() + ((eyes * looks) ** 2).sum())
        loss.backward()
        return loss

    opt = torch.optim.LBFGS([expression, jaw, eyes], max_iter=iterations, history_size=20, line_search_fn="strong_wolfe")
    opt.step(closure)
    with torch.no_grad():
        err = (w[None, :, None] * residual() ** 2).sum((1, 2))
    energy = (w[None, :, None] * goal**2).sum((1, 2))
    peak = (goal.norm(dim=2) * (w > 0)).amax(1).numpy()
    reproduced = np.clip(1 - np.sqrt(err / energy.clamp_min(1e-12)).numpy(), 0, 1)
    reproduced[peak < MIN_PEAK_MM] = np.nan
    return ArkitTable(list(names), expression.detach().numpy(), jaw.detach().numpy(), (eyes * looks).detach().numpy(),
                      reproduced.astype(np.float32), peak.astype(np.float32))


def derive_arkit_table(flame: FlameModel, embedding: LandmarkEmbedding, iterations: int = ITERATIONS) -> ArkitTable:
    """The table for ``flame`` from the default head and its committed landmark embedding."""
    from headforge.headmodel.anny_head import load_head_model
    from headforge.headmodel.landmark_embedding import load_landmark_embedding

    anny = load_head_model()
    targets, trust = transfer_targets(flame, embedding, anny, load_landmark_embedding())
    return solve_table(flame, list(anny.action_names), targets, trust, iterations)


def table_path(model_file: Path, embedding: LandmarkEmbedding) -> Path:
    """Cache file of the table for this FLAME file (by content), embedding, and the default
    head's actions it transfers (new gains or folds derive it again)."""
    from headforge.headmodel.anny_head import load_head_model

    actions = hashlib.sha256(load_head_model().action_basis.tobytes()).hexdigest()[:16]
    tag = hashlib.sha256(f"{content_tag(model_file)}|{embedding.source}|{len(embedding.faces)}|{actions}".encode()).hexdigest()[:16]
    return cache_dir() / f"flame-arkit-v{TABLE_VERSION}-{tag}.npz"


def save_table(table: ArkitTable, path: Path) -> None:
    with atomic_file(path) as file:
        np.savez(file, names=np.array(table.names), expression=table.expression, jaw=table.jaw, eyes=table.eyes,
                 reproduced=table.reproduced, peak_mm=table.peak_mm)


def load_table(path: Path) -> ArkitTable:
    with np.load(path, allow_pickle=False) as z:
        return ArkitTable([str(s) for s in z["names"]], z["expression"], z["jaw"], z["eyes"], z["reproduced"], z["peak_mm"])


def arkit_table(flame: FlameModel, embedding: LandmarkEmbedding, model_file: Path) -> ArkitTable:
    """The cached table for this FLAME file, derived and stored on first use."""
    path = table_path(model_file, embedding)
    if path.is_file():
        try:
            table = load_table(path)
            if table.expression.shape[1] == flame.n_expression:
                return table
        except (OSError, KeyError, ValueError):
            pass  # unreadable: derived again below
    table = derive_arkit_table(flame, embedding)
    save_table(table, path)
    return table
