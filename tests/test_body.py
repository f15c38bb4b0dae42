"""The full-body avatar: anny's body under the fitted head, the Ready Player Me rig and mesh
names, visemes, the T-pose, the outfit, the GLB's skin and the VRM's extensions (the humanoid,
and spring bones on the long hair: the avatar wears the stored hairstyle long_straight)."""
from __future__ import annotations

import zipfile

import numpy as np
import pytest
import skimage.data
from test_export import accessor_array, glb_json_and_blob
from webhelpers import glb_json

import headforge
from headforge.body.fullbody import BODY_CHOICES, parse_body_shape
from headforge.body.visemes import EXTRAS, VISEMES, mix_matrix
from headforge.errors import BodyShapeError
from headforge.export.package import zip_entries

RPM_BONES = {"Hips", "Spine", "Spine1", "Spine2", "Neck", "Head", "LeftEye", "RightEye"} | {
    f"{side}{bone}" for side in ("Left", "Right")
    for bone in ("Shoulder", "Arm", "ForeArm", "Hand", "HandIndex1", "HandThumb3", "UpLeg", "Leg", "Foot", "ToeBase")}
RPM_MESHES = {"Wolf3D_Head", "Wolf3D_Teeth", "EyeLeft", "EyeRight", "Wolf3D_Body", "Wolf3D_Outfit_Top",
              "Wolf3D_Outfit_Bottom", "Wolf3D_Outfit_Footwear", "Wolf3D_Hair"}


@pytest.fixture(scope="module")
def avatar():
    return headforge.reconstruct(skimage.data.astronaut(), texture_size=512, body="full", hair="long_straight",
                                 body_shape={"gender": 0.2, "height": 0.5})


@pytest.fixture(scope="module")
def entries(avatar):
    return zip_entries(avatar)


def test_the_skeleton_has_ready_player_me_names_in_a_t_pose(avatar):
    body = avatar.body
    assert RPM_BONES <= set(body.bone_names)
    parent = {name: body.bone_names[p] if p >= 0 else None for name, p in zip(body.bone_names, body.parents)}
    assert parent["Hips"] is None and parent["Spine"] == "Hips" and parent["Neck"] == "Spine2"
    assert parent["Head"] == "Neck" and parent["LeftEye"] == parent["RightEye"] == "Head"
    assert parent["LeftArm"] == "LeftShoulder" and parent["LeftToeBase"] == "LeftFoot"
    at = {name: body.world[body.bone(name), :3, 3] for name in body.bone_names}
    assert at["LeftEye"][0] > 0 > at["RightEye"][0]  # facing +Z, the left eye is at +x
    assert at["LeftHand"][0] > at["LeftForeArm"][0] > at["LeftArm"][0] > 0  # arms straight out, level
    assert abs(at["LeftHand"][1] - at["LeftArm"][1]) < 0.02 and abs(at["RightHand"][1] - at["RightArm"][1]) < 0.02
    for j in range(len(body.bone_names)):
        rotation = body.world[j, :3, :3]
        assert np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-6)
    floor = min(p.vertices[:, 1].min() for p in body.parts)
    top = max(p.vertices[:, 1].max() for p in body.parts)
    assert abs(floor) < 0.02 and 1.45 < top < 1.95  # metres, standing on y = 0
    assert avatar.params["body"]["phenotypes"]["gender"] == 0.2
    assert set(avatar.params["body"]["chosen"]) == {"gender", "height"}


def test_the_head_sits_on_the_neck_and_the_outfit_covers_the_body(avatar):
    body = avatar.body
    from scipy.spatial import cKDTree

    below = np.concatenate([p.vertices for p in body.parts if p.name.startswith(("Wolf3D_Body", "Wolf3D_Outfit"))])
    distance, _ = cKDTree(body.part("Wolf3D_Head").vertices).query(below)
    assert (distance < 1e-5).sum() >= 30, "the body does not meet the head at the seam"
    area = {p.name: _area(p.vertices, p.faces) for p in body.parts}
    cloth = area["Wolf3D_Outfit_Top"] + area["Wolf3D_Outfit_Bottom"] + area["Wolf3D_Outfit_Footwear"]
    assert cloth > 4 * area["Wolf3D_Body"]  # skin shows at the neck and hands only
    for part in body.parts:
        assert np.allclose(part.weights.sum(axis=1), 1, atol=1e-5)
        assert part.joints.max() < len(body.bone_names)


def test_visemes_are_arkit_mixes():
    assert list(VISEMES) == [f"viseme_{v}" for v in
                             ("sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "I", "O", "U")]
    assert set(EXTRAS) == {"mouthOpen", "mouthSmile", "eyesClosed", "eyesLookUp", "eyesLookDown"}
    actions = list(headforge.emotion.load_mapping().actions)
    m = mix_matrix(actions, VISEMES)
    jaw = dict(zip(VISEMES, m[:, actions.index("jawOpen")]))
    assert not m[0].any()  # silence is the rest face
    assert jaw["viseme_aa"] > jaw["viseme_O"] > jaw["viseme_U"] > jaw["viseme_PP"] == 0
    assert m[list(VISEMES).index("viseme_U"), actions.index("mouthPucker")] > 0.5
    assert ((m >= 0) & (m <= 1)).all()


def test_the_glb_is_laid_out_as_ready_player_me(entries):
    gltf = glb_json(entries["avatar.glb"])
    nodes = gltf["nodes"]
    roots = [nodes[i]["name"] for i in gltf["scenes"][0]["nodes"]]
    assert roots == ["Armature"]
    names = {n["name"] for n in nodes}
    assert RPM_BONES | RPM_MESHES <= names
    armature = nodes[gltf["scenes"][0]["nodes"][0]]
    under = {nodes[i]["name"] for i in armature["children"]}
    assert {"Hips", "Wolf3D_Head", "Wolf3D_Body", "Wolf3D_Outfit_Top"} <= under  # TalkingHead looks there
    (skin,) = gltf["skins"]
    assert {nodes[j]["name"] for j in skin["joints"]} >= RPM_BONES
    head = next(m for m in gltf["meshes"] if m["name"] == "Wolf3D_Head")
    targets = head["extras"]["targetNames"]
    assert len(targets) == 52 + 15 + 5 and set(VISEMES) | set(EXTRAS) <= set(targets)
    assert len(head["primitives"][0]["targets"]) == len(targets) and not any(head["weights"])
    assert {"JOINTS_0", "WEIGHTS_0"} <= set(head["primitives"][0]["attributes"])


def test_the_vrm_has_the_humanoid_expressions_and_licence(entries):
    gltf = glb_json(entries["avatar.vrm"])
    vrm = gltf["extensions"]["VRMC_vrm"]
    assert gltf["extensionsUsed"] == ["VRMC_vrm", "VRMC_springBone"] and vrm["specVersion"] == "1.0"
    bones = vrm["humanoid"]["humanBones"]
    required = {"hips", "spine", "head", "leftUpperArm", "leftLowerArm", "leftHand", "rightUpperArm",
                "rightLowerArm", "rightHand", "leftUpperLeg", "leftLowerLeg", "leftFoot", "rightUpperLeg",
                "rightLowerLeg", "rightFoot"}
    assert required <= set(bones)
    assert gltf["nodes"][bones["leftUpperArm"]["node"]]["name"] == "LeftArm"
    presets = vrm["expressions"]["preset"]
    assert {"happy", "angry", "sad", "relaxed", "surprised", "aa", "ih", "ou", "ee", "oh", "blink", "blinkLeft",
            "blinkRight", "lookUp", "lookDown", "lookLeft", "lookRight"} == set(presets)
    for name, expression in presets.items():
        assert expression["morphTargetBinds"], name
        for bind in expression["morphTargetBinds"]:
            mesh = gltf["meshes"][gltf["nodes"][bind["node"]]["mesh"]]
            assert 0 <= bind["index"] < len(mesh["primitives"][0]["targets"]) and 0 < bind["weight"] <= 1
    assert vrm["meta"]["licenseUrl"] == "https://vrm.dev/licenses/1.0/"
    assert vrm["meta"]["avatarPermission"] == "onlyAuthor"  # the default licence: personal
    assert vrm["lookAt"]["type"] == "expression"
    types = {gltf["nodes"][a["node"]]["name"]: a["type"] for a in vrm["firstPerson"]["meshAnnotations"]}
    assert types["Wolf3D_Head"] == "thirdPersonOnly" and types["Wolf3D_Outfit_Top"] == "both"


def test_the_vrm_swings_the_long_hair_on_spring_chains_under_the_head(entries):
    gltf = glb_json(entries["avatar.vrm"])
    nodes = gltf["nodes"]
    parent = {child: i for i, node in enumerate(nodes) for child in node.get("children", [])}
    head = next(i for i, node in enumerate(nodes) if node["name"] == "Head")
    springs = gltf["extensions"]["VRMC_springBone"]
    assert springs["specVersion"] == "1.0" and 12 <= len(springs["springs"]) <= 40
    chained = []
    for spring in springs["springs"]:
        joints = [j["node"] for j in spring["joints"]]
        assert 3 <= len(joints) <= 5 and parent[joints[0]] == head
        assert all(parent[b] == a for a, b in zip(joints, joints[1:]))  # one parent chain, root to tip
        assert spring["colliderGroups"] == [0]
        for joint in spring["joints"]:
            assert joint["stiffness"] > 0 and 0 <= joint["dragForce"] <= 1 and joint["gravityDir"] == [0, -1, 0]
            assert joint["hitRadius"] > 0
        tip = [nodes[j]["translation"] for j in joints[1:]]
        assert all(t[1] < 0 for t in tip)  # the long hair hangs: each joint below the one before
        chained += joints
    assert len(set(chained)) == len(chained)  # no joint in two springs (the spec forbids it)
    shapes = {nodes[c["node"]]["name"]: next(iter(c["shape"])) for c in springs["colliders"]}
    capsules = {b for b, s in shapes.items() if s == "capsule"}
    assert shapes["Head"] == "sphere" and {"Neck", "Spine2", "LeftShoulder", "RightShoulder"} <= capsules
    assert springs["colliderGroups"][0]["colliders"] == list(range(len(springs["colliders"])))
    hair = next(n for n in nodes if n["name"] == "Wolf3D_Hair")
    skin = gltf["skins"][hair["skin"]]
    assert skin["joints"][0] == head and set(skin["joints"][1:]) == set(chained)
    # the cards are skinned to those joints, weights summing to 1; the short parts stay on Head
    _, blob = glb_json_and_blob(entries["avatar.vrm"])
    attributes = gltf["meshes"][hair["mesh"]]["primitives"][0]["attributes"]
    joints, weights = (accessor_array(gltf, blob, attributes[k]) for k in ("JOINTS_0", "WEIGHTS_0"))
    assert np.allclose(weights.sum(axis=1), 1, atol=1e-6) and joints.max() < len(skin["joints"])
    moved = (weights > 0) & (joints > 0)
    assert 0.2 < moved.any(axis=1).mean() < 0.95  # long hair swings, the crown stays on the head
    assert (weights > 0).sum(axis=1).max() <= 2
    assert "VRMC_springBone" not in glb_json(entries["avatar.glb"]).get("extensionsUsed", [])


def test_long_hair_is_draped_over_the_body_not_through_it(avatar, entries):
    from headforge.core.geometry import closest_points
    from headforge.core.strand_formats import write_usc
    from headforge.hair.collision import ClosedSurface
    from headforge.hair.drape import body_surface
    from headforge.hair.meshquery import points_inside

    body, own = avatar.body, avatar.hair
    vertices, faces = body_surface(body, np.full(3, -5.0), np.full(3, 5.0))  # all of the body below the head
    closed = ClosedSurface.from_mesh(vertices, faces)
    surface = closed.extend(vertices), closed.faces

    def depth_inside(strands):  # (M,) metres under the surface of the hair points inside the body
        points = strands.reshape(-1, 3).astype(np.float64)
        inside = points[points_inside(*surface, points)]
        return np.linalg.norm(closest_points(*surface, inside)[2] - inside, axis=1)

    assert len(depth_inside(own.strands)) > 1000  # fitted to the head alone, it passes through the shoulders
    assert len(depth_inside(body.hair.strands)) < 20 and depth_inside(body.hair.strands).max(initial=0) < 1e-3
    before, after = own.strands.astype(np.float64), body.hair.strands.astype(np.float64)
    assert np.array_equal(after[:, 0], before[:, 0])  # roots stay on the scalp
    lengths = [np.linalg.norm(np.diff(s, axis=1), axis=2) for s in (before, after)]
    assert np.abs(lengths[1] - lengths[0]).max() <= 0.01 * lengths[0].min()
    assert 0.05 < (np.abs(after - before).max(axis=(1, 2)) > 1e-4).mean() < 1  # hair off the body stays
    assert entries["hair.data"] == write_usc(own.strands)  # the head's own hair is untouched
    assert not np.array_equal(after, before) and avatar.body.hair is not own


def test_head_only_stays_the_default(tmp_path):
    assert BODY_CHOICES[0] == "head" and headforge.pipeline.Options().body == "head"
    assert "avatar.vrm" not in zipfile.ZipFile(_small_zip(tmp_path)).namelist()


def test_bad_body_shapes_are_clear_errors():
    assert parse_body_shape("gender=0.1, height=0.9") == {"gender": 0.1, "height": 0.9}
    for bad in ("beauty=1", "height=1.5", "gender=tall"):
        with pytest.raises(BodyShapeError) as info:
            parse_body_shape(bad)
        assert info.value.code == "bad_body_shape"


def _small_zip(tmp_path):
    from test_export import sphere_avatar  # noqa: F401 - a tiny head-only avatar

    avatar = sphere_avatar.__wrapped__()
    return headforge.write_zip(avatar, tmp_path / "head.zip")


def _area(vertices: np.ndarray, faces: np.ndarray) -> float:
    a, b, c = (vertices[faces[:, k]] for k in range(3))
    return float(np.linalg.norm(np.cross(b - a, c - a), axis=1).sum() / 2)


def test_gltf_validator_finds_no_error(entries, tmp_path):
    from test_hair_cards import validate

    paths = [tmp_path / "avatar.glb", tmp_path / "avatar.vrm"]
    for path in paths:
        path.write_bytes(entries[path.name])
    glb, vrm = validate(paths)
    assert glb["errors"] == 0 and vrm["errors"] == 0, (glb["messages"], vrm["messages"])
    # Ready Player Me's layout keeps the skinned meshes under Armature, where TalkingHead looks:
    # the validator notes that the parent's transform (identity here) does not move them.
    assert {m["code"] for m in glb["messages"] if m["severity"] == 1} <= {"NODE_SKINNED_MESH_NON_ROOT"}
    assert vrm["warnings"] == 0, vrm["messages"]
