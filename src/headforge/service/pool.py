"""The embedded engine: a pool of worker *processes* on this machine (``headforge serve``
alone). Each holds its own loaded back-end; a crash or a kill takes down one worker, never the
server: its job is run again (up to ``max_attempts``) and the worker is replaced.
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

from headforge.service.config import Settings
from headforge.service.jobs import QUEUED, RUNNING, Job, JobStore
from headforge.service.outcome import KILL_GRACE_S, WORKER_LOST, execute, job_spec, record_outcome
from headforge.service.runner import JobRunner, limit_threads, timed_out
from headforge.service.storage import Store

log = logging.getLogger("headforge.engine")
RESPAWN_DELAY_S = 5


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
