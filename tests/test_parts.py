"""The head's separate parts: teeth, tongue, mouth cavity, eyeballs and bust, in the GLB and in renders."""
from __future__ import annotations

import dataclasses
import json
import struct

import numpy as np
import pytest
import skimage.data

import headforge
from headforge.export.gltf import glb_bytes
from headforge.headmodel.fitted_parts import avatar_parts, scene
from headforge.render import render_mesh
from headforge.core.camera import Camera
from headforge.headmodel import parts_atlas
from headforge.texture.trust import MOUTH_OPENING, mouth_opening

PART_NAMES = ["teeth", "tongue", "EyeLeft", "EyeRight", "body"]


@pytest.fixture(scope="module")
def avatar():
    return headforge.reconstruct(skimage.data.astronaut(), keep_expression=False, texture_size=512, hair="none")


def weights(avatar, **named) -> np.ndarray:
    w = np.zeros(len(avatar.mesh.morph_names), np.float32)
    for name, value in named.items():
        w[avatar.mesh.morph_names.index(name)] = value
    return w


def gltf_json(data: bytes) -> dict:
    length, _ = struct.unpack_from("<I4s", data, 12)
    return json.loads(data[20:20 + length])


def test_parts_nodes_in_glb(avatar):
    gltf = gltf_json(glb_bytes(avatar))
    names = [gltf["nodes"][n]["name"] for n in gltf["scenes"][0]["nodes"]]
    assert names == ["head", *PART_NAMES]
    meshes = {m["name"]: m for m in gltf["meshes"]}
    assert set(meshes) == {"head", *PART_NAMES}
    head_materials = [gltf["materials"][p["material"]]["name"] for p in meshes["head"]["primitives"]]
    assert head_materials == ["head", "mouth"]
    assert {"jawOpen", "jawForward", "jawLeft", "jawRight"} <= set(meshes["teeth"]["extras"]["targetNames"])
    assert "tongueOut" in meshes["tongue"]["extras"]["targetNames"]
    for eye in ("EyeLeft", "EyeRight"):
        assert sorted(meshes[eye]["extras"]["targetNames"]) == sorted(
            f"eyeLook{d}{eye[3:]}" for d in ("Down", "In", "Out", "Up"))
    for m in meshes.values():  # sparse morph targets: each stores fewer rows than the mesh has
        for prim in m["primitives"]:
            count = gltf["accessors"][prim["attributes"]["POSITION"]]["count"]
            for target in prim.get("targets", []):
                acc = gltf["accessors"][target["POSITION"]]
                assert "bufferView" not in acc and acc.get("sparse", {}).get("count", 0) <= count
    # One atlas image for every part, after the albedo and the normal map.
    assert len(gltf["images"]) == 3


def test_lower_teeth_follow_the_jaw(avatar):
    parts = {p.name: p for p in avatar_parts(avatar).parts}
    teeth = parts["teeth"]
    jaw = teeth.morph_deltas[teeth.morph_names.index("jawOpen")]
    from headforge.headmodel.parts import load_parts

    lower = load_parts().teeth_lower
    assert np.abs(jaw[~lower]).max() < 1e-9  # the upper row is fixed to the skull
    assert jaw[lower, 1].mean() < -0.01  # the lower row drops more than a centimetre
    tongue = parts["tongue"]
    out = tongue.morph_deltas[tongue.morph_names.index("tongueOut")]
    assert out[:, 2].max() > 0.01  # tongueOut pushes the tongue forward


def test_eyes_turn_and_keep_their_size(avatar):
    eye = {p.name: p for p in avatar_parts(avatar).parts}["EyeLeft"]
    from headforge.headmodel.parts import _sphere_fit

    centre, radius = _sphere_fit(eye.vertices.astype(np.float64))
    assert 0.010 < radius < 0.02
    up = eye.posed({"eyeLookUpLeft": 1.0})
    assert up[0, 1] - eye.vertices[0, 1] > 0.002  # the front pole (pupil) rises
    np.testing.assert_allclose(np.linalg.norm(up[0] - centre), radius, rtol=0.03)
    # Blinking closes the skin's lids over the eyeball: the pupil is hidden from the front.
    cam = Camera.orbit(256, 256, 0.0, 0.0, 0.35, 20.0, np.array([0.0, 0.0, 0.05]))
    open_eye = _part_pixels(avatar, cam, "EyeLeft", weights(avatar))
    shut = _part_pixels(avatar, cam, "EyeLeft", weights(avatar, eyeBlinkLeft=1.0))
    assert open_eye > 150 and shut < 0.05 * open_eye


def _part_pixels(avatar, cam, name: str, expression: np.ndarray) -> int:
    """Pixels of a front render where the part ``name`` is the visible surface."""
    s = scene(avatar, expression)
    hp = avatar_parts(avatar)
    start = len(hp.skin_faces) + len(hp.cavity_faces)
    ranges = {}
    for p in hp.parts:
        ranges[p.name] = (start, start + len(p.faces))
        start += len(p.faces)
    face = render_mesh(s.vertices, s.faces, cam, uvs=s.uvs, face_uvs=s.face_uvs, texture=s.texture).face
    lo, hi = ranges[name]
    return int(((face >= lo) & (face < hi)).sum())


def test_closed_lips_hide_the_mouth_and_an_open_one_shows_teeth(avatar):
    cam = Camera.orbit(256, 256, 0.0, 0.0, 0.3, 20.0, np.array([0.0, -0.07, 0.07]))
    # The neutral head's lips part by about a millimetre (an edge of the upper teeth shows);
    # closed lips hide teeth and tongue.
    shut = weights(avatar, mouthClose=0.3)
    assert _part_pixels(avatar, cam, "teeth", shut) + _part_pixels(avatar, cam, "tongue", shut) == 0
    wide = weights(avatar, jawOpen=0.8)
    assert _part_pixels(avatar, cam, "teeth", wide) > 100
    assert _part_pixels(avatar, cam, "tongue", wide) > 200


def test_bust_is_joined_to_the_neck(avatar):
    body = {p.name: p for p in avatar_parts(avatar).parts}["body"]
    mesh = avatar.mesh
    neck = np.isin(np.round(body.vertices, 6).view([("", np.float32)] * 3),
                   np.round(mesh.vertices, 6).astype(np.float32).view([("", np.float32)] * 3)).ravel()
    assert neck.sum() >= 30  # the bust's top ring is the head's own neck vertices
    assert body.vertices[:, 1].min() < -0.35 and np.ptp(body.vertices[:, 0]) > 0.4  # down to the chest, shoulders wide
    # Skin inside the neckline, the top's fabric outside it.
    uv_front = parts_atlas.bust_uv(np.array([[0.0, -0.3, 0.12]]), body.vertices[neck].mean(0))
    uv_neck = parts_atlas.bust_uv(body.vertices[neck][:1], body.vertices[neck].mean(0))
    from headforge.render.shading import sample_bilinear

    atlas = avatar_parts(avatar).atlas
    chest, skin = sample_bilinear(atlas, uv_front)[0], sample_bilinear(atlas, uv_neck)[0]
    assert np.abs(chest - [62, 74, 96]).max() < 25 and skin.mean() > chest.mean() + 40


def test_iris_color_from_landmarks():
    photo = np.full((200, 200, 3), 220, np.uint8)
    landmarks = np.zeros((478, 2))
    yy, xx = np.mgrid[0:200, 0:200]
    for centre, ids in (((60, 100), parts_atlas.IRIS_LANDMARKS[0]), ((140, 100), parts_atlas.IRIS_LANDMARKS[1])):
        photo[np.hypot(xx - centre[0], yy - centre[1]) < 10] = (40, 90, 160)
        landmarks[ids[0]] = centre
        landmarks[list(ids[1:])] = np.array(centre) + np.array([[10, 0], [0, -10], [-10, 0], [0, 10]])
    color = parts_atlas.iris_color(photo, landmarks)
    np.testing.assert_allclose(color, [40, 90, 160], atol=3)
    assert parts_atlas.iris_color(photo, None) is None


def test_mouth_opening_is_not_trusted():
    landmarks = np.zeros((478, 2))
    angles = np.linspace(0, 2 * np.pi, len(MOUTH_OPENING), endpoint=False)
    landmarks[MOUTH_OPENING] = np.column_stack([100 + 30 * np.cos(angles), 100 + 8 * np.sin(angles)])
    mask = mouth_opening(landmarks, (200, 200), face_size=150)
    assert mask[100, 100] == 1 and mask[100, 128] == 1 and mask[60, 100] == 0
    assert mask.sum() > np.pi * 30 * 8  # widened beyond the contour
    closed = landmarks.copy()
    closed[MOUTH_OPENING, 1] = 100
    assert mouth_opening(closed, (200, 200), face_size=150)[60, 100] == 0


def test_preview_draws_the_parts(avatar):
    from headforge.export.preview import avatar_view

    with_parts = avatar_view(avatar, 0.0)
    bare = avatar_view(dataclasses.replace(avatar, bust=False), 0.0)
    assert (np.abs(with_parts.astype(int) - bare).sum(-1) > 30).mean() > 0.02  # the bust shows below the head

