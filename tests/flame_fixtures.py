"""Synthetic stand-ins for the FLAME, DECA and EMOCA files, written into a temporary folder.

They have the real files' structure -- names, pickled classes (``chumpy.ch.Ch``, scipy's sparse
matrix, numpy arrays; pickle protocol 2 as the Python 2 originals), dict keys, key names and
tensor shapes -- and made-up content: a head of 726 vertices (an icosphere pushed out onto the
default head's skin, made exactly left-right symmetric, plus two eyeballs), random shape blend
shapes, expression blend shapes copied from the default head's ARKit actions (all but the jaw
ones, so the ARKit table has to use FLAME's jaw joint), random networks. Never the real files.
"""
from __future__ import annotations

import importlib
import pickle
import shutil
import sys
from collections import OrderedDict
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import trimesh
from scipy.optimize import nnls
from scipy.sparse import csc_matrix
from scipy.spatial import cKDTree

from headforge.backends.flame_files import MEDIAPIPE_IBUG68
from headforge.headmodel.anny_head import eyeball_vertices, load_head_model
from headforge.headmodel.landmark_embedding import load_landmark_embedding
from headforge.core.geometry import closest_points, interpolate

CENTRE = np.array([0.0, -0.01, -0.005])  # head frame: the blob's centre
FILE_OFFSET = np.array([0.0, 0.03, 0.01])  # the files' own origin differs from headforge's, as FLAME's does
JAW_ACTIONS = ("jawOpen", "jawLeft", "jawRight", "jawForward")

CHUMPY_CH = '''
class Ch(object):
    """Like chumpy's Ch as far as pickling goes: the value is state['x']."""

    def __init__(self, x):
        self.x = x
        self._dirty_vars = set(["x"])
        self._itr = None
        self._depends_on_deps = {}
        self._make_dense = False
        self._make_sparse = False
        self._parents = {}
        self._cache = {"r": None}

    def __getstate__(self):
        d = dict(self.__dict__)
        del d["_parents"], d["_cache"]
        return d
'''
OMEGACONF_DICTCONFIG = '''
class DictConfig(dict):
    """Like a training configuration: a dict subclass with attributes."""

    def __init__(self, content):
        super().__init__(content)
        self._metadata = {"ref_type": object}
'''


@contextmanager
def fake_modules(root: Path, sources: dict[str, str]):
    """Importable modules ``{"pkg.mod": source}`` under ``root`` for the duration (so pickles
    name them exactly like the real files do), forgotten afterwards."""
    for dotted, source in sources.items():
        parts = dotted.split(".")
        folder = root.joinpath(*parts[:-1])
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(1, len(parts)):
            init = root.joinpath(*parts[:i], "__init__.py")
            init.touch()
        (folder / f"{parts[-1]}.py").write_text(source)
    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    try:
        yield [importlib.import_module(d) for d in sources]
    finally:
        sys.path.remove(str(root))
        shutil.rmtree(root)
        for name in [n for n in sys.modules if n.split(".")[0] in {d.split(".")[0] for d in sources}]:
            del sys.modules[name]


def _smoothstep(x, lo, hi):
    t = np.clip((x - lo) / (hi - lo), 0, 1)
    return t * t * (3 - 2 * t)


def synthetic_head():
    """(vertices (V, 3), faces (F, 3), uvs (T, 2), face_uvs (F, 3), eye ids (2, 42), head count):
    head frame, exactly symmetric about x = 0."""
    anny = load_head_model()
    sphere = trimesh.creation.icosphere(subdivisions=3)
    dirs = np.asarray(sphere.vertices)
    rel = anny.template.astype(np.float64) - CENTRE
    dist = np.linalg.norm(rel, axis=1)
    cos = dirs @ (rel / dist[:, None]).T
    reach = np.where(cos > np.cos(np.radians(8)), dist[None] * cos, 0).max(1)
    _, mirror = cKDTree(dirs).query(dirs * [-1, 1, 1])
    neighbours = [list(n) for n in sphere.vertex_neighbors]
    for _ in range(2):
        reach = 0.5 * reach + 0.5 * np.array([reach[n].mean() for n in neighbours])
    reach = (reach + reach[mirror]) / 2
    head = CENTRE + dirs * reach[:, None]
    head[mirror == np.arange(len(head)), 0] = 0.0
    faces = [np.asarray(sphere.faces)]
    verts = [head]
    eyes = eyeball_vertices(anny.faces, len(anny.template))
    ball = trimesh.creation.icosphere(subdivisions=1)
    radius = 0.0115
    eye_ids = []
    left = anny.template[eyes & (anny.template[:, 0] > 0)].mean(0)
    for centre in (left, left * [-1, 1, 1]):  # the head's left (+x), then its mirror image
        start = sum(len(v) for v in verts)
        eye_ids.append(np.arange(start, start + len(ball.vertices)))
        verts.append(np.asarray(ball.vertices) * radius + centre)
        faces.append(np.asarray(ball.faces) + start)
    vertices = np.concatenate(verts)
    faces = np.concatenate(faces)
    n_head = len(head)

    # UVs: the head's front and back halves as two islands, each eyeball a small island.
    extent = np.abs(head - CENTRE)[:, :2].max()
    front = np.column_stack([0.27 + 0.22 * head[:, 0] / extent, 0.5 + 0.45 * (head[:, 1] - CENTRE[1]) / extent])
    back = np.column_stack([0.73 - 0.22 * head[:, 0] / extent, front[:, 1]])
    eye_uv = [np.column_stack([0.93 + 0.04 * (vertices[ids, 0] - vertices[ids, 0].mean()) / radius,
                               0.1 + 0.15 * k + 0.04 * (vertices[ids, 1] - vertices[ids, 1].mean()) / radius])
              for k, ids in enumerate(eye_ids)]
    uvs = np.concatenate([front, back, *eye_uv]).astype(np.float32)
    face_uvs = faces.copy()
    head_faces = faces[:, 0] < n_head
    behind = vertices[faces].mean(1)[:, 2] < CENTRE[2]
    face_uvs[head_faces & behind] += n_head
    face_uvs[~head_faces] += n_head
    return vertices, faces, uvs, face_uvs, eye_ids, n_head


def _regressor_row(points: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Non-negative weights summing to one whose average of ``points`` is ``target``."""
    a = np.vstack([points.T, 100 * np.ones(len(points))])
    w, _ = nnls(a, np.concatenate([target, [100.0]]))
    return w / w.sum()


def flame_arrays(rng: np.random.Generator) -> dict:
    """FLAME's arrays for the synthetic head, in the files' frame (see the module text)."""
    anny = load_head_model()
    vertices, faces, uvs, face_uvs, eye_ids, n_head = synthetic_head()
    n = len(vertices)
    head = vertices[:n_head]
    eye_centres = [vertices[ids].mean(0) for ids in eye_ids]
    joints = [np.array([0.0, -0.11, -0.03]), np.array([0.0, -0.07, -0.02]), np.array([0.0, -0.03, -0.01]), *eye_centres]
    regressor = np.zeros((5, n))
    for j in range(3):
        regressor[j, :n_head] = _regressor_row(head, joints[j])
    for j, ids in enumerate(eye_ids, 3):
        regressor[j, ids] = 1 / len(ids)

    weights = np.zeros((n, 5))
    y, z = head[:, 1], head[:, 2]
    root = _smoothstep(-y, 0.10, 0.125) * (1 - _smoothstep(z, 0.02, 0.05))  # the neck
    jaw = _smoothstep(-y, 0.062, 0.072) * _smoothstep(z, -0.03, 0.0) * (1 - root)  # below the mouth
    weights[:n_head] = np.column_stack([root, 1 - root - jaw, jaw, 0 * y, 0 * y])
    for j, ids in enumerate(eye_ids, 3):
        weights[ids, j] = 1

    p = (vertices - CENTRE) / 0.1
    basis = np.column_stack([p, p**2, p[:, [0]] * p[:, [1]], p[:, [1]] * p[:, [2]], p[:, [0]] * p[:, [2]]])

    def smooth_field(sigma):
        field = basis @ rng.normal(size=(basis.shape[1], 3))
        return field * sigma / np.sqrt((field**2).sum(1).mean())

    shapedirs = np.zeros((n, 3, 400))
    for k in range(300):
        shapedirs[:, :, k] = smooth_field(0.003 / (1 + k / 5))
    # Expression: the default head's actions, by nearest vertex (eyeballs to eyeballs).
    a_eyes = eyeball_vertices(anny.faces, len(anny.template))
    nearest = np.zeros(n, np.int64)
    is_eye = np.zeros(n, bool)
    is_eye[np.concatenate(eye_ids)] = True
    for mine, theirs in ((~is_eye, ~a_eyes), (is_eye, a_eyes)):
        ids = np.flatnonzero(theirs)
        nearest[mine] = ids[cKDTree(anny.template[ids]).query(vertices[mine])[1]]
    copied = [i for i, name in enumerate(anny.action_names) if name not in JAW_ACTIONS]
    for e, a in enumerate(copied):
        shapedirs[:, :, 300 + e] = anny.action_basis[a][nearest]
    for e in range(len(copied), 100):
        shapedirs[:, :, 300 + e] = smooth_field(0.001)

    mesh = trimesh.Trimesh(head, faces[faces[:, 0] < n_head], process=False)
    a_faces, a_bary = load_landmark_embedding()
    anny_points = interpolate(anny.template, anny.faces[a_faces], a_bary)[MEDIAPIPE_IBUG68]
    lmk_faces, lmk_bary, _ = closest_points(mesh.vertices, mesh.faces, anny_points.astype(np.float64))
    return {
        "v_template": vertices + FILE_OFFSET,
        "shapedirs": shapedirs,
        "posedirs": rng.normal(scale=2e-4, size=(n, 3, 36)),
        "J_regressor": csc_matrix(regressor),
        "weights": weights,
        "kintree_table": np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], np.int64),
        "f": faces.astype(np.uint32),
        "uvs": uvs, "face_uvs": face_uvs, "lmk_faces": lmk_faces, "lmk_bary": lmk_bary,
    }  # fmt: skip


def write_flame_folder(folder: Path, seed: int = 0, embedding: str = "deca") -> dict:
    """generic_model.pkl (chumpy objects), the landmark embedding (``embedding``: "deca" ->
    landmark_embedding.npy, "mediapipe" -> mediapipe_landmark_embedding.npz, "static" ->
    flame_static_embedding.pkl) and head_template.obj into ``folder``; returns the arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = flame_arrays(np.random.default_rng(seed))
    with fake_modules(folder / ".fake", {"chumpy.ch": CHUMPY_CH}) as (ch,):
        model = {k: arrays[k] for k in ("posedirs", "J_regressor", "weights", "kintree_table", "f")}
        model.update(v_template=ch.Ch(arrays["v_template"]), shapedirs=ch.Ch(arrays["shapedirs"]),
                     bs_style="lbs", bs_type="lrotmin", J=ch.Ch(arrays["J_regressor"] @ arrays["v_template"]))
        with open(folder / "generic_model.pkl", "wb") as f:
            pickle.dump(model, f, protocol=2)
    faces, bary = arrays["lmk_faces"], arrays["lmk_bary"]
    if embedding == "deca":
        data = {
            "full_lmk_faces_idx": faces[None], "full_lmk_bary_coords": bary[None],
            "static_lmk_faces_idx": faces[17:], "static_lmk_bary_coords": bary[17:],
            "dynamic_lmk_faces_idx": torch.zeros(79, 17, dtype=torch.long),
            "dynamic_lmk_bary_coords": torch.full((79, 17, 3), 1 / 3),
        }  # fmt: skip
        np.save(folder / "landmark_embedding.npy", data, allow_pickle=True)
    elif embedding == "mediapipe":
        np.savez(folder / "mediapipe_landmark_embedding.npz", lmk_face_idx=faces, lmk_b_coords=bary,
                 landmark_indices=MEDIAPIPE_IBUG68)
    else:
        with open(folder / "flame_static_embedding.pkl", "wb") as f:
            pickle.dump({"lmk_face_idx": faces[17:].astype(np.uint32), "lmk_b_coords": bary[17:]}, f, protocol=2)
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in arrays["v_template"]]
    lines += [f"vt {u:.6f} {v:.6f}" for u, v in arrays["uvs"]]
    lines += ["f " + " ".join(f"{a + 1}/{b + 1}" for a, b in zip(f, t)) for f, t in zip(arrays["f"], arrays["face_uvs"])]
    (folder / "head_template.obj").write_text("\n".join(lines) + "\n")
    return arrays


def _bn(state: dict, prefix: str, c: int) -> None:
    state[f"{prefix}.weight"] = torch.ones(c)
    state[f"{prefix}.bias"] = torch.zeros(c)
    state[f"{prefix}.running_mean"] = torch.zeros(c)
    state[f"{prefix}.running_var"] = torch.ones(c)
    state[f"{prefix}.num_batches_tracked"] = torch.tensor(0)


def _conv(shape, gain=1.0) -> torch.Tensor:
    fan_in = shape[1] * shape[2] * shape[3]
    return torch.randn(shape) * gain * (2 / fan_in) ** 0.5


def resnet_state(out: int, width: int = 64, hidden: int = 1024, blocks=(3, 4, 6, 3)) -> OrderedDict:
    """DECA's ``ResnetEncoder`` state dict (``encoder.*`` ResNet-50 with bottleneck widths
    ``width`` x 1, 2, 4, 8 -- 64 is the published size -- then ``layers.0`` / ``layers.2``)."""
    s = OrderedDict()
    s["encoder.conv1.weight"] = _conv((width, 3, 7, 7))
    _bn(s, "encoder.bn1", width)
    inplanes = width
    for i, n in enumerate(blocks, 1):
        planes = width * 2 ** (i - 1)
        for b in range(n):
            p = f"encoder.layer{i}.{b}"
            s[f"{p}.conv1.weight"] = _conv((planes, inplanes, 1, 1))
            _bn(s, f"{p}.bn1", planes)
            s[f"{p}.conv2.weight"] = _conv((planes, planes, 3, 3))
            _bn(s, f"{p}.bn2", planes)
            s[f"{p}.conv3.weight"] = _conv((planes * 4, planes, 1, 1), gain=0.2)
            _bn(s, f"{p}.bn3", planes * 4)
            if b == 0:
                s[f"{p}.downsample.0.weight"] = _conv((planes * 4, inplanes, 1, 1))
                _bn(s, f"{p}.downsample.1", planes * 4)
            inplanes = planes * 4
    s["layers.0.weight"] = torch.randn(hidden, inplanes) * (2 / inplanes) ** 0.5
    s["layers.0.bias"] = torch.zeros(hidden)
    s["layers.2.weight"] = torch.randn(out, hidden) * 1e-3
    s["layers.2.bias"] = torch.zeros(out)
    return s


def generator_state(latent: int = 181, width: int = 128) -> OrderedDict:
    """DECA's ``D_detail`` state dict: ``width`` x 8 x 8 start (128 published), then widths
    width, width / 2, width / 2, width / 4, width / 8, 1 up to 256 x 256."""
    s = OrderedDict()
    s["l1.0.weight"] = torch.randn(width * 64, latent) * 0.01
    s["l1.0.bias"] = torch.randn(width * 64)  # a pattern whatever the codes: millimetres of relief
    _bn(s, "conv_blocks.0", width)
    widths = (width, width, width // 2, width // 2, width // 4, width // 8)
    for i, cin, cout in zip((2, 6, 10, 14, 18), widths[:-1], widths[1:]):
        s[f"conv_blocks.{i}.weight"] = _conv((cout, cin, 3, 3))
        s[f"conv_blocks.{i}.bias"] = torch.zeros(cout)
        _bn(s, f"conv_blocks.{i + 1}", cout)
    s["conv_blocks.21.weight"] = _conv((1, widths[-1], 3, 3), gain=0.5)
    s["conv_blocks.21.bias"] = torch.zeros(1)
    return s


def write_deca(path: Path, width: int = 8, hidden: int = 64, seed: int = 0) -> None:
    """``deca_model.tar``: {E_flame, E_detail, D_detail} (torch's legacy format, as in 2020)."""
    torch.manual_seed(seed)
    state = {"E_flame": resnet_state(236, width, hidden), "E_detail": resnet_state(128, width, hidden),
             "D_detail": generator_state(width=2 * width)}
    torch.save(state, path, _use_new_zipfile_serialization=False)


def write_emoca(path: Path, width: int = 8, hidden: int = 64, seed: int = 1, with_flame: bool = True) -> None:
    """An EMOCA-like Lightning checkpoint: ``state_dict`` with ``deca.E_expression.*`` (and
    ``deca.E_flame.*``, ``deca.E_detail.*``, ``deca.D_detail.*``) beside an omegaconf-style config."""
    torch.manual_seed(seed)
    nets = {"E_expression": resnet_state(50, width, hidden)}
    if with_flame:
        nets.update(E_flame=resnet_state(236, width, hidden), E_detail=resnet_state(128, width, hidden),
                    D_detail=generator_state(width=2 * width))
    state = OrderedDict((f"deca.{net}.{k}", v) for net, sd in nets.items() for k, v in sd.items())
    with fake_modules(path.parent / ".fake_omegaconf", {"omegaconf.dictconfig": OMEGACONF_DICTCONFIG}) as (oc,):
        ckpt = {"epoch": 10, "global_step": 1000, "pytorch-lightning_version": "1.4.9", "state_dict": state,
                "hyper_parameters": {"cfg": oc.DictConfig({"model": {"expression_backbone": "deca_clone"}})}}
        torch.save(ckpt, path)
