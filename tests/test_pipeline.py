"""End to end: a public-domain portrait in, an avatar zip out, read back by other tools."""
from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zipfile
import zlib

import numpy as np
import pytest
import skimage.data
import trimesh
from PIL import Image

import headforge
from headforge.errors import NoFaceError
from headforge.texture.trust import FACE_OVAL


@pytest.fixture(scope="module")
def astronaut_zip(tmp_path_factory):
    avatar = headforge.reconstruct(skimage.data.astronaut())
    path = headforge.write_zip(avatar, tmp_path_factory.mktemp("avatar") / "avatar.zip")
    return avatar, path


def test_zip_holds_the_avatar_files(astronaut_zip):
    avatar, path = astronaut_zip
    with zipfile.ZipFile(path) as z:
        assert sorted(z.namelist()) == sorted(
            ["avatar.glb", "head.obj", "head.mtl", "head_albedo.png", "head_normal.png", "params.json",
             "emotion_mlp.json", "preview.png"] + (["hair.data", "hair.usdc"] if avatar.hair is not None and avatar.hair.count else [])
        )
        params = json.loads(z.read("params.json"))
    assert params["schema"] == "headforge.params/1"
    assert params["model"]["name"] == "anny-head"
    assert params["detection"]["face_count"] == 1
    assert params["image"] == {"width": 512, "height": 512, "processing_scale": 1.0}
    assert set(params["timings_s"]) >= {"load", "detect", "fit", "texture", "normal_map"}
    assert len(params["expression"]["arkit"]) == 52
    # The astronaut smiles: the fitted expression says so.
    arkit = params["expression"]["arkit"]
    assert arkit["mouthSmileLeft"] > 0.3 and arkit["mouthSmileRight"] > 0.3


def test_glb_and_obj_load_in_trimesh(astronaut_zip, tmp_path):
    avatar, path = astronaut_zip
    with zipfile.ZipFile(path) as z:
        z.extractall(tmp_path)
    scene = trimesh.load(tmp_path / "avatar.glb", force="scene")
    # The head's skin (its first primitive: the biggest "head" geometry); the mouth, the other
    # parts and the hair are geometries of their own.
    glb_mesh = max((g for name, g in scene.geometry.items() if name.startswith("head")), key=lambda g: len(g.faces))
    obj = trimesh.load(tmp_path / "head.obj", force="mesh")
    assert len(obj.faces) == len(avatar.mesh.faces)
    # Metres, head and neck only: a human head is ~0.15-0.30 m in every direction.
    for mesh in (glb_mesh, obj):
        extent = mesh.bounds[1] - mesh.bounds[0]
        assert np.all(extent > 0.12) and np.all(extent < 0.32), extent
    assert obj.visual.uv is not None and obj.visual.material.image.size == (1024, 1024)


def test_glb_has_52_arkit_targets_and_a_normal_texture(astronaut_zip, tmp_path):
    pygltflib = pytest.importorskip("pygltflib")
    _, path = astronaut_zip
    with zipfile.ZipFile(path) as z:
        (tmp_path / "a.glb").write_bytes(z.read("avatar.glb"))
    gltf = pygltflib.GLTF2().load(str(tmp_path / "a.glb"))
    mesh = gltf.meshes[0]
    names = mesh.extras["targetNames"]
    assert len(names) == 52 and "jawOpen" in names and "mouthSmileLeft" in names
    assert len(mesh.primitives[0].targets) == 52 and len(mesh.weights) == 52
    material = gltf.materials[mesh.primitives[0].material]
    assert material.normalTexture is not None
    assert material.pbrMetallicRoughness.baseColorTexture is not None


def test_projected_landmarks_match_the_detected_ones(astronaut_zip):
    avatar, _ = astronaut_zip
    # Mean distance within 3% of the face-box diagonal (the acceptance bound).
    assert avatar.params["detection"]["landmark_error"] < 0.03


def test_texture_is_filled_with_skin_everywhere(astronaut_zip):
    avatar, _ = astronaut_zip
    albedo = avatar.albedo.reshape(-1, 3).astype(float)
    # Every texel, gutters included, got a colour from the face's own range: no black holes,
    # no background blue or white suit.
    photo = skimage.data.astronaut()
    lm = np.array(avatar.params["detection"]["box_px"])
    face = photo[int(lm[1]) : int(lm[3]), int(lm[0]) : int(lm[2])].reshape(-1, 3).astype(float)
    lo, hi = np.percentile(face, 1, axis=0) - 25, np.percentile(face, 99, axis=0) + 25
    inside = np.all((albedo >= lo) & (albedo <= hi), axis=1)
    assert inside.mean() > 0.97, inside.mean()
    assert avatar.albedo.min(axis=2).max() > 0 and not np.any(np.all(avatar.albedo == 0, axis=2))


def test_normal_map_carries_detail(astronaut_zip):
    avatar, _ = astronaut_zip
    n = avatar.normal_map.astype(float) / 127.5 - 1
    assert np.allclose(np.linalg.norm(n, axis=2), 1, atol=0.03)
    tilted = n[..., 2] < 0.995
    assert 0.01 < tilted.mean() < 0.9  # neither flat nor noise everywhere


def test_neutral_option_exports_zero_expression():
    avatar = headforge.reconstruct(skimage.data.astronaut(), keep_expression=False, texture_size=512)
    assert np.all(avatar.expression == 0)
    assert avatar.albedo.shape == (512, 512, 3)
    assert max(avatar.params["expression"]["fitted_arkit"].values()) > 0.3


def test_no_face_is_a_clear_error():
    with pytest.raises(NoFaceError):
        headforge.reconstruct(skimage.data.chelsea())


def _png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def _bad_inputs(tmp_path):
    astronaut = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).save(astronaut, "JPEG", quality=90)
    tiny = io.BytesIO()
    Image.new("RGB", (1, 1)).save(tiny, "PNG")
    files = {
        "text.jpg": b"this is not an image\n" * 10,
        "truncated.jpg": astronaut.getvalue()[: len(astronaut.getvalue()) // 3],
        "tiny.png": tiny.getvalue(),
        "bomb.png": _png_header_only(40000, 40000),
    }
    Image.fromarray(skimage.data.chelsea()).save(tmp_path / "cat.png")
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return ["text.jpg", "truncated.jpg", "tiny.png", "bomb.png", "cat.png"]


def test_cli_bad_inputs_give_one_line_errors(tmp_path):
    for name in _bad_inputs(tmp_path):
        out = tmp_path / f"{name}.zip"
        r = subprocess.run(
            [sys.executable, "-m", "headforge.cli", "reconstruct", str(tmp_path / name), "-o", str(out)],
            capture_output=True, text=True, timeout=120,
        )
        assert r.returncode == 2, (name, r.stderr)
        lines = [line for line in r.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error ["), (name, r.stderr)
        assert "Traceback" not in r.stderr
        assert not out.exists()


def test_oval_indices_are_a_closed_ring():
    assert len(FACE_OVAL) == len(set(FACE_OVAL)) == 36


def test_albedo_is_de_lit_and_the_photo_part_is_known(astronaut_zip):
    from headforge.texture.delight import sh_basis

    avatar, _ = astronaut_zip
    s = avatar.albedo.shape[0]
    assert avatar.observed.shape == (s, s) and 0 <= avatar.observed.min() and avatar.observed.max() <= 1
    assert 0.05 < (avatar.observed >= 0.5).mean() < 0.6
    # The photo's light: 9 grey SH coefficients whose shading averages about 1 on the face.
    assert avatar.light.shape == (9,) and np.all(np.isfinite(avatar.light))
    towards_camera = np.array([[0.0, 0.0, -1.0]], np.float32)
    assert 0.5 < float(sh_basis(towards_camera) @ avatar.light) < 1.8
