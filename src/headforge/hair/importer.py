"""External strand hairstyles onto the reference head.

An imported style comes in its own head frame and units. Its roots (first points) are
registered to our scalp (:func:`headforge.hair.registration.register_roots`: scale, rotation
and translation), every strand is moved by that similarity, its root is snapped onto the
nearest scalp point (strands whose root lands more than ``MAX_ROOT_GAP`` away are not hair
on a scalp and are dropped), strands are resampled to a fixed point count and settled out of
the head.
"""
from __future__ import annotations

import numpy as np

from headforge.errors import HairFileError
from headforge.hair.fit import fit_hairstyle
from headforge.core.geometry import closest_points
from headforge.hair.reference import ReferenceHead
from headforge.hair.registration import register_roots
from headforge.hair.scalp import ROOT_LIFT, surface_frame
from headforge.core.strands import Hairstyle, resample, strand_colors

MAX_ROOT_GAP = 0.01  # metres


def import_strands(strands: list[np.ndarray], head: ReferenceHead, name: str, color, points: int = 32,
                   up=None, front=None) -> Hairstyle:
    """A Hairstyle on ``head`` from strands (list of (n_i, 3) arrays, root first) in their own
    frame; ``up``/``front``: the source frame's up and face directions, when known."""
    kept = [np.asarray(s, np.float64) for s in strands if len(s) >= 2]
    if not kept:
        raise HairFileError("the file has no strand with two or more points")
    rng = np.random.default_rng(0)
    roots = np.array([s[0] for s in kept])
    sim, rms = register_roots(roots, head.vertices, head.faces, head.scalp, up, front)
    fixed = resample(_pad([sim.apply(s) for s in kept]), points)
    face, bary, on_scalp = closest_points(head.vertices, head.faces, fixed[:, 0], head.scalp)
    gap = np.linalg.norm(on_scalp - fixed[:, 0], axis=1)
    keep = gap <= MAX_ROOT_GAP
    if not keep.any():
        raise HairFileError("no strand of the file has its root on the registered scalp")
    _, normal = surface_frame(head.vertices, head.faces, face[keep], bary[keep])
    fixed = fixed[keep] + (on_scalp[keep] + ROOT_LIFT * normal - fixed[keep, 0])[:, None]
    params = {"registration": {"scale": round(sim.scale, 6), "rms_m": round(rms, 6),
                               "rotation": np.round(sim.rotation, 6).tolist(),
                               "translation": np.round(sim.translation, 6).tolist()},
              "strands_in_file": len(strands), "strands_kept": int(keep.sum())}
    color = np.asarray(color, np.uint8)
    style = Hairstyle(name, fixed.astype(np.float32), face[keep].astype(np.int32), bary[keep].astype(np.float32),
                      color, strand_colors(color, int(keep.sum()), rng), params)
    return fit_hairstyle(style, head, head.vertices)


def _pad(strands: list[np.ndarray]) -> np.ndarray:
    """(N, S, 3) array of polylines of different lengths: each padded with its last point."""
    s = max(len(x) for x in strands)
    out = np.empty((len(strands), s, 3))
    for i, x in enumerate(strands):
        out[i, : len(x)] = x
        out[i, len(x):] = x[-1]
    return out
