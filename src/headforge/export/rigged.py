"""The full-body avatar as a skinned GLB laid out as Ready Player Me's: what TalkingHead and
other Ready Player Me clients look up is where they look for it.

Scene: one root node ``Armature`` (no transform) holding the skeleton (``Hips`` and its
children, Mixamo names, +Y along each bone, body frame: metres, Y up, facing +Z, floor at 0)
and one node per mesh (``Wolf3D_Head``, ``Wolf3D_Teeth``, ``EyeLeft``, ``EyeRight``,
``Wolf3D_Body``, ``Wolf3D_Outfit_Top``/``_Bottom``/``_Footwear``), all skinned by one skin;
the hair (``Wolf3D_Hair``) hangs under the ``Head`` bone (:func:`attach_to_head`), or, with
``hair_springs`` (the VRM's), is skinned to spring chains under it. The head parts carry the 52 ARKit targets, the 15 visemes and 5 extras
(names in ``mesh.extras.targetNames``); default weights 0: a neutral face (the photo's
expression is in params.json).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from headforge.core.avatar import Avatar
from headforge.body.fullbody import FullBody, BodyPart
from headforge.body.rig import ARMATURE
from headforge.export.gltf import (
    ELEMENT_ARRAY_BUFFER, TRIANGLES, GlbBuilder, add_hair, add_skin_material, morph_targets,
    textured_primitive,
)
from headforge.core.images import encode_png
from headforge.export.springs import SpringHair, add_spring_hair
from headforge.hair.cards import DEFAULT_BUDGET, card_budget
from headforge.texture.scalp import worn_albedo
from headforge.core.geometry import vertex_normals

HAIR_NODE = "Wolf3D_Hair"


@dataclass
class RiggedScene:
    """Where things are in a builder filled by :func:`rigged_builder`: node indices of the
    bones (in ``FullBody.bone_names`` order) and of each mesh node by name."""

    builder: GlbBuilder
    armature: int
    bones: list[int]
    meshes: dict[str, int]
    skin: int
    springs: SpringHair | None = None


def rigged_builder(avatar: Avatar, body: FullBody, albedo_png: bytes | None = None,
                   normal_png: bytes | None = None, meshes_under_armature: bool = True,
                   hair_budget: str = DEFAULT_BUDGET, hair_springs: bool = False) -> RiggedScene:
    """A builder holding the rigged avatar. ``meshes_under_armature``: mesh nodes are children
    of ``Armature`` (as Ready Player Me's, where TalkingHead looks for them); else scene roots.
    ``hair_budget``: the hair cards' budget, "web" or "high". ``hair_springs``: long hair is
    skinned to joint chains (:func:`headforge.export.springs.add_spring_hair`; the rest and
    hair with no long cards stay rigid under ``Head``)."""
    builder = GlbBuilder()
    gltf = builder.gltf
    armature = builder._append("nodes", {"name": ARMATURE, "children": []})
    gltf["scenes"][0]["nodes"].append(armature)
    bones = _add_skeleton(builder, body)
    gltf["nodes"][armature]["children"].append(bones[0])
    skin = builder._append("skins", {
        "name": ARMATURE,
        "joints": bones,
        "skeleton": bones[0],
        "inverseBindMatrices": builder.add_accessor(
            np.linalg.inv(body.world).transpose(0, 2, 1).astype(np.float32), target=None),
    })
    albedo_png = encode_png(worn_albedo(avatar)) if albedo_png is None else albedo_png
    normal_png = encode_png(avatar.normal_map) if normal_png is None else normal_png
    skin_material = add_skin_material(builder, "Wolf3D_Skin", albedo_png, normal_png)
    meshes = {}

    def place(node: int) -> None:
        if meshes_under_armature:
            gltf["nodes"][armature]["children"].append(node)
        else:
            gltf["scenes"][0]["nodes"].append(node)

    for part in body.parts:
        node = builder._append("nodes", {"name": part.name, "mesh": _add_part(builder, part, skin_material),
                                         "skin": skin})
        place(node)
        meshes[part.name] = node
    springs = None
    hair = avatar.hair if body.hair is None else body.hair  # draped over the body
    if hair is not None and hair.count:
        limit = card_budget(hair_budget)
        springs = add_spring_hair(builder, hair, limit, body, bones) if hair_springs else None
        if springs is None:
            meshes[HAIR_NODE] = attach_to_head(builder, add_hair(builder, hair, limit), body, bones, HAIR_NODE)
        else:
            gltf["nodes"][springs.node]["name"] = HAIR_NODE
            place(springs.node)
            meshes[HAIR_NODE] = springs.node
    return RiggedScene(builder, armature, bones, meshes, skin, springs)


def rigged_glb_bytes(avatar: Avatar, body: FullBody, albedo_png: bytes | None = None,
                     normal_png: bytes | None = None, hair_budget: str = DEFAULT_BUDGET) -> bytes:
    """The rigged full-body avatar as a GLB file (see the module docstring)."""
    return rigged_builder(avatar, body, albedo_png, normal_png, hair_budget=hair_budget).builder.to_bytes()


def attach_to_head(builder: GlbBuilder, node: int, body: FullBody, bones: list[int], name: str) -> int:
    """Make scene-root node ``node`` (a mesh in the head frame: hair, or teeth and eyes made
    apart) a child of the ``Head`` bone that places it on the body, renamed ``name``: it moves
    rigidly with the head in every client, whatever its primitives (lines or triangles).
    Returns ``node``."""
    gltf = builder.gltf
    head = body.bone("Head")
    gltf["scenes"][0]["nodes"].remove(node)
    place = np.eye(4)
    place[:3, 3] = body.head_offset  # head frame -> body frame
    local = np.linalg.solve(body.world[head], place)
    gltf["nodes"][node].update(name=name, matrix=[float(v) for v in local.T.ravel()])
    gltf["nodes"][bones[head]].setdefault("children", []).append(node)
    return node


def _add_skeleton(builder: GlbBuilder, body: FullBody) -> list[int]:
    """One node per bone, local transforms from the rest world transforms; returns the node
    indices in ``body.bone_names`` order (the root first)."""
    nodes = []
    for j, name in enumerate(body.bone_names):
        parent = body.parents[j]
        local = body.world[j] if parent < 0 else np.linalg.solve(body.world[parent], body.world[j])
        rotation = Rotation.from_matrix(local[:3, :3]).as_quat()  # x, y, z, w as glTF
        node = builder._append("nodes", {"name": name, "translation": [float(v) for v in local[:3, 3]],
                                         "rotation": [float(v) for v in rotation]})
        nodes.append(node)
        if parent >= 0:
            builder.gltf["nodes"][nodes[parent]].setdefault("children", []).append(node)
    return nodes


def _add_part(builder: GlbBuilder, part: BodyPart, skin_material: int) -> int:
    """The glTF mesh of one body part: textured (head parts) or one fabric colour."""
    deltas = part.morph_deltas if part.morph_names else None
    if part.uvs is not None:
        primitive, ids = textured_primitive(builder, part.vertices, part.faces, part.uvs, part.face_uvs,
                                            deltas, skin_material)
    else:
        ids = np.arange(len(part.vertices))
        vertices = np.asarray(part.vertices, np.float32)
        normals = vertex_normals(vertices, part.faces)
        primitive = {
            "attributes": {"POSITION": builder.add_accessor(vertices, bounds=True),
                           "NORMAL": builder.add_accessor(normals)},
            "indices": builder.add_accessor(np.asarray(part.faces, np.uint32).ravel(), target=ELEMENT_ARRAY_BUFFER),
            "material": builder.add_material({
                "name": part.name,
                "pbrMetallicRoughness": {"baseColorFactor": [*part.color, 1.0], "metallicFactor": 0.0,
                                         "roughnessFactor": part.roughness}}),
            "mode": TRIANGLES,
        }
        if deltas is not None:
            primitive["targets"] = morph_targets(builder, vertices, part.faces, deltas, normals, ids)
    primitive["attributes"]["JOINTS_0"] = builder.add_accessor(part.joints[ids].astype(np.uint16))
    primitive["attributes"]["WEIGHTS_0"] = builder.add_accessor(part.weights[ids].astype(np.float32))
    mesh = {"name": part.name, "primitives": [primitive]}
    if part.morph_names:  # a neutral face at rest: clients drive every target from zero
        mesh["weights"] = [0.0] * len(part.morph_names)
        mesh["extras"] = {"targetNames": list(part.morph_names)}
    return builder.add_mesh(mesh)
