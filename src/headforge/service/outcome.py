"""The job-outcome protocol between the gateway and the workers, and the interface of the two
engines that run jobs (:mod:`.pool` on this machine, :mod:`.celery_gateway` through Redis).

A worker runs a job with :func:`execute`, which never raises for a bad job and describes the
outcome as a JSON-ready dict; the gateway records it with :func:`record_outcome`. Both engines
keep the :class:`~headforge.service.jobs.JobStore` up to date and pick up the jobs left queued
or running when the gateway last stopped. A job past its time limit stops itself at its next
stage (:class:`~.runner.JobRunner`); one still running ``KILL_GRACE_S`` later is failed by the
gateway and, embedded, its worker is killed and replaced.
"""
from __future__ import annotations

import logging
from typing import Protocol

from headforge.errors import HeadforgeError
from headforge.service.jobs import Job, JobStore
from headforge.service.runner import JobRunner, Report, out_of_memory, over_memory

log = logging.getLogger("headforge.engine")
WORKER_LOST = ("worker_lost", "the worker stopped while reconstructing this photo; please try again")
INTERNAL = ("internal", "the reconstruction failed unexpectedly")
KILL_GRACE_S = 15  # after a job's time limit, before its worker is killed (it should stop itself)


class Engine(Protocol):
    def start(self) -> None: ...

    def submit(self, job: Job) -> None: ...

    def workers(self) -> dict[str, int]:
        """Ready workers per back-end."""
        ...

    def broker(self) -> bool | None:
        """Whether the job queue's broker answers (None: no broker)."""
        ...

    def forget(self, job_id: str) -> None:
        """Drop what the engine keeps about a deleted or expired job."""
        ...

    def close(self) -> None: ...


def job_spec(job: Job) -> dict:
    """What a worker needs to run ``job`` (JSON-ready)."""
    return {**job.options, "backend": job.backend}


def execute(runner: JobRunner, job_id: str, spec: dict, report: Report) -> dict:
    """Run one job and describe the outcome: ``{"state": "done", "timings": {...}}`` or
    ``{"state": "failed", "code": ..., "message": ...}``. Never raises for a bad job, nor for
    one over its time or memory limit."""
    try:
        return {"state": "done", "timings": runner.run(job_id, spec, report)}
    except HeadforgeError as e:
        return failure(e)
    except Exception as e:  # noqa: BLE001 - one bad job must not stop the worker
        if out_of_memory(e):
            log.warning("job %s: over its memory limit (%s)", job_id, type(e).__name__)
            return failure(over_memory(runner.memory_mb))
        log.exception("job %s: internal error", job_id)
        return {"state": "failed", "code": INTERNAL[0], "message": INTERNAL[1]}


def failure(error: HeadforgeError) -> dict:
    return {"state": "failed", "code": error.code, "message": str(error)}


def record_outcome(jobs: JobStore, job_id: str, outcome: dict) -> None:
    if outcome["state"] == "done":
        jobs.finished(job_id, outcome["timings"])
    else:
        jobs.failed(job_id, outcome["code"], outcome["message"])
