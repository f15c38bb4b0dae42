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
  (see :mod:`headforge.bench.evaluate`; null where not measurable);
- ``summary``: ``photos``, ``succeeded``, ``failed`` {photo: code}, ``timings_s`` and ``metrics``
  ({name: {median, p90, mean, n}}), ``identity_same_person_rate``, ``peak_rss_mb``;
  ``timings_ratio``: each stage's median (and ``process_ready``, ``cold_start``) divided by the
  calibration unit, the figures to compare between machines;
- ``calibration``: the fixed workload of :mod:`headforge.bench.calibration`, timed before and
  after the photos (``unit_s``: the mean of the two medians; ``drift``: how much it changed).
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
              backend: str = "anny", model_dir: str | Path | None = None, hair: bool = False) -> str:
    """Reconstruct every photo in ``folder`` with ``backend`` (files in ``model_dir``, see
    :mod:`headforge.backends`); write ``out``/results.json and report.html.

    ``hair``: reconstruct the person's hair too (timed with the head; hair metrics added).
    ``emotions``: also score each avatar's seven emotion renders with an emotion recogniser we
    did not train (:mod:`headforge.bench.emotion_check`): ``emotion_top1`` and ``emotion_rise``.
    Returns the one-paragraph text summary that is also printed.
    """
    from headforge.bench.evaluate import Evaluator
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
    recogniser = emotion_recogniser() if emotions else None

    rows = []
    for photo in list_photos(folder, limit):
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
            row["metrics"] = evaluator(photo, avatar)
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
        "calibration": unit,
    }
    results["summary"]["timings_ratio"] = ratios(
        {"process_ready": process_ready, "cold_start": cold_start,
         **{name: v["median"] for name, v in results["summary"]["timings_s"].items()}}, unit["unit_s"])
    (out / "results.json").write_text(json.dumps(results, indent=2))
    from headforge.bench.report import write_report

    write_report(results, out / "report.html")
    return format_summary(results)


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
    for name, v in s["metrics"].items():
        lines.append(f"  {name}: median {v['median']:.4g}, p90 {v['p90']:.4g} (n={v['n']})")
    return "\n".join(lines)
