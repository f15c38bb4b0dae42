"""FLAME, DECA and EMOCA back-ends, driven by synthetic stand-ins of their files (tests/flame_fixtures.py):
the registry, safe loading, the FLAME model, the ARKit table, and complete avatar zips."""
from __future__ import annotations

import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path
from types import SimpleNamespace

import flame_fixtures as fx
import numpy as np
import pytest
import skimage.data
import torch
import trimesh
from scipy.spatial import cKDTree

from headforge.backends import all_status, available_backends, load_backend
from headforge.backends.deca import DetailGenerator, ResnetEncoder, deca_crop, split_params
from headforge.backends.emoca import read_emoca
from headforge.backends.flame import flame_from_arrays, load_flame, read_flame_arrays
from headforge.backends.flame_files import MEDIAPIPE_IBUG68, read_embedding, read_uv_layout
from headforge.backends.pickle_safe import UnsafePickleError, load_checkpoint, load_pickle
from headforge.detection.landmarks import FaceDetector
from headforge.emotion import with_emotions
from headforge.errors import ModelError
from headforge.export.package import ENTRY_NAMES
from headforge.headmodel.anny_head import cache_path
from headforge.paths import cache_dir
from headforge.pipeline import Options, Reconstructor
from headforge.export.package import write_zip

ASTRONAUT = skimage.data.astronaut()
# Every avatar zip's files (a zip with hair adds the hair's own).
ZIP_NAMES = {"avatar.glb", "head.obj", "head.mtl", "head_albedo.png", "head_normal.png", "params.json",
             "emotion_mlp.json", "preview.png"}


class Payload:
    """What a malicious pickle does: run a shell command when loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """A model folder with every synthetic file, and a cache folder of its own (the existing
    caches, the head model's included, linked in; FLAME's derived files are made afresh)."""
    root = tmp_path_factory.mktemp("flame")
    cache = root / "cache"
    cache.mkdir()
    for path in cache_path().parent.glob("*.npz"):
        if path.is_file() and not path.name.startswith("flame-"):
            (cache / path.name).symlink_to(path)
    folder = root / "models"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HEADFORGE_CACHE_DIR", str(cache))
        mp.delenv("HEADFORGE_MODEL_DIR", raising=False)
        fx.write_flame_folder(folder)
        fx.write_deca(folder / "deca_model.tar")
        (folder / "EMOCA_v2").mkdir()
        fx.write_emoca(folder / "EMOCA_v2" / "emoca.ckpt")
        yield folder


@pytest.fixture(scope="module")
def face():
    return FaceDetector()(ASTRONAUT)


@pytest.fixture(scope="module")
def reconstructors(models):
    """One Reconstructor per FLAME back-end (the ARKit table is derived once, then cached)."""
    return {name: Reconstructor(name, models) for name in ("flame", "deca", "emoca")}


@pytest.fixture(scope="module")
def flame_zip(reconstructors, tmp_path_factory):
    avatar = reconstructors["flame"](ASTRONAUT, Options(texture_size=512))
    return avatar, write_zip(avatar, tmp_path_factory.mktemp("zip") / "flame.zip")


# --- registry ----------------------------------------------------------------------------------


def test_backends_table_is_honest_without_files(monkeypatch, tmp_path):
    monkeypatch.delenv("HEADFORGE_MODEL_DIR", raising=False)
    assert available_backends() == ["anny"]
    status = {s.name: s for s in all_status()}
    assert status["anny"].ready and status["anny"].message() == "ready"
    for name in ("flame", "deca", "emoca"):
        message = status[name].message()
        assert not status[name].ready and "generic_model.pkl" in message and "https://flame.is.tue.mpg.de" in message
    assert "DECA weights" in status["deca"].message() and "EMOCA checkpoint" in status["emoca"].message()
    # An empty folder: still honest, and says where it looked.
    assert str(tmp_path) in {s.name: s for s in all_status(tmp_path)}["flame"].message()
    r = subprocess.run([sys.executable, "-m", "headforge.cli", "backends"], capture_output=True, text=True,
                       timeout=60, env={**os.environ, "HEADFORGE_MODEL_DIR": ""})
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and lines[0].startswith("anny") and lines[1].strip() == "ready"
    assert sum(line.strip().startswith("missing") for line in lines) == 3


def test_all_backends_ready_with_the_files(models, monkeypatch):
    assert available_backends(models) == ["anny", "flame", "deca", "emoca"]
    monkeypatch.setenv("HEADFORGE_MODEL_DIR", str(models))
    assert available_backends() == ["anny", "flame", "deca", "emoca"]
    service = pytest.importorskip("headforge.service.backends")  # what the web page offers
    assert service.local_backends() == ["anny", "flame", "deca", "emoca"]


def test_missing_file_is_one_line_naming_it_and_where_it_is_published(tmp_path):
    (tmp_path / "photo.png").write_bytes(b"")  # never read: the back-end fails first
    r = subprocess.run([sys.executable, "-m", "headforge.cli", "reconstruct", str(tmp_path / "photo.png"),
                        "--backend", "deca", "--model-dir", str(tmp_path)], capture_output=True, text=True, timeout=120)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert lines[0].startswith("error [model_error]") and "generic_model.pkl" in lines[0]
    assert "https://flame.is.tue.mpg.de" in lines[0] and "DECA weights" in lines[0]


def test_wrong_files_are_one_line_errors(models, tmp_path):
    for name in ("landmark_embedding.npy", "head_template.obj", "deca_model.tar"):
        (tmp_path / name).symlink_to(models / name)
    (tmp_path / "generic_model.pkl").write_bytes(b"not a pickle at all")
    with pytest.raises(ModelError, match=r"generic_model.pkl is not a usable FLAME .*flame.is.tue.mpg.de") as e:
        load_backend("flame", tmp_path)
    assert "\n" not in str(e.value)
    (tmp_path / "generic_model.pkl").unlink()
    (tmp_path / "generic_model.pkl").symlink_to(models / "generic_model.pkl")
    (tmp_path / "deca_model.tar").unlink()
    torch.save({"E_flame": {"encoder.conv1.weight": torch.zeros(1)}}, tmp_path / "deca_model.tar")
    with pytest.raises(ModelError, match=r"deca_model.tar is not a usable DECA weights .*github.com/yfeng95/DECA"):
        load_backend("deca", tmp_path)


# --- safe loading ------------------------------------------------------------------------------


def test_a_malicious_pickle_is_refused_before_it_runs(models, tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "generic_model.pkl"
    path.write_bytes(pickle.dumps({"v_template": Payload(marker)}, protocol=2))
    with pytest.raises(UnsafePickleError, match="os|posix"):
        load_pickle(path)
    for name in ("landmark_embedding.npy", "head_template.obj"):
        (tmp_path / name).symlink_to(models / name)
    with pytest.raises(ModelError, match=r"generic_model.pkl refused: it imports (os|posix).system"):
        load_backend("flame", tmp_path)
    torch.save({"E_flame": Payload(marker)}, tmp_path / "deca_model.tar")
    with pytest.raises(UnsafePickleError):
        load_checkpoint(tmp_path / "deca_model.tar")
    assert not marker.exists()


@pytest.mark.parametrize("protocol", [0, 2])
def test_chumpy_objects_load_as_plain_arrays(tmp_path, protocol):
    with fx.fake_modules(tmp_path / "mods", {"chumpy.ch": fx.CHUMPY_CH}) as (ch,):
        data = pickle.dumps({"a": ch.Ch(np.arange(6.0).reshape(2, 3)), "b": [ch.Ch(np.ones(2))]}, protocol=protocol)
    assert "chumpy" not in sys.modules
    (tmp_path / "m.pkl").write_bytes(data)
    loaded = load_pickle(tmp_path / "m.pkl")
    assert isinstance(loaded["a"], np.ndarray) and loaded["a"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert loaded["b"][0].tolist() == [1, 1]


# --- FLAME model and files ---------------------------------------------------------------------


def test_flame_pkl_and_npz_give_the_same_model(models, tmp_path):
    arrays = read_flame_arrays(models / "generic_model.pkl")
    assert isinstance(arrays["shapedirs"], np.ndarray) and arrays["J_regressor"].shape == (5, 726)
    np.savez(tmp_path / "generic_model.npz", **{k: arrays[k].toarray() if hasattr(arrays[k], "toarray") else arrays[k]
                                               for k in ("v_template", "shapedirs", "posedirs", "J_regressor", "weights",
                                                         "kintree_table", "f")})
    a, b = load_flame(models / "generic_model.pkl"), load_flame(tmp_path / "generic_model.npz")
    torch.manual_seed(0)
    args = torch.randn(2, 300), torch.randn(2, 100), 0.2 * torch.randn(2, 5, 3)
    assert torch.allclose(a(*args), b(*args), atol=1e-6)
    assert a.version == "2020" and a.parents == (-1, 0, 1, 1, 1)
    bad = dict(arrays, posedirs=arrays["posedirs"][:, :, :30])
    with pytest.raises(ValueError, match="posedirs"):
        flame_from_arrays(bad, "2020")


def test_flame_skinning(models):
    flame = load_flame(models / "generic_model.pkl")
    rest = flame(torch.zeros(1, 0), torch.zeros(1, 0), flame.pose())[0]
    assert torch.allclose(rest, flame.v_template, atol=1e-6)
    # Head frame: eyes at height 0, symmetric about x = 0, the face towards +Z.
    eyes = flame.joints(torch.zeros(1, 0), torch.zeros(1, 0))[0, 3:]
    assert abs(float(eyes[:, 1].mean())) < 1e-6 and abs(float(eyes[:, 0].sum())) < 1e-6
    assert float(rest[:, 2].max()) > 0.08
    opened = flame(torch.zeros(1, 0), torch.zeros(1, 0), flame.pose(jaw=torch.tensor([[0.3, 0.0, 0.0]])))[0]
    moved = (opened - rest).norm(dim=1)
    jaw = flame.weights[:, 2] > 0.5
    assert moved[jaw].min() > 0.002 and moved[flame.weights[:, 2] == 0].max() < 1e-3
    assert float((opened - rest)[jaw, 1].mean()) < 0  # the chin goes down
    ids = torch.tensor([0, 5, 700])
    pose = 0.2 * torch.randn(1, 5, 3)
    assert torch.allclose(flame(torch.ones(1, 10), torch.ones(1, 5), pose)[:, ids],
                          flame(torch.ones(1, 10), torch.ones(1, 5), pose, ids), atol=1e-6)


def test_uv_layout_from_obj_or_npz_in_any_triangle_order(models, tmp_path):
    flame = load_flame(models / "generic_model.pkl")
    uvs, face_uvs = read_uv_layout(models / "head_template.obj", flame.faces)
    assert face_uvs.shape == flame.faces.shape and uvs.shape[1] == 2
    order = np.random.default_rng(0).permutation(len(face_uvs))
    np.savez(tmp_path / "FLAME_texture.npz", vt=uvs, ft=face_uvs)
    assert np.array_equal(read_uv_layout(tmp_path / "FLAME_texture.npz", flame.faces)[1], face_uvs)
    lines = [line for line in (models / "head_template.obj").read_text().splitlines() if not line.startswith("f ")]
    faces, corners = np.roll(flame.faces[order], 1, axis=1), np.roll(face_uvs[order], 1, axis=1)
    lines += ["f " + " ".join(f"{a + 1}/{b + 1}" for a, b in zip(f, t)) for f, t in zip(faces, corners)]
    (tmp_path / "shuffled.obj").write_text("\n".join(lines))
    assert np.array_equal(read_uv_layout(tmp_path / "shuffled.obj", flame.faces)[1], face_uvs)
    with pytest.raises(ValueError, match="not the FLAME model's"):
        read_uv_layout(tmp_path / "shuffled.obj", flame.faces[:, ::-1] + 1)


def test_every_embedding_format_reads_to_the_same_points(models, tmp_path):
    deca = read_embedding(models / "landmark_embedding.npy", 1440)
    assert deca.mediapipe.tolist() == MEDIAPIPE_IBUG68.tolist() and deca.faces.shape == (68,)
    for kind, name in (("mediapipe", "mediapipe_landmark_embedding.npz"), ("static", "flame_static_embedding.pkl")):
        fx.write_flame_folder(tmp_path / kind, embedding=kind)
        other = read_embedding(tmp_path / kind / name, 1440)
        n = len(other.faces)
        assert other.mediapipe.tolist() == MEDIAPIPE_IBUG68[68 - n:].tolist()
        assert other.faces.tolist() == deca.faces[68 - n:].tolist() and np.allclose(other.bary, deca.bary[68 - n:])


def test_a_derived_embedding_takes_over(models):
    from headforge.backends.flame_backend import load_embedding
    from headforge.backends.flame_files import derived_embedding_path

    model_file = models / "generic_model.pkl"
    assert load_embedding(models / "landmark_embedding.npy", model_file, 1440).source == "landmark_embedding.npy"
    path = derived_embedding_path(model_file)
    np.savez(path, faces=np.arange(478) % 1440, bary=np.full((478, 3), 1 / 3))
    try:
        derived = load_embedding(models / "landmark_embedding.npy", model_file, 1440)
        assert derived.source == path.name and derived.mediapipe.tolist() == list(range(478))
    finally:
        path.unlink()


# --- the ARKit table ---------------------------------------------------------------------------


def test_arkit_table_reproduces_the_actions_with_flame(reconstructors):
    backend = reconstructors["flame"].backend
    table = backend.table
    rep = dict(zip(table.names, table.reproduced))
    assert len(table.names) == 52 and table.expression.shape == (52, 100)
    # The synthetic expression space holds the default head's actions (not the jaw ones).
    assert np.nanmedian(table.reproduced) > 0.75 and rep["mouthSmileLeft"] > 0.8 and rep["mouthPucker"] > 0.8
    assert np.isnan(rep["tongueOut"])  # nothing on FLAME's surface moves
    jaw = dict(zip(table.names, table.jaw))
    assert jaw["jawOpen"][0] > 0.08 and rep["jawOpen"] > 0.4  # through FLAME's jaw joint
    assert jaw["jawLeft"][1] > 0.01 > -0.01 > jaw["jawRight"][1]
    looks = [n.startswith("eyeLook") for n in table.names]
    assert np.abs(table.eyes[looks]).max() > 0.05 and not table.eyes[np.logical_not(looks)].any()
    assert list(cache_dir().glob("flame-arkit-*.npz"))  # stored in the cache, not beside the model


def test_arkit_table_is_derived_again_when_the_default_heads_actions_change(monkeypatch, tmp_path):
    import dataclasses

    from headforge.backends import flame_arkit
    from headforge.headmodel import anny_head

    model_file = tmp_path / "flame.pkl"
    model_file.write_bytes(b"stand-in for a FLAME file")
    embedding = SimpleNamespace(source="test.npz", faces=np.zeros(105))
    first = flame_arkit.table_path(model_file, embedding)
    assert first == flame_arkit.table_path(model_file, embedding)
    head = anny_head.load_head_model()
    stronger = dataclasses.replace(head, action_basis=head.action_basis * 1.1)
    monkeypatch.setattr(anny_head, "load_head_model", lambda: stronger)
    assert flame_arkit.table_path(model_file, embedding) != first


# --- complete avatars --------------------------------------------------------------------------


def test_flame_avatar_zip_is_complete(flame_zip, tmp_path):
    avatar, path = flame_zip
    with zipfile.ZipFile(path) as z:
        assert ZIP_NAMES <= set(z.namelist()) <= set(ENTRY_NAMES)
        params = json.loads(z.read("params.json"))
        z.extractall(tmp_path)
    assert params["model"]["name"] == "flame" and params["model"]["backend"] == "flame"
    flame = params["flame"]
    assert len(flame["shape"]) == 300 and len(flame["expression"]) == 100
    assert set(flame["pose"]) == {"global", "neck", "jaw", "eyes"} and len(flame["pose"]["eyes"]) == 6
    assert len(flame["exported"]["expression"]) == 100 and "identity" not in params
    assert params["detection"]["landmark_error"] < 0.03
    arkit = params["expression"]["arkit"]
    assert len(arkit) == 52 and arkit["mouthSmileLeft"] > 0.3  # the astronaut smiles
    gltf = load_glb(tmp_path / "avatar.glb")
    mesh = gltf["meshes"][0]
    assert len(mesh["extras"]["targetNames"]) == 52 and len(mesh["primitives"][0]["targets"]) == 52
    obj = trimesh.load(tmp_path / "head.obj", force="mesh")
    assert len(obj.faces) == 1440 and np.all(np.ptp(obj.vertices, axis=0) < 0.32)
    assert avatar.mesh.morph_deltas.shape == (52, 726, 3)


def test_deca_and_emoca_avatars(reconstructors, face, tmp_path):
    for name in ("deca", "emoca"):
        avatar = reconstructors[name](ASTRONAUT, Options(texture_size=512, keep_expression=False, hair="none"))
        with zipfile.ZipFile(write_zip(avatar, tmp_path / f"{name}.zip")) as z:
            assert set(z.namelist()) == ZIP_NAMES
            params = json.loads(z.read("params.json"))
            (tmp_path / f"{name}.glb").write_bytes(z.read("avatar.glb"))
        assert len(load_glb(tmp_path / f"{name}.glb")["meshes"][0]["primitives"][0]["targets"]) == 52
        assert params["model"]["backend"] == name and params["model"]["init"] == name
        assert len(params["flame"]["shape"]) == 300 and len(params["flame"]["expression"]) == 100
        assert params["detection"]["landmark_error"] < 0.03 and not avatar.expression.any()
        # DECA's detail networks give the normal map: relief where the face is.
        n = avatar.normal_map.astype(float) / 127.5 - 1
        assert np.abs(n[..., :2]).max() > 0.05
    # EMOCA's expression comes from its own encoder, not DECA's.
    deca_init = reconstructors["deca"].backend.encoder(ASTRONAUT, face)
    emoca = reconstructors["emoca"].backend.encoder
    emoca_init = emoca(ASTRONAUT, face)
    assert emoca_init.source == "emoca" and not np.allclose(emoca_init.expression, deca_init.expression)
    crop = deca_crop(ASTRONAUT, face)
    with torch.no_grad():
        assert np.allclose(emoca_init.expression, emoca.e_expression(crop)[0].numpy(), atol=1e-5)
        assert not np.allclose(emoca_init.expression, split_params(emoca.e_flame(crop)[0])["exp"])


def test_emoca_without_coarse_encoder_takes_decas(models, tmp_path):
    fx.write_emoca(tmp_path / "emoca.ckpt", with_flame=False)
    with pytest.raises(KeyError, match="E_flame"):
        read_emoca(tmp_path / "emoca.ckpt")
    encoder = read_emoca(tmp_path / "emoca.ckpt", deca=models / "deca_model.tar")
    assert encoder.e_flame is not None and encoder.e_detail is not None and encoder.source == "emoca"
    assert encoder.e_expression.layers[2].out_features == 50


def test_full_size_deca_layouts_load_and_run():
    torch.manual_seed(0)
    state = fx.resnet_state(236)  # the published ResNet-50 sizes: 23.5 M weights + 2048 -> 1024 -> 236
    net = ResnetEncoder.from_state_dict(state)
    assert net.encoder.layer4[0].conv3.out_channels == 2048 and len(net.encoder.layer3) == 6
    with torch.no_grad():
        out = net(torch.rand(1, 3, 96, 96))  # pooled features: any size runs the same weights
    assert out.shape == (1, 236) and torch.isfinite(out).all()
    params = split_params(out[0])
    assert [len(params[k]) for k in ("shape", "tex", "exp", "pose", "cam", "light")] == [100, 50, 50, 6, 3, 27]
    detail = DetailGenerator.from_state_dict(fx.generator_state())  # published: 181 -> 128 x 8 x 8 -> 256 x 256
    with torch.no_grad():
        assert detail(torch.zeros(1, 181)).shape == (1, 1, 256, 256)


def test_the_photo_hair_grows_on_the_flame_scalp(flame_zip):
    avatar, _ = flame_zip
    assert avatar.hair is not None and avatar.hair.count > 100 and avatar.params["hair"]["source"] == "photo"
    roots = avatar.hair.strands[:, 0]
    gap, _ = cKDTree(avatar.mesh.vertices).query(roots)
    assert np.percentile(gap, 95) < 0.012  # on the coarse synthetic FLAME head (about 1 cm between vertices)
    assert np.median(roots[:, 1]) > 0.02  # above the eyes: the scalp


def test_emotions_drive_the_flame_head(flame_zip):
    avatar, _ = flame_zip
    happy = with_emotions(avatar, {"happiness": 1.0}, keep_expression=False)
    names = avatar.mesh.morph_names
    smile = happy.expression[names.index("mouthSmileLeft")]
    assert smile > 0.3 and not np.allclose(happy.mesh.posed(happy.expression), avatar.mesh.vertices)
    corner = np.abs(avatar.mesh.morph_deltas[names.index("mouthSmileLeft")]).max()
    assert corner > 0.003  # the smile target moves FLAME's mouth corner by millimetres


def load_glb(path: Path) -> dict:
    data = path.read_bytes()
    length = int.from_bytes(data[12:16], "little")
    return json.load(io.BytesIO(data[20:20 + length]))
