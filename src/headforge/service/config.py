"""Service settings: a frozen dataclass read from ``HEADFORGE_*`` environment variables.

=============================  ==========================================================  =========
variable                       meaning                                                     default
=============================  ==========================================================  =========
HEADFORGE_DATA_DIR             job database, uploads and results (embedded mode)           ~/.local/share/headforge
HEADFORGE_BROKER               Celery broker (``redis://HOST:6379/0``); unset: embedded    unset
HEADFORGE_STORE                where uploads and results live: ``file:///shared/path``    data dir (embedded),
                               or ``redis://...``; every worker must reach it              the broker (Celery)
HEADFORGE_WORKERS              worker processes of the embedded back-end                   2
HEADFORGE_WORKER_THREADS       compute threads per worker process                          1
HEADFORGE_MAX_UPLOAD_MB        largest upload accepted                                     15
HEADFORGE_MAX_PIXELS           largest photo accepted, in pixels                           25000000
HEADFORGE_RATE_PER_MIN         work requests (new jobs, re-exports) per client per minute  30
HEADFORGE_RATE_BURST           of which at once                                            10
HEADFORGE_MAX_QUEUE            queued + running jobs before new ones get 503               32
HEADFORGE_RETRY_AFTER_S        Retry-After sent with 503 and 429                           5
HEADFORGE_JOB_TTL_S            a job and its files are deleted this long after creation    86400
HEADFORGE_SWEEP_INTERVAL_S     how often expired and stuck jobs are swept                  60
HEADFORGE_JOB_TIMEOUT_S        a job not finished this long after it started has failed    300
                               (it stops at its next stage; 15 s on it is failed anyway)
HEADFORGE_JOB_MEMORY_MB        memory a job may use beyond the loaded worker; past it the  4096
                               job fails (``memory_limit``), the worker lives on; 0: off
HEADFORGE_MAX_ATTEMPTS         runs of a job whose worker died before it is failed         2
HEADFORGE_VISIBILITY_TIMEOUT_S Celery: an unacknowledged job goes back to the queue after  600
                               (keep it above the job timeout + 15 s: a job still running
                               then is handed to a second worker, which waits for it)
HEADFORGE_API_KEYS             comma-separated keys; when set, /api/v1 needs X-API-Key     unset
HEADFORGE_CORS_ORIGINS         comma-separated origins allowed by CORS; unset: CORS off    unset
HEADFORGE_SINGLE_FACE          refuse photos with several faces (0: use the largest)       1
=============================  ==========================================================  =========
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from headforge.service.backends import DEFAULT_BACKEND


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    try:
        return int(value) if value else default
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a whole number") from None


def _list(name: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in os.environ.get(name, "").split(",") if v.strip())


@dataclass(frozen=True)
class Settings:
    """Everything the gateway and the workers are configured with (see the module table)."""

    data_dir: Path = field(default_factory=lambda: Path.home() / ".local" / "share" / "headforge")
    broker_url: str | None = None
    store_url: str | None = None
    workers: int = 2
    worker_threads: int = 1
    max_upload_bytes: int = 15 * 1024 * 1024
    max_pixels: int = 25_000_000
    rate_per_min: int = 30
    rate_burst: int = 10
    max_queue: int = 32
    retry_after_s: int = 5
    job_ttl_s: int = 86_400
    sweep_interval_s: int = 60
    job_timeout_s: int = 300
    job_memory_mb: int = 4096
    max_attempts: int = 2
    visibility_timeout_s: int = 600
    api_keys: frozenset[str] = frozenset()
    cors_origins: tuple[str, ...] = ()
    single_face: bool = True
    default_backend: str = DEFAULT_BACKEND

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        """Settings from the environment; keyword ``overrides`` win (e.g. from CLI flags)."""
        home = os.environ.get("HEADFORGE_DATA_DIR")
        values = {
            "data_dir": Path(home) if home else cls().data_dir,
            "broker_url": os.environ.get("HEADFORGE_BROKER") or None,
            "store_url": os.environ.get("HEADFORGE_STORE") or None,
            "workers": _int("HEADFORGE_WORKERS", 2),
            "worker_threads": _int("HEADFORGE_WORKER_THREADS", 1),
            "max_upload_bytes": _int("HEADFORGE_MAX_UPLOAD_MB", 15) * 1024 * 1024,
            "max_pixels": _int("HEADFORGE_MAX_PIXELS", 25_000_000),
            "rate_per_min": _int("HEADFORGE_RATE_PER_MIN", 30),
            "rate_burst": _int("HEADFORGE_RATE_BURST", 10),
            "max_queue": _int("HEADFORGE_MAX_QUEUE", 32),
            "retry_after_s": _int("HEADFORGE_RETRY_AFTER_S", 5),
            "job_ttl_s": _int("HEADFORGE_JOB_TTL_S", 86_400),
            "sweep_interval_s": _int("HEADFORGE_SWEEP_INTERVAL_S", 60),
            "job_timeout_s": _int("HEADFORGE_JOB_TIMEOUT_S", 300),
            "job_memory_mb": _int("HEADFORGE_JOB_MEMORY_MB", 4096),
            "max_attempts": _int("HEADFORGE_MAX_ATTEMPTS", 2),
            "visibility_timeout_s": _int("HEADFORGE_VISIBILITY_TIMEOUT_S", 600),
            "api_keys": frozenset(_list("HEADFORGE_API_KEYS")),
            "cors_origins": _list("HEADFORGE_CORS_ORIGINS"),
            "single_face": os.environ.get("HEADFORGE_SINGLE_FACE", "1").strip() not in ("0", "false", "no"),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def replace(self, **changes) -> Settings:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    @property
    def resolved_store_url(self) -> str:
        """``store_url``, else the broker (Celery mode) or ``file://<data_dir>/files``."""
        if self.store_url:
            return self.store_url
        if self.broker_url:
            return self.broker_url
        return (self.data_dir / "files").resolve().as_uri()

    @property
    def database_path(self) -> Path:
        return self.data_dir / "jobs.sqlite3"
