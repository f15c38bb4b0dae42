"""Avatar export: GLB (checked with trimesh and pygltflib), OBJ + MTL, and the atomic zip."""
from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image

from headforge.core.avatar import Avatar, HeadMesh
from headforge.export import package
from headforge.export.geometry import split_uv_seams, tangents
from headforge.core.geometry import vertex_normals
from headforge.export.gltf import glb_bytes, write_glb
from headforge.headmodel.fitted_parts import avatar_parts
from headforge.export.obj import obj_text, read_obj, write_obj
from headforge.export.package import write_zip

ARKIT_NAMES = [
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight",
    "eyeLookDownLeft", "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight",
    "eyeLookOutLeft", "eyeLookOutRight", "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft",
    "eyeSquintRight", "eyeWideLeft", "eyeWideRight", "jawForward", "jawLeft", "jawOpen",
    "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight", "mouthFrownLeft",
    "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight", "mouthRollLower",
    "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft",
    "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft",
    "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight", "tongueOut",
]  # fmt: skip
ZIP_NAMES = {
    "avatar.glb", "head.obj", "head.mtl", "head_albedo.png", "head_normal.png",
    "params.json", "emotion_mlp.json", "preview.png",
}  # fmt: skip
ANNY_CACHE = Path(os.getenv("ANNY_CACHE_DIR", str(Path.home() / ".cache" / "anny")))


def uv_sphere(n_lon: int = 16, n_lat: int = 8, radius: float = 0.1):
    """Sphere with a UV seam at longitude 0 and split UVs at the poles.

    Returns vertices (V, 3), faces (F, 3), uvs (T, 2), face_uvs (F, 3); u grows with the
    longitude (towards +X from the front), v grows upwards.
    """
    theta = np.pi * np.arange(1, n_lat) / n_lat
    phi = 2 * np.pi * np.arange(n_lon) / n_lon
    t, p = np.meshgrid(theta, phi, indexing="ij")
    ring = np.stack([np.sin(t) * np.sin(p), np.cos(t), np.sin(t) * np.cos(p)], -1)
    vertices = radius * np.vstack([[0, 1, 0], ring.reshape(-1, 3), [0, -1, 0]])

    def vid(i, j):  # grid row i in 0..n_lat, column j in 0..n_lon (wraps)
        return np.where(i == 0, 0, np.where(i == n_lat, len(vertices) - 1,
                                            1 + (i - 1) * n_lon + j % n_lon))  # fmt: skip

    def tid(i, j):
        return i * (n_lon + 1) + j

    i, j = np.meshgrid(np.arange(n_lat), np.arange(n_lon), indexing="ij")
    i, j = i.ravel(), j.ravel()
    quads = [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)]  # CCW seen from outside
    tris = [(quads[0], quads[1], quads[2]), (quads[0], quads[2], quads[3])]
    faces = np.vstack([np.stack([vid(*c) for c in tri], 1) for tri in tris])
    face_uvs = np.vstack([np.stack([tid(*c) for c in tri], 1) for tri in tris])
    keep = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
    gi, gj = np.meshgrid(np.arange(n_lat + 1), np.arange(n_lon + 1), indexing="ij")
    uvs = np.stack([gj.ravel() / n_lon, 1 - gi.ravel() / n_lat], 1)
    return vertices, faces[keep], uvs, face_uvs[keep]


def make_avatar(mesh: HeadMesh, size: int = 64, seed: int = 0) -> Avatar:
    rng = np.random.default_rng(seed)
    return Avatar(
        mesh=mesh,
        expression=rng.uniform(0, 1, len(mesh.morph_names)).astype(np.float32),
        albedo=rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
        normal_map=rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
        params={"shape": np.arange(3, dtype=np.float32), "scale": np.float64(1.25), "n": 3},
        preview=rng.integers(0, 256, (48, 32, 3), dtype=np.uint8),
    )


@pytest.fixture
def sphere_avatar() -> Avatar:
    vertices, faces, uvs, face_uvs = uv_sphere()
    rng = np.random.default_rng(1)
    mesh = HeadMesh(
        vertices=vertices.astype(np.float32),
        faces=faces.astype(np.int32),
        uvs=uvs.astype(np.float32),
        face_uvs=face_uvs.astype(np.int32),
        morph_names=list(ARKIT_NAMES),
        morph_deltas=rng.normal(0, 0.002, (52, len(vertices), 3)).astype(np.float32),
    )
    return make_avatar(mesh)


def glb_json_and_blob(data: bytes) -> tuple[dict, bytes]:
    """Parse a GLB by hand: (JSON dict, BIN chunk bytes); checks the header and padding."""
    magic, version, length = struct.unpack_from("<4sII", data)
    assert (magic, version, length) == (b"glTF", 2, len(data))
    json_len, json_type = struct.unpack_from("<I4s", data, 12)
    assert json_type == b"JSON" and json_len % 4 == 0
    gltf = json.loads(data[20 : 20 + json_len])
    bin_len, bin_type = struct.unpack_from("<I4s", data, 20 + json_len)
    assert bin_type == b"BIN\0" and bin_len % 4 == 0
    blob = data[28 + json_len : 28 + json_len + bin_len]
    assert len(blob) == bin_len == gltf["buffers"][0]["byteLength"]
    return gltf, blob


DTYPES = {5126: np.float32, 5125: np.uint32, 5123: np.uint16}


def view_array(gltf: dict, blob: bytes, view_index: int, component: int, count: int, width: int) -> np.ndarray:
    view = gltf["bufferViews"][view_index]
    dtype = DTYPES[component]
    assert view["byteOffset"] % 4 == 0 and "byteStride" not in view
    assert view["byteLength"] == count * width * np.dtype(dtype).itemsize
    raw = blob[view["byteOffset"] : view["byteOffset"] + view["byteLength"]]
    return np.frombuffer(raw, dtype).reshape(count, width)


def accessor_array(gltf: dict, blob: bytes, index: int) -> np.ndarray:
    """An accessor's (count, width) values, dense or sparse (zeros plus the stored rows)."""
    acc = gltf["accessors"][index]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}[acc["type"]]
    if "bufferView" in acc:
        return view_array(gltf, blob, acc["bufferView"], acc["componentType"], acc["count"], width)
    values = np.zeros((acc["count"], width), DTYPES[acc["componentType"]])
    sparse = acc.get("sparse")
    if sparse:
        rows = view_array(gltf, blob, sparse["indices"]["bufferView"], sparse["indices"]["componentType"],
                          sparse["count"], 1).ravel()
        assert np.all(np.diff(rows.astype(np.int64)) > 0) and rows[-1] < acc["count"]
        values[rows] = view_array(gltf, blob, sparse["values"]["bufferView"], acc["componentType"], sparse["count"], width)
    return values


def image_bytes(gltf: dict, blob: bytes, texture: int) -> bytes:
    image = gltf["images"][gltf["textures"][texture]["source"]]
    assert image["mimeType"] == "image/png"
    view = gltf["bufferViews"][image["bufferView"]]
    return blob[view["byteOffset"] : view["byteOffset"] + view["byteLength"]]


def png_chunk_types(data: bytes) -> list[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    types, offset = [], 8
    while offset < len(data):
        length, kind = struct.unpack_from(">I4s", data, offset)
        types.append(kind)
        offset += 12 + length
    return types


def expected_split(mesh: HeadMesh, faces: np.ndarray | None = None) -> set[tuple]:
    """Unique (original vertex, u, v) corner pairs of a mesh, from its faces (or those numbered
    in ``faces``)."""
    chosen = slice(None) if faces is None else faces
    uv = mesh.uvs[mesh.face_uvs[chosen].ravel()]
    return set(zip(mesh.faces[chosen].ravel().tolist(), uv[:, 0].tolist(), uv[:, 1].tolist()))


def check_glb(avatar: Avatar, data: bytes, path: Path) -> None:
    """Shared GLB assertions for the synthetic and the real head."""
    mesh = avatar.mesh
    parts = avatar_parts(avatar)
    skin = slice(None) if parts is None else parts.skin_faces
    gltf, blob = glb_json_and_blob(data)
    assert gltf["asset"]["version"] == "2.0"
    assert gltf["asset"]["generator"].startswith("headforge")
    part_names = [] if parts is None else [p.name for p in parts.parts]
    assert [gltf["nodes"][n]["name"] for n in gltf["scenes"][gltf["scene"]]["nodes"]] == ["head", *part_names]
    assert len(gltf["meshes"]) == 1 + len(part_names)
    gmesh = gltf["meshes"][0]
    prim = gmesh["primitives"][0]
    assert len(gmesh["primitives"]) == (1 if parts is None else 2)  # the skin, and the mouth's inside
    assert prim["mode"] == 4
    assert gmesh["extras"]["targetNames"] == ARKIT_NAMES == list(mesh.morph_names)
    np.testing.assert_allclose(gmesh["weights"], avatar.expression, atol=1e-7)
    assert len(prim["targets"]) == 52

    # Every accessor with bounds is consistent with its data.
    for index, acc in enumerate(gltf["accessors"]):
        if "min" in acc:
            values = accessor_array(gltf, blob, index)
            assert acc["min"] == values.min(0).tolist() and acc["max"] == values.max(0).tolist()
    attrs = prim["attributes"]
    assert {"POSITION", "NORMAL", "TANGENT", "TEXCOORD_0"} <= attrs.keys()
    assert all("min" in gltf["accessors"][t["POSITION"]] for t in prim["targets"])

    positions = accessor_array(gltf, blob, attrs["POSITION"])
    uv = accessor_array(gltf, blob, attrs["TEXCOORD_0"]) * [1, -1] + [0, 1]  # back to OBJ
    indices = accessor_array(gltf, blob, prim["indices"]).reshape(-1, 3)
    normals = accessor_array(gltf, blob, attrs["NORMAL"])
    tangent = accessor_array(gltf, blob, attrs["TANGENT"])
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(tangent[:, :3], axis=1), 1, atol=1e-5)
    assert set(np.abs(tangent[:, 3]).tolist()) == {1.0}
    assert np.abs(np.sum(normals * tangent[:, :3], axis=1)).max() < 1e-5

    # Seam split: one vertex per unique (vertex, uv) pair; map back by position.
    lookup = {row.tobytes(): i for i, row in enumerate(np.asarray(mesh.vertices, np.float32))}
    assert len(lookup) == len(mesh.vertices)
    original = np.array([lookup[row.tobytes()] for row in positions])
    expected = expected_split(mesh, None if parts is None else parts.skin_faces)
    by_vertex: dict[int, list] = {}
    for v, a, b in expected:
        by_vertex.setdefault(v, []).append((a, b))
    pairs = set()
    for v, (a, b) in zip(original.tolist(), uv.tolist()):
        # Snap each written uv to the closest expected uv of its vertex (float32 flip error).
        choices = np.array(by_vertex[v])
        nearest = int(np.argmin(np.abs(choices - [a, b]).max(axis=1)))
        assert np.abs(choices[nearest] - [a, b]).max() < 1e-6
        pairs.add((v, *choices[nearest].tolist()))
    assert len(positions) == len(pairs) == len(expected)
    assert pairs == expected
    np.testing.assert_array_equal(original[indices], mesh.faces[skin])
    for k in (0, 24, 51):
        deltas = accessor_array(gltf, blob, prim["targets"][k]["POSITION"])
        np.testing.assert_allclose(deltas, mesh.morph_deltas[k][original], atol=1e-6)
    # Morph targets are stored sparse: only the vertices a target moves.
    stored = [gltf["accessors"][t["POSITION"]].get("sparse", {}).get("count", 0) for t in prim["targets"]]
    moved = [int(np.any(mesh.morph_deltas[k][original] != 0, axis=1).sum()) for k in range(52)]
    assert stored == moved

    # Material and textures.
    material = gltf["materials"][prim["material"]]
    pbr = material["pbrMetallicRoughness"]
    assert pbr["metallicFactor"] == 0 and 0.4 <= pbr["roughnessFactor"] <= 0.8
    assert material["doubleSided"] is False
    albedo = Image.open(io.BytesIO(image_bytes(gltf, blob, pbr["baseColorTexture"]["index"])))
    normal = Image.open(io.BytesIO(image_bytes(gltf, blob, material["normalTexture"]["index"])))
    np.testing.assert_array_equal(np.asarray(albedo), avatar.albedo)
    np.testing.assert_array_equal(np.asarray(normal), avatar.normal_map)

    # Third-party readers.
    pygltflib = pytest.importorskip("pygltflib")
    loaded = pygltflib.GLTF2().load(str(path))
    assert len(loaded.meshes[0].primitives[0].targets) == 52
    assert loaded.meshes[0].extras["targetNames"] == ARKIT_NAMES
    scene = trimesh.load(path, force="scene")
    geoms = list(scene.geometry.values())
    assert len(geoms[0].vertices) == len(pairs)
    assert len(geoms[0].faces) == len(mesh.faces[skin])


def test_glb_synthetic(sphere_avatar, tmp_path):
    path = tmp_path / "a.glb"
    write_glb(sphere_avatar, path)
    data = path.read_bytes()
    buffer = io.BytesIO()
    write_glb(sphere_avatar, buffer)
    assert buffer.getvalue() == data == glb_bytes(sphere_avatar)
    check_glb(sphere_avatar, data, path)


def test_glb_rejects_wrong_weight_count(sphere_avatar):
    sphere_avatar.expression = np.zeros(51, np.float32)
    with pytest.raises(ValueError, match="weights"):
        glb_bytes(sphere_avatar)


def test_geometry_on_sphere():
    vertices, faces, uvs, face_uvs = uv_sphere()
    normals = vertex_normals(vertices, faces)
    # Smooth normals of a sphere point outwards, along the position.
    radial = vertices / np.linalg.norm(vertices, axis=1, keepdims=True)
    assert np.min(np.sum(normals * radial, axis=1)) > 0.98
    split = split_uv_seams(faces, face_uvs, uvs)
    n_lon, n_lat = 16, 8
    # Each ring vertex on the seam gets 2 copies, each pole one per adjacent column.
    assert len(split.vertex_ids) == len(vertices) - 2 + (n_lat - 1) + 2 * n_lon
    np.testing.assert_array_equal(split.vertex_ids[split.faces], faces)
    np.testing.assert_allclose(split.uvs[split.faces], uvs[face_uvs], atol=1e-7)
    # Tangents follow increasing u (the longitude direction) with w = +1 off the poles.
    p = vertices[split.vertex_ids]
    tan = tangents(p, normals[split.vertex_ids], split.uvs, split.faces)
    ring = np.abs(p[:, 1]) < 0.099
    east = np.stack([p[:, 2], np.zeros(len(p)), -p[:, 0]], 1)
    east /= np.maximum(np.linalg.norm(east, axis=1, keepdims=True), 1e-12)
    assert np.min(np.sum(tan[ring, :3] * east[ring], axis=1)) > 0.95
    assert np.all(tan[ring, 3] == 1)
    # A mirrored mapping (u flipped) flips the handedness.
    flipped = tangents(p, normals[split.vertex_ids], split.uvs * [-1, 1], split.faces)
    assert np.all(flipped[ring, 3] == -1)


def test_obj(sphere_avatar, tmp_path):
    obj_path = write_obj(sphere_avatar, tmp_path / "out")
    assert obj_path == tmp_path / "out" / "head.obj"
    assert sorted(p.name for p in obj_path.parent.iterdir()) == [
        "head.mtl", "head.obj", "head_albedo.png", "head_normal.png"]  # fmt: skip
    mtl = (obj_path.parent / "head.mtl").read_text().splitlines()
    assert {"map_Kd head_albedo.png", "norm head_normal.png",
            "map_Bump -bm 1 head_normal.png"} <= set(mtl)  # fmt: skip
    text = obj_path.read_text()
    assert text.startswith("mtllib head.mtl\n") and "usemtl head\n" in text
    loaded = trimesh.load(obj_path, process=False)
    assert loaded.visual.uv is not None and len(loaded.visual.uv) == len(loaded.vertices)
    assert loaded.visual.material.image.size == (64, 64)
    assert len(loaded.faces) == len(sphere_avatar.mesh.faces)
    posed = sphere_avatar.mesh.posed(sphere_avatar.expression)
    assert not np.allclose(posed, sphere_avatar.mesh.vertices, atol=1e-4)
    # Every OBJ vertex is a posed vertex (to the 6 written decimals) and all are used.
    dist = np.linalg.norm(loaded.vertices[:, None] - posed[None], axis=2).min(axis=1)
    assert dist.max() < 2e-6
    assert {tuple(r) for r in np.round(loaded.vertices, 6)} == {
        tuple(r) for r in np.round(posed.astype(np.float64), 6)}  # fmt: skip
    assert loaded.volume > 0  # outward-facing winding


def test_obj_reads_back_as_written(sphere_avatar):
    """read_obj (trimesh, which splits vertices at the sphere's UV seam and poles) gives back
    the mesh obj_text wrote: as many positions, the same faces and positions (to the 6 written
    decimals), the same uv at every corner, and no uv the faces do not use."""
    mesh = sphere_avatar.mesh
    vertices, faces, uvs, face_uvs = read_obj(obj_text(sphere_avatar).encode())
    split = trimesh.load(io.BytesIO(obj_text(sphere_avatar).encode()), file_type="obj", process=False)
    assert len(split.vertices) > len(mesh.vertices)  # the seam is there to be merged back
    assert (vertices.dtype, faces.dtype, uvs.dtype, face_uvs.dtype) == (np.float32, np.int32, np.float32, np.int32)
    assert vertices.shape == mesh.vertices.shape and np.array_equal(faces, mesh.faces)
    assert np.abs(vertices - mesh.posed(sphere_avatar.expression)).max() < 1e-6
    assert face_uvs.shape == mesh.face_uvs.shape and np.abs(uvs[face_uvs] - mesh.uvs[mesh.face_uvs]).max() < 1e-6
    used = np.unique(mesh.face_uvs)
    assert len(uvs) == len(used) and np.array_equal(np.unique(face_uvs), np.arange(len(uvs)))


def test_zip_contents(sphere_avatar, tmp_path):
    path = write_zip(sphere_avatar, tmp_path / "avatar.zip")
    assert path == tmp_path / "avatar.zip"
    assert [p.name for p in tmp_path.iterdir()] == ["avatar.zip"]
    with zipfile.ZipFile(path) as archive:
        assert set(archive.namelist()) == ZIP_NAMES
        assert archive.testzip() is None
        files = {name: archive.read(name) for name in archive.namelist()}
    assert json.loads(files["params.json"]) == {"shape": [0.0, 1.0, 2.0], "scale": 1.25, "n": 3}
    assert files["avatar.glb"] == glb_bytes(sphere_avatar)
    for name in ("head_albedo.png", "head_normal.png", "preview.png"):
        types = png_chunk_types(files[name])
        assert types[0] == b"IHDR" and set(types[1:-1]) == {b"IDAT"} and types[-1] == b"IEND"
    preview = np.asarray(Image.open(io.BytesIO(files["preview.png"])))
    np.testing.assert_array_equal(preview, sphere_avatar.preview)
    # Same avatar, same bytes (fixed entry times, no metadata).
    again = package.write_zip(sphere_avatar, tmp_path / "again.zip")
    assert again.read_bytes() == path.read_bytes()

    sphere_avatar.preview = None
    package.write_zip(sphere_avatar, path)
    with zipfile.ZipFile(path) as archive:
        assert set(archive.namelist()) == ZIP_NAMES - {"preview.png"}


def test_zip_bad_params_leaves_nothing(sphere_avatar, tmp_path):
    sphere_avatar.params = {"fit": object()}
    with pytest.raises(TypeError, match="object"):
        write_zip(sphere_avatar, tmp_path / "avatar.zip")
    sphere_avatar.params = {"loss": np.float32("nan")}
    with pytest.raises(ValueError):
        write_zip(sphere_avatar, tmp_path / "avatar.zip")
    assert list(tmp_path.iterdir()) == []


def test_zip_failure_mid_write_keeps_old_zip(sphere_avatar, tmp_path, monkeypatch):
    path = package.write_zip(sphere_avatar, tmp_path / "avatar.zip")
    before = path.read_bytes()
    real_info = package._entry_info

    def failing_info(name):
        if name == "params.json":  # after the GLB and OBJ entries are written
            raise OSError("disk full")
        return real_info(name)

    monkeypatch.setattr(package, "_entry_info", failing_info)
    sphere_avatar.expression = np.zeros(52, np.float32)
    with pytest.raises(OSError, match="disk full"):
        package.write_zip(sphere_avatar, path)
    monkeypatch.undo()

    def failing_replace(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="rename failed"):
        package.write_zip(sphere_avatar, tmp_path / "new.zip")
    assert [p.name for p in tmp_path.iterdir()] == ["avatar.zip"]
    assert path.read_bytes() == before


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores permissions")
def test_zip_read_only_folder(sphere_avatar, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(PermissionError):
            package.write_zip(sphere_avatar, folder / "avatar.zip")
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o700)


@pytest.mark.skipif(not any(ANNY_CACHE.rglob("*.safetensors")), reason="anny cache missing")
def test_real_head_export(tmp_path):
    anny = pytest.importorskip("anny")
    model = anny.Anny(
        rig="makehuman-head", topology="head", local_changes="all", facial_actions="all"
    )

    def to_head_frame(a):  # Blender frame (Z up, face along -Y) -> Y up, face along +Z
        a = np.asarray(a, np.float64)
        return np.stack([a[..., 0], a[..., 2], -a[..., 1]], -1)

    vertices = to_head_frame(model.template_vertices)
    mesh = HeadMesh(
        vertices=(vertices - vertices.mean(0)).astype(np.float32),
        faces=np.asarray(model.faces, np.int32),
        uvs=np.asarray(model.texture_coordinates, np.float32),
        face_uvs=np.asarray(model.face_texture_coordinate_indices, np.int32),
        morph_names=list(model.facial_action_labels),
        morph_deltas=to_head_frame(model.blendshapes[74 : 74 + 52]).astype(np.float32),
    )
    avatar = make_avatar(mesh, size=128)
    path = write_zip(avatar, tmp_path / "head.zip")
    with zipfile.ZipFile(path) as archive:
        assert set(archive.namelist()) == ZIP_NAMES
        archive.extractall(tmp_path / "out")
    glb = tmp_path / "out" / "avatar.glb"
    check_glb(avatar, glb.read_bytes(), glb)
    obj = trimesh.load(tmp_path / "out" / "head.obj", process=False)
    extent = obj.bounds[1] - obj.bounds[0]
    assert np.all((extent > 0.12) & (extent < 0.35)), extent  # a head, in metres
    assert obj.visual.material.image.size == (128, 128)
    assert len(obj.faces) == 9014
