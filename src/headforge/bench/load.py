"""A burst of uploads from concurrent clients (asyncio + httpx) against a running server.

Each client has its own API key, so each is its own rate-limit bucket (127.0.0.1 is one address
for all of them). A client sends its uploads one after another; an upload answered 429 or 503
is sent again after the Retry-After it was given, until it is accepted or the time budget is
spent. Once every client is through, the accepted jobs are polled until they end.
"""
from __future__ import annotations

import asyncio
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import httpx

FORM = {"texture_size": "512", "hair": "none"}


@dataclass
class Answer:
    """One request: HTTP status, the JSON error code (refusals), Retry-After, seconds from
    sending the upload to the answer, the job id (202)."""

    status: int
    code: str | None
    retry_after: str | None
    latency_s: float
    job_id: str | None


def error_code(response: httpx.Response) -> str | None:
    """``error.code`` of a JSON error body ``{"error": {"code", "message"}}``, else None."""
    try:
        body = response.json()
        error = body["error"]
        return error["code"] if set(body) == {"error"} and error.get("message") else None
    except (ValueError, KeyError, TypeError):
        return None


async def _client(url: str, key: str, photos: list[tuple[str, bytes]], deadline: float,
                  answers: list[Answer], accepted: list[tuple[str, str]]) -> None:
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": key}, timeout=120) as client:
        for name, data in photos:
            while True:
                t0 = time.perf_counter()
                try:
                    response = await client.post("/jobs", files={"photo": (name, data, "image/jpeg")}, data=FORM)
                except httpx.HTTPError as e:
                    answers.append(Answer(0, type(e).__name__, None, time.perf_counter() - t0, None))
                    break
                latency = time.perf_counter() - t0
                ok = response.status_code == 202
                job_id = response.json()["id"] if ok else None
                retry_after = response.headers.get("retry-after")
                answers.append(Answer(response.status_code, None if ok else error_code(response), retry_after,
                                      latency, job_id))
                if ok:
                    accepted.append((key, job_id))
                    break
                wait = float(retry_after) if retry_after and retry_after.isdigit() else None
                if response.status_code not in (429, 503) or wait is None or time.monotonic() + wait > deadline:
                    break
                await asyncio.sleep(wait)


async def _poll(url: str, jobs: list[tuple[str, str]], deadline: float, every_s: float) -> dict[str, dict]:
    """Final statuses of ``jobs`` (key, id), polled until they end or ``deadline`` passes;
    ``{"state": "gone"}`` for a job the server no longer knows."""
    clients = {key: httpx.AsyncClient(base_url=url, headers={"X-API-Key": key}, timeout=60) for key, _ in jobs}
    finals: dict[str, dict] = {}
    try:
        while len(finals) < len(jobs) and time.monotonic() < deadline:
            for key, job_id in jobs:
                if job_id not in finals:
                    response = await clients[key].get(f"/jobs/{job_id}")
                    status = {"state": "gone"} if response.status_code == 404 else response.json()
                    if status.get("state") in ("done", "failed", "gone"):
                        finals[job_id] = status
            if len(finals) < len(jobs):
                await asyncio.sleep(every_s)
    finally:
        for client in clients.values():
            await client.aclose()
    return finals


async def _burst(url, keys, photos, per_client, budget_s, poll_s):
    deadline = time.monotonic() + budget_s
    answers: list[Answer] = []
    accepted: list[tuple[str, str]] = []
    t0 = time.perf_counter()
    await asyncio.gather(*(
        _client(url, key, photos[i * per_client:(i + 1) * per_client], deadline, answers, accepted)
        for i, key in enumerate(keys)
    ))
    uploads_s = time.perf_counter() - t0
    finals = await _poll(url, accepted, deadline, poll_s)
    return answers, accepted, finals, uploads_s


def burst(url: str, keys: list[str], photos: list[tuple[str, bytes]], budget_s: float = 480,
          poll_s: float = 2.0) -> dict:
    """``len(keys)`` clients each send ``len(photos) // len(keys)`` of ``photos`` to ``url``
    (the API root); returns the answers, the accepted ids and every job's final status, and
    summary figures."""
    per_client = len(photos) // len(keys)
    answers, accepted, finals, uploads_s = asyncio.run(_burst(url, keys, photos, per_client, budget_s, poll_s))
    return summarise(answers, [job_id for _, job_id in accepted], finals, len(keys) * per_client, uploads_s)


def summarise(answers: list[Answer], accepted: list[str], finals: dict[str, dict], uploads: int,
              uploads_s: float) -> dict:
    """Counts by answer, latencies (request: upload to answer; job: accepted to done, from the
    server's own timestamps) and throughput (done jobs over first accept to last done)."""
    def stamp(text: str) -> float:
        return datetime.fromisoformat(text).timestamp()

    done = [s for s in finals.values() if s["state"] == "done"]
    job_s = [stamp(s["updated_at"]) - stamp(s["created_at"]) for s in done]
    span = (max(stamp(s["updated_at"]) for s in done) - min(stamp(s["created_at"]) for s in done)) if done else 0
    refusals = [a for a in answers if a.status != 202]
    return {
        "uploads": uploads,
        "requests": len(answers),
        "answers": dict(Counter(str(a.status) if a.status == 202 else f"{a.status} {a.code}" for a in answers)),
        "unexpected_answers": sum(a.status not in (202, 429, 503) for a in answers),
        "refusals_without_retry_after_or_json": sum(not a.retry_after or not a.code for a in refusals),
        "accepted": len(accepted),
        "accepted_unique": len(set(accepted)),
        "ended": len(finals),
        "done": len(done),
        "failed": dict(Counter(s["error"]["code"] for s in finals.values() if s["state"] == "failed")),
        "gone": sum(s["state"] == "gone" for s in finals.values()),
        "not_ended": sorted(set(accepted) - set(finals)),
        "request_latency_s": percentiles([a.latency_s for a in answers]),
        "accepted_request_latency_s": percentiles([a.latency_s for a in answers if a.status == 202]),
        "job_latency_s": percentiles(job_s),
        "uploads_wall_s": round(uploads_s, 2),
        "jobs_per_s": round(len(done) / span, 3) if span else None,
        "finals": finals,
    }


def percentiles(values: list[float]) -> dict:
    """p50 / p95 / max of ``values`` (rounded), and how many."""
    if not values:
        return {"n": 0, "p50": None, "p95": None, "max": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"n": len(values), "p50": round(statistics.median(ordered), 3), "p95": round(p95, 3),
            "max": round(ordered[-1], 3)}
