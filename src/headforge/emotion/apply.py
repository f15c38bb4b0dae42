"""Emotions on a face: mix the mapping's actions with the photo's expression, keep it plausible.

Rule (also in the JSON's ``combine`` and in ``emotion_mlp.js``): with x the (7,) intensities,
``kept = base * (1 - max(x))`` and ``a = clip(kept + mlp(x), 0, 1)``, where base is the photo's
fitted expression (``keep_expression``) or zeros: the strongest slider decides how much of the
photo's own expression gives way, so an emotion at 1.0 replaces it. Then the eyelid and lip
limits: emotions never close an eye or the lips past closed, nor past what ``kept`` already
does, so no emotion (all zero) leaves the photo's expression exactly as fitted.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np

from headforge.core.avatar import Avatar
from headforge.emotion.mapping import EMOTIONS, EmotionMapping, intensity_vector, load_mapping

MAPPING_ENTRY = "emotion_mlp.json"


def apply_emotions(base: np.ndarray, emotions: Mapping[str, float], keep_expression: bool = True,
                   mapping: EmotionMapping | None = None) -> np.ndarray:
    """(52,) float32 actions in [0, 1], in ``mapping.actions`` order: ``emotions`` ({name:
    intensity in [0, 1]}) applied to the (52,) ``base`` expression (ignored unless
    ``keep_expression``)."""
    m = mapping or load_mapping()
    x = intensity_vector(emotions)
    start = np.asarray(base, np.float64) if keep_expression else np.zeros(len(m.actions))
    kept = start * (1.0 - x.max())
    a = np.clip(kept + m(x), 0.0, 1.0)
    for limit in m.limits:
        a = limit.apply(a, kept)
    return a.astype(np.float32)


def emotion_params(emotions: Mapping[str, float], keep_expression: bool) -> dict:
    """The ``params.json`` ``"emotions"`` block: all seven intensities, the starting expression
    and the zip entry that holds the mapping."""
    x = intensity_vector(emotions)
    return {
        "intensities": {name: round(float(v), 6) for name, v in zip(EMOTIONS, x)},
        "expression": "keep" if keep_expression else "neutral",
        "mapping": MAPPING_ENTRY,
    }


def with_emotions(avatar: Avatar, emotions: Mapping[str, float], keep_expression: bool | None = None) -> Avatar:
    """A copy of ``avatar`` with ``emotions`` applied to its fitted expression (no refit; well
    under a millisecond). ``keep_expression`` None keeps the avatar's own choice. The identity,
    textures and preview are shared, not copied; params' expression and emotions are updated."""
    params = avatar.params
    if keep_expression is None:
        keep_expression = params.get("emotions", {}).get("expression", "keep") == "keep"
    mapping = load_mapping()
    fitted = params["expression"]["fitted_arkit"]
    result = apply_emotions([fitted[n] for n in mapping.actions], emotions, keep_expression, mapping)
    names = avatar.mesh.morph_names
    expression = result[[mapping.actions.index(n) for n in names]]
    new_params = {
        **params,
        "expression": {**params["expression"], "arkit": {n: round(float(v), 6) for n, v in zip(names, expression)}},
        "emotions": emotion_params(emotions, keep_expression),
    }
    return dataclasses.replace(avatar, expression=expression, params=new_params)
