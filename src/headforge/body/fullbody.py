"""The fitted head on anny's body: skinned parts named as Ready Player Me names them.

:func:`full_body` takes an avatar (its head mesh, in the head frame) and body phenotypes and
returns a :class:`FullBody` in the body frame (metres, Y up, facing +Z, floor at y = 0):

- the head's parts, textured with the avatar's albedo and carrying the 52 ARKit targets, the
  15 visemes and the 5 extras (:mod:`headforge.body.visemes`): ``Wolf3D_Head`` (skin),
  ``Wolf3D_Teeth`` (mouth interior), ``EyeLeft`` and ``EyeRight`` (skinned to the eye bones);
- the body below the neck, cut by the bone that moves each face most into ``Wolf3D_Body``
  (skin: neck and hands), ``Wolf3D_Outfit_Top`` (long sleeves), ``Wolf3D_Outfit_Bottom``
  (trousers) and ``Wolf3D_Outfit_Footwear`` (shoes), each one fabric colour.

The head keeps its fitted shape; it is moved (no scale, no rotation) onto the body's neck, and
the body's vertices near the seam follow it, so the two share the seam's positions.
Other meshes that belong to the head (hair, teeth or eyes made apart) stay in the head frame:
the exporters hang them under the ``Head`` bone, moved by :attr:`FullBody.head_offset`.

The rest pose is VRM's T-pose (:func:`t_pose`): anny's A-pose with the arms raised level.
The outfit is the body's own surface, smoothed (no anatomy shows through) and pushed out by
``CLOTH_OFFSET_M`` along the body's normals; the neckline is cut level at the neck's base.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from headforge.core.avatar import Avatar, HeadMesh
from headforge.core.strands import Hairstyle
from headforge.body.model import PHENOTYPES, RestBody, rest_body
from headforge.body.rig import EYE_BONES
from headforge.body.visemes import with_mixed_targets
from headforge.errors import BodyShapeError
from headforge.headmodel.anny_head import mesh_components
from headforge.core.geometry import vertex_normals

BODY_CHOICES = ("head", "full")  # a head-only avatar, or the head on a rigged body
SEAM_FALLOFF_M = 0.06  # body vertices this far below the seam still follow the head
CLOTH_OFFSET_M = 0.004  # the outfit stands this far off the skin
# Taubin smoothing passes over each outfit piece (borders kept): shoes lose the toes.
CLOTH_SMOOTHING = {"Wolf3D_Outfit_Top": 40, "Wolf3D_Outfit_Bottom": 30, "Wolf3D_Outfit_Footwear": 120}
_TAUBIN = (0.5, -0.53)  # shrink, then grow: smooths without thinning the body
NECKLINE_M = 0.02  # the top's neckline: this far above the Neck bone's head
# Fabric colours (linear RGB) and roughness of the outfit.
OUTFIT = {
    "Wolf3D_Outfit_Top": ((0.10, 0.16, 0.26), 0.85),  # navy knit
    "Wolf3D_Outfit_Bottom": ((0.05, 0.05, 0.06), 0.9),  # charcoal cloth
    "Wolf3D_Outfit_Footwear": ((0.02, 0.015, 0.012), 0.5),  # dark leather
}
_REGION_OF_BONE = (  # (name prefix or exact name, part); the first match wins
    ("Head", "Wolf3D_Body"), ("Neck", "Wolf3D_Body"), ("LeftEye", "Wolf3D_Body"),
    ("RightEye", "Wolf3D_Body"), ("LeftHand", "Wolf3D_Body"), ("RightHand", "Wolf3D_Body"),
    ("LeftFoot", "Wolf3D_Outfit_Footwear"), ("RightFoot", "Wolf3D_Outfit_Footwear"),
    ("LeftToeBase", "Wolf3D_Outfit_Footwear"), ("RightToeBase", "Wolf3D_Outfit_Footwear"),
    ("Hips", "Wolf3D_Outfit_Bottom"), ("LeftUpLeg", "Wolf3D_Outfit_Bottom"),
    ("RightUpLeg", "Wolf3D_Outfit_Bottom"), ("LeftLeg", "Wolf3D_Outfit_Bottom"),
    ("RightLeg", "Wolf3D_Outfit_Bottom"),
)
_COVER = ("Wolf3D_Body", "Wolf3D_Outfit_Top", "Wolf3D_Outfit_Bottom", "Wolf3D_Outfit_Footwear")
HEAD_PARTS = ("Wolf3D_Head", "Wolf3D_Teeth", "EyeLeft", "EyeRight")


@dataclass
class BodyPart:
    """One skinned mesh of the full body (body frame).

    vertices: (N, 3) float32; faces: (F, 3) int; joints: (N, 4) int bone indices; weights:
    (N, 4) float32. Textured parts have ``uvs`` (T, 2) and ``face_uvs`` (F, 3) (OBJ
    convention) and use the avatar's albedo; the others one ``color`` (linear RGB) and
    ``roughness``. morph_names / morph_deltas: (M, N, 3) float32 metres, or empty.
    """

    name: str
    vertices: np.ndarray
    faces: np.ndarray
    joints: np.ndarray
    weights: np.ndarray
    uvs: np.ndarray | None = None
    face_uvs: np.ndarray | None = None
    color: tuple[float, float, float] = (1.0, 1.0, 1.0)
    roughness: float = 0.6
    morph_names: list[str] = field(default_factory=list)
    morph_deltas: np.ndarray | None = None


@dataclass
class FullBody:
    """The rigged avatar: parts, skeleton (:class:`RestBody`'s bones plus the eye bones) and
    the translation ``head_offset`` (3,) from the head frame to the body frame. ``hair``: the
    avatar's hair draped over this body (head frame; :func:`headforge.hair.drape.drape_on_body`),
    which the full-body exports wear; None: they wear the avatar's own."""

    parts: list[BodyPart]
    bone_names: list[str]
    parents: np.ndarray
    world: np.ndarray
    head_offset: np.ndarray
    phenotypes: dict[str, float]
    hair: Hairstyle | None = None

    def bone(self, name: str) -> int:
        return self.bone_names.index(name)

    def part(self, name: str) -> BodyPart:
        return next(p for p in self.parts if p.name == name)


def check_body_shape(shape: dict[str, float]) -> None:
    """Raise BodyShapeError unless ``shape`` maps phenotype names to numbers in [0, 1]."""
    for name, value in shape.items():
        if name not in PHENOTYPES:
            raise BodyShapeError(f"unknown body phenotype {name!r}; use {', '.join(PHENOTYPES)}")
        if not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
            raise BodyShapeError(f"body phenotype {name} must be a number in [0, 1], not {value!r}")


def parse_body_shape(text: str) -> dict[str, float]:
    """"gender=0.2,height=0.7" -> {"gender": 0.2, "height": 0.7}; raises BodyShapeError."""
    shape = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, _, value = item.partition("=")
        try:
            shape[name.strip()] = float(value)
        except ValueError:
            raise BodyShapeError(f"body shape: {item!r} is not name=number") from None
    check_body_shape(shape)
    return shape


def body_phenotypes(avatar: Avatar, chosen: dict[str, float] | None = None) -> dict[str, float]:
    """{phenotype: value in [0, 1]}: ``chosen`` where given, else the head fit's own
    (``params.json`` identity; anny back-end), else 0.5."""
    fitted = avatar.params.get("identity", {}).get("phenotypes", {})
    chosen = chosen or {}
    return {k: float(np.clip(chosen.get(k, fitted.get(k, 0.5)), 0.0, 1.0)) for k in PHENOTYPES}


def full_body(avatar: Avatar, phenotypes: dict[str, float] | None = None) -> FullBody:
    """The avatar's head on a dressed, rigged body (see the module docstring)."""
    shape = body_phenotypes(avatar, phenotypes)
    rest = rest_body(shape)
    mesh = avatar.mesh
    head_ids = rest.head_vertices
    if len(head_ids) != len(mesh.vertices):
        raise ValueError(f"a full body needs anny's head ({len(head_ids)} vertices), not {len(mesh.vertices)}")
    offset = (rest.vertices[head_ids] - mesh.vertices).mean(axis=0)
    head = mesh.vertices + offset
    body_vertices = _follow_seam(rest, head)
    names, parents, world = _with_eye_bones(rest, head, mesh)
    joints, weights = rest.joints.copy(), rest.weights.copy()
    parts = _head_parts(mesh, head, joints[head_ids], weights[head_ids], names)
    parts += _outfit_parts(rest, body_vertices, joints, weights, avatar)
    posed = t_pose(world, parents, names)
    for part in parts:
        part.vertices = skin_vertices(part.vertices, part.joints, part.weights, posed @ np.linalg.inv(world))
    return FullBody(parts, names, parents, posed, offset.astype(np.float64), shape)


def t_pose(world: np.ndarray, parents: np.ndarray, names: list[str]) -> np.ndarray:
    """(J, 4, 4) world transforms with the arms straightened out sideways (VRM's T-pose: upper
    arm, forearm and hand level along +x for the left arm, -x for the right), from the rest
    ``world`` (J, 4, 4); every other bone keeps its pose relative to its parent."""
    from scipy.spatial.transform import Rotation

    world = world.copy()
    children = {j: [k for k in range(len(parents)) if parents[k] == j] for j in range(len(parents))}
    for side, sign in (("Left", 1.0), ("Right", -1.0)):
        for bone in (f"{side}Arm", f"{side}ForeArm", f"{side}Hand"):
            j = names.index(bone)
            y_axis = world[j, :3, 1]  # +Y runs along the bone
            turn, _ = Rotation.align_vectors([[sign, 0.0, 0.0]], [y_axis])
            pivot = world[j, :3, 3].copy()
            move = np.eye(4)
            move[:3, :3] = turn.as_matrix()
            move[:3, 3] = pivot - move[:3, :3] @ pivot
            stack = [j]
            while stack:  # the bone and everything under it
                k = stack.pop()
                world[k] = move @ world[k]
                stack += children[k]
    return world


def skin_vertices(vertices: np.ndarray, joints: np.ndarray, weights: np.ndarray, moves: np.ndarray) -> np.ndarray:
    """(N, 3) float32 linear-blend skinned ``vertices`` (N, 3): (N, 4) ``joints`` and
    ``weights``, (J, 4, 4) bone ``moves`` (new world @ inverse rest world)."""
    homogeneous = np.concatenate([vertices, np.ones((len(vertices), 1))], axis=1)
    blended = np.einsum("nk,nkij->nij", weights, moves[joints])
    return np.einsum("nij,nj->ni", blended, homogeneous)[:, :3].astype(np.float32)


def _follow_seam(rest: RestBody, head: np.ndarray) -> np.ndarray:
    """(V, 3) body vertices: the head's vertices where they are the head's, and body vertices
    within ``SEAM_FALLOFF_M`` of the seam moved with its nearest seam vertex (linear fade)."""
    from scipy.spatial import cKDTree

    vertices = rest.vertices.astype(np.float64).copy()
    head_ids = rest.head_vertices
    is_head = np.zeros(len(vertices), bool)
    is_head[head_ids] = True
    kept = ~is_head[rest.faces].all(axis=1)
    seam = np.unique(rest.faces[kept][is_head[rest.faces[kept]]])
    where = np.full(len(vertices), -1)
    where[head_ids] = np.arange(len(head_ids))
    moves = head[where[seam]] - vertices[seam]
    vertices[head_ids] = head
    others = np.flatnonzero(~is_head)
    distance, nearest = cKDTree(vertices[seam] - moves).query(vertices[others])
    fade = np.clip(1 - distance / SEAM_FALLOFF_M, 0, 1)[:, None]
    vertices[others] += fade * moves[nearest]
    return vertices.astype(np.float32)


def _with_eye_bones(rest: RestBody, head: np.ndarray, mesh: HeadMesh):
    """Bone names, parents and world transforms with LeftEye/RightEye added under Head, at
    the eyeball centres, oriented as Head."""
    parts = mesh_components(mesh.faces, len(mesh.vertices))
    h = rest.bone("Head")
    world = [rest.world]
    for component in (2, 3):  # the eyeballs; the one at +x is the left eye (the body faces +Z)
        centre = head[parts == component].mean(axis=0)
        matrix = rest.world[h].copy()
        matrix[:3, 3] = centre
        world.append(matrix[None])
    centres = [w[0, 0, 3] for w in world[1:]]
    if centres[0] < centres[1]:
        world[1], world[2] = world[2], world[1]
    return ([*rest.bone_names, *EYE_BONES], np.append(rest.parents, [h, h]), np.concatenate(world))


def _head_parts(mesh: HeadMesh, head: np.ndarray, joints: np.ndarray, weights: np.ndarray,
                names: list[str]) -> list[BodyPart]:
    """Wolf3D_Head, Wolf3D_Teeth, EyeLeft, EyeRight cut out of the head mesh by connected part."""
    components = mesh_components(mesh.faces, len(mesh.vertices))
    left_first = head[components == 2, 0].mean() > head[components == 3, 0].mean()
    eye = {"EyeLeft": 2 if left_first else 3, "EyeRight": 3 if left_first else 2}
    target_names, deltas = with_mixed_targets(list(mesh.morph_names), mesh.morph_deltas)
    parts = []
    for name, keep in (("Wolf3D_Head", components == 0), ("Wolf3D_Teeth", components == 1),
                       ("EyeLeft", components == eye["EyeLeft"]), ("EyeRight", components == eye["EyeRight"])):
        ids = np.flatnonzero(keep)
        remap = np.full(len(keep), -1)
        remap[ids] = np.arange(len(ids))
        face_keep = keep[mesh.faces].all(axis=1)
        j, w = joints[ids], weights[ids]
        if name.startswith("Eye"):
            j = np.zeros_like(j)
            j[:, 0] = names.index("LeftEye" if name == "EyeLeft" else "RightEye")
            w = np.zeros_like(w)
            w[:, 0] = 1
        parts.append(BodyPart(name, head[ids].astype(np.float32), remap[mesh.faces[face_keep]], j, w,
                              uvs=mesh.uvs, face_uvs=mesh.face_uvs[face_keep],
                              morph_names=target_names, morph_deltas=deltas[:, ids]))
    return parts


def _outfit_parts(rest: RestBody, vertices: np.ndarray, joints: np.ndarray, weights: np.ndarray,
                  avatar: Avatar) -> list[BodyPart]:
    """The body below the head, cut into skin (neck, hands) and the three outfit pieces."""
    dominant = np.take_along_axis(joints, weights.argmax(axis=1)[:, None], 1)[:, 0]
    region_of_bone = np.array([_COVER.index(_region(name)) for name in rest.bone_names])
    vertex_region = region_of_bone[dominant]
    neck = rest.bone("Neck")
    neckline = (dominant == neck) & (vertices[:, 1] < rest.world[neck, 1, 3] + NECKLINE_M)
    vertex_region[neckline] = _COVER.index("Wolf3D_Outfit_Top")
    is_head = np.zeros(len(vertices), bool)
    is_head[rest.head_vertices] = True
    faces = rest.faces[~is_head[rest.faces].all(axis=1)]
    face_region = vertex_region[faces].max(axis=1)  # cloth covers the faces on its border
    skin = _skin_color(avatar)
    normals = vertex_normals(vertices, faces)
    parts = []
    for k, name in enumerate(_COVER):
        f = faces[face_region == k]
        ids = np.unique(f)
        remap = np.full(len(vertices), -1)
        remap[ids] = np.arange(len(ids))
        if name == "Wolf3D_Body":
            color, roughness, part_vertices = skin, 0.6, vertices[ids]
        else:
            (color, roughness) = OUTFIT[name]
            part_vertices = _cloth(vertices[ids], normals[ids], remap[f], CLOTH_SMOOTHING[name])
        parts.append(BodyPart(name, part_vertices, remap[f], joints[ids], weights[ids],
                              color=color, roughness=roughness))
    return parts


def _cloth(vertices: np.ndarray, normals: np.ndarray, faces: np.ndarray, passes: int) -> np.ndarray:
    """(N, 3) float32: the piece's surface smoothed (``passes`` Taubin passes, border
    vertices fixed) and, inside its border, moved ``CLOTH_OFFSET_M`` out along the
    body's ``normals``."""
    from scipy.sparse import coo_matrix

    n = len(vertices)
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    keys, counts = np.unique(np.sort(edges, axis=1), axis=0, return_counts=True)
    border = np.zeros(n, bool)
    border[keys[counts == 1].ravel()] = True
    both = np.concatenate([keys, keys[:, ::-1]])
    adjacency = coo_matrix((np.ones(len(both)), (both[:, 0], both[:, 1])), shape=(n, n)).tocsr()
    degree = np.maximum(np.asarray(adjacency.sum(axis=1)).ravel(), 1)[:, None]
    out = vertices.astype(np.float64)
    for k in range(2 * passes):
        step = _TAUBIN[k % 2]
        moved = out + step * ((adjacency @ out) / degree - out)
        out[~border] = moved[~border]
    return (out + CLOTH_OFFSET_M * normals * ~border[:, None]).astype(np.float32)  # borders meet the skin


def _region(bone: str) -> str:
    for prefix, part in _REGION_OF_BONE:
        if bone.startswith(prefix):
            return part
    return "Wolf3D_Outfit_Top"  # spine, shoulders, arms


def _skin_color(avatar: Avatar) -> tuple[float, float, float]:
    """Linear RGB of the neck's skin: the median albedo at the head mesh's open border."""
    mesh = avatar.mesh
    components = mesh_components(mesh.faces, len(mesh.vertices))
    faces = mesh.faces[(components[mesh.faces] == 0).all(axis=1)]
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    border = np.unique(unique[counts == 1])
    corner = np.isin(mesh.faces, border) & (components[mesh.faces] == 0)
    uv = mesh.uvs[mesh.face_uvs[corner]]
    size = avatar.albedo.shape[0]
    px = np.clip((uv[:, 0] * size).astype(int), 0, size - 1)
    py = np.clip(((1 - uv[:, 1]) * size).astype(int), 0, size - 1)
    srgb = np.median(avatar.albedo[py, px].astype(np.float64), axis=0) / 255.0
    linear = np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)
    return tuple(float(c) for c in linear)
