"""Emotion sliders: seven intensities in [0, 1] -> the head's 52 ARKit facial actions.

    from headforge.emotion import apply_emotions, with_emotions
    avatar = with_emotions(avatar, {"happiness": 0.8, "surprise": 0.3})

The mapping is a small MLP (``data/emotion_mlp.json``, trained by ``scripts/train_emotion.py``)
evaluated with numpy here and with ``emotion_mlp.js`` in a browser, to the same result.
"""
from headforge.emotion.apply import MAPPING_ENTRY, apply_emotions, emotion_params, with_emotions
from headforge.emotion.mapping import EMOTIONS, EmotionMapping, load_mapping, parse_emotions

__all__ = [
    "EMOTIONS", "MAPPING_ENTRY", "EmotionMapping", "apply_emotions", "emotion_params", "load_mapping",
    "parse_emotions", "with_emotions",
]  # fmt: skip
