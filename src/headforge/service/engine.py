"""Who runs the jobs: one interface, two engines.

- :class:`EmbeddedEngine`: a pool of worker *processes* on this machine (``headforge serve``
  alone). Each holds its own loaded back-end; a crash or a kill takes down one worker, never
  the server: its job is run again (up to ``max_attempts``) and the worker is replaced.
- :class:`CeleryEngine` (``--broker redis://...``): jobs go to the Celery queue of the back-end
  they ask for (``headforge.<backend>``), served by ``headforge worker`` processes on any
  machine; results go to the shared store; progress comes back through Celery's result backend.

Both keep the :class:`~headforge.service.jobs.JobStore` up to date and pick up the jobs left
queued or running when the gateway last stopped. A job past its time limit stops itself at its
next stage (:class:`~.runner.JobRunner`); one still running ``KILL_GRACE_S`` later is failed
by the gateway and, embedded, its worker is killed and replaced.
"""
from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Protocol

from headforge.errors import HeadforgeError
from headforge.service.config import Settings
from headforge.service.errors import UnavailableError
from headforge.service.jobs import QUEUED, RUNNING, Job, JobStore
from headforge.service.runner import JobRunner, Report, limit_threads, out_of_memory, over_memory, timed_out
from headforge.service.storage import Store

log = logging.getLogger("headforge.engine")
WORKER_LOST = ("worker_lost", "the worker stopped while reconstructing this photo; please try again")
INTERNAL = ("internal", "the reconstruction failed unexpectedly")
RESPAWN_DELAY_S = 5
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


# --- embedded: a local pool of worker processes -------------------------------------------


def _embedded_worker(conn: Connection, s: Settings) -> None:
    """A worker process: load the back-end, say ready, then run jobs until told to stop or the
    gateway goes away. Messages out: ("ready",), ("stage", id, stage, progress), ("outcome", id, dict)."""
    limit_threads(s.worker_threads)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the gateway stops its workers itself
    from headforge.service.storage import open_store

    runner = JobRunner(open_store(s.resolved_store_url, s.job_ttl_s), s.worker_threads,
                       timeout_s=s.job_timeout_s, memory_mb=s.job_memory_mb)
    runner.load(s.default_backend)
    conn.send(("ready",))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message[0] == "stop":
            return
        _, job_id, spec = message
        outcome = execute(runner, job_id, spec, lambda stage, p: conn.send(("stage", job_id, stage, p)))
        conn.send(("outcome", job_id, outcome))


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    conn: Connection
    ready: bool = False
    job_id: str | None = None
    job_started: float = 0.0


class EmbeddedEngine:
    """``settings.workers`` processes fed by a supervisor thread from an in-memory queue of job
    ids (the job store is the durable copy of that queue)."""

    def __init__(self, settings: Settings, jobs: JobStore, store: Store):
        self.settings, self.jobs, self.store = settings, jobs, store
        self._ctx = multiprocessing.get_context("spawn")
        self._pending: deque[str] = deque()
        self._lock = threading.Lock()
        self._wake_read, self._wake_write = self._ctx.Pipe(duplex=False)
        self._workers: list[_Worker] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="headforge-supervisor", daemon=True)

    def start(self) -> None:
        for job in self.jobs.active():  # left by the previous gateway: run them again
            if job.state == RUNNING:
                self.jobs.requeue(job.id)
            self._pending.append(job.id)
        self._workers = [self._spawn() for _ in range(self.settings.workers)]
        self._thread.start()

    def submit(self, job: Job) -> None:
        with self._lock:
            self._pending.append(job.id)
            self._wake_write.send_bytes(b"")

    def workers(self) -> dict[str, int]:
        """Every local worker serves every back-end whose files are on this machine."""
        from headforge.service.backends import local_backends

        ready = sum(w.ready and w.process.is_alive() for w in self._workers)
        return dict.fromkeys(local_backends(), ready)

    def broker(self) -> None:
        return None

    def forget(self, job_id: str) -> None:
        pass  # nothing kept beyond the job store and the file store

    def worker_pids(self) -> list[int]:
        return [w.process.pid for w in self._workers]

    def close(self) -> None:
        self._stopping.set()
        with self._lock:
            self._wake_write.send_bytes(b"")
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        for w in self._workers:
            try:
                w.conn.send(("stop",))
            except OSError:
                pass
        deadline = time.monotonic() + 5
        for w in self._workers:
            w.process.join(timeout=max(0.1, deadline - time.monotonic()))
            if w.process.is_alive():
                w.process.kill()
                w.process.join(timeout=5)

    def _spawn(self) -> _Worker:
        ours, theirs = self._ctx.Pipe()
        process = self._ctx.Process(
            target=_embedded_worker,
            args=(theirs, self.settings),
            name="headforge-worker",
            daemon=True,
        )
        process.start()
        theirs.close()
        return _Worker(process, ours)

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            waitables = [self._wake_read] + [w.conn for w in self._workers] + [w.process.sentinel for w in self._workers]
            wait(waitables, timeout=1.0)
            while self._wake_read.poll():
                self._wake_read.recv_bytes()
            if self._stopping.is_set():
                return
            try:
                self._tend()
            except Exception:  # noqa: BLE001 - e.g. the job database on a full disk: try again
                log.exception("supervising the workers failed; trying again in 1 s")
                self._stopping.wait(1)

    def _tend(self) -> None:
        """One round: take the workers' messages, replace dead workers, kill stuck ones, hand out jobs."""
        kill_after_s = self.settings.job_timeout_s + KILL_GRACE_S
        for i, worker in enumerate(self._workers):
            self._drain(worker)
            if not worker.process.is_alive():
                self._lost(worker)
                if not worker.ready:  # died while loading: do not spin
                    log.error("a worker died while loading its back-end; retrying in %d s", RESPAWN_DELAY_S)
                    self._stopping.wait(RESPAWN_DELAY_S)
                self._workers[i] = self._spawn()
            elif worker.job_id and time.monotonic() - worker.job_started > kill_after_s:
                self._timed_out(worker)
        self._dispatch()

    def _drain(self, worker: _Worker) -> None:
        try:
            while worker.conn.poll():
                message = worker.conn.recv()
                if message[0] == "ready":
                    worker.ready = True
                elif message[0] == "stage":
                    self.jobs.progress(*message[1:])
                elif message[0] == "outcome":
                    record_outcome(self.jobs, message[1], message[2])
                    worker.job_id = None
        except (EOFError, OSError):
            pass  # the process is gone; handled by the caller

    def _lost(self, worker: _Worker) -> None:
        """A worker process died; its job runs again or, out of attempts, fails."""
        log.warning("worker %s exited with code %s", worker.process.pid, worker.process.exitcode)
        worker.conn.close()
        job = self.jobs.get(worker.job_id) if worker.job_id else None
        if job is None or job.state != RUNNING:
            return
        if job.attempts >= self.settings.max_attempts:
            self.jobs.failed(job.id, *WORKER_LOST)
            self.store.delete_prefix(job.id)
        else:
            self.jobs.requeue(job.id)
            with self._lock:
                self._pending.appendleft(job.id)

    def _timed_out(self, worker: _Worker) -> None:
        """A job ran well past its time limit without stopping itself: kill its worker (replaced
        next round) and fail the job."""
        log.warning("worker %s is stuck on job %s: killing it", worker.process.pid, worker.job_id)
        error = timed_out(self.settings.job_timeout_s)
        self.jobs.failed(worker.job_id, error.code, str(error))
        self.store.delete_prefix(worker.job_id)
        worker.job_id = None
        worker.process.kill()

    def _dispatch(self) -> None:
        for worker in self._workers:
            if not worker.ready or worker.job_id or not worker.process.is_alive():
                continue
            job = self._next_job()
            if job is None:
                return
            worker.job_id, worker.job_started = job.id, time.monotonic()
            try:
                worker.conn.send(("run", job.id, job_spec(job)))
            except OSError:
                pass  # died meanwhile: the next round finds it and runs the job again

    def _next_job(self) -> Job | None:
        """The oldest pending job that is still queued, marked running."""
        while True:
            with self._lock:
                if not self._pending:
                    return None
                job_id = self._pending.popleft()
            job = self.jobs.get(job_id)
            if job is not None and job.state == QUEUED and self.jobs.started(job_id, job.attempts + 1):
                return self.jobs.get(job_id)


# --- Celery: workers on any machine, through Redis ----------------------------------------


class CeleryEngine:
    """Sends each job to its back-end's Celery queue; a sync thread copies the task states
    (PROGRESS, then the outcome) from the result backend into the job store.

    Redis going away is survived: sending fails fast (the request gets ``unavailable``), the
    sync pauses and the heartbeats lapse (readiness says so); all reconnect once Redis is back,
    and jobs already queued run then, provided Redis persists its data (``appendonly yes``)."""

    SYNC_S = 0.2

    def __init__(self, settings: Settings, jobs: JobStore, store: Store):
        import redis

        from headforge.service.celery_app import make_app

        self.settings, self.jobs, self.store = settings, jobs, store
        self.app = make_app(settings)
        self.redis = redis.Redis.from_url(settings.broker_url, socket_connect_timeout=2, socket_timeout=5)
        self._broker_lost = False
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._sync_loop, name="headforge-celery-sync", daemon=True)

    def start(self) -> None:
        self._thread.start()  # jobs left active by a previous gateway are still in Redis

    def submit(self, job: Job) -> None:
        from headforge.service.celery_app import TASK_NAME, queue_name

        self.app.send_task(TASK_NAME, args=[job.id, job_spec(job)], task_id=job.id, queue=queue_name(job.backend))

    def workers(self) -> dict[str, int]:
        from headforge.service.backends import backend_names
        from headforge.service.celery_app import live_workers

        try:
            return live_workers(self.redis, backend_names())
        except Exception:  # noqa: BLE001 - Redis away: no worker can be reached either
            return {}

    def broker(self) -> bool:
        try:
            return bool(self.redis.ping())
        except Exception:  # noqa: BLE001 - any failure means "not reachable"
            return False

    def forget(self, job_id: str) -> None:
        """Delete the task's state (``celery-task-meta-<id>``) from Redis."""
        try:
            self.app.backend.forget(job_id)
        except Exception:  # noqa: BLE001 - Redis away
            raise UnavailableError("the job queue is unreachable; try again shortly",
                                   self.settings.retry_after_s) from None

    def close(self) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self.redis.close()

    def _sync_loop(self) -> None:
        """Sync every ``SYNC_S``; a lost broker is logged once, not every round."""
        import redis

        while not self._stopping.wait(self.SYNC_S):
            try:
                self.sync()
            except redis.RedisError as e:  # Redis away: try again next round
                if not self._broker_lost:
                    log.warning("cannot reach the broker (%s); job states are synced once it is back", type(e).__name__)
                self._broker_lost = True
                continue
            except Exception:  # noqa: BLE001 - e.g. the job database on a full disk: try again
                log.exception("job state sync failed")
                continue
            if self._broker_lost:
                log.info("the broker is back; job states are synced again")
            self._broker_lost = False

    def sync(self) -> None:
        """One pass over the active jobs."""
        now = time.time()
        limit_s = self.settings.job_timeout_s + KILL_GRACE_S
        for job in self.jobs.active():
            meta = self.app.backend.get_task_meta(job.id)
            status, result = meta.get("status"), meta.get("result")
            if status == "SUCCESS" and isinstance(result, dict):
                record_outcome(self.jobs, job.id, result)
            elif status == "FAILURE":  # the task never raises; Celery's time limit (prefork) ends it so
                over = isinstance(result, dict) and result.get("exc_type") == "TimeLimitExceeded"
                error = timed_out(self.settings.job_timeout_s)
                self.jobs.failed(job.id, *((error.code, str(error)) if over else INTERNAL))
                self.store.delete_prefix(job.id)
            elif job.state == RUNNING and job.started_at and now - job.started_at > limit_s:
                error = timed_out(self.settings.job_timeout_s)
                self.jobs.failed(job.id, error.code, str(error))
                self.store.delete_prefix(job.id)
            elif status == "PROGRESS" and isinstance(result, dict):
                attempt = int(result.get("attempt", 1))
                if job.state == QUEUED or attempt > job.attempts:  # first seen, or run again
                    self.jobs.started(job.id, attempt)
                self.jobs.progress(job.id, result.get("stage", "running"), float(result.get("progress", 0)))
