"""The Celery engine (``--broker redis://...``): jobs go to the Celery queue of the back-end
they ask for (``headforge.<backend>``), served by ``headforge worker`` processes on any
machine (:mod:`.celery_app`); results go to the shared store; progress comes back through
Celery's result backend.
"""
from __future__ import annotations

import logging
import threading
import time

from headforge.service.celery_app import LEASE_PREFIX, TASK_NAME, live_workers, make_app, queue_name
from headforge.service.config import Settings
from headforge.service.errors import UnavailableError
from headforge.service.jobs import QUEUED, RUNNING, Job, JobStore
from headforge.service.outcome import INTERNAL, KILL_GRACE_S, job_spec, record_outcome
from headforge.service.runner import timed_out
from headforge.service.storage import Store

log = logging.getLogger("headforge.engine")


class CeleryEngine:
    """Sends each job to its back-end's Celery queue; a sync thread copies the task states
    (PROGRESS, then the outcome) from the result backend into the job store.

    Redis going away is survived: sending fails fast (the request gets ``unavailable``), the
    sync pauses and the heartbeats lapse (readiness says so); all reconnect once Redis is back,
    and jobs already queued run then, provided Redis persists its data (``appendonly yes``)."""

    SYNC_S = 0.2

    def __init__(self, settings: Settings, jobs: JobStore, store: Store):
        import redis

        self.settings, self.jobs, self.store = settings, jobs, store
        self.app = make_app(settings)
        self.redis = redis.Redis.from_url(settings.broker_url, socket_connect_timeout=2, socket_timeout=5)
        self._broker_lost = False
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._sync_loop, name="headforge-celery-sync", daemon=True)

    def start(self) -> None:
        self._thread.start()  # jobs left active by a previous gateway are still in Redis

    def submit(self, job: Job) -> None:
        self.app.send_task(TASK_NAME, args=[job.id, job_spec(job)], task_id=job.id, queue=queue_name(job.backend))

    def workers(self) -> dict[str, int]:
        from headforge.service.backends import backend_names

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
        """Delete the task's state (``celery-task-meta-<id>``) and run lease from Redis (a run
        still going finds its job gone at its next check)."""
        try:
            self.app.backend.forget(job_id)
            self.redis.delete(LEASE_PREFIX + job_id)
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
