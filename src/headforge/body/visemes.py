"""The 15 Oculus visemes and Ready Player Me's extra targets, as mixes of the 52 ARKit actions.

Each viseme is the mouth shape held at the middle of its phonemes (Oculus Lipsync's reference
images): how far the jaw opens, whether the lips close, round or spread, where the tongue is.
The weights are ARKit action values in [0, 1]; a target's deltas are the weighted sum of the
actions' deltas, so a client mixing visemes and ARKit actions stays in the same linear space.
"""
from __future__ import annotations

import numpy as np

_BOTH = ("Left", "Right")


def _pair(name: str, value: float) -> dict[str, float]:
    """{nameLeft: value, nameRight: value}."""
    return {f"{name}{side}": value for side in _BOTH}


VISEMES: dict[str, dict[str, float]] = {
    "viseme_sil": {},  # silence: the rest face
    # p, b, m: lips pressed together and rolled in a little, the jaw closed
    "viseme_PP": {**_pair("mouthPress", 0.5), "mouthRollLower": 0.3, "mouthRollUpper": 0.25},
    # f, v: the lower lip tucked under the upper teeth
    "viseme_FF": {"mouthRollLower": 0.6, **_pair("mouthUpperUp", 0.2), "jawOpen": 0.08, "mouthShrugUpper": 0.1},
    # th: the jaw a little open, the tongue tip between the teeth
    "viseme_TH": {"jawOpen": 0.15, "tongueOut": 0.35, **_pair("mouthUpperUp", 0.1)},
    # t, d: the jaw slightly open, lips parted and a little spread
    "viseme_DD": {"jawOpen": 0.2, **_pair("mouthStretch", 0.15), "mouthShrugUpper": 0.1},
    # k, g: the jaw a bit more open, lips relaxed
    "viseme_kk": {"jawOpen": 0.25, **_pair("mouthStretch", 0.15), **_pair("mouthLowerDown", 0.1)},
    # tS, dZ, S: lips pushed forward and open (a square funnel)
    "viseme_CH": {"jawOpen": 0.15, "mouthFunnel": 0.45, "mouthPucker": 0.2, **_pair("mouthUpperUp", 0.15)},
    # s, z: teeth nearly together, lips spread
    "viseme_SS": {"jawOpen": 0.06, **_pair("mouthStretch", 0.35), **_pair("mouthSmile", 0.15)},
    # n, l: the jaw a little open, the tongue up behind the teeth (not seen)
    "viseme_nn": {"jawOpen": 0.18, **_pair("mouthStretch", 0.1), "mouthShrugUpper": 0.1},
    # r: lips rounded a little
    "viseme_RR": {"jawOpen": 0.15, "mouthFunnel": 0.3, "mouthPucker": 0.3},
    # a: the jaw wide open
    "viseme_aa": {"jawOpen": 0.6, **_pair("mouthLowerDown", 0.2), **_pair("mouthStretch", 0.1)},
    # e: open and spread
    "viseme_E": {"jawOpen": 0.35, **_pair("mouthStretch", 0.35), **_pair("mouthSmile", 0.15),
                 **_pair("mouthUpperUp", 0.1)},
    # i: nearly closed and spread wide
    "viseme_I": {"jawOpen": 0.2, **_pair("mouthStretch", 0.45), **_pair("mouthSmile", 0.3)},
    # o: open and rounded
    "viseme_O": {"jawOpen": 0.4, "mouthFunnel": 0.6, "mouthPucker": 0.3},
    # u: rounded and pushed forward, nearly closed
    "viseme_U": {"jawOpen": 0.15, "mouthPucker": 0.85, "mouthFunnel": 0.3},
}
# Ready Player Me's extra targets (clients build them like this when they are missing).
EXTRAS: dict[str, dict[str, float]] = {
    "mouthOpen": {"jawOpen": 1.0},
    "mouthSmile": _pair("mouthSmile", 1.0),
    "eyesClosed": {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0},
    "eyesLookUp": {"eyeLookUpLeft": 1.0, "eyeLookUpRight": 1.0},
    "eyesLookDown": {"eyeLookDownLeft": 1.0, "eyeLookDownRight": 1.0},
}
MIXED = {**VISEMES, **EXTRAS}


def mix_matrix(action_names: list[str], mixes: dict[str, dict[str, float]] = MIXED) -> np.ndarray:
    """(len(mixes), len(action_names)) float32: row k holds mix k's ARKit action weights."""
    index = {name: i for i, name in enumerate(action_names)}
    matrix = np.zeros((len(mixes), len(action_names)), np.float32)
    for row, mix in enumerate(mixes.values()):
        for action, weight in mix.items():
            matrix[row, index[action]] = weight
    return matrix


def with_mixed_targets(names: list[str], deltas: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The 52 ARKit targets followed by the visemes and extras: (names, (52 + 20, V, 3)
    float32 deltas) from the ARKit ``names`` and their (52, V, 3) ``deltas`` (metres)."""
    mixed = np.tensordot(mix_matrix(names), np.asarray(deltas, np.float32), 1)
    return [*names, *MIXED], np.concatenate([deltas, mixed]).astype(np.float32)
