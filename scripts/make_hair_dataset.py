"""Render the synthetic hair dataset that ``scripts/train_hair.py`` trains on.

    python scripts/make_hair_dataset.py --styles 2000 --seed 0 --out ~/.cache/headforge/hair-train.npz
    python scripts/make_hair_dataset.py --styles 200 --seed 1 --out ~/.cache/headforge/hair-test.npz

Each style (random parameters, head, colours, ...) is rendered in ``--views`` random photos
(:mod:`headforge.hairphoto.synth`). Deterministic: sample k of a set depends only on
(seed, k), whatever the number of worker processes. The file holds ``x`` (N, C, 64, 64)
float16 network inputs, ``pose`` (N, 2) yaw and pitch in degrees, ``values`` (N, R) scaled
targets and ``length``, ``parting``, ``tie`` (N,) class indices.
"""
from __future__ import annotations

import argparse
import os
import time
from multiprocessing import get_context
from pathlib import Path

import numpy as np


def _arrays(job: tuple[int, int, int]):
    import torch

    from headforge.hairphoto.synth import make_samples

    torch.set_num_threads(1)
    index, seed, views = job
    return [(s.x.astype(np.float16), s.pose, s.values, s.classes) for s in make_samples(index, seed, views)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--styles", type=int, default=2000)
    parser.add_argument("--views", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    t0 = time.perf_counter()
    jobs = [(i, args.seed, args.views) for i in range(args.styles)]
    rows = []
    with get_context("spawn").Pool(args.workers) as pool:
        for k, result in enumerate(pool.imap(_arrays, jobs, chunksize=4)):
            rows.extend(result)
            if (k + 1) % 200 == 0:
                print(f"{k + 1}/{args.styles} styles, {time.perf_counter() - t0:.0f} s", flush=True)
    x, pose, values, classes = zip(*rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(args.out, x=np.stack(x), pose=np.stack(pose), values=np.stack(values),
             **{k: np.array([c[k] for c in classes], np.int64) for k in classes[0]})
    print(f"wrote {args.out}: {len(rows)} samples in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
