"""Per-stage reconstruction times of several checkouts, measured interleaved: one warm worker
process per checkout, the photos handed out in turn (the order rotated per photo), so that a
machine whose speed drifts during the run (a shared 2-core machine: seen here to slow down by
40 % within an hour) slows every checkout alike.

    .venv/bin/python scripts/interleaved_timings.py ../shared/portraits \\
        --tree c859013=/tmp/c859013/src:/tmp/cache-c859013 --tree now=src --out out/timings

Each ``--tree NAME=SRC[:CACHE]`` is a checkout's ``src`` folder (put first on PYTHONPATH) and,
optionally, its own ``HEADFORGE_CACHE_DIR`` (an older checkout's head-model cache). Every
photo is reconstructed with the hair from the photo, as ``headforge bench --hair`` does, by
workers that have made one avatar first (the astronaut).
Writes ``timings.json`` (per checkout, per photo: the pipeline's ``timings_s`` and
``reconstruct``, the photo to the avatar in memory) and ``timings.md`` (medians per stage and
the main thread's wait for the hair thread), in seconds.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from headforge.bench.run import list_photos

WORKER = r"""
import json, sys, time
from headforge.pipeline import Options, Reconstructor
import skimage.data
reconstructor = Reconstructor()
reconstructor.warm_up()
reconstructor(skimage.data.astronaut(), Options(hair="auto"))  # first-use costs left out
print("ready", flush=True)
for line in sys.stdin:
    t0 = time.perf_counter()
    try:
        avatar = reconstructor(line.strip(), Options(hair="auto"))
    except Exception as e:  # a photo with no face: skipped by every checkout
        print(json.dumps({"error": type(e).__name__}), flush=True)
        continue
    print(json.dumps({**avatar.params["timings_s"], "reconstruct": round(time.perf_counter() - t0, 4)}), flush=True)
"""
STAGES = ("fit", "texture", "normal_map", "hair", "preview", "reconstruct")
MAIN_THREAD = ("load", "detect", "fit", "texture", "normal_map", "preview")


def start(src: str, cache: str | None) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(Path(src).resolve()))
    if cache:
        env["HEADFORGE_CACHE_DIR"] = str(Path(cache).resolve())
    worker = subprocess.Popen([sys.executable, "-c", WORKER], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if worker.stdout.readline().strip() != "ready":
        raise SystemExit(f"the worker for {src} did not start (run it by hand to see why)")
    return worker


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("photos", type=Path)
    ap.add_argument("--tree", action="append", required=True, metavar="NAME=SRC[:CACHE]")
    ap.add_argument("--out", type=Path, default=Path("out/timings"))
    args = ap.parse_args()
    trees = {}
    for spec in args.tree:
        name, _, where = spec.partition("=")
        src, _, cache = where.partition(":")
        trees[name] = start(src, cache or None)
    names = list(trees)
    results: dict[str, dict[str, dict]] = {n: {} for n in names}
    for i, photo in enumerate(list_photos(args.photos)):
        for name in names[i % len(names):] + names[:i % len(names)]:
            trees[name].stdin.write(f"{photo}\n")
            trees[name].stdin.flush()
            row = json.loads(trees[name].stdout.readline())
            if "error" not in row:
                results[name][photo.name] = row
        print(photo.name, {n: results[n].get(photo.name, {}).get("reconstruct") for n in names}, flush=True)
    for worker in trees.values():
        worker.stdin.close()
        worker.wait()
    common = set.intersection(*(set(r) for r in results.values()))
    lines = [f"# Interleaved timings, {len(common)} photos every checkout reconstructed (medians, s)", "",
             "| stage | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for stage in STAGES:
        lines.append(f"| {stage} | " + " | ".join(
            f"{statistics.median(results[n][p][stage] for p in common):.3f}" for n in names) + " |")
    lines.append("| main thread waiting for the hair | " + " | ".join(
        f"{statistics.median(results[n][p]['reconstruct'] - sum(results[n][p][k] for k in MAIN_THREAD) for p in common):.3f}"
        for n in names) + " |")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "timings.json").write_text(json.dumps(results, indent=1))
    (args.out / "timings.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
