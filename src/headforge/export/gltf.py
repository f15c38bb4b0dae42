"""Binary glTF 2.0 (GLB) export of an avatar, written with numpy, json and struct.

The scene holds one node "head" (no transform: the head frame is already glTF's frame,
metres, Y up, the face along +Z) with one triangle mesh whose vertices are split at UV
seams, smooth normals, tangents, a PBR material with the albedo and a tangent-space normal
map (OpenGL convention, green = image up) embedded as PNG, and the 52 ARKit morph targets
(names in ``mesh.extras.targetNames``, default weights = the fitted expression), stored
sparse: each holds only the vertices it moves.

``GlbBuilder`` is generic (buffer views, accessors, textures, nodes) so other meshes can be
added to the same file: an avatar with hair gets a second node "hair", its strands as hair
cards (:mod:`headforge.hair.cards`): one TRIANGLES primitive with normals, tangents along
the strands, texture coordinates (v from root 0 to tip 1) and linear per-strand colours,
and a two-sided alpha-tested (MASK) material whose texture draws the fibres.
"""
from __future__ import annotations

import functools
import json
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np

from headforge.core.avatar import Avatar, HeadMesh
from headforge.export.geometry import split_uv_seams, tangents
from headforge.core.images import encode_png
from headforge.hair.cards import BUDGETS, DEFAULT_BUDGET, CardBudget, cached_cards, card_budget, strand_texture
from headforge.core.strands import Hairstyle
from headforge.headmodel.fitted_parts import HeadParts, avatar_parts
from headforge.render.cards import ALPHA_CUTOFF
from headforge.core.geometry import vertex_normals
from headforge.texture.scalp import worn_albedo
from headforge.version import __version__

ARRAY_BUFFER = 34962
ELEMENT_ARRAY_BUFFER = 34963
TRIANGLES = 4
_COMPONENT_TYPES = {np.dtype(np.float32): 5126, np.dtype(np.uint32): 5125, np.dtype(np.uint16): 5123,
                    np.dtype(np.uint8): 5121}
_UNSIGNED_INT_TYPES = {np.dtype(np.uint16): 5123, np.dtype(np.uint32): 5125}
HAIR_ROUGHNESS = 0.45
_ACCESSOR_TYPES = {1: "SCALAR", 2: "VEC2", 3: "VEC3", 4: "VEC4"}
_LINEAR, _LINEAR_MIPMAP_LINEAR, _CLAMP_TO_EDGE = 9729, 9987, 33071


def generator_name() -> str:
    """``asset.generator``: "headforge <version>", or "headforge" when no version is set."""
    version = __version__
    return f"headforge {version}" if version else "headforge"


@dataclass
class GlbBuilder:
    """Collects the glTF JSON and the binary buffer of one GLB file.

    Every ``add_*`` method appends one glTF object and returns its index.
    """

    gltf: dict = field(
        default_factory=lambda: {
            "asset": {"version": "2.0", "generator": generator_name()},
            "scene": 0,
            "scenes": [{"nodes": []}],
            "nodes": [],
        }
    )
    blobs: list[bytes] = field(default_factory=list)
    byte_length: int = 0

    def _append(self, key: str, item: dict) -> int:
        items = self.gltf.setdefault(key, [])
        items.append(item)
        return len(items) - 1

    def add_view(self, data: bytes, target: int | None = None) -> int:
        """A bufferView over ``data``, placed at a 4-byte aligned offset of the buffer."""
        view = {"buffer": 0, "byteOffset": self.byte_length, "byteLength": len(data)}
        if target is not None:
            view["target"] = target
        padded = data + b"\0" * (-len(data) % 4)
        self.blobs.append(padded)
        self.byte_length += len(padded)
        return self._append("bufferViews", view)

    def add_accessor(
        self, array: np.ndarray, target: int | None = ARRAY_BUFFER, bounds: bool = False
    ) -> int:
        """An accessor over a new tightly packed view of ``array``: (N,) or (N, C) float32
        (C = 1..4), (N,) uint32, (N, 4) uint16 (e.g. joint indices), (N, 4) uint8
        (normalised, e.g. colours) or (N, 4, 4) float32 (MAT4, column-major: pass each
        matrix transposed). ``bounds`` writes min/max (needed for POSITION)."""
        array = np.ascontiguousarray(array)
        if array.dtype not in _COMPONENT_TYPES:
            raise ValueError(f"unsupported accessor dtype {array.dtype}")
        columns = 1 if array.ndim == 1 else array.shape[1]
        accessor = {
            "bufferView": self.add_view(array.tobytes(), target),
            "componentType": _COMPONENT_TYPES[array.dtype],
            "count": int(array.shape[0]),
            "type": "MAT4" if array.ndim == 3 else _ACCESSOR_TYPES[columns],
        }
        if array.dtype == np.uint8:
            accessor["normalized"] = True
        if bounds:
            rows = array.reshape(len(array), columns)
            accessor["min"] = rows.min(axis=0).tolist()
            accessor["max"] = rows.max(axis=0).tolist()
        return self._append("accessors", accessor)

    def add_sparse_accessor(self, array: np.ndarray, bounds: bool = False) -> int:
        """A float32 (N, C) accessor that stores only the rows of ``array`` that are not all
        zero (glTF sparse storage: increasing uint16/uint32 row indices, then their values;
        the other rows read as zero). For morph targets, which move a part of the mesh."""
        array = np.ascontiguousarray(array, np.float32)
        rows = np.flatnonzero(np.any(array != 0, axis=1))
        accessor = {"componentType": _COMPONENT_TYPES[array.dtype], "count": int(array.shape[0]),
                    "type": _ACCESSOR_TYPES[array.shape[1]]}
        if len(rows):  # without "sparse" and "bufferView" every row reads as zero
            index_type = np.uint16 if len(array) <= 1 << 16 else np.uint32
            accessor["sparse"] = {
                "count": int(len(rows)),
                "indices": {"bufferView": self.add_view(rows.astype(index_type).tobytes()),
                            "componentType": _UNSIGNED_INT_TYPES[np.dtype(index_type)]},
                "values": {"bufferView": self.add_view(array[rows].tobytes())},
            }
        if bounds:
            accessor["min"] = array.min(axis=0).tolist()
            accessor["max"] = array.max(axis=0).tolist()
        return self._append("accessors", accessor)

    def add_texture(self, png: bytes) -> int:
        """A texture over an embedded PNG image, sampled linearly with clamped edges."""
        if "samplers" not in self.gltf:
            self.gltf["samplers"] = [
                {
                    "magFilter": _LINEAR,
                    "minFilter": _LINEAR_MIPMAP_LINEAR,
                    "wrapS": _CLAMP_TO_EDGE,
                    "wrapT": _CLAMP_TO_EDGE,
                }
            ]
        image = self._append("images", {"bufferView": self.add_view(png), "mimeType": "image/png"})
        return self._append("textures", {"sampler": 0, "source": image})

    def add_material(self, material: dict) -> int:
        return self._append("materials", material)

    def add_mesh(self, mesh: dict) -> int:
        return self._append("meshes", mesh)

    def add_node(self, name: str, mesh: int) -> int:
        """A node holding ``mesh``, added to the root of the scene."""
        node = self._append("nodes", {"name": name, "mesh": mesh})
        self.gltf["scenes"][0]["nodes"].append(node)
        return node

    def to_bytes(self) -> bytes:
        """The GLB file: 12-byte header, JSON chunk (space padded), BIN chunk (zero padded)."""
        gltf = dict(self.gltf)
        if self.byte_length:
            gltf["buffers"] = [{"byteLength": self.byte_length}]
        text = json.dumps(gltf, separators=(",", ":"), allow_nan=False).encode()
        text += b" " * (-len(text) % 4)
        chunks = struct.pack("<I4s", len(text), b"JSON") + text
        if self.byte_length:
            chunks += struct.pack("<I4s", self.byte_length, b"BIN\0") + b"".join(self.blobs)
        return struct.pack("<4sII", b"glTF", 2, 12 + len(chunks)) + chunks


def add_head(
    builder: GlbBuilder, mesh: HeadMesh, weights: np.ndarray, albedo_png: bytes, normal_png: bytes,
    parts: HeadParts | None = None, atlas_png: bytes | None = None,
) -> int:
    """Add the node "head": the neutral mesh, its textured material and the morph targets
    with default ``weights`` (52,). Textures, in this order: albedo, normal map and, with
    ``parts``, the parts' atlas (``atlas_png``): then the head's own tongue and eyeball faces
    are left out (the parts replace them) and the mouth cavity is a second primitive, material
    "mouth" over the atlas. Returns the node index."""
    weights = np.asarray(weights, np.float64).ravel()
    if len(weights) != len(mesh.morph_names) or len(mesh.morph_deltas) != len(mesh.morph_names):
        raise ValueError(
            f"{len(mesh.morph_names)} morph names, {len(mesh.morph_deltas)} morph deltas "
            f"and {len(weights)} weights do not match"
        )
    material = add_skin_material(builder, "head", albedo_png, normal_png)
    skin = slice(None) if parts is None else parts.skin_faces
    primitive, _ = textured_primitive(builder, mesh.vertices, mesh.faces[skin], mesh.uvs, mesh.face_uvs[skin],
                                      mesh.morph_deltas, material)
    primitives = [primitive]
    atlas = None if parts is None else builder.add_texture(atlas_png)
    if parts is not None and len(parts.cavity_faces):
        mouth = builder.add_material(_atlas_material("mouth", atlas, 0.35, True))
        cavity = mesh.faces[parts.cavity_faces]
        primitives.append(textured_primitive(builder, mesh.vertices, cavity, parts.cavity_uvs, cavity,
                                             mesh.morph_deltas, mouth)[0])
    gltf_mesh = builder.add_mesh(
        {
            "name": "head",
            "primitives": primitives,
            "weights": weights.tolist(),
            "extras": {"targetNames": list(mesh.morph_names)},
        }
    )
    return builder.add_node("head", gltf_mesh)


def add_skin_material(builder: GlbBuilder, name: str, albedo_png: bytes, normal_png: bytes) -> int:
    """The head's PBR material: albedo and tangent-space normal map (embedded PNGs)."""
    return builder.add_material(
        {
            "name": name,
            "pbrMetallicRoughness": {
                "baseColorTexture": {"index": builder.add_texture(albedo_png)},
                "metallicFactor": 0.0,
                "roughnessFactor": 0.6,
            },
            "normalTexture": {"index": builder.add_texture(normal_png)},
            "doubleSided": False,
        }
    )


def textured_primitive(builder: GlbBuilder, vertices: np.ndarray, faces: np.ndarray, uvs: np.ndarray,
                       face_uvs: np.ndarray, morph_deltas: np.ndarray | None, material: int) -> tuple[dict, np.ndarray]:
    """A TRIANGLES primitive over (V, 3) ``vertices`` split at UV seams, with smooth normals,
    tangents, TEXCOORD_0 and one sparse morph target per (V, 3) delta of ``morph_deltas``
    (M, V, 3). Returns (primitive, (N,) original vertex of each split vertex)."""
    split = split_uv_seams(faces, face_uvs, uvs)
    vertices = np.asarray(vertices, np.float32)
    base_normals = vertex_normals(vertices, faces)
    positions, normals = vertices[split.vertex_ids], base_normals[split.vertex_ids]
    attributes = {
        "POSITION": builder.add_accessor(positions, bounds=True),
        "NORMAL": builder.add_accessor(normals),
        "TANGENT": builder.add_accessor(tangents(positions, normals, split.uvs, split.faces)),
        # glTF puts the uv origin at the top-left of the image.
        "TEXCOORD_0": builder.add_accessor(
            np.column_stack([split.uvs[:, 0], 1.0 - split.uvs[:, 1]]).astype(np.float32)
        ),
    }
    primitive = {
        "attributes": attributes,
        "indices": builder.add_accessor(
            split.faces.astype(np.uint32).ravel(), target=ELEMENT_ARRAY_BUFFER
        ),
        "material": material,
        "mode": TRIANGLES,
    }
    if morph_deltas is not None and len(morph_deltas):
        primitive["targets"] = morph_targets(builder, vertices, faces, morph_deltas, base_normals, split.vertex_ids)
    return primitive, split.vertex_ids


def morph_targets(builder: GlbBuilder, vertices: np.ndarray, faces: np.ndarray, deltas: np.ndarray,
                  base_normals: np.ndarray, vertex_ids: np.ndarray) -> list[dict]:
    """Sparse POSITION and NORMAL targets of (M, V, 3) ``deltas``, rows picked by ``vertex_ids``."""
    targets = []
    for delta in np.asarray(deltas, np.float32):
        normal_delta = vertex_normals(vertices + delta, faces) - base_normals
        targets.append(
            {
                "POSITION": builder.add_sparse_accessor(delta[vertex_ids], bounds=True),
                "NORMAL": builder.add_sparse_accessor(normal_delta[vertex_ids]),
            }
        )
    return targets


def _atlas_material(name: str, texture: int, roughness: float, double_sided: bool) -> dict:
    return {
        "name": name,
        "pbrMetallicRoughness": {"baseColorTexture": {"index": texture}, "metallicFactor": 0.0,
                                 "roughnessFactor": roughness},
        "doubleSided": double_sided,
    }


def add_parts(builder: GlbBuilder, parts: HeadParts, weights: dict[str, float], atlas_texture: int) -> list[int]:
    """Add one node per part (teeth, tongue, EyeLeft, EyeRight, body), each a mesh of its own
    name with its own material over the parts' atlas and the morph targets that move it
    (``extras.targetNames``; default weights from ``weights`` by ARKit name). Returns the
    node indices."""
    nodes = []
    for part in parts.parts:
        material = builder.add_material(_atlas_material(part.name, atlas_texture, part.roughness, part.double_sided))
        normals = vertex_normals(part.vertices, part.faces)
        primitive = {
            "attributes": {
                "POSITION": builder.add_accessor(part.vertices.astype(np.float32), bounds=True),
                "NORMAL": builder.add_accessor(normals.astype(np.float32)),
                "TEXCOORD_0": builder.add_accessor(
                    np.column_stack([part.uvs[:, 0], 1.0 - part.uvs[:, 1]]).astype(np.float32)),
            },
            "indices": builder.add_accessor(part.faces.astype(np.uint32).ravel(), target=ELEMENT_ARRAY_BUFFER),
            "material": material,
            "mode": TRIANGLES,
        }
        gltf_mesh = {"name": part.name, "primitives": [primitive]}
        if part.morph_names:
            primitive["targets"] = [
                {"POSITION": builder.add_sparse_accessor(delta, bounds=True),
                 "NORMAL": builder.add_sparse_accessor(
                     (vertex_normals(part.vertices + delta, part.faces) - normals).astype(np.float32))}
                for delta in part.morph_deltas
            ]
            gltf_mesh["weights"] = [float(weights.get(n, 0.0)) for n in part.morph_names]
            gltf_mesh["extras"] = {"targetNames": list(part.morph_names)}
        nodes.append(builder.add_node(part.name, builder.add_mesh(gltf_mesh)))
    return nodes


def add_hair(builder: GlbBuilder, hair: Hairstyle, limit: CardBudget = BUDGETS[DEFAULT_BUDGET],
             offset: np.ndarray | None = None) -> int:
    """Add the node "hair": the (N, P, 3) strands as hair cards within ``limit``, one
    TRIANGLES primitive (POSITION, NORMAL, TANGENT along the strands, TEXCOORD_0 with v from
    root 0 to tip 1, COLOR_0 the linear strand colours as float RGBA) with the material
    "hair" (MASK, two-sided, the fibre texture). ``offset`` (3,) metres: added to every
    position (the head frame's place in another frame); none by default. Returns the node index."""
    cards = cached_cards(hair, limit)
    positions = cards.positions if offset is None else (cards.positions + offset).astype(np.float32)
    material = builder.add_material(
        {
            "name": "hair",
            "pbrMetallicRoughness": {
                "baseColorTexture": {"index": builder.add_texture(_hair_texture_png())},
                "metallicFactor": 0.0,
                "roughnessFactor": HAIR_ROUGHNESS,
            },
            "alphaMode": "MASK",
            "alphaCutoff": ALPHA_CUTOFF,
            "doubleSided": True,
        }
    )
    rgba = np.column_stack([cards.colors, np.ones(len(cards.colors), np.float32)])
    primitive = {
        "attributes": {
            "POSITION": builder.add_accessor(positions, bounds=True),
            "NORMAL": builder.add_accessor(cards.normals),
            "TANGENT": builder.add_accessor(cards.tangents),
            "TEXCOORD_0": builder.add_accessor(cards.uvs),
            "COLOR_0": builder.add_accessor(rgba),
        },
        "indices": builder.add_accessor(cards.faces.ravel(), target=ELEMENT_ARRAY_BUFFER),
        "material": material,
        "mode": TRIANGLES,
    }
    extras = {"name": hair.name, "strands": hair.count, "points_per_strand": hair.points_per_strand,
              "cards": cards.count, "triangles": int(len(cards.faces))}
    return builder.add_node("hair", builder.add_mesh({"name": "hair", "primitives": [primitive], "extras": extras}))


@functools.lru_cache(maxsize=1)
def _hair_texture_png() -> bytes:
    return encode_png(strand_texture())


def glb_bytes(
    avatar: Avatar, albedo_png: bytes | None = None, normal_png: bytes | None = None,
    hair_budget: str = DEFAULT_BUDGET,
) -> bytes:
    """The avatar as a GLB file: the head, its parts when it has some (teeth, tongue, EyeLeft,
    EyeRight, body: :func:`add_parts`), and last a "hair" node when it has hair, and the scalp
    under it painted: :func:`headforge.texture.scalp.worn_albedo`). ``albedo_png``/``normal_png``: the
    already encoded ``worn_albedo(avatar)`` and normal map; encoded from ``avatar`` when
    None. ``hair_budget``: the hair cards' budget, "web" or "high"
    (:data:`headforge.hair.cards.BUDGETS`)."""
    builder = GlbBuilder()
    parts = avatar_parts(avatar)
    add_head(
        builder,
        avatar.mesh,
        avatar.expression,
        encode_png(worn_albedo(avatar)) if albedo_png is None else albedo_png,
        encode_png(avatar.normal_map) if normal_png is None else normal_png,
        parts,
        None if parts is None else _atlas_png(parts.atlas),
    )
    if parts is not None:  # the parts' atlas is the head's last texture
        add_parts(builder, parts, dict(zip(avatar.mesh.morph_names, map(float, avatar.expression))),
                  len(builder.gltf["textures"]) - 1)
    if avatar.hair is not None and avatar.hair.count:
        add_hair(builder, avatar.hair, card_budget(hair_budget))
    return builder.to_bytes()


_atlas_pngs: dict[int, tuple[np.ndarray, bytes]] = {}


def _atlas_png(atlas: np.ndarray) -> bytes:
    """The parts' atlas as PNG, encoded once per (shared, read-only) atlas array."""
    held = _atlas_pngs.get(id(atlas))
    if held is None or held[0] is not atlas:
        if len(_atlas_pngs) > 16:
            _atlas_pngs.clear()
        held = _atlas_pngs[id(atlas)] = (atlas, encode_png(atlas))
    return held[1]


def parse_glb(data: bytes) -> GlbBuilder:
    """A builder holding a GLB file written by :class:`GlbBuilder` (one buffer, JSON and BIN
    chunks), so nodes can be added to it or the last ones taken off."""
    magic, version, length = struct.unpack_from("<4sII", data)
    if magic != b"glTF" or version != 2 or length != len(data):
        raise ValueError("not a binary glTF 2.0 file")
    json_len, _ = struct.unpack_from("<I4s", data, 12)
    gltf = json.loads(data[20 : 20 + json_len])
    blob = b""
    if 20 + json_len < len(data):
        bin_len, _ = struct.unpack_from("<I4s", data, 20 + json_len)
        blob = data[28 + json_len : 28 + json_len + bin_len]
    gltf.pop("buffers", None)
    return GlbBuilder(gltf, [blob] if blob else [], len(blob))


def without_node(builder: GlbBuilder, name: str) -> GlbBuilder:
    """``builder`` without its node ``name`` when that node and everything it uses (mesh,
    materials, their textures and images, accessors, buffer views, bytes) were the last
    added (as ``add_hair`` does); unchanged when there is no such node. Raises ValueError
    when the node is not last."""
    gltf = builder.gltf
    nodes = [i for i, node in enumerate(gltf["nodes"]) if node.get("name") == name]
    if not nodes:
        return builder
    node = nodes[0]
    mesh_id = gltf["nodes"][node]["mesh"]
    prims = gltf["meshes"][mesh_id]["primitives"]
    used = {
        "accessors": {a for p in prims for a in (*p["attributes"].values(), p.get("indices")) if a is not None},
        "materials": {p["material"] for p in prims if "material" in p},
    }
    used["textures"] = {t["index"] for m in used["materials"] for t in _material_textures(gltf["materials"][m])}
    used["images"] = {gltf["textures"][t]["source"] for t in used["textures"]}
    used["bufferViews"] = ({gltf["accessors"][a]["bufferView"] for a in used["accessors"]}
                           | {gltf["images"][i]["bufferView"] for i in used["images"]})
    used["meshes"], used["nodes"] = {mesh_id}, {node}
    if not all(ids == set(range(len(gltf[key]) - len(ids), len(gltf[key]))) for key, ids in used.items()):
        raise ValueError(f"the node {name!r} is not the last thing in the file")
    out = json.loads(json.dumps(gltf))
    for key, ids in used.items():
        if ids:
            del out[key][min(ids):]
    out["scenes"][0]["nodes"].remove(node)
    offset = out["bufferViews"][-1]["byteOffset"] + out["bufferViews"][-1]["byteLength"] if out["bufferViews"] else 0
    blob = b"".join(builder.blobs)[:offset + (-offset % 4)]
    return GlbBuilder(out, [blob] if blob else [], len(blob))


def _material_textures(material: dict) -> list[dict]:
    """The texture references (``{"index": ...}``) of a glTF material."""
    pbr = material.get("pbrMetallicRoughness", {})
    refs = [pbr.get("baseColorTexture"), pbr.get("metallicRoughnessTexture"), material.get("normalTexture"),
            material.get("occlusionTexture"), material.get("emissiveTexture")]
    return [r for r in refs if r is not None]


ALBEDO_IMAGE = 0  # add_head's first image: the albedo


def with_image(builder: GlbBuilder, image: int, png: bytes) -> GlbBuilder:
    """A copy of ``builder`` whose image number ``image`` holds ``png`` instead (the buffer
    views after it move; a file written by :class:`GlbBuilder`: views in buffer order)."""
    gltf = json.loads(json.dumps(builder.gltf))
    blob = b"".join(builder.blobs)
    target = gltf["images"][image]["bufferView"]
    parts, offset = [], 0
    for k, view in enumerate(gltf["bufferViews"]):
        start = view["byteOffset"]
        data = png if k == target else blob[start:start + view["byteLength"]]
        view["byteOffset"], view["byteLength"] = offset, len(data)
        parts.append(data + b"\0" * (-len(data) % 4))
        offset += len(parts[-1])
    return GlbBuilder(gltf, parts, offset)


def write_glb(avatar: Avatar, dest: str | Path | BinaryIO) -> None:
    """Write the avatar's GLB to a path or a binary file object."""
    data = glb_bytes(avatar)
    if hasattr(dest, "write"):
        dest.write(data)
    else:
        Path(dest).write_bytes(data)
