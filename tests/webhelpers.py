"""Shared by the web tests: photos as uploads, reading a GLB, Debian's Chromium and its flags
(the servers, Redis, workers, photos and mounts they stage, and waiting for a job or for
readiness, are :mod:`headforge.bench.serving`'s)."""
from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from headforge.bench.serving import astronaut_jpeg  # noqa: F401 - for the tests

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader",  # WebGL on the CPU
    "--autoplay-policy=no-user-gesture-required",  # TalkingHead's audio starts without a click
]
# Skipped without Chromium, failed under CI=true (tests/conftest.py: chromium_installed).
needs_chromium = pytest.mark.usefixtures("chromium_installed")


def encoded(rgb: np.ndarray, fmt: str = "JPEG", **save) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, fmt, **save)
    return out.getvalue()


def glb_json(data: bytes) -> dict:
    """The JSON chunk of a GLB file."""
    magic, version, _ = struct.unpack_from("<4sII", data)
    assert magic == b"glTF" and version == 2
    length, kind = struct.unpack_from("<I4s", data, 12)
    assert kind == b"JSON"
    return json.loads(data[20:20 + length])


def morph_weights(data: bytes) -> dict[str, float]:
    """The head mesh's default morph weights by ARKit name."""
    mesh = glb_json(data)["meshes"][0]
    return dict(zip(mesh["extras"]["targetNames"], mesh["weights"]))
