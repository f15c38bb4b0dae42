"""FLAME (Li et al. 2017, "Learning a model of facial shape and expression from 4D scans") as one
small torch model: linear shape and expression blend shapes, pose-corrective blend shapes and
linear blend skinning over five joints.

Read from the official ``.pkl`` (FLAME 2020 ``generic_model.pkl``, FLAME 2023 ``flame2023.pkl``;
their chumpy objects are read by :mod:`headforge.backends.pickle_safe` without chumpy) or from an
``.npz`` holding the same arrays: ``v_template`` (V, 3), ``shapedirs`` (V, 3, 300 + E: shape
then expression), ``posedirs`` (V, 3, 36), ``J_regressor`` (5, V), ``weights`` (V, 5),
``kintree_table`` (2, 5), ``f`` (F, 3).

Joints, FLAME's order: 0 global (root), 1 neck, 2 jaw, 3 and 4 the eyeballs. A pose is (5, 3)
axis-angle rotations, each relative to its parent. Vertices are moved into headforge's head frame
(metres, Y up, the face along +Z) with the origin at eye height in the middle of the head.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from headforge.backends.pickle_safe import load_pickle
from headforge.core.geometry import rotation_matrices

SHAPE_COMPONENTS = 300
JOINT_NAMES = ("global", "neck", "jaw", "eye_0", "eye_1")
REQUIRED = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")


@dataclass
class FlameModel:
    """FLAME's arrays as float32 tensors (V vertices, J = 5 joints, K = 300 shape + E expression).

    v_template (V, 3); shapedirs (V, 3, K); posedirs (V, 3, 9 (J - 1)); j_regressor (J, V);
    weights (V, J); parents: J parent indices (-1 for the root); faces (F, 3) int32 numpy;
    version: "2020", "2023" or the file's name.
    """

    v_template: torch.Tensor
    shapedirs: torch.Tensor
    posedirs: torch.Tensor
    j_regressor: torch.Tensor
    weights: torch.Tensor
    parents: tuple[int, ...]
    faces: np.ndarray
    version: str

    def __post_init__(self):
        n, k = self.shapedirs.shape[0], self.shapedirs.shape[2]
        # Flattened bases (components x 3V): one matrix product per blend.
        self._dirs = self.shapedirs.permute(2, 0, 1).reshape(k, 3 * n).contiguous()
        self._posedirs = self.posedirs.permute(2, 0, 1).reshape(-1, 3 * n).contiguous()
        self._j_template = self.j_regressor @ self.v_template  # (J, 3)
        self._j_dirs = torch.einsum("jv,vck->kjc", self.j_regressor, self.shapedirs).reshape(k, -1)  # (K, 3J)

    @property
    def n_shape(self) -> int:
        return SHAPE_COMPONENTS

    @property
    def n_expression(self) -> int:
        return self.shapedirs.shape[2] - SHAPE_COMPONENTS

    @property
    def expression_dirs(self) -> torch.Tensor:
        """(E, 3V) the expression blend shapes, flattened (x, y, z of vertex 0, then 1, ...)."""
        return self._dirs[SHAPE_COMPONENTS:]

    @property
    def template(self) -> np.ndarray:
        """(V, 3) float32 neutral mean head."""
        return self.v_template.numpy()

    def _betas(self, shape: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
        """(B, K): the given leading shape and expression coefficients, zeros elsewhere."""
        batch, s, e = shape.shape[0], shape.shape[1], expression.shape[1]
        pad = lambda m: torch.zeros(batch, m, dtype=shape.dtype)  # noqa: E731
        return torch.cat([shape, pad(SHAPE_COMPONENTS - s), expression, pad(self.n_expression - e)], 1)

    def joints(self, shape: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
        """(B, J, 3) rest joints for (B, S) shape and (B, E') expression coefficients."""
        betas = self._betas(shape, expression)
        return self._j_template + (betas @ self._j_dirs).view(len(betas), -1, 3)

    def forward(self, shape: torch.Tensor, expression: torch.Tensor, pose: torch.Tensor,
                vertex_ids: torch.Tensor | None = None) -> torch.Tensor:
        """(B, N, 3) posed vertices (all V, or the N ``vertex_ids``).

        shape: (B, S) with S <= 300, the first S shape components; expression: (B, E') with
        E' <= E, the first E' expression components; pose: (B, J, 3) axis-angle per joint.
        """
        batch = shape.shape[0]
        betas = self._betas(shape, expression)
        if vertex_ids is None:
            template, dirs, posedirs, weights = self.v_template, self._dirs, self._posedirs, self.weights
        else:
            cols = (3 * vertex_ids[:, None] + torch.arange(3)).reshape(-1)
            template, dirs = self.v_template[vertex_ids], self._dirs[:, cols]
            posedirs, weights = self._posedirs[:, cols], self.weights[vertex_ids]
        rot = rotation_matrices(pose)  # (B, J, 3, 3)
        feature = (rot[:, 1:] - torch.eye(3, dtype=rot.dtype)).reshape(batch, -1)
        v = template + (betas @ dirs + feature @ posedirs).view(batch, -1, 3)
        world = self._world_transforms(rot, self._j_template + (betas @ self._j_dirs).view(batch, -1, 3))
        t = (weights @ world.reshape(batch, -1, 16)).view(batch, -1, 4, 4)  # (B, N, 4, 4)
        return (t[..., :3, :3] @ v[..., None])[..., 0] + t[..., :3, 3]

    __call__ = forward

    def _world_transforms(self, rot: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
        """Each joint's rest -> posed transform (B, J, 4, 4) along the kinematic chain."""
        batch, n = joints.shape[:2]
        bottom = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=rot.dtype).expand(batch, 1, 4)
        chain: list[torch.Tensor] = []
        for j, parent in enumerate(self.parents):
            offset = joints[:, j] if parent < 0 else joints[:, j] - joints[:, parent]
            local = torch.cat([torch.cat([rot[:, j], offset[:, :, None]], 2), bottom], 1)
            chain.append(local if parent < 0 else chain[parent] @ local)
        world = torch.stack(chain, 1)
        moved = world[..., :3, 3] - torch.einsum("bjxy,bjy->bjx", world[..., :3, :3], joints)
        return torch.cat([torch.cat([world[..., :3, :3], moved[..., None]], 3), world[..., 3:, :]], 2)

    def pose(self, neck=None, jaw=None, eyes=None, batch: int = 1) -> torch.Tensor:
        """(B, J, 3) pose from optional (B, 3) neck, (B, 3) jaw and (B, 6) eye rotations; the
        global rotation stays zero (the camera carries the head's orientation)."""
        zero = torch.zeros(batch, 3)
        eyes = torch.zeros(batch, 6) if eyes is None else eyes
        parts = [zero, zero if neck is None else neck, zero if jaw is None else jaw, eyes[:, :3], eyes[:, 3:]]
        return torch.stack(parts, 1)


def _version(path: Path, arrays: dict) -> str:
    if "version" in arrays:
        return str(np.asarray(arrays["version"]))
    name = path.name.lower()
    if "2023" in name:
        return "2023"
    return "2020" if name.startswith(("generic_model", "flame_neutral", "male_model", "female_model")) else path.stem


def read_flame_arrays(path: Path) -> dict:
    """The FLAME arrays of a ``.pkl`` (safe unpickling) or ``.npz`` (no pickles) file, as numpy.
    Raises KeyError / ValueError / pickle errors for a file that is not a FLAME model."""
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    else:
        arrays = load_pickle(path)
        if not isinstance(arrays, dict):
            raise ValueError(f"holds a {type(arrays).__name__}, not FLAME's dict of arrays")
    missing = [k for k in REQUIRED if k not in arrays]
    if missing:
        raise KeyError(f"no {', '.join(missing)}")
    return arrays


def flame_from_arrays(arrays: dict, version: str) -> FlameModel:
    """Check the arrays' shapes, move the head into the head frame and build the model."""
    def dense(x) -> np.ndarray:
        return np.asarray(x.toarray() if hasattr(x, "toarray") else x, np.float64)

    v = dense(arrays["v_template"])
    n = len(v)
    shapedirs, posedirs = dense(arrays["shapedirs"]), dense(arrays["posedirs"])
    regressor, weights = dense(arrays["J_regressor"]), dense(arrays["weights"])
    kintree = np.asarray(arrays["kintree_table"]).astype(np.int64)
    faces = np.asarray(arrays["f"]).astype(np.int64)
    joints = kintree.shape[1]
    expected = {
        "v_template": (v.shape, (n, 3)),
        "shapedirs": (shapedirs.shape[:2], (n, 3)),
        "posedirs": (posedirs.shape, (n, 3, 9 * (joints - 1))),
        "J_regressor": (regressor.shape, (joints, n)),
        "weights": (weights.shape, (n, joints)),
        "kintree_table": (kintree.shape, (2, len(JOINT_NAMES))),
    }
    for name, (got, want) in expected.items():
        if tuple(got) != want:
            raise ValueError(f"{name} has shape {tuple(got)}, expected {want}")
    if shapedirs.shape[2] <= SHAPE_COMPONENTS:
        raise ValueError(f"shapedirs has {shapedirs.shape[2]} components, expected 300 shape + expression")
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.min() < 0 or faces.max() >= n:
        raise ValueError("f is not a triangle list over the vertices")
    parents = [int(p) if 0 <= p < joints else -1 for p in kintree[0]]
    if parents[0] != -1 or any(not 0 <= p < j for j, p in enumerate(parents) if j):
        raise ValueError(f"kintree_table {kintree[0].tolist()} is not a chain rooted at joint 0")
    # Head frame origin: eye height (the eyeball joints), middle of the head's bounding box.
    eyes = (regressor @ v)[3:5]
    origin = np.array([(v[:, 0].min() + v[:, 0].max()) / 2, eyes[:, 1].mean(), (v[:, 2].min() + v[:, 2].max()) / 2])
    t = lambda x: torch.from_numpy(np.ascontiguousarray(x, np.float32))  # noqa: E731
    return FlameModel(t(v - origin), t(shapedirs), t(posedirs), t(regressor), t(weights), tuple(parents),
                      faces.astype(np.int32), version)


def load_flame(path: Path) -> FlameModel:
    """FLAME from a ``.pkl`` or ``.npz`` file (errors as in :func:`read_flame_arrays`)."""
    arrays = read_flame_arrays(path)
    return flame_from_arrays(arrays, _version(path, arrays))
