"""Try a stored hairstyle on a reconstructed head: on an Avatar in memory, or on an avatar zip.

The head is not fitted again: an avatar zip's head files (OBJ, MTL, textures, the emotion
mapping) are copied byte for byte, its GLB keeps the head node's bytes but for its albedo
(the scalp painted under the new hair: :func:`headforge.texture.scalp.worn_albedo`) and gets a new "hair"
node, and ``hair.data``, ``hair.usdc``, ``params.json`` (its ``hair`` block) and the preview's avatar
panels are replaced. For the default head model the neutral head is rebuilt from ``params.json``'s
identity; for other models it is read from ``head.obj`` (with the photo's expression).
"""
from __future__ import annotations

import dataclasses
import json
import time
import zipfile
from pathlib import Path

import numpy as np

from headforge.core.avatar import Avatar, HeadMesh
from headforge.export.gltf import ALBEDO_IMAGE, add_hair, parse_glb, with_image, without_node
from headforge.export.obj import read_obj
from headforge.export.package import HAIR_ENTRIES, hair_entries, params_json, write_entries
from headforge.core.images import decode_png, encode_png
from headforge.export.preview import PANEL, avatar_views
from headforge.hair.cards import DEFAULT_BUDGET, card_budget
from headforge.hair.fit import fit_on_head
from headforge.hair.library import load_hairstyle
from headforge.core.strands import Hairstyle
from headforge.headmodel.anny_head import MODEL_NAME, load_head_model
from headforge.texture.scalp import worn_albedo

ZIP_IMAGE = "an image in the avatar zip"  # names an unreadable image in its error


def try_on(avatar: Avatar, name: str, library: str | Path | None = None,
           max_strands: int | None = None) -> Avatar:
    """``avatar`` wearing the stored style ``name``, fitted to its neutral head; params.json's
    ``hair`` block and the preview's avatar panels follow. ``max_strands``: grow at most this
    many strands (a light on-screen preview). Raises UnknownHairstyleError."""
    style = load_hairstyle(name, max_strands, None if library is None else str(library))
    t0 = time.perf_counter()
    hair = fit_on_head(style, avatar.mesh.vertices, avatar.mesh.faces)
    params = {**avatar.params, "hair": hair_params(hair, time.perf_counter() - t0)}
    dressed = dataclasses.replace(avatar, hair=hair, params=params)
    if avatar.preview is not None:
        dressed.preview = np.concatenate(
            [avatar.preview[:, :PANEL]] + avatar_views(dressed), axis=1)
    return dressed


def hair_params(hair: Hairstyle, seconds: float) -> dict:
    """The ``hair`` block of params.json for a stored style."""
    r, g, b = (int(c) for c in hair.color)
    return {"source": "library", "name": hair.name, "strands": hair.count, "points_per_strand":
            hair.points_per_strand, "color": f"#{r:02x}{g:02x}{b:02x}", "fit_seconds": round(seconds, 4)}


def tryon_zip(source: str | Path, name: str, output: str | Path, library: str | Path | None = None,
              hair_budget: str = DEFAULT_BUDGET) -> Avatar:
    """Write ``output``: the avatar zip ``source`` wearing style ``name`` (see the module
    notes), its hair cards within ``hair_budget`` ("web" or "high"). Returns the dressed
    avatar."""
    entries = _read_entries(source)
    dressed = try_on(read_avatar(entries), name, library)
    glb = with_image(without_node(parse_glb(entries["avatar.glb"]), "hair"), ALBEDO_IMAGE,
                     encode_png(worn_albedo(dressed)))
    if dressed.hair.count:  # a bald style: no hair node, the bare scalp (worn_albedo is the albedo)
        add_hair(glb, dressed.hair, card_budget(hair_budget))
    entries["avatar.glb"] = glb.to_bytes()
    entries["params.json"] = params_json(dressed.params)
    if dressed.preview is not None:
        entries["preview.png"] = encode_png(dressed.preview)
    for name in HAIR_ENTRIES:
        entries.pop(name, None)
    entries.update(hair_entries(dressed.hair))
    write_entries(entries, output)
    return dressed


def read_avatar(entries: dict[str, bytes]) -> Avatar:
    """The Avatar of an avatar zip's entries (mesh, expression, textures, params, preview)."""
    params = json.loads(entries["params.json"])
    posed, faces, uvs, face_uvs = read_obj(entries["head.obj"])
    mesh, expression = _neutral_mesh(params, posed, faces, uvs, face_uvs)
    preview = decode_png(entries["preview.png"], ZIP_IMAGE) if "preview.png" in entries else None
    albedo, normal = (decode_png(entries[name], ZIP_IMAGE) for name in ("head_albedo.png", "head_normal.png"))
    return Avatar(mesh, expression, albedo, normal, params=params, preview=preview)


def _neutral_mesh(params: dict, posed, faces, uvs, face_uvs) -> tuple[HeadMesh, np.ndarray]:
    """The neutral head and the expression: rebuilt from the identity for the default model,
    else the posed OBJ head with no morph targets."""
    model = load_head_model()
    identity = params.get("identity")
    if params.get("model", {}).get("name") == MODEL_NAME and identity and len(posed) == len(model.template):
        phen = [identity["phenotypes"].get(n, 0.5) for n in model.phenotype_names]
        local = [identity["local_changes"].get(n, 0.0) for n in model.local_names]
        arkit = params.get("expression", {}).get("arkit", {})
        expression = np.array([arkit.get(n, 0.0) for n in model.action_names], np.float32)
        mesh = HeadMesh(model.identity_vertices(phen, local), model.faces, model.uvs, model.face_uvs,
                        list(model.action_names), model.action_basis)
        return mesh, expression
    return HeadMesh(posed, faces, uvs, face_uvs, [], np.zeros((0, len(posed), 3), np.float32)), np.zeros(0, np.float32)


def _read_entries(path: str | Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}

