"""Strand hair files: the USC-HairSalon ``.data`` layout (as used by HairNet) and Cem
Yuksel's ``.hair`` format. Both are little-endian; strands are lists of (n, 3) float32
points, root first, in the file's own frame and units.

USC ``.data``: int32 strand count, then per strand an int32 point count and that many
float32 (x, y, z).

``.hair``: a 128-byte header -- "HAIR", uint32 strand count, uint32 point count, uint32 bit
field of the arrays present (1 segments, 2 points, 4 thickness, 8 transparency, 16 colours),
uint32 default segments per strand, float32 default thickness, default transparency, three
float32 default colour, 88 bytes of text -- then, in that order and only if present: uint16
segments per strand, float32 xyz points, float32 thickness per point, float32 transparency
per point, float32 rgb colour per point.

Readers check every count against the bytes that are really there before allocating, so a
lying, truncated or hostile file gives a :class:`headforge.errors.HairFileError`, never a
MemoryError; non-finite coordinates are refused too.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from headforge.errors import HairFileError

SEGMENTS_BIT, POINTS_BIT, THICKNESS_BIT, TRANSPARENCY_BIT, COLORS_BIT = 1, 2, 4, 8, 16
_HAIR_HEADER = struct.Struct("<4sIIIIff3f88s")  # 128 bytes


@dataclass
class StrandFile:
    """strands: list of (n_i, 3) float32 arrays, root first; colors: (N, 3) float32 rgb 0..1 per
    strand (the mean over its points) or None; info: the file's text, if any."""

    strands: list[np.ndarray]
    colors: np.ndarray | None = None
    info: str = ""


def read_strands(source: str | Path | bytes) -> StrandFile:
    """Read a ``.data`` or ``.hair`` file (told apart by the "HAIR" signature)."""
    data = _bytes(source)
    return read_hair(data) if data[:4] == b"HAIR" else read_usc(data)


def read_usc(source: str | Path | bytes) -> StrandFile:
    """Strands of a USC-HairSalon ``.data`` file."""
    data = _bytes(source)
    if len(data) < 4:
        raise HairFileError(f"USC hair file is {len(data)} bytes: too short for a strand count")
    (count,) = struct.unpack_from("<i", data)
    if count < 0 or 4 + 4 * count > len(data):
        raise HairFileError(f"USC hair file claims {count} strands but holds {len(data)} bytes")
    strands, offset = [], 4
    for i in range(count):
        if offset + 4 > len(data):
            raise HairFileError(f"USC hair file ends inside strand {i} of {count}")
        (n,) = struct.unpack_from("<i", data, offset)
        offset += 4
        if n < 0 or offset + 12 * n > len(data):
            raise HairFileError(f"USC hair file: strand {i} claims {n} points past the end of the file")
        strands.append(np.frombuffer(data, "<f4", 3 * n, offset).reshape(n, 3).astype(np.float32))
        offset += 12 * n
    if offset != len(data):
        raise HairFileError(f"USC hair file has {len(data) - offset} bytes after its {count} strands")
    _check_finite(strands)
    return StrandFile(strands)


def write_usc(strands) -> bytes:
    """USC ``.data`` bytes of (N, P, 3) strands or a list of (n_i, 3) arrays."""
    parts = [struct.pack("<i", len(strands))]
    for s in strands:
        s = np.asarray(s, "<f4").reshape(-1, 3)
        parts += [struct.pack("<i", len(s)), s.tobytes()]
    return b"".join(parts)


def read_hair(source: str | Path | bytes) -> StrandFile:
    """Strands (and per-strand colours) of a Cem Yuksel ``.hair`` file."""
    data = _bytes(source)
    if len(data) < _HAIR_HEADER.size:
        raise HairFileError(f".hair file is {len(data)} bytes: too short for its 128-byte header")
    sig, n_hair, n_points, arrays, d_segments, _, _, *_, info = _HAIR_HEADER.unpack_from(data)
    if sig != b"HAIR":
        raise HairFileError(f".hair file starts with {sig!r}, not b'HAIR'")
    if not arrays & POINTS_BIT:
        raise HairFileError(".hair file has no points array")
    per_point = (12 + 4 * bool(arrays & THICKNESS_BIT) + 4 * bool(arrays & TRANSPARENCY_BIT)
                 + 12 * bool(arrays & COLORS_BIT))
    need = _HAIR_HEADER.size + 2 * n_hair * bool(arrays & SEGMENTS_BIT) + per_point * n_points
    if need != len(data):
        raise HairFileError(f".hair file claims {n_hair} strands and {n_points} points ({need} bytes) "
                            f"but holds {len(data)} bytes")
    offset = _HAIR_HEADER.size
    if arrays & SEGMENTS_BIT:
        segments = np.frombuffer(data, "<u2", n_hair, offset).astype(np.int64)
        offset += 2 * n_hair
    else:
        segments = np.full(n_hair, d_segments, np.int64)
    if int((segments + 1).sum()) != n_points:
        raise HairFileError(f".hair file: its strands add up to {int((segments + 1).sum())} points, "
                            f"the header says {n_points}")
    points = np.frombuffer(data, "<f4", 3 * n_points, offset).reshape(-1, 3).astype(np.float32)
    offset += 12 * n_points
    offset += 4 * n_points * (bool(arrays & THICKNESS_BIT) + bool(arrays & TRANSPARENCY_BIT))
    ends = np.cumsum(segments + 1)
    strands = np.split(points, ends[:-1])
    colors = None
    if arrays & COLORS_BIT:
        rgb = np.frombuffer(data, "<f4", 3 * n_points, offset).reshape(-1, 3)
        colors = np.array([c.mean(0) for c in np.split(rgb, ends[:-1])], np.float32).reshape(-1, 3)
    _check_finite(strands)
    return StrandFile(strands, colors, info.split(b"\0", 1)[0].decode("utf-8", "replace"))


def write_hair(strands, colors: np.ndarray | None = None, info: str = "") -> bytes:
    """``.hair`` bytes of (N, P, 3) strands or a list of (n_i, 3) arrays, with optional (N, 3)
    rgb 0..1 colours per strand (written for every point)."""
    strands = [np.asarray(s, "<f4").reshape(-1, 3) for s in strands]
    segments = np.array([len(s) - 1 for s in strands], np.int64)
    if len(segments) and (segments.min() < 1 or segments.max() > 65535):
        raise ValueError("every strand needs 2 to 65536 points")
    n_points = int((segments + 1).sum())
    arrays = SEGMENTS_BIT | POINTS_BIT | (COLORS_BIT if colors is not None else 0)
    text = info.encode()[:87].ljust(88, b"\0")
    header = _HAIR_HEADER.pack(b"HAIR", len(strands), n_points, arrays, 0, 1.0, 0.0, 0.0, 0.0, 0.0, text)
    parts = [header, segments.astype("<u2").tobytes(), *(s.tobytes() for s in strands)]
    if colors is not None:
        per_point = np.repeat(np.asarray(colors, "<f4").reshape(-1, 3), segments + 1, axis=0)
        parts.append(per_point.tobytes())
    return b"".join(parts)


def _bytes(source: str | Path | bytes) -> bytes:
    return bytes(source) if isinstance(source, (bytes, bytearray, memoryview)) else Path(source).read_bytes()


def _check_finite(strands: list[np.ndarray]) -> None:
    for i, s in enumerate(strands):
        if not np.isfinite(s).all():
            raise HairFileError(f"strand {i} has a coordinate that is not a finite number")
