"""The head's separate parts from anny's MakeHuman base mesh: teeth, tongue, eyes, mouth cavity, bust.

anny's base mesh (CC0) carries helper geometry beside the skin: both rows of teeth
(``helper-upper-teeth``, ``helper-lower-teeth``), the tongue (``helper-tongue``) and the eyeballs
(``helper-l-eye``, ``helper-r-eye``), and its face units (the 52 ARKit actions) move them: the
lower teeth and the tongue with the jaw, the tongue with tongueOut, the eyeballs with eyeLook*.
:func:`build_parts_cache` runs anny once at set-up (with all base-mesh vertices kept) and stores,
in the head model's frame (metres, Y up, face along +Z, same origin as
:mod:`headforge.headmodel.anny_head`):

- the teeth and tongue vertices at the default identity, their triangles and their per-action
  offsets (only the actions that move them);
- for each eye, the eyeball's centre and radius and, per eyeLook* action, the rotation (axis *
  angle, radians) that anny's face unit applies to it;
- ``cavity_faces``: the head faces anny's texture marks as the inside of the mouth
  (``data/mpfb2/textures/mpfb_inside-mouth.jpg``, a mask in the body's UV layout);
- the bust: the base mesh's neck, shoulders and upper chest, stitched to the head's neck
  (shared vertices).

At run time :func:`load_parts` reads that ``.npz`` (no anny import).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from headforge.errors import ModelError
from headforge.headmodel.anny_head import ANNY_KWARGS, load_head_model, mesh_components
from headforge.paths import cache_dir

PARTS_VERSION = 1
EYE_ACTIONS = ("eyeLookDown", "eyeLookIn", "eyeLookOut", "eyeLookUp")
MOVE_EPS_M = 1e-5  # an action moves a part when some vertex moves more than this (metres)
BUST_BOTTOM_M = -0.40  # head-frame height of the bust's horizontal cut (metres; eyes at 0)
BUST_HALF_WIDTH_M = 0.24  # the arms are cut at this |x| (metres), just outside the shoulders
WRAP_FALLOFF_M = 0.06  # how far down the bust the neck's change of shape reaches (metres)


def parts_cache_path() -> Path:
    return cache_dir() / f"anny-parts-v{PARTS_VERSION}.npz"


@dataclass(frozen=True)
class PartsModel:
    """Parts at the head model's default identity; float32, head frame, metres.

    teeth_vertices: (T, 3), upper row first (``teeth_lower`` (T,) bool marks the lower row);
    teeth_faces: (Ft, 3); tongue_vertices: (G, 3); tongue_faces: (Fg, 3).
    teeth_actions / tongue_actions: (52, T or G, 3) offsets per unit of each ARKit action.
    eye_centers: (2, 3) (left eye at +x first); eye_radius: (2,) metres;
    eye_rotations: (52, 2, 3) axis * angle (radians) per unit action, zero for non-eye actions.
    cavity_faces: (F,) bool over the head model's faces; helper_faces: (F,) bool, the head
    model's own tongue and eyeball faces (the parts replace them).
    tongue_head: (G,) the tongue's vertex indices in the head model; eye_head: (E,) the
    eyeballs' vertices there, eye_side (E,) 0 = left, 1 = right.
    bust_vertices: (B, 3); bust_faces: (Fb, 3) indices into the head model's vertices (< V)
    followed by the bust's own (V + i).
    """

    teeth_vertices: np.ndarray
    teeth_faces: np.ndarray
    teeth_lower: np.ndarray
    teeth_actions: np.ndarray
    tongue_vertices: np.ndarray
    tongue_faces: np.ndarray
    tongue_actions: np.ndarray
    eye_centers: np.ndarray
    eye_radius: np.ndarray
    eye_rotations: np.ndarray
    cavity_faces: np.ndarray
    helper_faces: np.ndarray
    tongue_head: np.ndarray
    eye_head: np.ndarray
    eye_side: np.ndarray
    bust_vertices: np.ndarray
    bust_faces: np.ndarray


def _quads_to_triangles(quads: np.ndarray) -> np.ndarray:
    """(Q, 4) quads (a repeated last index marks a triangle) -> (2Q or fewer, 3)."""
    tris = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    return tris[(tris[:, 0] != tris[:, 1]) & (tris[:, 1] != tris[:, 2]) & (tris[:, 0] != tris[:, 2])]


def _rotation_vector(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """(3,) axis * angle of the best rotation taking centred (N, 3) ``before`` to ``after``
    (Kabsch)."""
    u, _, vt = np.linalg.svd(after.T @ before)
    r = u @ np.diag([1, 1, np.sign(np.linalg.det(u @ vt))]) @ vt
    angle = np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1))
    if angle < 1e-9:
        return np.zeros(3)
    axis = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]]) / (2 * np.sin(angle))
    return axis * angle


def _sphere_fit(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Least-squares sphere through (N, 3) points: centre (3,), radius."""
    a = np.column_stack([2 * points, np.ones(len(points))])
    b = (points ** 2).sum(1)
    sol = np.linalg.lstsq(a, b, rcond=None)[0]
    centre = sol[:3]
    return centre, float(np.sqrt(sol[3] + centre @ centre))


def _cavity_mask(uvs: np.ndarray, face_uvs: np.ndarray, mask_path: Path) -> np.ndarray:
    """(F,) bool: faces whose texture-space centre falls inside anny's inside-of-mouth mask."""
    from PIL import Image

    mask = np.asarray(Image.open(mask_path).convert("L"), np.float32) / 255.0
    centre = uvs[face_uvs].mean(axis=1)
    h, w = mask.shape
    col = np.clip((centre[:, 0] * w).astype(int), 0, w - 1)
    row = np.clip(((1 - centre[:, 1]) * h).astype(int), 0, h - 1)
    return mask[row, col] > 0.5


def _bust(full: np.ndarray, body_tris: np.ndarray, head_vertex: np.ndarray, to_head: np.ndarray,
          n_head: int) -> tuple[np.ndarray, np.ndarray]:
    """The base mesh's body triangles between the head's neck and the bust cut, joined to the
    head. ``full``: (N, 3) base-mesh vertices, head frame; ``body_tris``: (K, 3) their skin
    triangles; ``head_vertex``: (N,) bool, in the head model; ``to_head``: (N,) head index or -1.
    Returns (B, 3) new vertices and (Fb, 3) faces (head vertices keep their index, the bust's
    own follow from ``n_head``)."""
    inside = (full[:, 1] > BUST_BOTTOM_M) & (np.abs(full[:, 0]) < BUST_HALF_WIDTH_M) & (full[:, 1] < 0.0)
    tris = body_tris[~head_vertex[body_tris].all(1) & inside[body_tris].all(1)]
    comp = mesh_components(tris, len(full))
    joined = np.unique(comp[tris[head_vertex[tris]]])
    tris = tris[np.isin(comp[tris[:, 0]], joined)]
    own = np.unique(tris[~head_vertex[tris]])
    index = to_head.copy()
    index[own] = n_head + np.arange(len(own))
    return full[own], index[tris]


def carry_bust(model: PartsModel, template: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """(B, 3) float64 bust vertices for a head whose (V, 3) ``vertices`` differ from the head
    model's ``template``: each follows the change of its nearest neck vertex, fading with the
    distance from it (``WRAP_FALLOFF_M``) into the neck's mean change (the shoulders keep
    their shape; a thicker neck widens the bust's top)."""
    faces = model.bust_faces
    neck = np.unique(faces[faces < len(template)])
    change = np.asarray(vertices, np.float64)[neck] - template[neck]
    own = model.bust_vertices.astype(np.float64)
    dist = np.linalg.norm(own[:, None] - template[neck][None], axis=2)
    nearest = dist.argmin(1)
    w = np.exp(-dist[np.arange(len(own)), nearest] / WRAP_FALLOFF_M)[:, None]
    return own + w * change[nearest] + (1 - w) * change.mean(0)


def _anny_rest(model) -> tuple[np.ndarray, np.ndarray]:
    """anny's (N, 3) rest vertices at the default identity and (52, N, 3) offsets per unit of
    each facial action (anny's frame)."""
    import torch

    n_p, n_a = len(model.phenotype_labels), len(model.facial_action_labels)
    half = torch.full((1, n_p), 0.5, dtype=model.dtype)
    none = torch.zeros(1, 0, dtype=model.dtype)
    with torch.no_grad():
        def rest(actions):
            coeffs = model._get_phenotype_blendshape_coefficients(
                half.expand(len(actions), -1), none.expand(len(actions), -1), actions)
            return model.get_rest_vertices(coeffs).double().numpy()

        base = rest(torch.zeros(1, n_a, dtype=model.dtype))[0]
        return base, rest(torch.eye(n_a, dtype=model.dtype)) - base


def build_parts_cache(path: Path | None = None) -> Path:
    """Run anny once (all base-mesh vertices kept) and write the parts' ``.npz`` (set-up step,
    about 40 s)."""
    import anny
    import torch
    from anny.paths import get_anny_root_dir
    from anny.utils.obj_utils import load_obj_file

    path = path or parts_cache_path()
    head = load_head_model()
    model = anny.Anny(**{**ANNY_KWARGS, "topology": "head-full", "local_changes": "none"})
    if list(model.facial_action_labels) != head.action_names:
        raise ModelError("anny's facial actions differ from the head model's; rebuild both caches")
    n_a = len(model.facial_action_labels)
    base, acts = _anny_rest(model)

    full, acts = _to_head_frame(base), _to_head_frame(acts)
    faces_full = model.get_triangular_faces().numpy()
    if faces_full.shape != head.faces.shape:
        raise ModelError("anny's head faces differ from the head model's; rebuild both caches")
    to_head = np.full(len(full), -1)
    to_head[faces_full.ravel()] = head.faces.ravel()
    on_head = to_head >= 0
    offset = full[on_head] - head.template[to_head[on_head]]
    if np.abs(offset - offset.mean(0)).max() > 1e-4:
        raise ModelError("anny's head vertices do not match the head model's; rebuild both caches")
    full -= offset.mean(0)

    root = Path(get_anny_root_dir()) / "data" / "mpfb2"
    _, _, groups = load_obj_file(str(root / "3dobjs" / "base.obj"), dtype=torch.float64)

    def group(name: str) -> tuple[np.ndarray, np.ndarray]:
        tris = _quads_to_triangles(groups[name]["face_vertex_indices"].numpy())
        ids = np.unique(tris)
        local = np.full(len(full), -1)
        local[ids] = np.arange(len(ids))
        return ids, local[tris]

    upper, upper_f = group("helper-upper-teeth")
    lower, lower_f = group("helper-lower-teeth")
    teeth = np.concatenate([upper, lower])
    tongue, tongue_f = group("helper-tongue")
    eye_centers, eye_radius, rotations = [], [], np.zeros((n_a, 2, 3))
    eye_head, eye_side = [], []
    for side, name in enumerate(("helper-l-eye", "helper-r-eye")):
        ids, _ = group(name)
        eye_head.append(to_head[ids][to_head[ids] >= 0])
        eye_side.append(np.full(len(eye_head[-1]), side))
        centre, radius = _sphere_fit(full[ids])
        eye_centers.append(centre)
        eye_radius.append(radius)
        for a in range(n_a):
            if np.abs(acts[a, ids]).max() > MOVE_EPS_M:
                rotations[a, side] = _rotation_vector(full[ids] - centre, full[ids] + acts[a, ids] - centre)
    bust_v, bust_f = _bust(full, _quads_to_triangles(groups["body"]["face_vertex_indices"].numpy()),
                                     on_head, to_head, len(head.template))
    cavity = _cavity_mask(model.texture_coordinates.numpy(), model.face_texture_coordinate_indices.numpy(),
                          root / "textures" / "mpfb_inside-mouth.jpg")
    f32 = np.float32
    _save(
        path,
        teeth_vertices=full[teeth].astype(f32),
        teeth_faces=np.concatenate([upper_f, lower_f + len(upper)]).astype(np.int32),
        teeth_lower=np.arange(len(teeth)) >= len(upper),
        teeth_actions=acts[:, teeth].astype(f32),
        tongue_vertices=full[tongue].astype(f32),
        tongue_faces=tongue_f.astype(np.int32),
        tongue_actions=acts[:, tongue].astype(f32),
        eye_centers=np.array(eye_centers, f32),
        eye_radius=np.array(eye_radius, f32),
        eye_rotations=rotations.astype(f32),
        cavity_faces=cavity,
        helper_faces=np.isin(faces_full, np.concatenate([tongue, *(group(n)[0] for n in ("helper-l-eye", "helper-r-eye"))])).all(1),
        tongue_head=to_head[tongue].astype(np.int32),
        eye_head=np.concatenate(eye_head).astype(np.int32),
        eye_side=np.concatenate(eye_side).astype(np.int8),
        bust_vertices=bust_v.astype(f32),
        bust_faces=bust_f.astype(np.int32),
    )
    return path


def _to_head_frame(x: np.ndarray) -> np.ndarray:
    """anny's rest frame (Blender's: Z up, face along -Y) -> the head frame."""
    return np.stack([x[..., 0], x[..., 2], -x[..., 1]], axis=-1)


def _save(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


@lru_cache(maxsize=1)
def load_parts() -> PartsModel:
    """The parts from the set-up cache (built on first use when missing)."""
    path = parts_cache_path()
    if not path.is_file():
        build_parts_cache(path)
    try:
        with np.load(path) as z:
            return PartsModel(**{name: z[name] for name in PartsModel.__dataclass_fields__})
    except (OSError, KeyError, ValueError, TypeError) as e:
        raise ModelError(f"the head parts cache {path} is unreadable ({e}); delete it and run set-up") from e
