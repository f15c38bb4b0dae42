"""Spring-bone chains for long hair cards: where the joints go and how the cards are skinned.

Frames and units: the cards' (the head frame: metres, Y up, the face along +Z). A card
*hangs* when its axis (the mean of its two edges, root to tip) goes below ``hang_y`` (the
exporter passes the Head bone's height: about the jaw) and goes on for at least
``MIN_HANG_M`` of arc length below there; its hanging part runs from that first point
below (the pivot) to the tip. Short hair never hangs and stays rigid.

Hanging cards are grouped into clumps by k-means on their hanging parts (``FEATURE_POINTS``
points evenly spaced along each). Each clump gets one chain of ``segments + 1`` joints
(3 to 5): the mean of its cards' hanging parts sampled at evenly spaced arc lengths, from
the pivot to the tip. VRMC_springBone turns each joint towards the next one, so the last
joint only marks where the last segment ends.

Skinning. Bone 0 is the rigid base (the Head bone); then come the chains' joints, chain
after chain. A vertex of a hanging card at ``u`` segments below its card's pivot (u from 0
at the pivot to ``segments`` at the tip, by arc length) blends linearly between the two bones
whose segment midpoints bracket it; the base's "midpoint" is half a segment above the pivot.
So the weights change smoothly along the card, at most two bones move a vertex, and at the
tip the last segment's joint holds it alone. The cards' other vertices follow the base.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from headforge.hair.cards import HairCards

MIN_HANG_M = 0.05  # a card hangs when this much of it lies below the pivot height
SEGMENT_M = 0.07  # the chains' segment length aimed at
MIN_SEGMENTS, MAX_SEGMENTS = 2, 4  # 3 to 5 joints a chain
CARDS_PER_CHAIN = 60  # hanging cards per chain aimed at, within the chain count's limits
MIN_CHAINS, MAX_CHAINS = 12, 40
FEATURE_POINTS = 4  # points along a hanging part that the clustering compares
KMEANS_STEPS = 12


@dataclass
class HairChains:
    """Joint chains and the cards' skinning (see the module docstring).

    chains: K arrays (J_k, 3) float64, each chain's joint positions from the pivot to the tip
    (head frame, metres). joints: (V, 2) int64, the two bones of each card vertex (0: the
    base; chain k's joint j: 1 + J_0 + ... + J_(k-1) + j); weights: (V, 2) float32 summing
    to 1 (V: the cards' vertices, in their order).
    """

    chains: list[np.ndarray]
    joints: np.ndarray
    weights: np.ndarray


def hair_chains(cards: HairCards, hang_y: float) -> HairChains:
    """The chains of ``cards``' hanging cards and every card vertex's bones and weights;
    ``hang_y``: the pivot height (metres, head frame). No chain when no card hangs."""
    c = cards.count
    rows = len(cards.positions) // (2 * max(c, 1))
    joints = np.zeros((len(cards.positions), 2), np.int64)
    weights = np.zeros((len(cards.positions), 2), np.float32)
    weights[:, 0] = 1.0
    if c == 0:
        return HairChains([], joints, weights)
    axis = cards.positions.reshape(c, rows, 2, 3).mean(axis=2).astype(np.float64)
    arc = np.concatenate([np.zeros((c, 1)), np.cumsum(np.linalg.norm(np.diff(axis, axis=1), axis=2), 1)], 1)
    pivot = _pivot_arc(axis, arc, hang_y)
    hang = arc[:, -1] - pivot
    hanging = np.flatnonzero(np.nan_to_num(hang, nan=0.0) >= MIN_HANG_M)
    if not len(hanging):
        return HairChains([], joints, weights)
    feature = _along(axis[hanging], arc[hanging], pivot[hanging], hang[hanging], FEATURE_POINTS)
    count = min(len(hanging), int(np.clip(round(len(hanging) / CARDS_PER_CHAIN), MIN_CHAINS, MAX_CHAINS)))
    label = _kmeans(feature.reshape(len(hanging), -1), count)
    chains, first = [], 1
    per_card_joints = joints.reshape(c, rows, 2, 2)
    per_card_weights = weights.reshape(c, rows, 2, 2)
    for k in np.unique(label):
        members = hanging[label == k]
        segments = int(np.clip(round(hang[members].mean() / SEGMENT_M), MIN_SEGMENTS, MAX_SEGMENTS))
        chains.append(_along(axis[members], arc[members], pivot[members], hang[members], segments + 1).mean(0))
        u = (arc[members] - pivot[members, None]) / hang[members, None] * segments
        bone, weight = _blend(u, segments, first)
        per_card_joints[members] = bone[:, :, None, :]
        per_card_weights[members] = weight[:, :, None, :]
        first += segments + 1
    return HairChains(chains, joints, weights)


def _pivot_arc(axis: np.ndarray, arc: np.ndarray, hang_y: float) -> np.ndarray:
    """(C,) arc length at which each (C, R, 3) axis first goes below ``hang_y`` (linear
    between rows; 0 when the root already is below), NaN where it never does."""
    below = axis[:, :, 1] < hang_y
    r = below.argmax(axis=1)
    prev = np.maximum(r - 1, 0)
    rows = np.arange(len(axis))
    y0, y1 = axis[rows, prev, 1], axis[rows, r, 1]
    t = np.divide(y0 - hang_y, y0 - y1, out=np.zeros_like(y0), where=(r > 0) & (y0 > y1))
    out = arc[rows, prev] + np.clip(t, 0, 1) * (arc[rows, r] - arc[rows, prev])
    return np.where(below.any(axis=1), out, np.nan)


def _along(axis: np.ndarray, arc: np.ndarray, start: np.ndarray, length: np.ndarray, points: int) -> np.ndarray:
    """(M, points, 3) points of the (M, R, 3) polylines with (M, R) arc lengths ``arc``, at
    ``points`` evenly spaced arc lengths from ``start`` (M,) over ``length`` (M,)."""
    target = start[:, None] + np.linspace(0, 1, points)[None] * length[:, None]
    index = np.clip((arc[:, None, :] <= target[:, :, None]).sum(axis=2) - 1, 0, arc.shape[1] - 2)
    rows = np.arange(len(axis))[:, None]
    a0, a1 = arc[rows, index], arc[rows, index + 1]
    t = np.clip(np.divide(target - a0, a1 - a0, out=np.zeros_like(target), where=a1 > a0), 0, 1)[..., None]
    return axis[rows, index] * (1 - t) + axis[rows, index + 1] * t


def _blend(u: np.ndarray, segments: int, first: int) -> tuple[np.ndarray, np.ndarray]:
    """(M, R, 2) bones and (M, R, 2) float32 weights at (M, R) positions ``u`` (segments
    below the pivot) on a chain whose joint 0 is bone ``first`` (see the module docstring)."""
    centre = np.clip(u - 0.5, -1.0, segments - 1.0)  # in segment midpoints; -1: the base
    low = np.minimum(np.floor(centre), segments - 2)
    high_weight = centre - low
    weights = np.stack([1 - high_weight, high_weight], axis=-1).astype(np.float32)
    bones = np.stack([np.where(low < 0, 0, first + low), first + low + 1], axis=-1).astype(np.int64)
    return np.where(weights > 0, bones, 0), weights  # glTF: an unused influence names joint 0


def _kmeans(x: np.ndarray, k: int) -> np.ndarray:
    """(N,) cluster of each (N, D) row: ``KMEANS_STEPS`` Lloyd steps from farthest-point
    seeds (the first: the row nearest the mean), so the clumps are repeatable."""
    seeds = [int(np.argmin(((x - x.mean(axis=0)) ** 2).sum(axis=1)))]
    distance = ((x - x[seeds[0]]) ** 2).sum(axis=1)
    for _ in range(k - 1):
        seeds.append(int(distance.argmax()))
        distance = np.minimum(distance, ((x - x[seeds[-1]]) ** 2).sum(axis=1))
    centres = x[seeds]
    for _ in range(KMEANS_STEPS):
        label = cKDTree(centres).query(x, workers=1)[1]
        counts = np.bincount(label, minlength=k)[:, None]
        sums = np.stack([np.bincount(label, x[:, d], k) for d in range(x.shape[1])], axis=1)
        centres = np.where(counts > 0, sums / np.maximum(counts, 1), centres)
    return cKDTree(centres).query(x, workers=1)[1]
