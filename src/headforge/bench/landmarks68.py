"""68-point landmark accuracy on a labelled set (AFLW2000-3D protocol, as 3DDFA and PRNet report it).

The set is a folder of photos and a ``landmarks.json`` with one record per photo: ``image``,
``landmarks_68`` (68 x [x, y, z], x and y in image pixels, the iBUG / Multi-PIE order),
``nme_normaliser`` (sqrt(w * h) of the ground truth's 2D box, pixels), ``yaw_deg``, ``pitch_deg``.

NME: the mean over the 68 points of the 2D distance between prediction and ground truth, over
``nme_normaliser``, in percent. Two predictions per photo: the fitted head's 68 points (the
fitted model's surface points, projected through the fitted camera, contour points on the
silhouette as fitted) and the detector's own points at the same 68 indices, for comparison.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from headforge.errors import HeadforgeError
from headforge.fitting.contour import IBUG68, model_68

REGIONS = {"jaw": slice(0, 17), "brows": slice(17, 27), "nose": slice(27, 36), "eyes": slice(36, 48),
           "mouth": slice(48, 68)}


def nme(pred: np.ndarray, truth: np.ndarray, normaliser: float, points: slice = slice(None)) -> float:
    """Percent: mean 2D distance of (68, 2+) ``pred`` to ``truth`` over ``points``, / ``normaliser`` (px)."""
    d = np.linalg.norm(np.asarray(pred, np.float64)[points, :2] - np.asarray(truth, np.float64)[points, :2], axis=1)
    return float(100.0 * d.mean() / normaliser)


def load_set(folder: Path) -> list[dict]:
    """The records of ``folder``/landmarks.json whose photo is in the folder."""
    records = json.loads((folder / "landmarks.json").read_text())["records"]
    return [r for r in records if (folder / r["image"]).is_file()]


def scores(fitted: np.ndarray, detected: np.ndarray, record: dict) -> dict:
    """Per-photo figures: ``nme_fit`` and ``nme_detector`` (percent), the fit's per region
    (``nme_fit_jaw`` ...) and the detector's jaw, for (68, 2) pixel predictions."""
    truth, norm = np.asarray(record["landmarks_68"])[:, :2], float(record["nme_normaliser"])
    out = {"nme_fit": nme(fitted, truth, norm), "nme_detector": nme(detected, truth, norm)}
    for name, part in REGIONS.items():
        out[f"nme_fit_{name}"] = nme(fitted, truth, norm, part)
    out["nme_detector_jaw"] = nme(detected, truth, norm, REGIONS["jaw"])
    return {k: round(v, 4) for k, v in out.items()}


def fitted_68(reconstructor, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(68, 2) pixel points of the fitted head and (68, 2) of the detector on an (H, W, 3) uint8
    ``image`` (no texture, no hair: detect and fit only)."""
    face = reconstructor.detector(image)
    fit = reconstructor.backend.fit(image, face, True)
    return model_68(reconstructor.backend, fit, face), face.points[IBUG68, :2]


def run_landmarks68(folder: Path, reconstructor) -> dict:
    """``{"photos": [...], "summary": {name: {median, p90, mean, n}}, "failed": {...}}`` over a
    labelled set (see the module docstring)."""
    from headforge.bench.metrics import summary
    from headforge.io.image import load_photo

    rows, failed = [], {}
    for record in load_set(folder):
        try:
            image = load_photo(folder / record["image"]).rgb
            fit, det = fitted_68(reconstructor, image)
        except HeadforgeError as e:
            failed[record["image"]] = e.code
            continue
        rows.append({"photo": record["image"], "yaw_deg": record["yaw_deg"], "pitch_deg": record["pitch_deg"],
                     **scores(fit, det, record)})
    names = [k for k in (rows[0] if rows else {}) if k.startswith("nme_")]
    return {"folder": str(folder), "photos": rows, "failed": failed,
            "summary": {n: summary([r[n] for r in rows]) for n in names}}
