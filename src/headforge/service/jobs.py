"""The job store: one SQLite table, one row per job, safe to share between threads.

A job moves ``queued -> running -> done | failed``; a running job whose worker was lost goes
back to ``queued`` (or fails once it has used its attempts). ``stage`` and ``progress``
(0..1) follow the pipeline while it runs. Terminal states are final: late progress events
for a finished job are ignored. The table lives in the gateway's data folder, so jobs
survive a gateway restart.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from headforge.service.errors import StorageFullError, StorageUnavailableError

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
ACTIVE = (QUEUED, RUNNING)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    backend TEXT NOT NULL,
    options TEXT NOT NULL,
    state TEXT NOT NULL,
    stage TEXT NOT NULL,
    progress REAL NOT NULL,
    error_code TEXT,
    error_message TEXT,
    attempts INTEGER NOT NULL,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    updated_at REAL NOT NULL,
    timings TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, created_at);
"""


@dataclass
class Job:
    """One row. ``options``: what the job was asked for (JSON-ready); ``owner``: a hash of the
    API key that created it ('' when keys are off); ``timings``: seconds per stage when done."""

    id: str
    backend: str
    options: dict
    owner: str = ""
    state: str = QUEUED
    stage: str = QUEUED
    progress: float = 0.0
    error_code: str | None = None
    error_message: str | None = None
    attempts: int = 0
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    updated_at: float = field(default_factory=time.time)
    timings: dict = field(default_factory=dict)


class JobStore:
    """SQLite-backed jobs (WAL mode; one connection guarded by a lock)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _execute(self, sql: str, args=()) -> sqlite3.Cursor:
        """A write; raises StorageFullError or StorageUnavailableError when the database file
        cannot take it (disk full; read-only or failing disk)."""
        with self._lock, _write_errors():
            return self._db.execute(sql, args)

    def _rows(self, sql: str, args=()) -> list[Job]:
        with self._lock:
            return [_job(row) for row in self._db.execute(sql, args).fetchall()]

    def add(self, job: Job) -> None:
        row = asdict(job)
        row["options"], row["timings"] = json.dumps(job.options), json.dumps(job.timings)
        columns = ", ".join(row)
        self._execute(f"INSERT INTO jobs ({columns}) VALUES ({', '.join('?' * len(row))})", tuple(row.values()))

    def get(self, job_id: str) -> Job | None:
        rows = self._rows("SELECT * FROM jobs WHERE id = ?", (job_id,))
        return rows[0] if rows else None

    def started(self, job_id: str, attempt: int) -> bool:
        """Mark the job running (attempt number ``attempt``); False if it already ended."""
        now = time.time()
        cur = self._execute(
            "UPDATE jobs SET state = ?, stage = 'starting', attempts = MAX(attempts, ?), started_at = ?, "
            "updated_at = ? WHERE id = ? AND state IN (?, ?)",
            (RUNNING, attempt, now, now, job_id, *ACTIVE),
        )
        return cur.rowcount == 1

    def progress(self, job_id: str, stage: str, progress: float) -> None:
        """Record the current stage of a running (or just dispatched) job."""
        self._execute(
            "UPDATE jobs SET state = ?, stage = ?, progress = MAX(progress, ?), updated_at = ? "
            "WHERE id = ? AND state IN (?, ?)",
            (RUNNING, stage, float(progress), time.time(), job_id, *ACTIVE),
        )

    def finished(self, job_id: str, timings: dict) -> None:
        now = time.time()
        self._execute(
            "UPDATE jobs SET state = ?, stage = 'done', progress = 1, timings = ?, finished_at = ?, "
            "updated_at = ? WHERE id = ? AND state IN (?, ?)",
            (DONE, json.dumps(timings), now, now, job_id, *ACTIVE),
        )

    def failed(self, job_id: str, code: str, message: str) -> None:
        now = time.time()
        self._execute(
            "UPDATE jobs SET state = ?, stage = 'failed', error_code = ?, error_message = ?, "
            "finished_at = ?, updated_at = ? WHERE id = ? AND state IN (?, ?)",
            (FAILED, code, message, now, now, job_id, *ACTIVE),
        )

    def requeue(self, job_id: str) -> None:
        """A running job whose worker went away waits for another one."""
        self._execute(
            "UPDATE jobs SET state = ?, stage = ?, progress = 0, updated_at = ? WHERE id = ? AND state = ?",
            (QUEUED, QUEUED, time.time(), job_id, RUNNING),
        )

    def active(self) -> list[Job]:
        """Queued and running jobs, oldest first."""
        return self._rows("SELECT * FROM jobs WHERE state IN (?, ?) ORDER BY created_at", ACTIVE)

    def count_active(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM jobs WHERE state IN (?, ?)", ACTIVE).fetchone()[0]

    def created_before(self, when: float) -> list[str]:
        """Ids of the jobs created before ``when`` (epoch seconds)."""
        with self._lock:
            return [r[0] for r in self._db.execute("SELECT id FROM jobs WHERE created_at < ?", (when,))]

    def delete(self, job_id: str) -> bool:
        return self._execute("DELETE FROM jobs WHERE id = ?", (job_id,)).rowcount == 1


@contextmanager
def _write_errors():
    try:
        yield
    except sqlite3.OperationalError as e:
        name = getattr(e, "sqlite_errorname", "")
        if name.startswith("SQLITE_FULL"):
            raise StorageFullError("there is no room left to record the job; try again later") from None
        if name.startswith(("SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN")):
            raise StorageUnavailableError("the job database cannot be written now") from None
        raise


def _job(row: sqlite3.Row) -> Job:
    values = dict(row)
    values["options"], values["timings"] = json.loads(values["options"]), json.loads(values["timings"])
    return Job(**values)
