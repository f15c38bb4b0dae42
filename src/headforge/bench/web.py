"""Web service benchmark: gateway overhead, throughput with one and two workers, hair swap, a burst.

    python -m headforge.bench.web --out out/bench-web [--photos DIR] [--jobs 20]

Each part runs against a real ``headforge serve`` (embedded mode, its own data folder, a free
port on 127.0.0.1), driven over HTTP:

- overhead: jobs one at a time; per job, the time from sending the upload to the job's record
  saying done (``finished_at`` in the server's job table) minus the worker's own time for it
  (``timings_s.job``);
- throughput: the same batch of photos submitted at once to a server with 1 worker, then to one
  with 2 workers, ``--repeat`` times each (default 2); jobs per second from the job records (the
  first upload sent to the last ``finished_at``), their ratio per repeat
  (``speedup_2_vs_1_each``), how far the repeats' ratios lie apart (``speedup_repeat_spread``:
  (max - min) / median) and whether that is within 10 % (``speedup_repeat_within_tolerance``).
  Nothing polls the HTTP API while jobs run: completion is read from the job table twice a
  second, so the benchmark does not take the cores the workers need. The batch asks for
  ``--hair none`` by default: the photo-hair stage runs in a thread of its own beside the
  texture, so with hair one worker alone already keeps two cores busy;
- hair swap: on a finished job, a click in the page's gallery: a re-export with another
  hairstyle and the page's strand budget (``VIEWER_STRANDS``), then its GLB downloaded; per
  style tried for the first time (nothing cached), the first click of the server apart;
- burst: 50 uploads at the same instant, against the default limits (rate limit per client) and
  with the rate limit lifted (queue bound): every request is answered 202, 429 or 503 with a
  JSON error and Retry-After, and every accepted job ends (the astronaut, 512 px textures).

Writes ``web.json`` in ``--out`` and prints a summary, with the calibration unit of
:mod:`headforge.bench.calibration` timed in the same run. Photos: ``--photos`` (default
``../shared/portraits`` beside the checkout, when present), else copies of skimage's astronaut.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from headforge.bench.calibration import calibrate, combined
from headforge.bench.serving import LIFTED, Served, load_photos, post, served, wait_ended, wait_records

CHECKOUT = Path(__file__).resolve().parents[3]  # src/headforge/bench/web.py -> the checkout
DEFAULT_PHOTOS = CHECKOUT.parent / "shared" / "portraits"  # ../shared/portraits, as in the README
VIEWER_STRANDS = 10000  # the hair strands the page asks for on screen (static/app.js)
REPEAT_TOLERANCE = 0.10  # the repeats' 2-over-1 ratios should lie within 10 % of their median


def measure_overhead(s: Served, photos, runs: int) -> dict:
    overheads, posts = [], []
    for photo in photos[:runs]:
        sent = time.time()
        t0 = time.perf_counter()
        response = post(s.client, photo)
        posts.append(time.perf_counter() - t0)
        job_id = response.json()["id"]
        record = wait_records(s.data, [job_id])[job_id]
        if record["state"] == "done":
            overheads.append(record["finished_at"] - sent - record["timings_s"]["job"])
    return {
        "jobs": len(overheads),
        "overhead_ms_median": round(1000 * statistics.median(overheads), 1),
        "overhead_ms_max": round(1000 * max(overheads), 1),
        "upload_response_ms_median": round(1000 * statistics.median(posts), 1),
        "note": "from sending the upload to the job record's finished_at, minus the worker's own run "
                "(timings_s.job); no status polling in it",
    }


def measure_throughput(s: Served, photos, hair: str) -> dict:
    sent = time.time()
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda p: post(s.client, p, hair=hair), photos))
    ids = [r.json()["id"] for r in responses if r.status_code == 202]
    records = wait_records(s.data, ids)
    done = [r for r in records.values() if r["state"] == "done"]
    wall = max(r["finished_at"] for r in records.values()) - sent
    return {
        "photos": len(photos),
        "hair": hair,
        "accepted": len(ids),
        "done": len(done),
        "failed": len(records) - len(done),
        "wall_s": round(wall, 2),
        "jobs_per_s": round(len(done) / wall, 4),
        "worker_job_s_median": round(statistics.median(r["timings_s"]["job"] for r in done), 3),
        "worker_cpu_s_per_job_median": round(statistics.median(r["timings_s"]["job_cpu"] for r in done), 3),
        "load_average_1min_after": round(os.getloadavg()[0], 2),
    }


def measure_hair_swap(client: httpx.Client, photo, styles: int = 12) -> dict:
    """Seconds from a gallery click (POST an export with another style) to its GLB downloaded."""
    job = wait_ended(client, post(client, photo, hair="none").json()["id"])
    catalogue = [s["id"] for s in client.get("/hairstyles").json()["hairstyles"]]
    picks = catalogue[:: max(1, len(catalogue) // styles)][:styles]
    seconds = []
    for style in picks:
        t0 = time.perf_counter()
        export = client.post(f"/jobs/{job['id']}/exports", json={"hair": style, "max_strands": VIEWER_STRANDS})
        export.raise_for_status()
        client.get(export.json()["glb"].removeprefix("/api/v1")).raise_for_status()
        seconds.append(time.perf_counter() - t0)
    return {
        "styles": picks,
        "max_strands": VIEWER_STRANDS,
        "first_click_s": round(seconds[0], 3),
        "swap_s_median": round(statistics.median(seconds[1:]), 3),
        "swap_s_max": round(max(seconds[1:]), 3),
        "note": "each style clicked once, on a server that had not loaded it; the first click also "
                "opens the hairstyle database in the gateway",
    }


def measure_burst(s: Served, photo, count: int = 50) -> dict:
    client = s.client
    barrier = threading.Barrier(count)

    def fire(_):
        barrier.wait()
        return post(client, photo, hair="none", texture_size="512")

    with ThreadPoolExecutor(count) as pool:
        responses = list(pool.map(fire, range(count)))
    answers: dict[str, int] = {}
    clean = True
    for r in responses:
        key = str(r.status_code) if r.status_code == 202 else f"{r.status_code} {r.json()['error']['code']}"
        answers[key] = answers.get(key, 0) + 1
        if r.status_code != 202:
            clean &= "retry-after" in r.headers and bool(r.json()["error"]["message"])
    accepted = [r.json()["id"] for r in responses if r.status_code == 202]
    finals = list(wait_records(s.data, accepted).values())
    return {
        "requests": count,
        "answers": answers,
        "refusals_are_json_with_retry_after": clean,
        "accepted_jobs_ended": sum(f["state"] in ("done", "failed") for f in finals),
        "accepted_jobs_done": sum(f["state"] == "done" for f in finals),
        "lost": len(accepted) - len(finals),
    }


def speedup_summary(one: list[dict], two: list[dict]) -> dict:
    """2 workers over 1: the ratio of each repeat (the i-th batch of each), their median, their
    spread ((max - min) / median) and whether the repeats agree within REPEAT_TOLERANCE (None
    with a single repeat: nothing to compare)."""
    speedups = [b["jobs_per_s"] / a["jobs_per_s"] for a, b in zip(one, two)]
    spread = (max(speedups) - min(speedups)) / statistics.median(speedups)
    return {
        "speedup_2_vs_1_each": [round(x, 3) for x in speedups],
        "speedup_2_vs_1": round(statistics.median(speedups), 3),
        "speedup_repeat_spread": round(spread, 3),
        "speedup_repeat_tolerance": REPEAT_TOLERANCE,
        "speedup_repeat_within_tolerance": spread <= REPEAT_TOLERANCE if len(speedups) > 1 else None,
    }


def run(out: Path, photos_dir: Path | None, jobs: int, overhead_runs: int, hair: str, repeats: int = 2) -> dict:
    photos = load_photos(photos_dir, jobs)
    astronaut = load_photos(None, 1)[0]
    before = calibrate()
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_start": [round(v, 2) for v in os.getloadavg()]},
        "photos": str(photos_dir) if photos_dir else "astronaut copies",
    }
    with served(1, **LIFTED) as s:
        result["overhead"] = measure_overhead(s, photos, overhead_runs)
        one = [measure_throughput(s, photos, hair) for _ in range(repeats)]
        result["hair_swap"] = measure_hair_swap(s.client, astronaut)
    with served(2, **LIFTED) as s:
        two = [measure_throughput(s, photos, hair) for _ in range(repeats)]
        result["burst_queue_bound"] = measure_burst(s, astronaut)
    with served(2) as s:
        result["burst_default_limits"] = measure_burst(s, astronaut)
    result["throughput_1_worker"], result["throughput_2_workers"] = one, two
    result.update(speedup_summary(one, two))
    result["calibration"] = combined(before, calibrate())
    result["machine"]["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
    out.mkdir(parents=True, exist_ok=True)
    (out / "web.json").write_text(json.dumps(result, indent=2))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m headforge.bench.web", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for web.json")
    parser.add_argument("--photos", default=None, help=f"folder of photos (default {DEFAULT_PHOTOS} if present)")
    parser.add_argument("--jobs", type=int, default=20, help="photos in the throughput batch (default 20)")
    parser.add_argument("--overhead-runs", type=int, default=8, help="jobs for the overhead figure (default 8)")
    parser.add_argument("--hair", default="none", choices=("none", "auto"), help="hair of the throughput batch")
    parser.add_argument("--repeat", type=int, default=2, help="throughput batches per worker count (default 2)")
    args = parser.parse_args(argv)
    folder = Path(args.photos) if args.photos else (DEFAULT_PHOTOS if DEFAULT_PHOTOS.is_dir() else None)
    result = run(Path(args.out), folder, args.jobs, args.overhead_runs, args.hair, max(1, args.repeat))
    o, t1, t2 = result["overhead"], result["throughput_1_worker"], result["throughput_2_workers"]
    print(f"gateway overhead per job: median {o['overhead_ms_median']} ms, max {o['overhead_ms_max']} ms")
    print(f"throughput on {t1[0]['photos']} photos (hair {t1[0]['hair']}): 1 worker "
          f"{[t['jobs_per_s'] for t in t1]} jobs/s, 2 workers {[t['jobs_per_s'] for t in t2]} jobs/s: "
          f"x{result['speedup_2_vs_1_each']} (spread {result['speedup_repeat_spread']:.1%} of the median; "
          f"repeats within {REPEAT_TOLERANCE:.0%}: {_yes_no(result['speedup_repeat_within_tolerance'])})")
    h = result["hair_swap"]
    print(f"hair swap (gallery click to GLB, {h['max_strands']} strands): median {h['swap_s_median']} s, "
          f"max {h['swap_s_max']} s, first click {h['first_click_s']} s")
    for name in ("burst_default_limits", "burst_queue_bound"):
        b = result[name]
        print(f"{name}: {b['answers']}, accepted jobs ended {b['accepted_jobs_ended']}, lost {b['lost']}")
    return 0


def _yes_no(flag: bool | None) -> str:
    return "only one repeat" if flag is None else ("yes" if flag else "NO")


if __name__ == "__main__":
    sys.exit(main())
