"""FLAME's companion files: where the detected landmarks lie on its surface, and its UV layout.

Landmark embeddings (each gives, per landmark, a FLAME triangle and barycentric coordinates):
- derived (best): all 478 mediapipe points, made once from the user's own FLAME file by
  ``scripts/make_flame_embedding.py`` (render, detect, back-project) and kept in the cache;
- ``mediapipe_landmark_embedding.npz`` (flame.is.tue.mpg.de): 105 mediapipe points
  (``lmk_face_idx``, ``lmk_b_coords``, ``landmark_indices``);
- ``landmark_embedding.npy`` (DECA's data folder): FLAME's 68 iBUG points
  (``full_lmk_faces_idx`` (1, 68), ``full_lmk_bary_coords`` (1, 68, 3));
- ``flame_static_embedding.pkl`` (FLAME's TF/PyTorch code): iBUG points 17-67
  (``lmk_face_idx`` (51,), ``lmk_b_coords`` (51, 3)).
iBUG points are matched to mediapipe landmarks with :data:`MEDIAPIPE_IBUG68`.

UV layout: ``head_template_mesh.obj`` / DECA's ``head_template.obj`` (``vt`` and ``f v/vt``
records) or ``FLAME_texture.npz`` (``vt``, ``ft``), over FLAME's own triangles.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from headforge.backends.pickle_safe import load_npy, load_pickle
from headforge.paths import cache_dir
from headforge.core.geometry import interpolate

# The mediapipe landmark nearest each of the 68 iBUG points (jaw 0-16, brows 17-26, nose 27-35,
# eyes 36-47, mouth 48-67), left-right consistent; made by scripts/make_mediapipe_ibug68.py
# from mediapipe and dlib's 68-point model on the same 28 portraits (../shared/portraits).
MEDIAPIPE_IBUG68 = np.array([
    127, 234, 93, 215, 138, 136, 149, 148, 152, 377, 378, 365, 367, 435, 366, 447, 356,
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
    168, 197, 195, 4, 240, 97, 2, 326, 460,
    33, 160, 158, 155, 153, 144, 382, 385, 387, 263, 373, 380,
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181, 78, 82, 13, 312, 308, 317, 14, 87,
])  # fmt: skip

EMBEDDING_NAMES = ("mediapipe_landmark_embedding.npz", "landmark_embedding.npy", "flame_static_embedding.pkl")
UV_NAMES = ("head_template_mesh.obj", "head_template.obj", "FLAME_texture.npz")


def content_tag(path: Path) -> str:
    """16 hex digits of the file's sha256 (names the cache files derived from it)."""
    stat = path.stat()
    return _content_tag(path.resolve(), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=8)
def _content_tag(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def derived_embedding_path(model_file: Path) -> Path:
    """Cache file of the 478-point embedding made from this FLAME file."""
    return cache_dir() / f"flame-mediapipe478-{content_tag(model_file)}.npz"


@dataclass
class LandmarkEmbedding:
    """Detected landmarks on the model's surface.

    mediapipe: (N,) indices into mediapipe's 478 points; faces: (N,) int32 triangle per point;
    bary: (N, 3) float32 barycentric coordinates; source: the file it came from.
    """

    mediapipe: np.ndarray
    faces: np.ndarray
    bary: np.ndarray
    source: str

    def points(self, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
        """(N, 3) positions of the landmarks on the mesh (``vertices`` (V, 3), ``faces`` (F, 3))."""
        return interpolate(np.asarray(vertices), faces[self.faces], self.bary)


def read_embedding(path: Path, n_faces: int) -> LandmarkEmbedding:
    """One of the embedding files above (by name; a derived ``.npz`` has ``faces``, ``bary``).
    Raises KeyError / ValueError for a file without the expected content."""
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if "landmark_indices" in z.files:
                mp, faces, bary = z["landmark_indices"], z["lmk_face_idx"], z["lmk_b_coords"]
            else:
                faces, bary = z["faces"], z["bary"]
                mp = np.arange(len(faces))
    else:
        data = load_npy(path, ignore=("torch",)) if path.suffix == ".npy" else load_pickle(path, ignore=("torch",))
        if not isinstance(data, dict):
            raise ValueError(f"holds a {type(data).__name__}, not a dict of landmark arrays")
        if "full_lmk_faces_idx" in data:
            faces, bary, mp = data["full_lmk_faces_idx"], data["full_lmk_bary_coords"], MEDIAPIPE_IBUG68
        else:
            faces, bary, mp = data["lmk_face_idx"], data["lmk_b_coords"], MEDIAPIPE_IBUG68[17:]
    faces = np.asarray(faces).reshape(-1).astype(np.int64)
    bary = np.asarray(bary, np.float64).reshape(-1, 3)
    mp = np.asarray(mp).reshape(-1).astype(np.int64)
    if not len(faces) == len(bary) == len(mp) or len(faces) < 10:
        raise ValueError(f"{len(faces)} triangles, {len(bary)} barycentric triples, {len(mp)} landmark ids")
    if faces.min() < 0 or faces.max() >= n_faces or mp.min() < 0 or mp.max() >= 478:
        raise ValueError("triangle or landmark indices out of range for this FLAME mesh")
    bary = np.clip(bary, 0, None)
    bary /= np.maximum(bary.sum(1, keepdims=True), 1e-12)
    return LandmarkEmbedding(mp, faces.astype(np.int32), bary.astype(np.float32), path.name)


def read_uv_layout(path: Path, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(uvs (T, 2) float32, face_uvs (F, 3) int32) for FLAME's ``faces`` (F, 3). Raises
    ValueError when the file's triangles are not FLAME's."""
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            uvs, face_uvs = z["vt"], z["ft"]
        file_faces = None
    else:
        uvs, file_faces, face_uvs = _obj_uvs(path)
    uvs = np.asarray(uvs, np.float32).reshape(-1, 2)
    face_uvs = np.asarray(face_uvs).astype(np.int64).reshape(-1, 3)
    if face_uvs.shape != faces.shape or face_uvs.min() < 0 or face_uvs.max() >= len(uvs):
        raise ValueError(f"{len(face_uvs)} textured triangles for a FLAME mesh of {len(faces)}")
    if file_faces is not None and not np.array_equal(file_faces, faces):
        face_uvs = _reorder(file_faces, face_uvs, faces)
    return uvs, face_uvs.astype(np.int32)


def _reorder(file_faces: np.ndarray, file_uvs: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """The file's (F, 3) texture corners in the order of the model's own ``faces``, when the
    file lists the same triangles in another order or starting at another corner."""
    where = {tuple(sorted(f)): i for i, f in enumerate(file_faces.tolist())}
    out = np.zeros_like(file_uvs)
    for i, f in enumerate(faces.tolist()):
        j = where.get(tuple(sorted(f)))
        if j is None:
            raise ValueError("its triangles are not the FLAME model's")
        corner = {v: t for v, t in zip(file_faces[j].tolist(), file_uvs[j].tolist())}
        out[i] = [corner[v] for v in f]
    return out


def _obj_uvs(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``vt`` records and the (vertex, uv) corners of triangular ``f`` records, 0-based."""
    uvs, faces, face_uvs = [], [], []
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "vt":
            uvs.append([float(parts[1]), float(parts[2])])
        elif parts[0] == "f":
            corners = [c.split("/") for c in parts[1:]]
            if len(corners) != 3 or any(len(c) < 2 or not c[1] for c in corners):
                raise ValueError("needs triangles with texture coordinates (f v/vt ...)")
            faces.append([int(c[0]) - 1 for c in corners])
            face_uvs.append([int(c[1]) - 1 for c in corners])
    return np.array(uvs), np.array(faces), np.array(face_uvs)
