"""What the hardening suites share: small jobs and photos, waiting, the embedded workers of a
server, the job table, and a whole Celery stack (a gateway on serving's Celery set-up)."""
from __future__ import annotations

import contextlib
import io
import sqlite3
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from headforge.bench import load
from headforge.bench.hardening.report import Skipped
from headforge.bench.serving import (
    LIFTED,
    CeleryWorkers,
    Served,
    astronaut_jpeg,
    celery_workers,
    post,
    served,
    wait_ended,
)

FAST = {"texture_size": "512", "hair": "none"}


HEAVY = {"texture_size": "2048", "hair": "auto"}  # long enough to be interrupted


READY_AGAIN_S = 90


def db_attempts(data: Path) -> dict[str, int]:
    """{job id: runs} from the server's job table (read-only)."""
    with contextlib.closing(sqlite3.connect(f"file:{data / 'jobs.sqlite3'}?mode=ro", uri=True)) as db:
        return dict(db.execute("SELECT id, attempts FROM jobs").fetchall())


def worker_pids(pid: int) -> list[int]:
    """The embedded workers of server process ``pid``: its children started by multiprocessing."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if parent == pid and b"spawn_main" in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
    return sorted(found)


def astronaut() -> tuple[str, bytes]:
    return "astronaut.jpg", astronaut_jpeg()


def quick_job(client: httpx.Client, photo: tuple[str, bytes] | None = None, timeout: float = 180) -> dict:
    """Post a small job (the astronaut by default, 512 px, no hair) and wait for its end."""
    response = post(client, photo or astronaut(), **FAST)
    if response.status_code != 202:
        return {"state": f"refused {response.status_code} {load.error_code(response)}"}
    return wait_ended(client, response.json()["id"], poll=0.1, timeout=timeout)


def cat_photo() -> tuple[str, bytes]:
    """A photo without a face: a job that ends fast (no_face) once a worker takes it."""
    import skimage.data
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(skimage.data.chelsea()).save(out, "PNG")
    return "cat.png", out.getvalue()


def outcome(status: dict) -> str:
    if status["state"] == "failed":
        return f"failed {status['error']['code']}"
    return status["state"]


def log_tail(path: Path, chars: int = 1500) -> str:
    return path.read_text(errors="replace")[-chars:] if path.is_file() else ""


@dataclass
class CeleryStack:
    """``headforge serve --broker`` on a :class:`headforge.bench.serving.CeleryWorkers`."""

    served: Served
    celery: CeleryWorkers


@contextmanager
def celery_stack(**env: str):
    """redis-server, one ``headforge worker`` and ``headforge serve --broker``; ``env`` for both."""
    import shutil

    if shutil.which("redis-server") is None:
        raise Skipped("redis-server is not installed")
    with tempfile.TemporaryDirectory(prefix="headforge-celery-") as tmp, celery_workers(Path(tmp), 1, **env) as c, \
            served(0, broker=c.redis.url, wait_workers=1, **LIFTED, **env) as s:
        yield CeleryStack(s, c)


def wait_for(predicate: Callable[[], object], timeout: float, poll: float = 0.25):
    """``predicate()``'s first truthy value within ``timeout`` s, else None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            value = predicate()
            if value:
                return value
        time.sleep(poll)
    return None


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
