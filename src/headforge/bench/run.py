"""``headforge bench``: run the whole pipeline over a folder of photos, write results.json and a
readable report.html.

results.json (schema ``headforge.bench/1``):
- ``created``, ``machine`` {cpus, platform, python}, ``folder``;
- ``process_ready_s``: a fresh Python process importing headforge until it can reconstruct;
  ``cold_start_s``: the same inside this process (models loaded, UV raster built);
  ``first_photo_s``: the first reconstructed photo's load -> zip (the later ones are "warm");
- ``photos``: one row per photo: ``photo``, ``ok``, ``error`` ({code, message} or null),
  ``timings_s`` (per stage; ``reconstruct`` = photo -> avatar in memory, the stages together
  with the hair running beside the texture; ``zip`` = writing the avatar zip; ``total`` = both),
  ``peak_rss_mb``, ``metrics``
  (see :mod:`headforge.bench.evaluate`; null where not measurable); with hair, ``hair``
  {length_class, curl_class, length_label, curl_label} (labels from ``hair_labels``, null
  where the photo has none);
- ``summary``: ``photos``, ``succeeded``, ``failed`` {photo: code}, ``timings_s`` and ``metrics``
  ({name: {median, p90, mean, n}}), ``identity_same_person_rate``, ``peak_rss_mb``; with hair
  labels, ``hair_classes`` {length, curl: {right, n}} (length: bald; short = buzz or short; long);
  ``timings_ratio``: each stage's median (and ``process_ready``, ``cold_start``) divided by the
  calibration unit, the figures to compare between machines;
- ``calibration``: the fixed workload of :mod:`headforge.bench.calibration`, timed before and
  after the photos (``unit_s``: the mean of the two medians; ``drift``: how much it changed).
- ``same_person``: {photo: other photos of the same person in the folder} (dlib, see
  :func:`headforge.bench.evaluate.same_person`);
- ``landmarks68`` (with a labelled set): the 68-point NME of the fit and of the detector
  (:mod:`headforge.bench.landmarks68`);
- ``baseline`` (when given an earlier results.json): its summary, shown beside this one.
"""
from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from headforge.bench.calibration import calibrate, combined, ratios
from headforge.bench.metrics import summary
from headforge.errors import HeadforgeError

RESULTS_SCHEMA = "headforge.bench/1"
SAME_PERSON = 0.6  # dlib's same-person distance threshold
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}


def list_photos(folder: Path, limit: int | None = None) -> list[Path]:
    photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    return photos[:limit] if limit else photos


def emotion_recogniser():
    from headforge.bench.emotion_check import Recogniser

    return Recogniser()


def emotion_scores(avatar, recogniser) -> dict:
    """Share of the avatar's emotion renders (intensity 1, neutral start) the recogniser labels
    as intended (``emotion_top1``) and whose intended class rises most (``emotion_rise``)."""
    from headforge.bench.emotion_check import emotion_check
    from headforge.emotion.contact_sheet import emotion_renders

    result = emotion_check(emotion_renders(avatar), recogniser)
    return {"emotion_top1": result["top1_share"], "emotion_rise": result["rise_share"]}


def measure_process_ready(backend: str = "anny", model_dir: str | Path | None = None) -> float:
    """Seconds for a new Python process to import headforge and be ready to reconstruct."""
    code = f"from headforge.pipeline import Reconstructor; Reconstructor({backend!r}, {model_dir!r}).warm_up()"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
    return time.perf_counter() - t0


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_bench(folder: Path, out: Path, limit: int | None = None, emotions: bool = False,
              backend: str = "anny", model_dir: str | Path | None = None, hair: bool = False,
              hair_labels: Path | None = None, landmarks68: Path | None = None, baseline: Path | None = None) -> str:
    """Reconstruct every photo in ``folder`` with ``backend`` (files in ``model_dir``, see
    :mod:`headforge.backends`); write ``out``/results.json and report.html.

    ``hair``: reconstruct the person's hair too (timed with the head; hair metrics added);
    ``hair_labels``: a JSON file {"length": {photo: class}, "curl": {photo: class}} the
    avatars' hair classes are checked against (``scripts/hair_photo_labels.json``).
    ``emotions``: also score each avatar's seven emotion renders with an emotion recogniser we
    did not train (:mod:`headforge.bench.emotion_check`): ``emotion_top1`` and ``emotion_rise``.
    ``landmarks68``, ``baseline``: see :func:`add_comparisons`.
    Returns the one-paragraph text summary that is also printed.
    """
    from headforge.bench.evaluate import Evaluator, same_person
    from headforge.export.package import write_zip
    from headforge.pipeline import Options, Reconstructor

    out.mkdir(parents=True, exist_ok=True)
    (out / "zips").mkdir(exist_ok=True)
    model_dir = None if model_dir is None else str(model_dir)
    before = calibrate()
    process_ready = measure_process_ready(backend, model_dir)
    t0 = time.perf_counter()
    reconstructor = Reconstructor(backend, model_dir)
    reconstructor.warm_up()
    cold_start = time.perf_counter() - t0
    evaluator = Evaluator(out / "images")
    labels = json.loads(Path(hair_labels).read_text()) if hair_labels else {}
    recogniser = emotion_recogniser() if emotions else None

    photos = list_photos(folder, limit)
    partners = same_person(descriptors := {p.name: evaluator.photo_descriptor(p) for p in photos})
    rows = []
    for photo in photos:
        row: dict = {"photo": photo.name}
        t = time.perf_counter()
        try:
            avatar = reconstructor(photo, Options(hair="auto" if hair else "none"))
            made = time.perf_counter()
            write_zip(avatar, out / "zips" / f"{photo.stem}.zip")
            total = time.perf_counter() - t
            row.update(ok=True, error=None)
            row["timings_s"] = {**avatar.params["timings_s"], "reconstruct": round(made - t, 4),
                                "zip": round(total - (made - t), 4), "total": round(total, 4)}
            row["metrics"] = evaluator(photo, avatar, [descriptors[n] for n in partners.get(photo.name, [])])
            if hair:
                row["hair"] = hair_classes(avatar, photo.name, labels)
            if recogniser is not None:
                row["metrics"].update(emotion_scores(avatar, recogniser))
        except HeadforgeError as e:
            row.update(ok=False, error={"code": e.code, "message": str(e)})
        row["peak_rss_mb"] = round(peak_rss_mb(), 1)
        rows.append(row)

    unit = combined(before, calibrate())
    results = {
        "schema": RESULTS_SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "folder": str(folder),
        "process_ready_s": round(process_ready, 3),
        "cold_start_s": round(cold_start, 3),
        "first_photo_s": next((r["timings_s"]["total"] for r in rows if r["ok"]), None),
        "photos": rows,
        "summary": summarise(rows),
        "same_person": partners,
        "calibration": unit,
    }
    if labels:
        results["summary"]["hair_classes"] = class_scores(rows)
    results["summary"]["timings_ratio"] = ratios(
        {"process_ready": process_ready, "cold_start": cold_start,
         **{name: v["median"] for name, v in results["summary"]["timings_s"].items()}}, unit["unit_s"])
    add_comparisons(results, reconstructor, landmarks68, baseline)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    from headforge.bench.report import write_report

    write_report(results, out / "report.html")
    return format_summary(results)


def add_comparisons(results: dict, reconstructor, landmarks68: Path | None, baseline: Path | None) -> None:
    """``results["landmarks68"]``: the 68-point NME on a labelled folder (``landmarks.json``,
    AFLW2000-3D style); ``results["baseline"]``: an earlier results.json's summary (e.g. the
    start commit's), reported beside this run; each where asked for."""
    if landmarks68 is not None:
        from headforge.bench.landmarks68 import run_landmarks68

        results["landmarks68"] = run_landmarks68(landmarks68, reconstructor)
    if baseline is not None:
        before = json.loads(Path(baseline).read_text())
        results["baseline"] = {"results": str(baseline), "created": before.get("created"), "summary": before["summary"],
                               "landmarks68": before.get("landmarks68", {}).get("summary")}


LENGTH_ACCEPT = {"bald": {"bald"}, "short": {"buzz", "short"}, "long": {"long"}}


def hair_classes(avatar, photo: str, labels: dict) -> dict:
    """The avatar's hair length and curl classes (from its ``hair`` block; bald and no curl
    without hair) and the ``labels`` of ``photo`` (None where it has none)."""
    block = avatar.params.get("hair") or {}
    return {"length_class": block.get("length_class", "bald"), "curl_class": block.get("curl_class", "none"),
            "length_label": labels.get("length", {}).get(photo), "curl_label": labels.get("curl", {}).get(photo)}


def class_scores(rows: list[dict]) -> dict:
    """{length, curl: {right, n}} over the labelled photos among ``rows``."""
    out = {}
    for kind in ("length", "curl"):
        judged = [r["hair"] for r in rows if r["ok"] and r["hair"][f"{kind}_label"] is not None]
        right = [h[f"{kind}_class"] in LENGTH_ACCEPT[h["length_label"]] if kind == "length"
                 else h["curl_class"] == h["curl_label"] for h in judged]
        out[kind] = {"right": int(sum(right)), "n": len(judged)}
    return out


def summarise(rows: list[dict]) -> dict:
    """Median / p90 / mean of every timing and metric over the successful photos."""
    ok = [r for r in rows if r["ok"]]
    out: dict = {"photos": len(rows), "succeeded": len(ok), "failed": {r["photo"]: r["error"]["code"] for r in rows if not r["ok"]}}
    for key in ("timings_s", "metrics"):
        names = sorted({k for r in ok for k, v in r.get(key, {}).items() if isinstance(v, (int, float))})
        out[key] = {n: summary([r[key].get(n, np.nan) for r in ok]) for n in names}
    # Every identity render counts; one where dlib finds no face counts as not recognised.
    ids = [v for r in ok for k, v in r["metrics"].items() if k.startswith("identity_")]
    out["identity_same_person_rate"] = (
        sum(v is not None and v < SAME_PERSON for v in ids) / len(ids) if ids else None
    )
    out["peak_rss_mb"] = max((r["peak_rss_mb"] for r in rows), default=0.0)
    return out


def format_summary(results: dict) -> str:
    s = results["summary"]
    t = s["timings_s"].get("total", {})
    lines = [
        f"{s['succeeded']}/{s['photos']} photos reconstructed; process ready in {results['process_ready_s']:.2f} s, "
        f"cold start {results['cold_start_s']:.2f} s; "
        f"total per photo median {t.get('median', float('nan')):.3f} s, p90 {t.get('p90', float('nan')):.3f} s",
    ]
    if "calibration" in results:
        c, r = results["calibration"], s.get("timings_ratio", {})
        lines.append(f"  calibration unit {c['unit_s']:.3f} s (drift {c['drift']:+.0%}); per photo total "
                     f"{r.get('total', float('nan')):.2f} units, reconstruct {r.get('reconstruct', float('nan')):.2f} units")
    before = results.get("baseline", {}).get("summary", {}).get("metrics", {})
    for name, v in s["metrics"].items():
        was = f", before {before[name]['median']:.4g}" if name in before else ""
        lines.append(f"  {name}: median {v['median']:.4g}, p90 {v['p90']:.4g} (n={v['n']}){was}")
    for name, v in results.get("landmarks68", {}).get("summary", {}).items():
        lines.append(f"  {name} (68-point NME, %): mean {v['mean']:.3f}, median {v['median']:.3f} (n={v['n']})")
    for kind, v in s.get("hair_classes", {}).items():
        lines.append(f"  hair {kind} class right: {v['right']}/{v['n']}")
    hair_t = s["timings_s"].get("hair")
    if hair_t:
        lines.append(f"  hair stage: median {hair_t['median']:.3f} s")
    return "\n".join(lines)
