"""A job's result files, and the fitted head kept for re-exports (keys: :mod:`.layout`).

``head.npz`` holds the fitted head (mesh, morph targets, expression, camera, params, the
encoded textures and the hair strands) as plain arrays, read with ``allow_pickle=False``: a
store shared with workers never feeds pickles to the gateway.
"""
from __future__ import annotations

import io
import json
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from headforge.core.avatar import Avatar, HeadMesh
from headforge.export.obj import ALBEDO_NAME, NORMAL_NAME
from headforge.export.package import params_json, write_zip
from headforge.core.strands import Hairstyle
from headforge.core.camera import Camera
from headforge.core.images import decode_png


@dataclass(frozen=True)
class Textures:
    """The avatar's encoded PNGs, re-used by every export of the same head."""

    albedo: bytes
    normal: bytes
    preview: bytes | None


def zip_bytes(avatar: Avatar, hair_budget: str = "web") -> bytes:
    """The avatar zip exactly as :func:`headforge.export.package.write_zip` writes it."""
    with tempfile.TemporaryDirectory(prefix="headforge-zip-") as folder:
        return write_zip(avatar, Path(folder) / "avatar.zip", hair_budget).read_bytes()


def zip_members(data: bytes, *names: str) -> dict[str, bytes]:
    """The named entries of a zip (those present)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        present = set(archive.namelist())
        return {name: archive.read(name) for name in names if name in present}


def textures_from_zip(data: bytes) -> Textures:
    entries = zip_members(data, ALBEDO_NAME, NORMAL_NAME, "preview.png")
    return Textures(entries[ALBEDO_NAME], entries[NORMAL_NAME], entries.get("preview.png"))


def head_npz(avatar: Avatar, textures: Textures) -> bytes:
    """The fitted head and its encoded textures as an ``.npz`` of plain arrays."""
    mesh, camera = avatar.mesh, avatar.camera
    arrays = {
        "vertices": mesh.vertices,
        "faces": mesh.faces,
        "uvs": mesh.uvs,
        "face_uvs": mesh.face_uvs,
        "morph_names": np.array(mesh.morph_names),
        "morph_deltas": mesh.morph_deltas,
        "expression": avatar.expression,
        "params": np.frombuffer(params_json(avatar.params), np.uint8),
        "albedo_png": np.frombuffer(textures.albedo, np.uint8),
        "normal_png": np.frombuffer(textures.normal, np.uint8),
    }
    if textures.preview is not None:
        arrays["preview_png"] = np.frombuffer(textures.preview, np.uint8)
    if avatar.landmarks is not None:
        arrays["landmarks"] = avatar.landmarks
    if avatar.iris is not None:
        arrays["iris"] = np.asarray(avatar.iris, np.uint8)
    arrays["bust"] = np.array(avatar.bust)
    if camera is not None:
        arrays["camera"] = np.array([camera.width, camera.height, camera.focal, camera.cx, camera.cy], np.float64)
        arrays["camera_R"], arrays["camera_t"] = camera.R, camera.t
    if avatar.hair is not None:
        h = avatar.hair
        arrays.update(hair_strands=h.strands, hair_root_face=h.root_face, hair_root_bary=h.root_bary,
                      hair_color=h.color, hair_colors=h.colors,
                      hair_meta=np.frombuffer(json.dumps({"name": h.name, "params": h.params}).encode(), np.uint8))
    out = io.BytesIO()
    np.savez(out, **arrays)
    return out.getvalue()


def load_head(data: bytes) -> tuple[Avatar, Textures]:
    """The avatar and textures saved by :func:`head_npz` (textures decoded for the arrays)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        mesh = HeadMesh(z["vertices"], z["faces"], z["uvs"], z["face_uvs"], [str(n) for n in z["morph_names"]],
                        z["morph_deltas"])
        textures = Textures(z["albedo_png"].tobytes(), z["normal_png"].tobytes(),
                            z["preview_png"].tobytes() if "preview_png" in z else None)
        camera = None
        if "camera" in z:
            w, h, f, cx, cy = z["camera"].tolist()
            camera = Camera(int(w), int(h), f, cx, cy, z["camera_R"], z["camera_t"])
        hair = None
        if "hair_strands" in z:
            meta = json.loads(z["hair_meta"].tobytes())
            hair = Hairstyle(meta["name"], z["hair_strands"], z["hair_root_face"], z["hair_root_bary"],
                             z["hair_color"], z["hair_colors"], meta["params"])
        avatar = Avatar(
            mesh,
            z["expression"],
            decode_png(textures.albedo),
            decode_png(textures.normal),
            params=json.loads(z["params"].tobytes()),
            preview=decode_png(textures.preview) if textures.preview is not None else None,
            landmarks=z["landmarks"] if "landmarks" in z else None,
            camera=camera,
            hair=hair,
            iris=z["iris"] if "iris" in z else None,
            bust=bool(z["bust"]) if "bust" in z else True,
        )
    return avatar, textures
