"""Expression folds: the bulges and grooves of the skin that anny's facial actions leave out.

A smile deepens the nasolabial fold: the cheek bulges over a groove that runs from beside the
nose wing to beside the mouth corner. anny's smile moves the skin smoothly and has no fold.

Each :class:`Fold` is a displacement along the surface normal whose profile depends on the
distance to a chain of mediapipe landmarks on the head posed with its action; it is added to
the action's basis, so it scales with the action's weight like the rest of the action, reaches
the GLB's morph targets and the page unchanged, and is exactly zero beyond ``REACH`` widths
from its chain (sparse morph targets stay sparse).

Units: metres; frame: the head frame (Y up, the face looks along +Z, +X is the person's left).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from headforge.core.geometry import interpolate, vertex_normals

REACH = 3.0  # a fold is cut to zero this many widths from its chain
END_FADE = 0.2  # share of the chain's length over which a fold fades in and out at its ends
MAX_TURN_DEG = 60.0  # a fold may leave a triangle tilted from the neutral head by at most this much


@dataclass(frozen=True)
class Fold:
    """One fold on one action.

    action: the ARKit action name it belongs to.
    chain: mediapipe landmark indices along the fold's groove.
    depth: metres, the bulge's height at weight 1; the groove sinks ``groove`` times as deep.
    width: metres, the profile's scale across the chain.
    side: +1 or -1, the bulge rises on the +X or -X side of the chain (the cheek's side).
    """

    action: str
    chain: tuple[int, ...]
    depth: float
    width: float
    side: int
    groove: float = 0.35


# Depth and width were chosen on six development portraits (docs/head_parts.md): deeper or wider
# read no better to FER2013's recogniser. The chains run from beside the nose
# wing to below and beside the mouth corner (the person's left, +X, then right).
FOLDS: tuple[Fold, ...] = (
    Fold("mouthSmileLeft", (423, 426, 436, 432, 434), depth=7e-3, width=5e-3, side=+1),
    Fold("mouthSmileRight", (203, 206, 216, 212, 214), depth=7e-3, width=5e-3, side=-1),
)


def _closest_on_chain(points: np.ndarray, chain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For (V, 3) ``points`` and a (K, 3) polyline: (V, 3) closest points on it and (V,) their
    arc-length position in [0, 1] from its first point."""
    a, b = chain[:-1], chain[1:]
    seg = b - a
    length = np.linalg.norm(seg, axis=1)
    t = np.clip(np.einsum("vsc,sc->vs", points[:, None] - a[None], seg) / length**2, 0.0, 1.0)  # (V, S)
    q = a[None] + t[..., None] * seg[None]
    best = np.linalg.norm(points[:, None] - q, axis=2).argmin(1)
    rows = np.arange(len(points))
    start = np.concatenate([[0.0], np.cumsum(length)[:-1]])
    return q[rows, best], (start[best] + t[rows, best] * length[best]) / length.sum()


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def fold_displacement(fold: Fold, vertices: np.ndarray, faces: np.ndarray, skin: np.ndarray,
                      landmarks: np.ndarray) -> np.ndarray:
    """(V, 3) displacement of ``fold`` at weight 1 on the head posed with its action.

    vertices: (V, 3) posed head; faces: (F, 3); skin: (V,) bool, the vertices that may move;
    landmarks: (478, 3) mediapipe landmarks on the posed head.

    The profile at signed distance r (in widths; positive on the fold's ``side``) is a bulge
    ``depth * r^2 * exp(1 - r^2)`` (zero with zero slope on the chain, highest one width out)
    over a groove ``-groove * depth * exp(-(d / width)^2)`` at distance d from the chain; it
    fades in over the chain's first and last ``END_FADE`` of length.
    """
    q, u = _closest_on_chain(vertices, landmarks[list(fold.chain)])
    offset = vertices - q
    d = np.linalg.norm(offset, axis=1)
    r = np.maximum(offset[:, 0] * fold.side, 0.0) / fold.width
    profile = r**2 * np.exp(1.0 - r**2) - fold.groove * np.exp(-((d / fold.width) ** 2))
    weight = fold.depth * profile * _smoothstep(u / END_FADE) * _smoothstep((1.0 - u) / END_FADE)
    weight[(d > REACH * fold.width) | ~skin] = 0.0
    return (weight[:, None] * vertex_normals(vertices, faces)).astype(np.float32)


def _face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F, 3) unit face normals."""
    t = vertices[faces]
    n = np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0])
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-30)


def limit_turn(rest: np.ndarray, posed: np.ndarray, faces: np.ndarray, displacement: np.ndarray,
               max_turn_deg: float = MAX_TURN_DEG, steps: int = 20) -> np.ndarray:
    """(V, 3) ``displacement`` of the (V, 3) ``posed`` head scaled down, 20 % a step for
    ``steps`` steps and then to zero, at the corners of every triangle it would leave tilted by
    more than ``max_turn_deg`` from its direction on the (V, 3) ``rest`` head (or tilts further,
    where the pose alone already does). The mesh is coarser (3-4 mm edges on the cheek) than a
    steep fold, whose flank would otherwise turn triangles over: dark cracks in Blender."""
    base = _face_normals(rest, faces)
    limit = np.minimum(np.einsum("fc,fc->f", base, _face_normals(posed, faces)), np.cos(np.radians(max_turn_deg)))
    d = displacement.copy()
    for step in range(2 * steps):
        turned = np.einsum("fc,fc->f", base, _face_normals(posed + d, faces)) < limit - 1e-6
        if not turned.any():
            break
        d[np.unique(faces[turned])] *= 0.8 if step < steps else 0.0
    return d


def with_folds(action_basis: np.ndarray, action_names: list[str], template: np.ndarray, faces: np.ndarray,
               skin: np.ndarray, landmark_faces: np.ndarray, landmark_bary: np.ndarray,
               folds: tuple[Fold, ...] = FOLDS) -> np.ndarray:
    """(52, V, 3) ``action_basis`` with each fold added to its action's row.

    template: (V, 3) neutral head; faces: (F, 3); skin: (V,) bool; landmark_faces (478,) and
    landmark_bary (478, 3): where mediapipe's landmarks lie on the mesh. Each fold is shaped on
    the template posed with its action at weight 1 and kept from turning its triangles over
    (:func:`limit_turn`).

    >>> import numpy as np
    >>> v = np.array([[0, 0, 0], [0.02, 0, 0], [0, 0.04, 0], [0.012, 0.01, 0]], np.float32)
    >>> f = np.array([[0, 1, 2]]); lm_faces = np.zeros(478, np.int32)
    >>> bary = np.tile([[0.5, 0.5, 0.0]], (478, 1)); bary[1] = [0.0, 0.5, 0.5]
    >>> fold = Fold("mouthSmileLeft", (0, 1), depth=1e-3, width=2e-3, side=1)  # x = 0.01, y 0 to 0.02
    >>> out = with_folds(np.zeros((1, 4, 3), np.float32), ["mouthSmileLeft"], v, f, np.ones(4, bool), lm_faces, bary, (fold,))
    >>> out.shape, bool(np.all(out[0, :3] == 0)), round(float(out[0, 3, 2]) * 1000, 2)  # one width out on +X: the bulge
    ((1, 4, 3), True, 0.87)
    """
    basis = action_basis.copy()
    for fold in folds:
        row = action_names.index(fold.action)
        posed = template + action_basis[row]
        landmarks = interpolate(posed, faces[landmark_faces], landmark_bary)
        basis[row] += limit_turn(template, posed, faces, fold_displacement(fold, posed, faces, skin, landmarks))
    return basis
