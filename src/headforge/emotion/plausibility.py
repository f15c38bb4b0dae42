"""Eyelids and lips must not pass through each other: vertex pairs across each opening.

The head model is linear, so the vertical gap between an upper-lid (or upper-lip) vertex and
the vertex below it is affine in the facial actions: gap(a) = gap(0) + D @ a. A pair's
*closure* is how far the gap has shrunk, as a fraction of what counts as closed:
- eyelids: the closure of a full blink (eyeBlink = 1 closes the eye exactly once);
- lips: the neutral gap (the lips touch) plus ``LIP_SQUEEZE_M`` of soft-tissue compression.
A closure above 1 means the upper lid or lip has gone through the lower one.

:func:`derive_limit` turns the pairs into a :class:`~headforge.emotion.mapping.Limit`: the
linear bounds closure <= 1 that the mapping enforces on every result.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from headforge.emotion.mapping import Limit
from headforge.headmodel.anny_head import HeadModel, eyeball_vertices

LIP_SQUEEZE_M = 0.001
UPPER_LID_SHARE = 0.8  # upper-lid vertices: those a blink moves down by >= 80% of its largest move
STILL_M = 0.0015  # lower-lid vertices: those a blink moves by less than this
LIP_SHARE = 0.5  # lip vertices: those mouthClose moves by >= 50% of its largest move that way
LIP_TOUCH_M = 0.003  # lip pairs: lower-lip vertices this close to the upper lip at rest


@dataclass(frozen=True)
class GapPairs:
    """upper, lower: (P,) vertex indices, upper above lower; reference: (P,) metres of gap
    closure that count as closed (closure 1)."""

    name: str
    upper: np.ndarray
    lower: np.ndarray
    reference: np.ndarray

    def gaps(self, vertices: np.ndarray) -> np.ndarray:
        """(..., P) vertical gaps in metres for (..., V, 3) vertices."""
        return vertices[..., self.upper, 1] - vertices[..., self.lower, 1]

    def closure(self, model: HeadModel, actions: np.ndarray) -> np.ndarray:
        """(N, P) closure of each pair for (N, 52) actions, measured on posed template vertices."""
        a = np.atleast_2d(np.asarray(actions, np.float64))
        rows = np.concatenate([self.upper, self.lower])
        basis = model.action_basis[:, rows].astype(np.float64)
        vertices = model.template[rows].astype(np.float64) + np.tensordot(a, basis, 1)
        p = len(self.upper)
        g = vertices[:, :p, 1] - vertices[:, p:, 1]
        g0 = model.template[self.upper, 1].astype(np.float64) - model.template[self.lower, 1]
        return (g0 - g) / self.reference


def eyelid_pairs(model: HeadModel, side: str) -> GapPairs:
    """Pairs across the ``side`` ("Left" or "Right", the person's own) eye opening."""
    blink = model.action_basis[model.action_names.index(f"eyeBlink{side}")]
    eyes = eyeball_vertices(model.faces, len(model.template))
    down = np.where(eyes, 0.0, -blink[:, 1])
    upper = np.flatnonzero(down >= UPPER_LID_SHARE * down.max())
    still = np.flatnonzero(~eyes & (np.linalg.norm(blink, axis=1) < STILL_M))
    closed = model.template[upper] + blink[upper]
    nearest = np.argmin(np.linalg.norm(closed[:, None] - model.template[still][None], axis=2), axis=1)
    lower = still[nearest]
    return GapPairs(f"eyelids {side.lower()}", upper, lower, down[upper] + blink[lower, 1])


def lip_pairs(model: HeadModel) -> GapPairs:
    """Pairs across the mouth: every lower-lip vertex within ``LIP_TOUCH_M`` of the upper lip,
    with its nearest upper-lip vertex; the lips told apart by mouthClose (which shuts them)."""
    close = model.action_basis[model.action_names.index("mouthClose"), :, 1]
    v = model.template
    upper_set = np.flatnonzero(close <= LIP_SHARE * close.min())
    lower_set = np.flatnonzero(close >= LIP_SHARE * close.max())
    d = np.linalg.norm(v[lower_set][:, None] - v[upper_set][None], axis=2)
    touching = d.min(axis=1) < LIP_TOUCH_M
    lower = lower_set[touching]
    upper = upper_set[np.argmin(d[touching], axis=1)]
    return GapPairs("lips", upper, lower, v[upper, 1] - v[lower, 1] + LIP_SQUEEZE_M)


def all_pairs(model: HeadModel) -> list[GapPairs]:
    """Lips first, then the two eyes: the order in which their limits are applied."""
    return [lip_pairs(model), eyelid_pairs(model, "Left"), eyelid_pairs(model, "Right")]


def derive_limit(model: HeadModel, pairs: GapPairs, min_weight: float = 1e-3) -> Limit:
    """The pairs' (P, 52) closure per unit action as a :class:`Limit`; entries under
    ``min_weight`` (a 0.1% closure at full action) are dropped."""
    rows = model.action_basis[:, pairs.upper, 1] - model.action_basis[:, pairs.lower, 1]
    closure = (-rows.astype(np.float64) / pairs.reference).T
    return Limit(pairs.name, np.where(np.abs(closure) >= min_weight, closure, 0.0))
