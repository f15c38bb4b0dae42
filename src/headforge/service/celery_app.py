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
- Redis restarts: the gateway sends with a short retry policy (a request never waits long);
  workers reconnect for ever and wait for Redis to store a job's outcome, so a job running
  while Redis is away still finishes. A job already done is not run again when redelivered;
  one deleted while it ran leaves no task state behind.
"""
from __future__ import annotations

import atexit
import json
import os
import socket
import threading

from celery import Celery
from celery.backends.redis import RedisBackend
from celery.exceptions import Ignore
from celery.signals import worker_process_init

from headforge.service.config import Settings
from headforge.service.outcome import KILL_GRACE_S, WORKER_LOST, execute
from headforge.service.errors import NotFoundError
from headforge.service.layout import upload_prefix
from headforge.service.runner import JobRunner, limit_threads
from headforge.service.storage import open_store

TASK_NAME = "headforge.reconstruct"
HEARTBEAT_PREFIX = "headforge:worker:"
HEARTBEAT_S = 5
HEARTBEAT_TTL_S = 15

_runner: JobRunner | None = None  # the worker process's loaded back-end


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
    )
    app.task(name=TASK_NAME, bind=True)(_reconstruct)
    return app


def _reconstruct(task, job_id: str, spec: dict) -> dict:
    """The task: one job, run by this process's runner; returns the outcome dict."""
    previous = task.backend.get_task_meta(job_id)
    if previous.get("status") == "SUCCESS":
        return previous["result"]  # delivered again after it ended (an ack lost with Redis)
    attempt = 1
    if previous.get("status") == "PROGRESS" and isinstance(previous.get("result"), dict):
        attempt = int(previous["result"].get("attempt", 1)) + 1  # an earlier run died mid-job
    if attempt > task.app.conf.headforge_max_attempts:
        _runner.store.delete_prefix(upload_prefix(job_id))
        return {"state": "failed", "code": WORKER_LOST[0], "message": WORKER_LOST[1]}

    def report(stage: str, progress: float) -> None:
        task.update_state(state="PROGRESS", meta={"stage": stage, "progress": progress, "attempt": attempt})

    report("starting", 0.0)
    outcome = execute(_runner, job_id, spec, report)
    if outcome.get("code") == NotFoundError.code:  # deleted or expired meanwhile: keep no state
        task.backend.forget(job_id)
        raise Ignore()
    return outcome


def run_worker(settings: Settings, backend: str, concurrency: int = 1, loglevel: str = "INFO") -> None:
    """``headforge worker``: load ``backend``, then serve its queue until stopped.

    ``concurrency`` 1 runs jobs in this process (Celery's solo pool); more forks that many
    pool processes, each loading its own back-end."""
    limit_threads(settings.worker_threads)
    app = make_app(settings, worker=True)
    store = open_store(settings.resolved_store_url, settings.job_ttl_s)

    def load_runner(**_) -> None:
        global _runner
        _runner = JobRunner(store, settings.worker_threads, timeout_s=settings.job_timeout_s,
                            memory_mb=settings.job_memory_mb)
        _runner.load(backend)

    if concurrency == 1:
        load_runner()
    else:
        worker_process_init.connect(load_runner, weak=False)
    name = f"{backend}-{os.getpid()}@{socket.gethostname()}"
    _start_heartbeat(settings.broker_url, backend, name, concurrency)
    app.worker_main([
        "worker", "--queues", queue_name(backend), "--hostname", name,
        "--pool", "solo" if concurrency == 1 else "prefork", "--concurrency", str(concurrency),
        "--without-gossip", "--without-mingle", "--loglevel", loglevel,
    ])


def _start_heartbeat(broker_url: str, backend: str, name: str, concurrency: int) -> None:
    import redis

    client = redis.Redis.from_url(broker_url, socket_connect_timeout=5, socket_timeout=5)
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


def live_workers(client, backends) -> dict[str, int]:
    """Worker processes per back-end, from the heartbeats in Redis."""
    counts = dict.fromkeys(backends, 0)
    for key in client.scan_iter(match=f"{HEARTBEAT_PREFIX}*", count=500):
        raw = client.get(key)
        if raw:
            info = json.loads(raw)
            counts[info["backend"]] = counts.get(info["backend"], 0) + int(info.get("concurrency", 1))
    return counts
