"""Spring bones (``VRMC_springBone`` 1.0) for the full-body VRM: long hair swings on joint
chains and bumps into the head, neck, chest, shoulders and upper arms.

Frame: the body's (metres, Y up, facing +Z). The hair is the one draped over the body
(:attr:`FullBody.hair`), and the chains' joints are draped over it too, ``HIT_RADIUS_M`` off
its surface (:func:`headforge.hair.drape.drape_chains`), so no joint starts inside the body
and the shoulder capsules survive the shrinking below. The hair cards are one skinned mesh with its
own skin: joint 0 is the ``Head`` bone, then the chains' joints (:mod:`headforge.hair.chains`:
where they go, how the cards are weighted), chain after chain. Joint nodes are named
``HairChain<k>_<j>``; a chain's root is a child of ``Head`` and each next joint a child of
the one before, with no local rotation (their axes are the Head bone's).

Springs: one a chain, in world space (no ``center``: moving the whole avatar swings the hair
as well); every joint with ``HIT_RADIUS_M``, ``GRAVITY_POWER`` straight down, ``DRAG_FORCE``
and a stiffness from ``STIFFNESS[0]`` at the root to ``STIFFNESS[1]`` at the last moving joint.

Colliders (one group, every spring collides with it): a sphere in the skull (centre: the box
centre of the head mesh's vertices above the Head bone; radius: the ``COLLIDER_PERCENTILE``
percentile of their distances from it) and capsules along ``CAPSULES``: the segment from
the bone to its tail bone, moved by the mean offset from it of the vertices the bone moves
(weight ``MOVED_WEIGHT`` or more), onto the limb's middle; radius: the same percentile of
those vertices' distances from it. Each is shrunk so that no chain joint at rest lies within it (its hit radius
included): hair resting on the shoulders would else be pushed out at the first frame. A
collider left under ``MIN_COLLIDER_M`` is dropped.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from headforge.body.fullbody import FullBody
from headforge.core.strands import Hairstyle
from headforge.export.gltf import GlbBuilder, add_hair
from headforge.hair.cards import CardBudget, cached_cards
from headforge.hair.chains import hair_chains
from headforge.hair.drape import drape_chains

SPRING_BONE = "VRMC_springBone"
STIFFNESS = (1.0, 0.4)  # at a chain's root joint, at its last moving joint
GRAVITY_POWER = 0.1
DRAG_FORCE = 0.4
HIT_RADIUS_M = 0.015
CAPSULES = (("Neck", "Head"), ("Spine2", "Neck"), ("LeftShoulder", "LeftArm"), ("RightShoulder", "RightArm"),
            ("LeftArm", "LeftForeArm"), ("RightArm", "RightForeArm"))  # (bone, the bone at its tail)
COLLIDER_PERCENTILE = 10
MOVED_WEIGHT = 0.3  # the vertices a bone moves: its skinning weight at least this
MIN_COLLIDER_M = 0.02


@dataclass
class SpringHair:
    """The skinned hair of :func:`add_spring_hair`: its mesh node, each chain's joint nodes
    (root to tip) and their rest positions (J_k, 3) in the body frame (metres)."""

    node: int
    chains: list[list[int]]
    points: list[np.ndarray]


def add_spring_hair(builder: GlbBuilder, hair: Hairstyle, limit: CardBudget, body: FullBody,
                    bones: list[int]) -> SpringHair | None:
    """Add ``hair``'s cards (budget ``limit``) as a mesh node skinned to joint chains under
    the Head bone (``bones``: the skeleton's nodes in ``body.bone_names`` order), not yet
    placed in the scene; None (and nothing added) when no card hangs."""
    head = body.bone("Head")
    rig = hair_chains(cached_cards(hair, limit), body.world[head, 1, 3] - body.head_offset[1])
    if not rig.chains:
        return None
    rig.chains = drape_chains(rig.chains, body, HIT_RADIUS_M)  # no joint starts in the body
    gltf = builder.gltf
    node = add_hair(builder, hair, limit, offset=body.head_offset)
    gltf["scenes"][0]["nodes"].remove(node)
    rest, chains, points = [body.world[head]], [], []
    for k, chain in enumerate(rig.chains):
        parent, parent_world, nodes = bones[head], body.world[head], []
        for j, point in enumerate(chain + body.head_offset):
            world = body.world[head].copy()
            world[:3, 3] = point
            local = np.linalg.solve(parent_world, world)[:3, 3]
            joint = builder._append("nodes", {"name": f"HairChain{k}_{j}", "translation": [float(v) for v in local]})
            gltf["nodes"][parent].setdefault("children", []).append(joint)
            parent, parent_world = joint, world
            nodes.append(joint)
            rest.append(world)
        chains.append(nodes)
        points.append(chain + body.head_offset)
    skin = builder._append("skins", {
        "name": "Hair", "joints": [bones[head], *(n for nodes in chains for n in nodes)], "skeleton": bones[head],
        "inverseBindMatrices": builder.add_accessor(
            np.linalg.inv(np.array(rest)).transpose(0, 2, 1).astype(np.float32), target=None)})
    primitive = gltf["meshes"][gltf["nodes"][node]["mesh"]]["primitives"][0]
    primitive["attributes"]["JOINTS_0"] = builder.add_accessor(np.pad(rig.joints, ((0, 0), (0, 2))).astype(np.uint16))
    primitive["attributes"]["WEIGHTS_0"] = builder.add_accessor(np.pad(rig.weights, ((0, 0), (0, 2))))
    gltf["nodes"][node]["skin"] = skin
    return SpringHair(node, chains, points)


def spring_bone_extension(body: FullBody, bones: list[int], hair: SpringHair) -> dict:
    """The ``VRMC_springBone`` extension object for ``hair`` (see the module docstring)."""
    joints = np.concatenate(hair.points)
    colliders = []
    for bone, (kind, shape) in _collider_shapes(body, joints):
        to_bone = np.linalg.inv(body.world[body.bone(bone)])
        local = {key: [float(v) for v in to_bone[:3, :3] @ value + to_bone[:3, 3]] for key, value in shape.items()
                 if key != "radius"}
        colliders.append({"node": bones[body.bone(bone)], "shape": {kind: {**local, "radius": float(shape["radius"])}}})
    springs = []
    for k, nodes in enumerate(hair.chains):
        stiffness = np.linspace(*STIFFNESS, len(nodes) - 1)  # the tip joint only ends the last segment
        springs.append({"name": f"HairChain{k}", "colliderGroups": [0], "joints": [
            {"node": node, "hitRadius": HIT_RADIUS_M, "stiffness": round(float(stiffness[min(j, len(nodes) - 2)]), 4),
             "gravityPower": GRAVITY_POWER, "gravityDir": [0.0, -1.0, 0.0], "dragForce": DRAG_FORCE}
            for j, node in enumerate(nodes)]})
    return {"specVersion": "1.0", "colliders": colliders,
            "colliderGroups": [{"name": "body", "colliders": list(range(len(colliders)))}], "springs": springs}


def _collider_shapes(body: FullBody, joints: np.ndarray) -> list[tuple[str, tuple[str, dict]]]:
    """[(bone, (shape kind, {offset, [tail,] radius}))] in the body frame, the radii shrunk
    clear of the (N, 3) rest ``joints`` (see the module docstring)."""
    head_bone = body.world[body.bone("Head"), :3, 3]
    skull = body.part("Wolf3D_Head").vertices
    skull = skull[skull[:, 1] > head_bone[1]].astype(np.float64)
    centre = (skull.min(axis=0) + skull.max(axis=0)) / 2
    radius = np.percentile(np.linalg.norm(skull - centre, axis=1), COLLIDER_PERCENTILE)
    shapes = [("Head", ("sphere", {"offset": centre, "radius": radius}), np.linalg.norm(joints - centre, axis=1))]
    vertices = np.concatenate([p.vertices for p in body.parts]).astype(np.float64)
    joints_of, weights_of = (np.concatenate([getattr(p, key) for p in body.parts]) for key in ("joints", "weights"))
    for bone, tail in CAPSULES:
        moved = vertices[(weights_of * (joints_of == body.bone(bone))).sum(axis=1) >= MOVED_WEIGHT]
        a, b = body.world[body.bone(bone), :3, 3], body.world[body.bone(tail), :3, 3]
        shift = (moved - _closest(moved, a, b)).mean(axis=0)  # onto the limb's middle
        a, b = a + shift, b + shift
        radius = np.percentile(np.linalg.norm(moved - _closest(moved, a, b), axis=1), COLLIDER_PERCENTILE)
        clearance = np.linalg.norm(joints - _closest(joints, a, b), axis=1)
        shapes.append((bone, ("capsule", {"offset": a, "tail": b, "radius": radius}), clearance))
    out = []
    for bone, (kind, shape), clearance in shapes:
        shape["radius"] = min(shape["radius"], clearance.min() - HIT_RADIUS_M)
        if shape["radius"] >= MIN_COLLIDER_M:
            out.append((bone, (kind, shape)))
    return out


def _closest(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, 3) the points of the segment a-b nearest the (N, 3) ``points``."""
    ab = b - a
    t = np.clip((points - a) @ ab / max(float(ab @ ab), 1e-12), 0, 1)
    return a + t[:, None] * ab
