"""A fixed calibration workload, timed in the same run as a benchmark, so that its speed figures
can be compared between machines as ratios ("this stage takes 3.2 calibration units").

The workload is a few fixed numpy and torch operations of the kinds the pipeline spends its
time in (dense linear algebra, a convolution, sorting, a small Adam loop like the landmark fit,
element-wise image maths), on data from a fixed seed, on one thread (torch) so that it measures
one core, as most stages use. Its median over a few repeats, taken before and after the
benchmark, is the unit: ``seconds / calibration_s``. It changes only with the machine (and with
what else runs on it), never with headforge's code.
"""
from __future__ import annotations

import statistics
import time

import numpy as np
import torch

WORKLOAD_VERSION = 1  # bump when the workload changes: ratios of different versions differ
REPEATS = 5


def workload() -> float:
    """Run the fixed operations once; returns a checksum (so nothing is optimised away)."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((256, 256))
    total = float(np.linalg.solve(a @ a.T + 256 * np.eye(256), a[:, 0]).sum())
    total += float(np.sort(rng.random(200_000))[::1000].sum())
    image = rng.random((256, 256, 3)).astype(np.float32)
    total += float(np.sqrt(np.clip(image * 1.7 - 0.2, 0, 1) ** 2.2 + image).mean())
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        generator = torch.Generator().manual_seed(0)
        x = torch.randn(1, 8, 96, 96, generator=generator)
        w = torch.randn(16, 8, 3, 3, generator=generator)
        total += float(torch.nn.functional.conv2d(x, w, padding=1).relu().mean())
        basis = torch.randn(64, 1434, generator=generator)
        target = torch.randn(1434, generator=generator)
        params = torch.zeros(64, requires_grad=True)
        opt = torch.optim.Adam([params], lr=0.03)
        for _ in range(80):
            opt.zero_grad()
            loss = (params @ basis - target).pow(2).mean() + 0.1 * params.pow(2).sum()
            loss.backward()
            opt.step()
        total += float(loss.detach())
    finally:
        torch.set_num_threads(threads)
    return total


def calibrate(repeats: int = REPEATS) -> dict:
    """Time :func:`workload` ``repeats`` times (after one warm-up run): median and spread, s."""
    workload()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        workload()
        times.append(time.perf_counter() - t0)
    return {"version": WORKLOAD_VERSION, "median_s": round(statistics.median(times), 4),
            "min_s": round(min(times), 4), "max_s": round(max(times), 4), "repeats": repeats}


def combined(before: dict, after: dict) -> dict:
    """The run's unit from the calibrations before and after it: the mean of their medians,
    with both kept (a large change says the machine's load changed during the run)."""
    unit = round((before["median_s"] + after["median_s"]) / 2, 4)
    return {"version": WORKLOAD_VERSION, "unit_s": unit, "before": before, "after": after,
            "drift": round(after["median_s"] / before["median_s"] - 1, 3)}


def ratios(seconds: dict, unit_s: float) -> dict:
    """{name: seconds / unit_s} for every number in ``seconds`` (3 decimals)."""
    return {name: round(value / unit_s, 3) for name, value in seconds.items()
            if isinstance(value, (int, float)) and np.isfinite(value)}
