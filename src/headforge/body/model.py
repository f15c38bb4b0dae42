"""anny's full body with MakeHuman's Mixamo rig, in the rest pose, for given phenotypes.

anny (Apache-2.0 code, CC0 data) builds the whole MakeHuman body (13,718 vertices with eyes and
tongue, nudity edits on) and its ``rig.mixamo.json`` skeleton with Blender bone frames (bone
+Y from head to tail, with the rig's rolls). The model data is built once by anny into its
own cache (``headforge setup``: minutes cold, ~2 s after); here it is loaded on first use.

Body frame (the avatar's, glTF's): metres, Y up, the body faces +Z, the origin on the floor
between the feet. anny's rest frame is Blender's (Z up, facing -Y): (x, y, z) -> (x, z, -y).
The head model's vertices are a subset of the body's (:attr:`RestBody.head_vertices`).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from headforge.body.rig import rpm_name
from headforge.errors import ModelError
from headforge.paths import cache_dir

ANNY_BODY_KWARGS = dict(rig="mixamo", topology="anny", facial_actions="none")
# Blender (Z up, facing -Y) -> glTF (Y up, facing +Z): (x, y, z) -> (x, z, -y).
TO_GLTF = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
PHENOTYPES = ("gender", "age", "muscle", "weight", "height", "proportions")
MAX_INFLUENCES = 4  # glTF JOINTS_0/WEIGHTS_0
HEAD_MAP_VERSION = 1
_lock = threading.Lock()


@dataclass
class RestBody:
    """The body in its rest (A-) pose, body frame.

    vertices: (V, 3) float32 metres; faces: (F, 3) int32, counter-clockwise from outside;
    bone_names: (J,) Ready Player Me/Mixamo names, parents before children; parents: (J,)
    int, -1 for the root (Hips); world: (J, 4, 4) float64 rest bone-to-body transforms
    (columns: bone axes, +Y along the bone); joints: (V, 4) int bone indices with weights:
    (V, 4) float32 summing to 1; head_vertices: (H,) int, the body vertex of each vertex of
    the head model (:mod:`headforge.headmodel.anny_head`).
    """

    vertices: np.ndarray
    faces: np.ndarray
    bone_names: list[str]
    parents: np.ndarray
    world: np.ndarray
    joints: np.ndarray
    weights: np.ndarray
    head_vertices: np.ndarray

    def bone(self, name: str) -> int:
        return self.bone_names.index(name)


@lru_cache(maxsize=1)
def _body_model():
    """anny's body model (its model data cached by anny)."""
    try:
        import anny

        with _lock:
            return anny.Anny(**ANNY_BODY_KWARGS)
    except (ImportError, OSError, ValueError) as e:
        raise ModelError(f"anny's body model could not be loaded ({e}); run `headforge setup`") from e


def head_map_path() -> Path:
    return cache_dir() / f"anny-body-head-vertices-v{HEAD_MAP_VERSION}.npy"


@lru_cache(maxsize=1)
def head_vertices() -> np.ndarray:
    """(H,) int64: the body vertex of each head-model vertex, by their MakeHuman base-mesh
    vertex; cached in ``head_map_path()`` (anny's head model loads only to build it)."""
    path = head_map_path()
    if path.is_file():
        return np.load(path, allow_pickle=False)
    import anny

    from headforge.headmodel.anny_head import ANNY_KWARGS

    base_body = _body_model().base_mesh_vertex_indices.numpy()
    base_head = anny.Anny(**ANNY_KWARGS).base_mesh_vertex_indices.numpy()
    order = np.argsort(base_body)
    found = order[np.searchsorted(base_body[order], base_head)]
    if not np.array_equal(base_body[found], base_head):
        raise ModelError("anny's head is not a part of its body mesh")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, found.astype(np.int64))
    os.replace(tmp, path)
    return found.astype(np.int64)


def build_cache() -> None:
    """Have anny build (and cache) the body model data, and map the head onto it (set-up step;
    minutes cold, seconds after)."""
    _body_model()
    head_vertices()


def rest_body(phenotypes: dict[str, float]) -> RestBody:
    """The rest body for ``phenotypes`` ({name: value in [0, 1]}, missing names at 0.5; see
    ``PHENOTYPES``)."""
    import torch

    body = _body_model()
    values = {k: float(np.clip(phenotypes.get(k, 0.5), 0.0, 1.0)) for k in body.phenotype_labels}
    with torch.no_grad():
        phen = torch.tensor([[values[k] for k in body.phenotype_labels]], dtype=body.dtype)
        none = torch.zeros(1, 0, dtype=body.dtype)
        rest = body.get_rest_model(body._get_phenotype_blendshape_coefficients(phen, none, none))
    vertices = rest["rest_vertices"][0].double().numpy() @ TO_GLTF.T
    poses = rest["rest_bone_poses"][0].double().numpy()
    floor = np.array([0.0, vertices[:, 1].min(), 0.0])
    world = np.tile(np.eye(4), (len(poses), 1, 1))
    world[:, :3, :3] = TO_GLTF @ poses[:, :3, :3]
    world[:, :3, 3] = poses[:, :3, 3] @ TO_GLTF.T - floor
    world[0, :3, :3] = np.eye(3)  # the root (Hips): +Y up, +Z forward, as a Blender vertical bone
    names = [rpm_name(label) for label in body.bone_labels]
    weights = body.vertex_bone_weights.double().numpy()
    indices = body.vertex_bone_indices.numpy()
    top = np.argsort(-weights, axis=1)[:, :MAX_INFLUENCES]
    w = np.take_along_axis(weights, top, 1)
    w /= w.sum(axis=1, keepdims=True)
    return RestBody(
        vertices=(vertices - floor).astype(np.float32),
        faces=body.get_triangular_faces().numpy().astype(np.int32),
        bone_names=names,
        parents=np.array(body.bone_parents, np.int64),
        world=world,
        joints=np.take_along_axis(indices, top, 1).astype(np.int64),
        weights=w.astype(np.float32),
        head_vertices=head_vertices(),
    )
