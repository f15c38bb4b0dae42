"""Training targets: EMFACS emotion prototypes as ARKit facial actions, with intensity curves
and mixture rules (``/work/shared/notes/facs.md`` has the action-unit table they start from).

- Each emotion lists actions with a peak value (at intensity 1) and a curve exponent: an action
  reaches ``peak * t ** gamma`` at intensity t, so gamma < 1 rises early (the smile leads) and
  gamma > 1 joins late (the lips part only in a broad smile). Names without a side expand to
  Left and Right; contempt is one-sided (the person's right, as FACS's R12A + R14A).
- Mixtures: contributions to the same action add like probabilities, 1 - prod(1 - v); then
  antagonist pairs (smile vs frown, jaw drop vs lip press) share what they have,
  a' = a^2 / (a + b), so neither side of a conflict grows when the other is added.
"""
from __future__ import annotations

import numpy as np

from headforge.emotion.mapping import EMOTIONS

# emotion -> {action: (peak, gamma)}; action units in the comments.
PROTOTYPES: dict[str, dict[str, tuple[float, float]]] = {
    "happiness": {
        "mouthSmile": (1.0, 0.8),  # AU12
        "cheekSquint": (0.8, 1.2),  # AU6
        "eyeSquint": (0.4, 1.5),  # AU6 narrows the eyes from below
        "eyeBlink": (0.1, 1.5),  # ... and lowers the upper lids a little
        "mouthUpperUp": (0.6, 1.5),
        "jawOpen": (0.4, 1.5),  # AU25, a broad smile parts the lips
        "mouthLowerDown": (0.5, 1.5),  # ... and shows the lower teeth
        "mouthShrugUpper": (0.1, 2.0),
    },
    "anger": {  # EMFACS's open-mouthed anger, 4 + 5 + 7 + 10 + 16 + 25
        "browDown": (1.0, 0.8),  # AU4
        "eyeWide": (0.25, 1.0),  # AU5
        "eyeSquint": (0.6, 1.0),  # AU7
        "mouthUpperUp": (0.5, 1.0),  # AU10 bares the upper teeth
        "mouthLowerDown": (0.5, 1.0),  # AU16
        "jawOpen": (0.2, 1.0),  # AU25
        "mouthFrown": (0.25, 1.2),
        "noseSneer": (0.45, 1.5),
        "jawForward": (0.2, 1.5),
    },
    "sadness": {
        "browInnerUp": (1.0, 0.8),  # AU1
        "browDown": (0.4, 1.0),  # AU4
        "mouthFrown": (1.0, 0.9),  # AU15
        "mouthShrugLower": (0.35, 1.2),  # AU17
        "mouthShrugUpper": (0.2, 1.2),
        "eyeLookDown": (0.3, 1.2),
        "eyeBlink": (0.2, 1.5),  # heavy lids
    },
    "fear": {
        "browInnerUp": (0.9, 0.8),  # AU1
        "browOuterUp": (0.5, 1.0),  # AU2
        "browDown": (0.5, 1.0),  # AU4, which tells fear from surprise
        "eyeWide": (0.9, 0.8),  # AU5
        "mouthStretch": (1.0, 1.0),  # AU20
        "jawOpen": (0.25, 1.2),  # AU26
        "mouthLowerDown": (0.4, 1.2),
    },
    "contempt": {
        "mouthSmileRight": (0.5, 1.0),  # R12A
        "mouthDimpleRight": (0.8, 1.0),  # R14A
        "mouthPressRight": (0.2, 1.0),
        "mouthRight": (0.15, 1.0),
        "eyeSquint": (0.15, 1.5),
    },
    "surprise": {
        "browInnerUp": (0.9, 0.8),  # AU1
        "browOuterUp": (1.0, 0.8),  # AU2
        "eyeWide": (1.0, 1.0),  # AU5
        "jawOpen": (0.5, 1.2),  # AU26
        "mouthFunnel": (0.35, 1.5),  # the rounded, dropped mouth
    },
    "disgust": {
        "noseSneer": (1.0, 0.8),  # AU9
        "mouthUpperUp": (0.9, 1.0),  # AU10
        "mouthShrugUpper": (0.3, 1.0),
        "mouthFrown": (0.5, 1.0),  # AU15
        "mouthLowerDown": (0.3, 1.2),  # AU16
        "browDown": (0.15, 1.0),  # not in the prototype (9 + 15 + 16): a trace, or it reads as anger
        "cheekSquint": (0.45, 1.0),
        "eyeSquint": (0.5, 1.0),
    },
}
# (a, b) action pairs that pull against each other; sided names pair side by side.
ANTAGONISTS = (("mouthSmile", "mouthFrown"), ("jawOpen", "mouthPress"))


def _expand(name: str, actions: list[str]) -> list[str]:
    """The action names a prototype entry stands for: itself, or its Left and Right."""
    return [name] if name in actions else [f"{name}Left", f"{name}Right"]


def prototype_tables(actions: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """peak, gamma: (7, 52) arrays over ``EMOTIONS`` x ``actions`` (gamma 1 where unused)."""
    peak, gamma = np.zeros((len(EMOTIONS), len(actions))), np.ones((len(EMOTIONS), len(actions)))
    for e, emotion in enumerate(EMOTIONS):
        for name, (p, g) in PROTOTYPES[emotion].items():
            for action in _expand(name, actions):
                peak[e, actions.index(action)], gamma[e, actions.index(action)] = p, g
    return peak, gamma


def target_actions(x: np.ndarray, actions: list[str]) -> np.ndarray:
    """(N, 52) target actions in [0, 1] for (N, 7) intensities in [0, 1]."""
    peak, gamma = prototype_tables(actions)
    x = np.atleast_2d(np.asarray(x, np.float64))
    v = peak[None] * x[:, :, None] ** gamma[None]  # (N, 7, 52)
    a = 1.0 - np.prod(1.0 - v, axis=1)
    for left, right in ANTAGONISTS:
        for i, j in zip(_expand(left, actions), _expand(right, actions)):
            i, j = actions.index(i), actions.index(j)
            total = np.maximum(a[:, i] + a[:, j], 1e-12)
            a[:, i], a[:, j] = a[:, i] ** 2 / total, a[:, j] ** 2 / total
    return a


def sample_intensities(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 7) training intensities: a quarter single emotions, the rest mixtures of 2-3; each
    intensity uniform on [0, 1.15] clipped to 1, so about one in eight sits at full intensity."""
    def draw(size):
        return np.minimum(rng.uniform(0.0, 1.15, size), 1.0)

    x = np.zeros((n, len(EMOTIONS)))
    singles = n // 4
    x[np.arange(singles), rng.integers(0, len(EMOTIONS), singles)] = draw(singles)
    for row in range(singles, n):
        chosen = rng.choice(len(EMOTIONS), size=rng.integers(2, 4), replace=False)
        x[row, chosen] = draw(len(chosen))
    return x
