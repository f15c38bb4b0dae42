"""The default head model: anny's MakeHuman head as a linear shape + expression model.

anny (Apache-2.0 code, CC0 data) builds the head from phenotype blendshapes, ~150 local
"semantic" shape changes and 52 ARKit-named facial actions. At set-up time
:func:`build_cache` runs anny once and stores the blendshapes that reach the head, in our frame,
as a single ``.npz``; at run time :func:`load_head_model` reads that file (tens of ms), so the
reconstruction path does not import anny.

Head frame: metres, Y up, the face looks along +Z, origin at eye height in the middle of the head.
anny's rest frame is Blender's (Z up, the face looks along -Y): (x, y, z) -> (x, z, -y).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from headforge.errors import ModelError
from headforge.paths import cache_dir
from headforge.headmodel.folds import with_folds
from headforge.headmodel.landmark_embedding import load_landmark_embedding
from headforge.headmodel.uv_layout import repack_head_uvs
from headforge.core.files import atomic_file

MODEL_NAME = "anny-head"
CACHE_VERSION = 3
FACE_MAGNIFY = 5.0  # radial magnification of the face in the texture layout (see uv_layout)
ANNY_KWARGS = dict(rig="makehuman-head", topology="head", local_changes="all", facial_actions="all")
# Local changes whose largest displacement on the head stays under this (metres) are dropped.
MIN_EFFECT_M = 1e-4
PHENOTYPE_STEP = 0.25
# anny's face units move the brows, the nose and the lip corners less than a face does at an
# action unit's maximum (FACS intensity E): the inner brow rises 5 mm, the nose wrinkles 5 mm,
# the lip corners drop 7 mm. These gains bring each action's largest displacement to roughly
# 8-10 mm, so an ARKit weight of 1 is a full expression, as ARKit means it; the cheek raise,
# faint on a face without wrinkles, 1.6 times anny's, the smile 1.4 times (at 1.6 a full smile
# turns triangles of the cheek over beside the mouth, dark cracks in Blender).
# A triple scales X, Y and Z apart: the frown (AU4) lowers the brows 2.1 times anny's but draws
# them together only 1.3 times, as more pulls the skin between them through itself.
ACTION_GAINS: dict[str, float | tuple[float, float, float]] = {
    "browInnerUp": 1.8, "browOuterUp": 1.4, "browDown": (1.3, 2.1, 2.1), "noseSneer": 1.8, "mouthFrown": 1.6,
    "mouthUpperUp": 1.5, "mouthLowerDown": 1.6, "cheekSquint": 1.6, "eyeSquint": 1.3, "mouthStretch": 1.2,
    "mouthDimple": 1.3, "mouthSmile": 1.4,
}


def cache_path() -> Path:
    return cache_dir() / f"{MODEL_NAME}-v{CACHE_VERSION}.npz"


@dataclass
class HeadModel:
    """A linear head model; all arrays float32 in the head frame unless noted.

    template: (V, 3) neutral head with every identity parameter at its default.
    faces: (F, 3) int32; uvs: (T, 2) OBJ-convention texture coordinates; face_uvs: (F, 3) int32.
    phenotype_basis: (P, V, 3) change per unit of each phenotype around its default 0.5.
    local_pos, local_neg: (L, V, 3) change per unit of each local shape change, for positive
        and negative values (anny's convention: value v moves by relu(v)*pos + relu(-v)*neg).
    action_basis: (52, V, 3) change per unit of each ARKit facial action, in [0, 1] (anny's
        face units scaled by ``ACTION_GAINS``, with the smile's folds from
        :mod:`headforge.headmodel.folds`).
    """

    name: str
    version: str
    template: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray
    face_uvs: np.ndarray
    phenotype_names: list[str]
    phenotype_basis: np.ndarray
    local_names: list[str]
    local_pos: np.ndarray
    local_neg: np.ndarray
    action_names: list[str]
    action_basis: np.ndarray

    @property
    def identity_size(self) -> int:
        return len(self.phenotype_names) + len(self.local_names)

    def identity_vertices(self, phenotypes: np.ndarray, local: np.ndarray) -> np.ndarray:
        """(V, 3) neutral-expression vertices for (P,) phenotypes in [0, 1] and (L,) local
        changes in [-1, 1]."""
        p = np.asarray(phenotypes, np.float32) - 0.5
        c = np.asarray(local, np.float32)
        return (
            self.template
            + np.tensordot(p, self.phenotype_basis, 1)
            + np.tensordot(np.maximum(c, 0), self.local_pos, 1)
            + np.tensordot(np.maximum(-c, 0), self.local_neg, 1)
        )


def build_cache(path: Path | None = None) -> Path:
    """Run anny once and write the head model's ``.npz`` (set-up step; ~1 min on a cold anny
    cache, seconds when anny's own cache is warm)."""
    import anny
    import torch

    path = path or cache_path()
    model = anny.Anny(**ANNY_KWARGS)
    labels_p = list(model.phenotype_labels)
    labels_l = list(model.local_change_labels)
    n_p, n_a, n_l = len(labels_p), len(model.facial_action_labels), len(labels_l)

    def rest(phen, local, actions):
        with torch.no_grad():
            coeffs = model._get_phenotype_blendshape_coefficients(phen, local, actions)
            return model.get_rest_vertices(coeffs).double().numpy()

    zeros_l = torch.zeros(1, n_l, dtype=model.dtype)
    zeros_a = torch.zeros(1, n_a, dtype=model.dtype)
    half = torch.full((1, n_p), 0.5, dtype=model.dtype)
    base = rest(half, zeros_l, zeros_a)[0]

    phen = half.repeat(2 * n_p, 1)
    for i in range(n_p):
        phen[2 * i, i] += PHENOTYPE_STEP
        phen[2 * i + 1, i] -= PHENOTYPE_STEP
    v = rest(phen, zeros_l.expand(2 * n_p, -1), zeros_a.expand(2 * n_p, -1))
    phenotype_basis = (v[0::2] - v[1::2]) / (2 * PHENOTYPE_STEP)

    eye = torch.eye(n_l, dtype=model.dtype)
    pos = rest(half.expand(n_l, -1), eye, zeros_a.expand(n_l, -1)) - base
    neg = rest(half.expand(n_l, -1), -eye, zeros_a.expand(n_l, -1)) - base
    acts = rest(half.expand(n_a, -1), zeros_l.expand(n_a, -1), torch.eye(n_a, dtype=model.dtype)) - base

    # Phenotypes and body changes also move the head as a whole (a taller body lifts it):
    # the fit has its own translation, so keep only the change of shape.
    phenotype_basis -= phenotype_basis.mean(axis=1, keepdims=True)
    pos -= pos.mean(axis=1, keepdims=True)
    neg -= neg.mean(axis=1, keepdims=True)
    effect = np.maximum(np.abs(pos).max(axis=(1, 2)), np.abs(neg).max(axis=(1, 2)))
    keep = np.flatnonzero(effect > MIN_EFFECT_M)

    def to_head_frame(x: np.ndarray) -> np.ndarray:
        return np.stack([x[..., 0], x[..., 2], -x[..., 1]], axis=-1)

    template = to_head_frame(base)
    faces = model.get_triangular_faces().numpy().astype(np.int32)
    eyes = np.flatnonzero(eyeball_vertices(faces, len(template)))
    origin = np.array(
        [
            0.5 * (template[:, 0].min() + template[:, 0].max()),
            template[eyes, 1].mean(),
            0.5 * (template[:, 2].min() + template[:, 2].max()),
        ]
    )
    uvs = model.texture_coordinates.numpy()
    face_uvs = model.face_texture_coordinate_indices.numpy().astype(np.int32)
    with atomic_file(path) as file:
        np.savez(
            file,
            version=np.array(f"anny-{anny.__version__}/cache-{CACHE_VERSION}"),
            template=(template - origin).astype(np.float32),
            faces=faces,
            uvs=repack_head_uvs(uvs, face_uvs, _face_centre_uv(template, faces, uvs, face_uvs), FACE_MAGNIFY).astype(np.float32),
            face_uvs=face_uvs,
            phenotype_names=np.array(labels_p),
            phenotype_basis=to_head_frame(phenotype_basis).astype(np.float32),
            local_names=np.array([labels_l[i] for i in keep]),
            local_pos=to_head_frame(pos[keep]).astype(np.float32),
            local_neg=to_head_frame(neg[keep]).astype(np.float32),
            action_names=np.array(model.facial_action_labels),
            action_basis=to_head_frame(acts).astype(np.float32),
        )
    return path


def _face_centre_uv(vertices: np.ndarray, faces: np.ndarray, uvs: np.ndarray, face_uvs: np.ndarray) -> np.ndarray:
    """Texture coordinate of the face's centre: a little above the nose tip (max +Z vertex)."""
    tip = vertices[:, 2].argmax()
    target = vertices[tip] + np.array([0.0, 0.015, -0.02])
    nearest = np.linalg.norm(vertices - target, axis=1).argmin()
    corner = np.argwhere(faces == nearest)[0]
    return uvs[face_uvs[corner[0], corner[1]]]


def mesh_components(faces: np.ndarray, n_vertices: int) -> np.ndarray:
    """(V,) component rank of each vertex: 0 = the largest connected part (the skin), then
    the mouth interior (teeth/tongue), then the two eyeballs."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]]])
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n_vertices,) * 2)
    _, labels = connected_components(graph, directed=False)
    rank = np.empty(labels.max() + 1, np.int64)
    rank[np.argsort(-np.bincount(labels))] = np.arange(len(rank))
    return rank[labels]


def eyeball_vertices(faces: np.ndarray, n_vertices: int) -> np.ndarray:
    """(V,) bool: vertices of the two eyeballs (the third and fourth largest parts)."""
    return np.isin(mesh_components(faces, n_vertices), [2, 3])


def _with_gains(basis: np.ndarray, names: list[str]) -> np.ndarray:
    """(52, V, 3) ``basis`` with each action scaled by its ``ACTION_GAINS`` entry (by name without
    the Left/Right side)."""
    gains = np.array([np.broadcast_to(ACTION_GAINS.get(n.removesuffix("Left").removesuffix("Right"), 1.0), 3)
                      for n in names], np.float32)
    return basis * gains[:, None, :]


def _action_basis(z) -> np.ndarray:
    """(52, V, 3) actions of the cache ``z`` with their gains and expression folds."""
    names = [str(s) for s in z["action_names"]]
    template, faces = z["template"], z["faces"]
    lm_faces, lm_bary = load_landmark_embedding()
    skin = mesh_components(faces, len(template)) == 0
    return with_folds(_with_gains(z["action_basis"], names), names, template, faces, skin, lm_faces, lm_bary)


@lru_cache(maxsize=1)
def load_head_model() -> HeadModel:
    """The default head model from the set-up cache (builds it if missing)."""
    path = cache_path()
    if not path.is_file():
        build_cache(path)
    try:
        with np.load(path) as z:
            return HeadModel(
                name=MODEL_NAME,
                version=str(z["version"]),
                template=z["template"],
                faces=z["faces"],
                uvs=z["uvs"],
                face_uvs=z["face_uvs"],
                phenotype_names=[str(s) for s in z["phenotype_names"]],
                phenotype_basis=z["phenotype_basis"],
                local_names=[str(s) for s in z["local_names"]],
                local_pos=z["local_pos"],
                local_neg=z["local_neg"],
                action_names=[str(s) for s in z["action_names"]],
                action_basis=_action_basis(z),
            )
    except (OSError, KeyError, ValueError) as e:
        raise ModelError(f"the head model cache {path} is unreadable ({e}); delete it and run set-up") from e
