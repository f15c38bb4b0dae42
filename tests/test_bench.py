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
