"""Celery on Redis: the distributed engine's app, its one task and the worker entry point.

- Queues: one per back-end, ``headforge.<backend>``; ``headforge worker --backend NAME``
  consumes that queue only, so the gateway routes a job by naming its queue.
- Delivery: late acknowledgement and reject-on-worker-lost. A job whose pool process dies is
  delivered again at once; one whose whole worker dies (kill -9, power loss) goes back to the
  queue once its ``visibility_timeout`` has passed. Each run counts as an attempt (kept in the
  task's PROGRESS state); past ``max_attempts`` the job fails with ``worker_lost``.
- Results: the job's files go to the shared store (:mod:`.storage`, Redis by default); the
  task's own result (Redis, Celery's result backend) is the small outcome dict, and PROGRESS
  states carry ``{"stage", "progress", "attempt"}`` for the gateway to pick up.
- Liveness: each worker keeps ``headforge:worker:<backend>:<name>`` alive in Redis (expiring
  after ``HEARTBEAT_TTL_S``); the gateway's readiness counts them.
- Limits: a job stops itself past its time limit or memory budget (:mod:`.runner`); with the
  prefork pool (``--concurrency`` > 1) Celery also kills a pool process still on it
  ``KILL_GRACE_S`` later (the solo pool cannot: the gateway then fails the job itself).
- One run at a time: a run holds the job's lease, ``headforge:lease:<job_id>`` (see
  :class:`Leases`). Redis hands a job still running past the visibility timeout to another
  worker too; that delivery waits until the running one ends (then it is dropped, the first
  run's outcome stands) or its holder dies (the lease lapses: it runs as the next attempt).
  Keep ``visibility_timeout`` above the job's time limit: each such wait holds a worker.
- Redis restarts: the gateway sends with a short retry policy (a request never waits long);
  workers reconnect for ever and wait for Redis to store a job's outcome, so a job running
  while Redis is away still finishes. A job already done is not run again when redelivered;
  one deleted while it ran leaves no task state behind.
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import secrets
import socket
import threading
import time

from celery import Celery
from celery.backends.redis import RedisBackend
from celery.exceptions import Ignore
from celery.signals import worker_process_init

from headforge.service.config import Settings
from headforge.service.outcome import KILL_GRACE_S, WORKER_LOST, execute
from headforge.service.errors import NotFoundError
from headforge.service.layout import result_key, upload_key, upload_prefix
from headforge.service.runner import JobRunner, limit_threads
from headforge.service.storage import open_store

TASK_NAME = "headforge.reconstruct"
HEARTBEAT_PREFIX = "headforge:worker:"
HEARTBEAT_S = 5
HEARTBEAT_TTL_S = 15
LEASE_PREFIX = "headforge:lease:"
LEASE_POLL_S = 0.5  # how often a delivery waiting on another run looks again

log = logging.getLogger("headforge.worker")
_runner: JobRunner | None = None  # the worker process's loaded back-end
_leases: Leases | None = None  # the job leases this worker process holds


def queue_name(backend: str) -> str:
    return f"headforge.{backend}"


class PolledRedisBackend(RedisBackend):
    """Celery's Redis result backend without result subscriptions: the gateway polls the task
    states, never waits on a result, so sending a task subscribes to nothing (Celery would add a
    subscription per job, and retry it for many seconds while Redis is away)."""

    def on_task_call(self, producer, task_id) -> None:
        pass


def make_app(settings: Settings, worker: bool = False) -> Celery:
    """The Celery app for ``settings.broker_url`` (also the result backend); ``worker``: as a
    worker uses it (waits for Redis as long as it takes), else as the gateway (fails fast)."""
    backend = f"{__name__}:{PolledRedisBackend.__name__}+{settings.broker_url}"
    app = Celery("headforge", broker=settings.broker_url, backend=backend, set_as_current=False)
    restore_every = max(1, min(10, settings.visibility_timeout_s // 4))
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_expires=settings.job_ttl_s,
        task_default_queue=queue_name(settings.default_backend),
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=3,
        broker_connection_max_retries=None,  # a worker reconnects for ever (every 30 s at most)
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1},
        result_backend_always_retry=worker,
        result_backend_base_sleep_between_retries_ms=200,
        task_time_limit=settings.job_timeout_s + KILL_GRACE_S,
        worker_hijack_root_logger=False,
        broker_transport_options={
            "visibility_timeout": settings.visibility_timeout_s,
            "unacked_restore_interval": restore_every,
            "unacked_restore_throttle": 1,
        },
        headforge_max_attempts=settings.max_attempts,
        headforge_job_timeout_s=settings.job_timeout_s,
    )
    app.task(name=TASK_NAME, bind=True)(_reconstruct)
    return app


def _reconstruct(task, job_id: str, spec: dict) -> dict:
    """The task: one job, run by this process's runner under the job's lease; returns the
    outcome dict. A delivery whose job another live run holds waits for it (:func:`_await_lease`)."""
    if not _leases.take(job_id):
        _await_lease(task, job_id)
    try:
        return _run(task, job_id, spec)
    finally:
        _leases.let_lapse(job_id)


def _await_lease(task, job_id: str) -> None:
    """Wait until this delivery holds the job's lease (its holder died: run it again), or raise
    Ignore once the holding run has stored its outcome (it stands; this message is acknowledged
    and no state is touched) or after the job's time limit (the gateway fails a run that long)."""
    log.info("job %s: already running in %s; this delivery waits for it", job_id, _leases.holder(job_id))
    deadline = time.monotonic() + task.app.conf.headforge_job_timeout_s
    while time.monotonic() < deadline:
        if task.backend.get_task_meta(job_id).get("status") in ("SUCCESS", "FAILURE"):
            log.info("job %s: ended in its other run; this delivery is dropped", job_id)
            raise Ignore()
        if _leases.take(job_id):
            log.info("job %s: its run's lease lapsed (the worker died); running it again", job_id)
            return
        time.sleep(LEASE_POLL_S)
    log.warning("job %s: its other run is still going past the job's time limit; dropped", job_id)
    raise Ignore()


def _run(task, job_id: str, spec: dict) -> dict:
    """One run of the job, its lease held: the next attempt, or the stored outcome when the job
    has ended already (an ack lost with Redis)."""
    previous = task.backend.get_task_meta(job_id)
    if previous.get("status") == "SUCCESS":
        return previous["result"]  # delivered again after it ended (an ack lost with Redis)
    attempt = 1
    if previous.get("status") == "PROGRESS" and isinstance(previous.get("result"), dict):
        attempt = int(previous["result"].get("attempt", 1)) + 1  # an earlier run died mid-job
    if attempt > task.app.conf.headforge_max_attempts:
        _runner.store.delete_prefix(upload_prefix(job_id))
        return {"state": "failed", "code": WORKER_LOST[0], "message": WORKER_LOST[1]}
    if not _runner.store.exists(upload_key(job_id)):
        _gone(task, job_id)

    def report(stage: str, progress: float) -> None:
        task.update_state(state="PROGRESS", meta={"stage": stage, "progress": progress, "attempt": attempt})

    log.info("job %s: attempt %d", job_id, attempt)
    report("starting", 0.0)
    outcome = execute(_runner, job_id, spec, report)
    if outcome.get("code") == NotFoundError.code:  # deleted while it ran (it holds the lease)
        _gone(task, job_id)
    return outcome


def _gone(task, job_id: str) -> None:
    """The job's upload is gone: raise Ignore, forgetting the task state only if the job was
    deleted or expired (no outcome and no results), not if a run has ended it already."""
    ended = task.backend.get_task_meta(job_id).get("status") == "SUCCESS"
    if not ended and not _runner.store.exists(result_key(job_id, "avatar.zip")):
        task.backend.forget(job_id)
    raise Ignore()


def run_worker(settings: Settings, backend: str, concurrency: int = 1, loglevel: str = "INFO") -> None:
    """``headforge worker``: load ``backend``, then serve its queue until stopped.

    ``concurrency`` 1 runs jobs in this process (Celery's solo pool); more forks that many
    pool processes, each loading its own back-end."""
    limit_threads(settings.worker_threads)
    _check_visibility(settings)
    app = make_app(settings, worker=True)
    store = open_store(settings.resolved_store_url, settings.job_ttl_s)
    name = f"{backend}-{os.getpid()}@{socket.gethostname()}"

    def load_runner(**_) -> None:  # in each process that runs jobs, before any job
        global _runner, _leases
        _leases = Leases(_redis(settings.broker_url), name)
        _runner = JobRunner(store, settings.worker_threads, timeout_s=settings.job_timeout_s,
                            memory_mb=settings.job_memory_mb)
        _runner.load(backend)

    if concurrency == 1:
        load_runner()
    else:
        worker_process_init.connect(load_runner, weak=False)
    _start_heartbeat(settings.broker_url, backend, name, concurrency)
    app.worker_main([
        "worker", "--queues", queue_name(backend), "--hostname", name,
        "--pool", "solo" if concurrency == 1 else "prefork", "--concurrency", str(concurrency),
        "--without-gossip", "--without-mingle", "--loglevel", loglevel,
    ])


def _check_visibility(settings: Settings) -> None:
    """Warn when Redis will hand running jobs to a second worker (they then wait, not run)."""
    longest = settings.job_timeout_s + KILL_GRACE_S
    if settings.visibility_timeout_s < longest:
        log.warning("visibility timeout %d s < job time limit + grace %d s: Redis hands a job still running "
                    "after it to another worker, which waits for it", settings.visibility_timeout_s, longest)


def _redis(broker_url: str):
    """A Redis client for the worker's own keys (heartbeats, leases)."""
    import redis

    return redis.Redis.from_url(broker_url, socket_connect_timeout=5, socket_timeout=5)


def _start_heartbeat(broker_url: str, backend: str, name: str, concurrency: int) -> None:
    import redis

    client = _redis(broker_url)
    key = f"{HEARTBEAT_PREFIX}{backend}:{name}"
    value = json.dumps({"backend": backend, "name": name, "concurrency": concurrency})
    stop = threading.Event()

    def beat() -> None:
        while not stop.is_set():
            try:
                client.set(key, value, ex=HEARTBEAT_TTL_S)
            except Exception:  # noqa: BLE001 - Redis away (we reconnect next beat), or a job at its memory limit
                pass
            stop.wait(HEARTBEAT_S)

    def goodbye() -> None:
        stop.set()
        try:
            client.delete(key)
        except redis.RedisError:
            pass

    threading.Thread(target=beat, name="headforge-heartbeat", daemon=True).start()
    atexit.register(goodbye)


class Leases:
    """The job leases of this worker process: ``headforge:lease:<job_id>`` holds the run's
    token (worker name, process id, a random part), is set only when free and lapses
    ``HEARTBEAT_TTL_S`` after its last refresh; a thread refreshes the held ones every
    ``HEARTBEAT_S``, so a lease outlives its run only if it is let lapse or its worker dies."""

    _REFRESH = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('expire', KEYS[1], ARGV[2]) end"

    def __init__(self, client, name: str):
        self.client, self.name = client, name
        self._held: dict[str, str] = {}  # job id -> token
        self._lock = threading.Lock()
        self._refresh = client.register_script(self._REFRESH)
        threading.Thread(target=self._beat, name="headforge-leases", daemon=True).start()

    def take(self, job_id: str) -> bool:
        """Whether this run now holds the job's lease (False: another run does, or Redis is away)."""
        import redis

        token = f"{self.name}:{os.getpid()}:{secrets.token_hex(4)}"
        try:
            if not self.client.set(LEASE_PREFIX + job_id, token, nx=True, ex=HEARTBEAT_TTL_S):
                return False
        except redis.RedisError:
            return False
        with self._lock:
            self._held[job_id] = token
        return True

    def let_lapse(self, job_id: str) -> None:
        """Stop refreshing the job's lease: it lapses ``HEARTBEAT_TTL_S`` later, by when the
        run's outcome is stored (a delivery arriving meanwhile finds it)."""
        with self._lock:
            self._held.pop(job_id, None)

    def holder(self, job_id: str) -> str | None:
        try:
            token = self.client.get(LEASE_PREFIX + job_id)
        except Exception:  # noqa: BLE001 - Redis away: for a log line only
            return None
        return token.decode() if token else None

    def _beat(self) -> None:
        while True:
            with self._lock:
                held = list(self._held.items())
            for job_id, token in held:
                try:
                    self._refresh(keys=[LEASE_PREFIX + job_id], args=[token, HEARTBEAT_TTL_S])
                except Exception:  # noqa: BLE001 - Redis away (next beat), or a job at its memory limit
                    pass
            time.sleep(HEARTBEAT_S)


def live_workers(client, backends) -> dict[str, int]:
    """Worker processes per back-end, from the heartbeats in Redis."""
    counts = dict.fromkeys(backends, 0)
    for key in client.scan_iter(match=f"{HEARTBEAT_PREFIX}*", count=500):
        raw = client.get(key)
        if raw:
            info = json.loads(raw)
            counts[info["backend"]] = counts.get(info["backend"], 0) + int(info.get("concurrency", 1))
    return counts
