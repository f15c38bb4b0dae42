"""The benchmark end to end on two photos: results.json follows its schema, report.html renders."""
from __future__ import annotations

import json

import numpy as np
import pytest
import skimage.data
from PIL import Image

from headforge.bench.run import RESULTS_SCHEMA, run_bench


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    photos = tmp_path_factory.mktemp("photos")
    astronaut = skimage.data.astronaut()
    Image.fromarray(astronaut).save(photos / "astronaut.png")
    Image.fromarray(np.ascontiguousarray(astronaut[:, ::-1])).save(photos / "astronaut_mirrored.jpg")
    Image.fromarray(skimage.data.chelsea()).save(photos / "cat.png")
    out = tmp_path_factory.mktemp("bench")
    text = run_bench(photos, out)
    return out, json.loads((out / "results.json").read_text()), text


def test_results_follow_the_schema(bench_run):
    _, results, text = bench_run
    assert results["schema"] == RESULTS_SCHEMA
    assert {"created", "machine", "folder", "process_ready_s", "cold_start_s", "first_photo_s", "photos", "summary"} <= set(results)
    rows = {r["photo"]: r for r in results["photos"]}
    assert set(rows) == {"astronaut.png", "astronaut_mirrored.jpg", "cat.png"}
    assert rows["cat.png"]["ok"] is False and rows["cat.png"]["error"]["code"] == "no_face"
    for name in ("astronaut.png", "astronaut_mirrored.jpg"):
        row = rows[name]
        assert row["ok"] and row["error"] is None
        t = row["timings_s"]
        stages = [v for k, v in t.items() if k not in ("reconstruct", "zip", "total")]
        assert 0 < max(stages) <= t["reconstruct"]  # hair runs beside the head: no plain sum
        assert t["reconstruct"] + t["zip"] == pytest.approx(t["total"], abs=2e-4) and t["zip"] > 0
        m = row["metrics"]
        assert 15 < m["psnr_face"] < 60 and 0.5 < m["ssim_face"] <= 1
        assert m["landmark_error"] < 0.03
        # The avatar looks like the photo's person in the input view.
        assert m["identity_input"] is not None and m["identity_input"] < 0.6
    s = results["summary"]
    assert s["photos"] == 3 and s["succeeded"] == 2 and s["failed"] == {"cat.png": "no_face"}
    assert s["metrics"]["psnr_face"]["n"] == 2
    assert 0 <= s["identity_same_person_rate"] <= 1
    assert "2/3 photos reconstructed" in text


def test_report_renders_every_photo(bench_run):
    out, results, _ = bench_run
    html = (out / "report.html").read_text()
    assert "<h2>Summary</h2>" in html and "psnr_face" in html
    for row in results["photos"]:
        assert row["photo"] in html
    # Every image the report points at exists (it opens from disk).
    import re

    for src in re.findall(r"src='([^']+)'", html):
        assert (out / src).is_file(), src


def test_skin_seams_and_tone_are_measured(bench_run):
    _, results, text = bench_run
    m = {r["photo"]: r for r in results["photos"]}["astronaut.png"]["metrics"]
    for name in ("seam_uv", "seam_yaw-40", "seam_yaw+40", "tone_uv", "tone_yaw-40", "tone_yaw+40"):
        assert m[name] is not None and 0 <= m[name] < 30, name
    assert "seam_uv" in results["summary"]["metrics"] and "seam_uv: median" in text
    assert isinstance(results["same_person"], dict)


def test_same_person_pairs_leave_out_copies_of_one_shot():
    from headforge.bench.evaluate import same_person

    a = np.zeros(128)
    b, c, d = a.copy(), a.copy(), a.copy()
    b[0], c[0], d[0] = 0.4, 0.05, 2.0  # b: same person; c: a crop of a's shot; d: someone else
    assert same_person({"a": a, "b": b, "c": c, "d": d, "e": None}) == {"a": ["b"], "b": ["a", "c"], "c": ["b"]}


def test_nme_is_the_mean_distance_over_the_normaliser():
    from headforge.bench.landmarks68 import nme

    truth = np.random.default_rng(0).uniform(0, 400, size=(68, 2))
    assert nme(truth + [3.0, 4.0], truth, 100.0) == pytest.approx(5.0)
    assert nme(truth, truth, 100.0) == 0.0


def test_landmarks68_against_the_detectors_own_points(tmp_path):
    """A labelled set whose ground truth is the detector's own 68 points: the detector scores
    0 and the fitted head close to it; a photo without a face is listed as failed."""
    import math

    from headforge.bench.landmarks68 import run_landmarks68
    from headforge.fitting.contour import IBUG68
    from headforge.pipeline import Reconstructor

    photo = skimage.data.astronaut()
    Image.fromarray(photo).save(tmp_path / "astronaut.png")
    Image.fromarray(skimage.data.chelsea()).save(tmp_path / "cat.png")
    reconstructor = Reconstructor()
    truth = reconstructor.detector(photo).points[IBUG68]
    w, h = np.ptp(truth[:, 0]), np.ptp(truth[:, 1])
    records = [{"image": name, "width": 512, "height": 512, "yaw_deg": 0.0, "pitch_deg": 0.0, "roll_deg": 0.0,
                "nme_normaliser": math.sqrt(w * h), "landmarks_68": truth.tolist()} for name in ("astronaut.png", "cat.png")]
    (tmp_path / "landmarks.json").write_text(json.dumps({"note": "test", "records": records}))
    out = run_landmarks68(tmp_path, reconstructor)
    assert out["failed"] == {"cat.png": "no_face"}
    row = out["photos"][0]
    assert row["nme_detector"] < 1e-3
    assert 0 < row["nme_fit"] < 6 and row["nme_fit_jaw"] >= row["nme_fit_nose"]
    assert out["summary"]["nme_fit"]["n"] == 1
