"""Strand hair: the :class:`Hairstyle` container and polyline helpers.

A hairstyle is N strands of P points each, root first, in the head frame (metres, Y up, the
face along +Z), rooted on the triangles of the head it was made for or fitted to.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

# Quantisation of stored strands: int16 steps of 20 micrometres (+-0.65 m).
QUANTUM = 2e-5


@dataclass
class Hairstyle:
    """A set of strands rooted on a head.

    strands: (N, P, 3) float32 points, root first. root_face: (N,) int32 triangle of the head
    each root lies on; root_bary: (N, 3) float32 barycentric coordinates on it. colors: (N, 3)
    uint8 sRGB per strand (the base colour with per-strand variation); color: (3,) uint8 base
    colour. params: JSON-ready description (generator parameters or the import source).
    """

    name: str
    strands: np.ndarray
    root_face: np.ndarray
    root_bary: np.ndarray
    color: np.ndarray
    colors: np.ndarray
    params: dict = field(default_factory=dict)

    @property
    def count(self) -> int:
        return int(self.strands.shape[0])

    @property
    def points_per_strand(self) -> int:
        return int(self.strands.shape[1])

    def lengths(self) -> np.ndarray:
        """(N,) arc length of every strand in metres."""
        return polyline_lengths(self.strands)


def empty_hairstyle(name: str, color, points: int, params: dict | None = None) -> Hairstyle:
    """A hairstyle with no strands (bald)."""
    return Hairstyle(name, np.zeros((0, points, 3), np.float32), np.zeros(0, np.int32),
                     np.zeros((0, 3), np.float32), np.asarray(color, np.uint8),
                     np.zeros((0, 3), np.uint8), dict(params or {}))


def polyline_lengths(strands: np.ndarray) -> np.ndarray:
    """(N,) arc lengths of (N, P, 3) polylines."""
    return np.linalg.norm(np.diff(strands, axis=1), axis=2).sum(1)


def resample(strands: np.ndarray, points: int, lengths: np.ndarray | None = None) -> np.ndarray:
    """(N, S, 3) polylines -> (N, points, 3) float64 polylines with points evenly spaced by
    arc length (first point kept). ``lengths`` (N,): the arc length to keep from the root,
    at most the strand's own (default: all of it, the last point kept too)."""
    strands = np.asarray(strands, np.float64)
    n, s = strands.shape[:2]
    seg = np.linalg.norm(np.diff(strands, axis=1), axis=2)
    arc = np.concatenate([np.zeros((n, 1)), np.cumsum(seg, axis=1)], axis=1)
    total = arc[:, -1:]
    kept = total if lengths is None else np.minimum(np.asarray(lengths, np.float64)[:, None], total)
    target = np.linspace(0, 1, points)[None] * kept
    # One sorted search over all strands: strand i's arcs are shifted to [2i, 2i + 1].
    scale = 1 / np.maximum(total, 1e-12)
    rows = 2 * np.arange(n)[:, None]
    j = np.searchsorted((arc * scale + rows).ravel(), (target * scale + rows).ravel(), side="right")
    j = np.clip(j.reshape(n, points) - 1 - np.arange(n)[:, None] * s, 0, s - 2)
    r = np.arange(n)[:, None]
    a0, a1 = arc[r, j], arc[r, j + 1]
    t = np.clip(np.divide(target - a0, a1 - a0, out=np.zeros_like(target), where=a1 > a0), 0, 1)
    return strands[r, j] * (1 - t[..., None]) + strands[r, j + 1] * t[..., None]


def strand_colors(color, count: int, rng: np.random.Generator, variation: float = 0.12) -> np.ndarray:
    """(count, 3) uint8 colours around the base ``color`` (3,) uint8: a per-strand lightness
    factor (log-normal, ``variation`` spread) and a small per-channel tint."""
    base = np.asarray(color, np.float64)
    light = np.exp(rng.normal(0, variation, (count, 1)))
    tint = 1 + rng.normal(0, variation / 4, (count, 3))
    return np.clip(np.rint((base + 6) * light * tint - 6), 0, 255).astype(np.uint8)


def encode_strands(strands: np.ndarray) -> bytes:
    """(N, P, 3) metres -> zlib-compressed little-endian int16 (``QUANTUM`` steps), stored as
    the root and then the step from each point to the next (small numbers compress well)."""
    q = np.rint(np.asarray(strands, np.float64) / QUANTUM).astype(np.int64)
    delta = np.concatenate([q[:, :1], np.diff(q, axis=1)], axis=1)
    if delta.size and np.abs(delta).max() > 32767:
        raise ValueError("strand roots beyond +-0.65 m or segments over 0.65 m cannot be stored")
    return zlib.compress(delta.astype("<i2").tobytes(), 6)


def decode_strands(blob: bytes, count: int, points: int) -> np.ndarray:
    """Inverse of :func:`encode_strands`: (count, points, 3) float32 metres."""
    raw = zlib.decompress(blob)
    if len(raw) != count * points * 3 * 2:
        raise ValueError(f"strand blob holds {len(raw)} bytes, expected {count * points * 6}")
    delta = np.frombuffer(raw, "<i2").reshape(count, points, 3).astype(np.int32)
    return (np.cumsum(delta, axis=1) * QUANTUM).astype(np.float32)
