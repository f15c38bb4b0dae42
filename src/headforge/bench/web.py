"""Web service benchmark: gateway overhead, throughput with one and two workers, hair swap, a burst.

    python -m headforge.bench.web --out out/bench-web [--photos DIR] [--jobs 20]

Each part runs against a real ``headforge serve`` (embedded mode, its own data folder, a free
port on 127.0.0.1), driven over HTTP:

- overhead: jobs one at a time; per job, the time from sending the upload to seeing the job done
  (status polled every 10 ms) minus the worker's own time for it (``timings_s.job``);
- throughput: the same batch of photos submitted at once to a server with 1 worker, then to one
  with 2 workers, in the same run; jobs per second and their ratio. The batch asks for
  ``--hair none`` by default: the photo-hair stage runs in a thread of its own beside the
  texture, so with hair one worker alone already keeps two cores busy;
- hair swap: on a finished job, a click in the page's gallery: a re-export with another
  hairstyle and the page's strand budget (``VIEWER_STRANDS``), then its GLB downloaded; per
  style tried for the first time (nothing cached), the first click of the server apart;
- burst: 50 uploads at the same instant, against the default limits (rate limit per client) and
  with the rate limit lifted (queue bound): every request is answered 202, 429 or 503 with a
  JSON error and Retry-After, and every accepted job ends (the astronaut, 512 px textures).

Writes ``web.json`` in ``--out`` and prints a summary. Photos: ``--photos`` (default
/work/shared/portraits when present), else copies of skimage's astronaut.
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
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from headforge.bench.serving import LIFTED, load_photos, post, server, wait_ended

DEFAULT_PHOTOS = Path("/work/shared/portraits")
VIEWER_STRANDS = 10000  # the hair strands the page asks for on screen (static/app.js)


def measure_overhead(client: httpx.Client, photos, runs: int) -> dict:
    overheads, posts = [], []
    for photo in photos[:runs]:
        t0 = time.perf_counter()
        response = post(client, photo)
        posts.append(time.perf_counter() - t0)
        status = wait_ended(client, response.json()["id"])
        if status["state"] == "done":
            overheads.append(time.perf_counter() - t0 - status["timings_s"]["job"])
    return {
        "jobs": len(overheads),
        "overhead_ms_median": round(1000 * statistics.median(overheads), 1),
        "overhead_ms_max": round(1000 * max(overheads), 1),
        "upload_response_ms_median": round(1000 * statistics.median(posts), 1),
        "note": "wall time seen by the client minus the worker's own run (timings_s.job); "
                "includes the 10 ms status polling",
    }


def measure_throughput(client: httpx.Client, photos, hair: str) -> dict:
    t0 = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda p: post(client, p, hair=hair), photos))
    ids = [r.json()["id"] for r in responses if r.status_code == 202]
    with ThreadPoolExecutor(8) as pool:
        finals = list(pool.map(lambda i: wait_ended(client, i, poll=0.05), ids))
    wall = time.perf_counter() - t0
    done = [f for f in finals if f["state"] == "done"]
    return {
        "photos": len(photos),
        "hair": hair,
        "accepted": len(ids),
        "done": len(done),
        "failed": dict(Counter(f["error"]["code"] for f in finals if f["state"] == "failed")),
        "wall_s": round(wall, 2),
        "jobs_per_s": round(len(ids) / wall, 3),
        "worker_job_s_median": round(statistics.median(f["timings_s"]["job"] for f in done), 3),
        "worker_cpu_s_per_job_median": round(statistics.median(f["timings_s"]["job_cpu"] for f in done), 3),
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


def measure_burst(client: httpx.Client, photo, count: int = 50) -> dict:
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
    with ThreadPoolExecutor(16) as pool:
        finals = list(pool.map(lambda i: wait_ended(client, i, poll=0.1), accepted))
    return {
        "requests": count,
        "answers": answers,
        "refusals_are_json_with_retry_after": clean,
        "accepted_jobs_ended": sum(f["state"] in ("done", "failed") for f in finals),
        "accepted_jobs_done": sum(f["state"] == "done" for f in finals),
        "lost": len(accepted) - len(finals),
    }


def run(out: Path, photos_dir: Path | None, jobs: int, overhead_runs: int, hair: str) -> dict:
    photos = load_photos(photos_dir, jobs)
    astronaut = load_photos(None, 1)[0]
    result = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "load_average_at_start": [round(v, 2) for v in os.getloadavg()]},
        "photos": str(photos_dir) if photos_dir else "astronaut copies",
    }
    with server(1, **LIFTED) as client:
        result["overhead"] = measure_overhead(client, photos, overhead_runs)
        result["throughput_1_worker"] = measure_throughput(client, photos, hair)
        result["hair_swap"] = measure_hair_swap(client, astronaut)
    with server(2, **LIFTED) as client:
        result["throughput_2_workers"] = measure_throughput(client, photos, hair)
        result["burst_queue_bound"] = measure_burst(client, astronaut)
    with server(2) as client:
        result["burst_default_limits"] = measure_burst(client, astronaut)
    one, two = result["throughput_1_worker"]["jobs_per_s"], result["throughput_2_workers"]["jobs_per_s"]
    result["speedup_2_vs_1"] = round(two / one, 3)
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
    args = parser.parse_args(argv)
    folder = Path(args.photos) if args.photos else (DEFAULT_PHOTOS if DEFAULT_PHOTOS.is_dir() else None)
    result = run(Path(args.out), folder, args.jobs, args.overhead_runs, args.hair)
    o, t1, t2 = result["overhead"], result["throughput_1_worker"], result["throughput_2_workers"]
    print(f"gateway overhead per job: median {o['overhead_ms_median']} ms, max {o['overhead_ms_max']} ms")
    print(f"throughput on {t1['photos']} photos (hair {t1['hair']}): 1 worker {t1['jobs_per_s']} jobs/s, 2 workers "
          f"{t2['jobs_per_s']} jobs/s: x{result['speedup_2_vs_1']}")
    h = result["hair_swap"]
    print(f"hair swap (gallery click to GLB, {h['max_strands']} strands): median {h['swap_s_median']} s, "
          f"max {h['swap_s_max']} s, first click {h['first_click_s']} s")
    for name in ("burst_default_limits", "burst_queue_bound"):
        b = result[name]
        print(f"{name}: {b['answers']}, accepted jobs ended {b['accepted_jobs_ended']}, lost {b['lost']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
