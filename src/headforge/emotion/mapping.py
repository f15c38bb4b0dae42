"""The emotion -> facial-action mapping: a small MLP stored as JSON, evaluated with numpy.

``data/emotion_mlp.json`` (written by ``scripts/train_emotion.py``, exported in every avatar zip
and evaluated the same way by ``emotion_mlp.js`` in a browser) holds:

- ``emotions``: the 7 input names (``EMOTIONS`` order), each an intensity in [0, 1];
- ``actions``: the 52 ARKit output names;
- ``layers``: ``[{"weight": (out, in), "bias": (out,)}, ...]``; hidden layers use ReLU;
- the output ``y = clip(f(x) - f(0), 0, 1)``: all-zero intensities give exactly the neutral
  face and every action stays in [0, 1];
- ``limits``: eyelid and lip bounds (:class:`Limit`, see :mod:`headforge.emotion.plausibility`);
- ``combine``: the rule that mixes the result with the photo's expression (:mod:`.apply`).
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from headforge.errors import EmotionError, ModelError

EMOTIONS = ("happiness", "anger", "sadness", "fear", "contempt", "surprise", "disgust")
SCHEMA = "headforge.emotion_mlp/1"
MAPPING_PATH = Path(__file__).parent / "data" / "emotion_mlp.json"
COMBINE_RULE = (
    "kept = base * (1 - max(x)), base = the photo's expression or zeros; "
    "a = clip(kept + mlp(x), 0, 1); then each limit in order: with C its closure matrix over its "
    "actions, K the actions with a positive entry in C and bound[p] = max(1, C[p] @ kept), "
    "s = min(1, min over rows p with C[p, K] @ a[K] > 0 of "
    "(bound[p] - C[p, not K] @ a[not K]) / (C[p, K] @ a[K])) and a[K] *= s"
)


@dataclass(frozen=True)
class Limit:
    """Pairs of vertices across an opening (eyelids, lips) must not pass through each other:
    ``closure @ a <= bound`` for the (52,) actions ``a``, where ``closure`` (P, 52) is each
    pair's closure per unit of each action (negative: the action opens it) and the bound is 1
    (just closed) or what the photo's own expression already has there, if more. Where broken,
    the actions that close some pair are all scaled by the largest factor in [0, 1] that holds."""

    name: str
    closure: np.ndarray

    def apply(self, actions: np.ndarray, kept: np.ndarray) -> np.ndarray:
        """(..., 52) ``actions`` with the bound enforced; ``kept`` (..., 52): the part of the
        photo's expression they contain, whose own closure the bound allows."""
        closing = (self.closure > 0).any(axis=0)
        bound = np.maximum(kept @ self.closure.T, 1.0)  # (..., P)
        shut = np.where(closing, actions, 0.0) @ self.closure.T
        rest = np.where(closing, 0.0, actions) @ self.closure.T  # <= 0: opening actions only
        room = np.where(shut > 0, (bound - rest) / np.where(shut > 0, shut, 1.0), np.inf)
        scale = np.minimum(room.min(axis=-1), 1.0)
        return np.where(closing, actions * scale[..., None], actions)


@dataclass(frozen=True)
class EmotionMapping:
    """The loaded JSON: layers as float64 (weight (out, in), bias (out,)) and the limits."""

    emotions: tuple[str, ...]
    actions: tuple[str, ...]
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]
    limits: tuple[Limit, ...]

    def hidden(self, x: np.ndarray) -> np.ndarray:
        """f(x): the raw network output, (..., 52) for (..., 7) intensities."""
        h = np.asarray(x, np.float64)
        for i, (w, b) in enumerate(self.layers):
            h = h @ w.T + b
            if i < len(self.layers) - 1:
                h = np.maximum(h, 0.0)
        return h

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """(..., 52) facial actions in [0, 1] for (..., 7) intensities in [0, 1]; zero at zero."""
        x = np.asarray(x, np.float64)
        return np.clip(self.hidden(x) - self.hidden(np.zeros_like(x)), 0.0, 1.0)


def mapping_from_json(doc: dict) -> EmotionMapping:
    """Build the mapping from the parsed JSON document (``schema`` ``headforge.emotion_mlp/1``)."""
    if doc.get("schema") != SCHEMA or tuple(doc["emotions"]) != EMOTIONS:
        raise ModelError(f"emotion mapping: expected schema {SCHEMA} over {', '.join(EMOTIONS)}")
    layers = tuple((np.array(l["weight"], np.float64), np.array(l["bias"], np.float64)) for l in doc["layers"])
    actions = tuple(doc["actions"])
    limits = []
    for lim in doc["limits"]:
        closure = np.zeros((len(lim["closure"]), len(actions)))
        closure[:, [actions.index(n) for n in lim["actions"]]] = lim["closure"]
        limits.append(Limit(lim["name"], closure))
    return EmotionMapping(EMOTIONS, actions, layers, tuple(limits))


@lru_cache(maxsize=1)
def load_mapping(path: Path = MAPPING_PATH) -> EmotionMapping:
    """The committed mapping (cached)."""
    try:
        return mapping_from_json(json.loads(path.read_text()))
    except (OSError, KeyError, ValueError) as e:
        raise ModelError(f"emotion mapping {path} is missing or invalid: {e}") from e


def intensity_vector(emotions: Mapping[str, float]) -> np.ndarray:
    """(7,) float64 intensities in ``EMOTIONS`` order; missing names are 0. Raises
    :class:`EmotionError` for an unknown name or a value that is not a number in [0, 1]."""
    x = np.zeros(len(EMOTIONS))
    for name, value in emotions.items():
        if name not in EMOTIONS:
            raise EmotionError(f"unknown emotion {name!r}; choose from {', '.join(EMOTIONS)}")
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise EmotionError(f"emotion {name}: intensity {value!r} is not a number") from None
        if not (math.isfinite(v) and 0.0 <= v <= 1.0):
            raise EmotionError(f"emotion {name}: intensity {value!r} is not in [0, 1]")
        x[EMOTIONS.index(name)] = v
    return x


def parse_emotions(text: str) -> dict[str, float]:
    """``"happiness=0.8,surprise=0.3"`` -> ``{"happiness": 0.8, "surprise": 0.3}`` (validated)."""
    emotions: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep:
            raise EmotionError(f"emotion {item!r}: expected NAME=INTENSITY, e.g. happiness=0.8")
        emotions[name.strip()] = value.strip()
    x = intensity_vector(emotions)
    return {name: float(x[EMOTIONS.index(name)]) for name in emotions}
