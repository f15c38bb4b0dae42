"""Long hair draped over the full body: strand points inside the body (shoulders, chest, back,
upper arms) are moved out onto its surface, so the hair rests on the shoulders and falls in
front of or behind them as it leans.

Frames and units: the head frame (metres, Y up, the face along +Z), the strands'; the body's
parts are in the body frame and are moved into the head frame by ``-body.head_offset``.

The body's surface: every part below the head (:data:`headforge.body.fullbody.HEAD_PARTS`
left out: the hair was fitted to the head already), welded into one mesh where the parts
share border positions, cut to the box of the strands (``PAD_M`` around them) and closed
(:class:`headforge.hair.collision.ClosedSurface`: holes fanned, the neck under the head and
the box's cuts included). Its signed distance is :class:`headforge.hair.collision.Collider`'s
(the plane of the nearest surface sample, looked up on a ``VOXEL_M`` grid).

Draping is follow-the-leader from root to tip: each point is put back at its segment's length
from the (new) point before it and, ``PUSHES`` times, pushed out along its sample's normal to
``MARGIN_M`` off the surface and put back at its length again. So segment lengths are kept
exactly, roots and strands that never come near the body do not move, and a point ends
outside the body wherever the surface there is smooth on the scale of a segment.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from headforge.body.fullbody import HEAD_PARTS, FullBody
from headforge.core.strands import Hairstyle
from headforge.hair.collision import Collider, at_length

MARGIN_M = 0.005  # hair rests this far off the body (outfit) surface
PAD_M = 0.04  # the body's surface is kept this far around the strands' box
VOXEL_M = 0.005  # grid spacing of the nearest-sample lookup
PUSHES = 4  # push-and-restore rounds per point
WELD_M = 1e-5  # part vertices this close are one vertex


def drape_on_body(hair: Hairstyle, body: FullBody) -> Hairstyle:
    """``hair`` (head frame) with its strands draped over ``body`` (see the module
    docstring); the same object when no strand comes within ``MARGIN_M`` of the body."""
    if not hair.count:
        return hair
    strands = hair.strands.astype(np.float64)
    collider = body_collider(body, strands.reshape(-1, 3))
    near = None if collider is None else (collider.signed_distance(strands) < MARGIN_M)[:, 1:].any(axis=1)
    if near is None or not near.any():
        return hair
    draped = strands.copy()
    draped[near] = drape(strands[near], collider)
    return replace(hair, strands=draped.astype(np.float32))


def drape_chains(chains: list[np.ndarray], body: FullBody, margin: float) -> list[np.ndarray]:
    """Spring-bone chains ((J_k, 3) joints each, head frame, root first) draped over ``body``
    to ``margin`` metres (a joint's hit radius), roots kept, segment lengths kept."""
    collider = body_collider(body, np.concatenate(chains)) if chains else None
    return chains if collider is None else [drape(chain[None], collider, margin)[0] for chain in chains]


def body_collider(body: FullBody, points: np.ndarray) -> Collider | None:
    """The collider of ``body``'s surface below the head around the (M, 3) ``points`` (head
    frame, ``PAD_M`` around their box); None when no part of the body is there."""
    vertices, faces = body_surface(body, points.min(axis=0) - PAD_M, points.max(axis=0) + PAD_M)
    return Collider.build(vertices, faces, spacing=VOXEL_M, pad=PAD_M / 2) if len(faces) else None


def body_surface(body: FullBody, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(V, 3) float64 vertices (head frame) and (F, 3) faces of the body below the head,
    welded, keeping the faces whose corners all lie in the box ``lo``..``hi`` (3,)."""
    parts = [p for p in body.parts if p.name not in HEAD_PARTS]
    points = np.concatenate([p.vertices for p in parts]).astype(np.float64) - body.head_offset
    starts = np.cumsum([0, *(len(p.vertices) for p in parts)])
    faces = np.concatenate([p.faces + s for p, s in zip(parts, starts)])
    keys = np.rint(points / WELD_M).astype(np.int64)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    faces, vertices = inverse.ravel()[faces], points[first]
    inside = ((vertices >= lo) & (vertices <= hi)).all(axis=1)
    faces = faces[inside[faces].all(axis=1)]
    faces = faces[(faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 2] != faces[:, 0])]
    used = np.unique(faces)
    remap = np.full(len(vertices), -1)
    remap[used] = np.arange(len(used))
    return vertices[used], remap[faces]


def drape(strands: np.ndarray, collider: Collider, margin: float = MARGIN_M) -> np.ndarray:
    """(N, P, 3) float64 strands moved out of ``collider``'s surface to ``margin`` metres,
    root to tip, every segment keeping its length (see the module docstring)."""
    out = np.array(strands, np.float64)
    lengths = np.linalg.norm(np.diff(out, axis=1), axis=2)
    samples = collider.rest
    for j in range(1, out.shape[1]):
        point = at_length(out[:, j - 1], out[:, j], lengths[:, j - 1])
        for _ in range(PUSHES):
            ids = collider.sample_ids(point)
            depth = margin - samples.signed_distance(point, ids)
            point = at_length(out[:, j - 1], point + np.maximum(depth, 0)[:, None] * samples.normals[ids],
                              lengths[:, j - 1])
        out[:, j] = point
    return out
