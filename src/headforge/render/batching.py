"""Helpers to expand variable-length items (triangle rows, pixel runs, line samples) into
flat arrays without Python loops, in bounded-size batches."""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def chunk_ranges(counts: np.ndarray, budget: int) -> Iterator[tuple[int, int]]:
    """Yield (start, stop) item ranges whose (N,) ``counts`` sum to at most ``budget``; an
    item larger than the budget gets a range of its own."""
    ends = np.cumsum(counts)
    start = 0
    while start < len(counts):
        base = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, base + budget, "right")), start + 1)
        yield start, stop
        start = stop


def expand(counts: np.ndarray, first: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Items first, first+1, ... with these (n,) counts -> (M,) item index of each element
    and (M,) its 0-based position within its item, M = counts.sum()."""
    item = np.repeat(np.arange(first, first + len(counts)), counts)
    pos = np.arange(len(item)) - np.repeat(np.cumsum(counts) - counts, counts)
    return item, pos
