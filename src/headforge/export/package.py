"""The avatar zip: GLB, OBJ + MTL + textures, params.json, the emotion mapping, an optional
preview, for an avatar with hair ``hair.data`` (its strands in the USC-HairSalon layout, head
frame, metres: see :mod:`headforge.core.strand_formats`) and ``hair.usdc`` (the same strands as
USD BasisCurves with per-point widths, for 3D tools: see :mod:`headforge.export.usd`), and for
a full-body avatar ``avatar.vrm``.

``head_albedo.png`` (the OBJ's) is the bare albedo; the GLB's albedo has the scalp under its
hair painted in the hair's colour (:func:`headforge.texture.scalp.worn_albedo`).

Entry names are fixed (``ENTRY_NAMES``); PNGs carry no metadata and zip entries carry a
fixed timestamp, so the same avatar always gives the same bytes.
"""
from __future__ import annotations

import json
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from headforge.core.avatar import Avatar
from headforge.emotion.mapping import MAPPING_PATH, load_mapping
from headforge.export.gltf import glb_bytes
from headforge.export.obj import ALBEDO_NAME, NORMAL_NAME, obj_files
from headforge.core.images import encode_png
from headforge.core.strands import Hairstyle
from headforge.export.usd import hair_usdc
from headforge.hair.cards import DEFAULT_BUDGET
from headforge.core.strand_formats import write_usc
from headforge.texture.scalp import worn_albedo
from headforge.core.files import atomic_file

HAIR_NAME = "hair.data"
CURVES_NAME = "hair.usdc"
VRM_NAME = "avatar.vrm"
ENTRY_NAMES = (
    "avatar.glb",
    "head.obj",
    "head.mtl",
    ALBEDO_NAME,
    NORMAL_NAME,
    "params.json",
    "emotion_mlp.json",
    "preview.png",
    HAIR_NAME,
    CURVES_NAME,
    VRM_NAME,
)
HAIR_ENTRIES = (HAIR_NAME, CURVES_NAME)
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
DEFLATE_LEVEL = 1  # fastest: level 6 takes three times as long for a zip 5 % smaller


def params_json(params: dict) -> bytes:
    """``params`` as indented JSON; numpy scalars and arrays become plain numbers and lists.
    Raises TypeError for other objects and ValueError for NaN or infinity."""
    return json.dumps(params, indent=2, default=_builtin, allow_nan=False).encode()


def zip_entries(avatar: Avatar, hair_budget: str = DEFAULT_BUDGET) -> dict[str, bytes]:
    """{entry name: content} in ``ENTRY_NAMES`` order; emotion_mlp.json (the emotion slider
    mapping, :mod:`headforge.emotion`) when the morph targets are its ARKit actions;
    preview.png only when there is one; hair.data when the avatar has hair.
    ``hair_budget``: the GLB's hair cards, "web" or "high". A full-body avatar's avatar.glb is
    the rigged body (:mod:`headforge.export.rigged`) and avatar.vrm its VRM 1.0
    (:mod:`headforge.export.vrm`, licence from ``params["body"]["licence"]``)."""
    params = params_json(avatar.params)  # first: the cheapest step that can fail
    worn = worn_albedo(avatar)
    images = {"bare": avatar.albedo, "normal": avatar.normal_map, "preview": avatar.preview}
    if worn is not avatar.albedo:
        images["worn"] = worn
    # PNG encoding releases the GIL: the images are encoded side by side.
    with ThreadPoolExecutor(2) as pool:
        png = dict(zip(images, pool.map(lambda image: None if image is None else encode_png(image), images.values())))
    obj = obj_files(avatar, png["bare"], png["normal"])
    albedo_png = png.get("worn", png["bare"])
    if avatar.body is None:
        glb = glb_bytes(avatar, albedo_png, png["normal"], hair_budget)
    else:
        from headforge.export.rigged import rigged_glb_bytes

        glb = rigged_glb_bytes(avatar, avatar.body, albedo_png, png["normal"], hair_budget)
    entries = {"avatar.glb": glb, **obj}
    entries["params.json"] = params
    if set(avatar.mesh.morph_names) == set(load_mapping().actions):
        entries["emotion_mlp.json"] = MAPPING_PATH.read_bytes()
    if png["preview"] is not None:
        entries["preview.png"] = png["preview"]
    if avatar.hair is not None:
        entries.update(hair_entries(avatar.hair))
    if avatar.body is not None:
        from headforge.export.vrm import vrm_bytes

        entries[VRM_NAME] = vrm_bytes(avatar, avatar.body, avatar.params.get("body", {}).get("licence", "personal"),
                                      albedo_png=albedo_png, normal_png=png["normal"], hair_budget=hair_budget)
    return entries


def hair_entries(hair: Hairstyle) -> dict[str, bytes]:
    """{hair.data, hair.usdc: content} for a hairstyle with strands; {} for none (bald)."""
    if not hair.count:
        return {}
    return {HAIR_NAME: write_usc(hair.strands), CURVES_NAME: hair_usdc(hair)}


def write_zip(avatar: Avatar, path: str | Path, hair_budget: str = DEFAULT_BUDGET) -> Path:
    """Write the avatar zip at ``path`` atomically and return ``path``.

    The zip is written to a temporary file in the same folder, synced and renamed over
    ``path``; on any failure the temporary file is removed, ``path`` is left untouched
    and the error is re-raised.
    """
    return write_entries(zip_entries(avatar, hair_budget), path)


def write_entries(entries: dict[str, bytes], path: str | Path) -> Path:
    """Write {entry name: content} as an avatar zip at ``path``, atomically (as
    :func:`write_zip`), and return ``path``."""
    path = Path(path)
    with atomic_file(path) as file, zipfile.ZipFile(file, "w") as archive:
        for name, data in entries.items():
            # The level must be given per entry: a ZipInfo ignores the archive's.
            archive.writestr(_entry_info(name), data, compresslevel=DEFLATE_LEVEL)
    return path


def _entry_info(name: str) -> zipfile.ZipInfo:
    """Entry header: fixed time, rw-r--r-- permissions; PNGs stored (already compressed), and
    the strands' hair.data and hair.usdc (float coordinates: deflate saves under 10 % of
    them for about 0.2 s each)."""
    info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
    info.external_attr = 0o644 << 16
    stored = name.endswith(".png") or name in (HAIR_NAME, CURVES_NAME)
    info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    return info


def _builtin(value: object) -> object:
    """``json.dumps`` fallback for numpy values."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"params value of type {type(value).__name__} is not JSON-serialisable")
