"""The system harness, the one owner of what the benchmarks (web, hardening) and the service
tests stage: photos to upload, free ports, a real ``headforge serve``, a Celery set-up
(``redis-server`` and ``headforge worker`` processes), waiting for a job or for readiness
(over HTTP, from a TestClient, or from the job table), and a tmpfs to stage a full or
read-only disk."""
from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import httpx

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
LIFTED = {"HEADFORGE_RATE_PER_MIN": "100000", "HEADFORGE_RATE_BURST": "100000"}


def astronaut_jpeg(quality: int = 92, **save) -> bytes:
    """skimage's astronaut as a JPEG (``save``: more PIL save options, e.g. ``exif``)."""
    import skimage.data
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).save(out, "JPEG", quality=quality, **save)
    return out.getvalue()


def load_photos(folder: Path | None, count: int) -> list[tuple[str, bytes]]:
    """``count`` (name, bytes) photos from ``folder`` (cycled), else astronaut copies."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES) if folder else []
    if not files:
        jpeg = astronaut_jpeg()
        return [(f"astronaut-{i}.jpg", jpeg) for i in range(count)]
    return [(files[i % len(files)].name, files[i % len(files)].read_bytes()) for i in range(count)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Served:
    """A running ``headforge serve``: an HTTP client on its API, the process, its data folder
    and its log (kept outside the data folder)."""

    client: httpx.Client
    process: subprocess.Popen
    url: str
    data: Path
    log: Path

    def wait_workers(self, count: int, timeout: float = 180) -> dict:
        """The /ready body once ``count`` anny workers are up (see :func:`wait_ready`)."""
        return wait_ready(lambda: self.client.get("/ready").json(), workers_up(count), [self.process],
                          timeout, log=self.log)


@contextmanager
def served(workers: int = 2, data_dir: Path | None = None, broker: str | None = None,
           wait_workers: int | None = None, headers: dict | None = None, **env: str):
    """A ``headforge serve`` with ``workers`` local workers (or Celery on ``broker``), ready once
    ``wait_workers`` (default ``workers``) anny workers are up; stopped on exit. ``data_dir``:
    its data folder (default: a temporary one); ``env``: more environment variables."""
    with tempfile.TemporaryDirectory(prefix="headforge-bench-") as tmp:
        data = data_dir or Path(tmp) / "data"
        log_path = Path(tmp) / "serve.log"
        port = free_port()
        environ = {**os.environ, "HEADFORGE_DATA_DIR": str(data), "HEADFORGE_WORKERS": str(workers), **env}
        command = [sys.executable, "-m", "headforge.cli", "serve", "--port", str(port)]
        with open(log_path, "wb") as log:
            process = subprocess.Popen(command + (["--broker", broker] if broker else []),
                                       stdout=log, stderr=subprocess.STDOUT, env=environ)
        url = f"http://127.0.0.1:{port}/api/v1"
        try:
            wait_ready(lambda: httpx.get(f"{url}/ready").json(),
                       workers_up(workers if wait_workers is None else wait_workers), [process], log=log_path)
            with httpx.Client(base_url=url, timeout=60, headers=headers,
                              limits=httpx.Limits(max_connections=64)) as client:
                yield Served(client, process, url, data, log_path)
        finally:
            stop(process)


@contextmanager
def server(workers: int, **env: str):
    """A ``headforge serve`` with ``workers`` local workers, ready: an HTTP client on its API."""
    with served(workers, **env) as running:
        yield running.client


def post(client: httpx.Client, photo: tuple[str, bytes], **form: str) -> httpx.Response:
    """Upload ``photo`` (name, bytes) as a new job with ``form`` fields."""
    return client.post("/jobs", files={"photo": (photo[0], photo[1], "application/octet-stream")}, data=form)


ENDED = ("done", "failed")


def ended(status: dict) -> bool:
    return status["state"] in ENDED


def poll_job(get_status: Callable[[], dict | None], until: Callable[[dict], bool] = ended,
             timeout: float = 120, poll: float = 0.2) -> tuple[dict | None, list[dict]]:
    """Call ``get_status()`` (a job's status body, or None once the job is gone) every
    ``poll`` seconds until ``until(status)`` (by default: the job has ended); returns the last
    status (None: gone) and every status seen. Raises RuntimeError after ``timeout`` seconds."""
    seen: list[dict] = []
    deadline = time.monotonic() + timeout
    while True:
        status = get_status()
        if status is None:
            return None, seen
        seen.append(status)
        if until(status):
            return status, seen
        if time.monotonic() > deadline:
            raise RuntimeError(f"the job did not get there within {timeout} s; last status {status}")
        time.sleep(poll)


def job_status(client: httpx.Client, job_id: str, api: str = "") -> Callable[[], dict | None]:
    """A ``get_status`` for :func:`poll_job`: GET ``{api}/jobs/{job_id}`` on ``client`` (an
    httpx client or a TestClient); None on 404."""
    def get() -> dict | None:
        response = client.get(f"{api}/jobs/{job_id}")
        return None if response.status_code == 404 else response.json()
    return get


def wait_ended_or_gone(client: httpx.Client, job_id: str, poll: float, timeout: float) -> dict | None:
    """The job's status once it is done or failed; None once it is gone (404)."""
    return poll_job(job_status(client, job_id), timeout=timeout, poll=poll)[0]


def wait_ended(client: httpx.Client, job_id: str, poll: float = 0.01, timeout: float = 600) -> dict:
    """The job's status once it is done or failed."""
    status = wait_ended_or_gone(client, job_id, poll, timeout)
    if status is None:
        raise RuntimeError(f"job {job_id} disappeared before it ended")
    return status


def wait_running(client: httpx.Client, job_id: str, progress: float = 0.0, timeout: float = 120) -> dict:
    """The job's status once it runs with at least ``progress``; raises if it ends first."""
    status, _ = poll_job(job_status(client, job_id), lambda s: ended(s) or (
        s["state"] == "running" and s["progress"] >= progress), timeout, poll=0.05)
    if status is None or ended(status):
        raise RuntimeError(f"the job ended ({status and status['state']}) before it could be interrupted")
    return status


def job_records(data: Path, ids: list[str]) -> dict[str, dict]:
    """The server's job table rows for ``ids`` (read-only): state, created_at, started_at,
    finished_at (epoch seconds, the server's clock) and timings (seconds per stage)."""
    import json
    import sqlite3

    marks = ",".join("?" * len(ids))
    with closing(sqlite3.connect(f"file:{data / 'jobs.sqlite3'}?mode=ro", uri=True, timeout=10)) as db:
        rows = db.execute(f"SELECT id, state, created_at, started_at, finished_at, timings FROM jobs "
                          f"WHERE id IN ({marks})", ids).fetchall()
    return {r[0]: {"state": r[1], "created_at": r[2], "started_at": r[3], "finished_at": r[4],
                   "timings_s": json.loads(r[5] or "{}")} for r in rows}


def wait_records(data: Path, ids: list[str], timeout: float = 900, poll: float = 0.5) -> dict[str, dict]:
    """Wait until every job of ``ids`` has ended, reading the server's job table (not its HTTP
    API) ``1 / poll`` times a second, so that waiting costs the workers nothing; returns
    :func:`job_records`. Jobs that vanished are left out."""
    deadline = time.monotonic() + timeout
    while True:
        records = job_records(data, ids)
        if all(r["state"] in ("done", "failed") for r in records.values()):
            return records
        if time.monotonic() > deadline:
            raise RuntimeError(f"jobs did not end within {timeout} s")
        time.sleep(poll)


def workers_up(count: int) -> Callable[[dict], bool]:
    """An ``until`` for :func:`wait_ready`: at least ``count`` anny workers are up."""
    return lambda body: body["workers"].get("anny", 0) >= count


def wait_ready(get_ready: Callable[[], dict], until: Callable[[dict], bool] = lambda body: body["ready"],
               processes: Sequence[subprocess.Popen] = (), timeout: float = 180, poll: float = 0.25,
               log: Path | None = None) -> dict:
    """The /ready body (``get_ready()``) once ``until(body)`` (by default: it says ready).
    A try that fails over HTTP (not listening yet) counts as not yet. Raises RuntimeError
    if one of ``processes`` exits first (with the end of ``log``) or after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    body = None
    while True:
        if any(p.poll() is not None for p in processes):
            tail = log.read_text(errors="replace")[-2000:] if log is not None else ""
            raise RuntimeError(f"a process of the set-up exited before it was ready: {tail}")
        with suppress(httpx.HTTPError, ValueError):
            body = get_ready()
            if until(body):
                return body
        if time.monotonic() > deadline:
            raise RuntimeError(f"not ready within {timeout} s: {body}")
        time.sleep(poll)


def stop(process: subprocess.Popen, timeout: float = 30) -> None:
    """Terminate ``process``, killing it if it does not exit within ``timeout`` seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def stop_all(processes: Sequence[subprocess.Popen], timeout: float = 15) -> None:
    """Terminate them all at once, then wait for each, killing what still runs ``timeout``
    seconds later."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        stop(process, timeout)


class RedisServer:
    """A redis-server on a free port of 127.0.0.1 with its append-only file in ``folder``, so
    its data survives :meth:`stop` and :meth:`start` (as a production Redis must)."""

    def __init__(self, folder: Path):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--appendonly", "yes",
                     "--save", "", "--dir", str(folder)]
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 15) -> None:
        """Start and wait until it answers (its data loaded)."""
        import redis

        self.process = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        with closing(redis.Redis.from_url(self.url)) as client:
            while True:
                try:
                    client.ping()
                    return
                except redis.ConnectionError:  # not listening yet, or still loading its data
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("redis-server did not start") from None
                    time.sleep(0.1)

    def stop(self) -> None:
        """Shut down as on SIGTERM (the append-only file is flushed)."""
        stop(self.process)

    def kill(self) -> None:
        """SIGKILL: what Redis did not yet write to its file is lost (it syncs every second)."""
        self.process.kill()
        self.process.wait(timeout=10)

    def keys_with(self, text: str) -> list[str]:
        """Every key whose name contains ``text``, sorted."""
        import redis

        with closing(redis.Redis.from_url(self.url)) as client:
            return sorted(k.decode() for k in client.scan_iter(match=f"*{text}*", count=1000))


def start_worker(broker_url: str, log: Path, **env: str) -> subprocess.Popen:
    """A ``headforge worker`` process (Celery) with its output in ``log``; ``env``: extra
    environment (``HEADFORGE_*`` settings)."""
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "headforge.cli", "worker", "--broker", broker_url],
                                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env})


@dataclass
class CeleryWorkers:
    """A redis-server and ``headforge worker`` processes on it, and the workers' logs."""

    redis: RedisServer
    workers: list[subprocess.Popen]
    logs: list[Path]


@contextmanager
def celery_workers(folder: Path, count: int = 1, **env: str) -> Iterator[CeleryWorkers]:
    """A persistent redis-server (its files in ``folder``) and ``count`` ``headforge worker``
    processes on it (logs ``folder``/worker<i>.log; ``env``: their extra environment), all
    stopped on exit (Redis only if it still runs)."""
    redis_server = RedisServer(folder)
    redis_server.start()
    workers: list[subprocess.Popen] = []
    try:
        logs = [folder / f"worker{i}.log" for i in range(count)]
        workers = [start_worker(redis_server.url, log, **env) for log in logs]
        yield CeleryWorkers(redis_server, workers, logs)
    finally:
        stop_all(workers)
        if redis_server.process.poll() is None:
            redis_server.stop()


class MountRefused(Exception):
    """The kernel refused a mount (no privilege here: a user account, or a container without
    CAP_SYS_ADMIN); the check that needs it cannot be staged on this machine."""


_REFUSALS = ("permission denied", "not permitted", "must be superuser", "only root")


@contextmanager
def tmpfs(size: str, folder: Path | None = None, mode: str = "0700"):
    """A tmpfs of ``size`` (e.g. "2m") mounted on ``folder`` (default: a new temporary folder)
    and unmounted afterwards. Raises MountRefused where the kernel refuses the mount; any other
    failure (no ``mount`` command, bad options) is an error, not a reason to skip."""
    own = folder is None
    folder = Path(tempfile.mkdtemp(prefix="headforge-tmpfs-")) if own else Path(folder)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode={mode}", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode:
        if own:
            folder.rmdir()
        message = done.stderr.strip() or f"mount exited {done.returncode}"
        if any(word in message.lower() for word in _REFUSALS):
            raise MountRefused(f"the kernel refused a tmpfs mount: {message}")
        raise RuntimeError(f"mounting a tmpfs on {folder} failed: {message}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        if own:
            with suppress(OSError):
                folder.rmdir()
