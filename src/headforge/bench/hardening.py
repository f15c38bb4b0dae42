"""``headforge bench --hardening --out DIR``: bad input, load, faults and privacy, checked end to
end against real processes; writes ``DIR/hardening.json`` and ``DIR/hardening.md``.

Sections (``--only corpus,load,faults,security`` runs some of them):

a) corpus: every kind of :mod:`headforge.bench.corpus` through the Python API, the CLI (a
   subprocess) and HTTP (``headforge serve``); each cell is the outcome seen ("ok" or the
   error code), the row passes when all three equal the expected one. 512 px textures, no hair.
b) load: 100 uploads from 20 concurrent clients against 2 workers and the default limits
   (:mod:`headforge.bench.load`; each client has its own API key, so its own rate bucket).
c) faults: a worker SIGKILLed mid-job, Redis restarted under Celery, a full disk, a read-only
   results folder, a job over its time limit and one over its memory limit.
d) security and privacy: API-key isolation and coverage, unguessable ids, TTL and DELETE
   leaving nothing on disk or in Redis, no photo metadata in logs or outputs, fixed zip entry
   names, hairstyle import names, page headers, CORS, and the default limits.

Every row is PASS, FAIL or SKIP (a fault that this machine cannot stage, e.g. no tmpfs);
the command exits 1 when any row fails. Needs ``redis-server`` for the Celery rows and root
(``mount -t tmpfs``) for the storage rows.
"""
from __future__ import annotations

import contextlib
import dataclasses
import html.parser
import io
import json
import os
import platform
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import httpx

from headforge.bench import corpus, load
from headforge.bench.serving import (
    LIFTED,
    RedisServer,
    Served,
    astronaut_jpeg,
    load_photos,
    post,
    served,
    start_worker,
    stop,
    wait_ended,
    wait_ended_or_gone,
    wait_ready,
)

SCHEMA = "headforge.hardening/1"
SECTIONS = {
    "corpus": "a) Corpus kinds x entry points (Python API, CLI, HTTP)",
    "load": "b) Load: 100 uploads from 20 concurrent clients",
    "faults": "c) Faults",
    "security": "d) Security and privacy",
}
PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"
FAST = {"texture_size": "512", "hair": "none"}
HEAVY = {"texture_size": "2048", "hair": "auto"}  # long enough to be interrupted
LOAD_CLIENTS, LOAD_PER_CLIENT, LOAD_BUDGET_S = 20, 5, 480
TTL_S, SWEEP_S = 3, 1
JOB_TIMEOUT_S = 2
JOB_MEMORY_MB = 300
READY_AGAIN_S = 90
PUBLIC_ROUTES = {"/api/v1/health", "/api/v1/ready"}
EVIL_ORIGIN = "https://evil.example"


@dataclass
class Row:
    """One line of the table: its section, what was checked, the outcome and what was seen."""

    section: str
    check: str
    outcome: str
    details: str
    data: dict = field(default_factory=dict)


class Skipped(Exception):
    """The machine cannot stage this check (the message says why)."""


def verdict(ok: bool) -> str:
    return PASS if ok else FAIL


# --- running and reporting ----------------------------------------------------------------


def run_hardening(out: Path, only: set[str] | None = None) -> int:
    """Run the sections in ``only`` (default: all), write hardening.json and hardening.md in
    ``out``, print the table; returns the exit status (1 when a row failed)."""
    sections = [s for s in SECTIONS if only is None or s in only]
    started = time.time()
    rows: list[Row] = []
    timings = {}
    celery = ("Celery: Redis restart, DELETE", lambda: celery_rows(set(sections)))
    for section in sections:
        t0 = time.perf_counter()
        plan = list(SCENARIOS[section])
        if section == "security":  # one Celery stack serves both sections; its rows go to each
            plan.insert(1, celery)
        elif section == "faults" and "security" not in sections:
            plan.append(celery)
        for name, check in plan:
            rows += guarded(section, name, check)
        timings[section] = round(time.perf_counter() - t0, 1)
    rows.sort(key=lambda r: sections.index(r.section))  # the Redis restart rows join the faults'
    meta = {
        "created": datetime.fromtimestamp(started, timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "duration_s": round(time.time() - started, 1),
        "section_s": timings,
        "note": "the Celery stack (Redis restart, DELETE) is timed with security" if "security" in sections else "",
    }
    code = write_report(rows, out, meta)
    print((out / "hardening.md").read_text())
    return code


def guarded(section: str, name: str, check: Callable[[], list[Row]]) -> list[Row]:
    """``check()``'s rows; a SKIP row when it raised Skipped, a FAIL row when it raised."""
    try:
        return check()
    except Skipped as e:
        return [Row(section, name, SKIP, str(e))]
    except Exception as e:  # noqa: BLE001 - one broken scenario must not stop the others
        return [Row(section, name, FAIL, f"error: {type(e).__name__}: {str(e)[:300]}")]


def write_report(rows: list[Row], out: Path, meta: dict) -> int:
    """hardening.json and hardening.md in ``out``; returns 1 when a row failed, else 0."""
    out.mkdir(parents=True, exist_ok=True)
    counts = {o: sum(r.outcome == o for r in rows) for o in (PASS, FAIL, SKIP)}
    document = {"schema": SCHEMA, **meta, "summary": counts, "sections": SECTIONS, "rows": [asdict(r) for r in rows]}
    (out / "hardening.json").write_text(json.dumps(document, indent=2, default=str))
    (out / "hardening.md").write_text(markdown(rows, meta, counts))
    return 1 if counts[FAIL] else 0


def markdown(rows: list[Row], meta: dict, counts: dict) -> str:
    """The table: one header row per section, then its checks."""
    lines = [
        "# headforge hardening benchmark",
        "",
        f"{meta.get('created', '')}; {meta.get('machine', {}).get('cpus', '?')} CPUs; "
        f"{meta.get('duration_s', '?')} s; {counts[PASS]} PASS, {counts[FAIL]} FAIL, {counts[SKIP]} SKIP",
        "",
    ]
    if meta.get("section_s"):
        lines += [f"Seconds per section: {meta['section_s']}. {meta.get('note', '')}".rstrip(), ""]
    lines += ["| Check | Outcome | Details |", "|---|---|---|"]
    section = None
    for row in rows:
        if row.section != section:
            section = row.section
            lines.append(f"| **{SECTIONS.get(section, section)}** | | |")
        lines.append(f"| {_cell(row.check)} | {row.outcome} | {_cell(row.details)} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


# --- a) corpus ------------------------------------------------------------------------------


@dataclass
class Cell:
    """One entry point's outcome: the code seen ("ok" or an error code), how it was answered,
    and anything wrong besides the code ('' when nothing)."""

    code: str
    how: str = ""
    problem: str = ""

    def __str__(self) -> str:
        how = f" ({self.how})" if self.how else ""
        return f"`{self.code}`{how}" + (f" [{self.problem}]" if self.problem else "")


def corpus_rows() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="headforge-corpus-") as tmp:
        paths = corpus.build(Path(tmp) / "corpus")
        api = {kind: api_cell(path) for kind, path in paths.items()}
        with ThreadPoolExecutor(2) as pool:  # each CLI run is mostly start-up
            cli = dict(zip(paths, pool.map(lambda kind: cli_cell(paths[kind], Path(tmp) / f"{kind}.zip"), paths)))
        with served(2, **LIFTED) as s:
            http = http_cells(s.client, paths)
    rows = []
    for kind in corpus.EXPECTED:
        cells = {"API": api[kind], "CLI": cli[kind], "HTTP": http[kind]}
        expected = {name: corpus.expected_code(kind, http=name == "HTTP") for name in cells}
        ok = all(c.code == expected[name] and not c.problem for name, c in cells.items())
        details = f"expected `{expected['API']}`" + (
            f" (HTTP `{expected['HTTP']}`: the service takes one face by default)"
            if expected["HTTP"] != expected["API"] else "")
        details += "; " + "; ".join(f"{name} {cell}" for name, cell in cells.items())
        rows.append(Row("corpus", kind, verdict(ok), details,
                        {"expected": expected, **{name: asdict(cell) for name, cell in cells.items()}}))
    return rows


def one_line(message: str) -> bool:
    return bool(message) and "\n" not in message and len(message) < 300


def api_cell(path: Path) -> Cell:
    """``headforge.reconstruct``: an avatar, or a HeadforgeError with a one-line message."""
    import headforge

    try:
        headforge.reconstruct(path, texture_size=512, hair="none")
        return Cell("ok")
    except headforge.HeadforgeError as e:
        return Cell(e.code, problem="" if one_line(str(e)) else f"message not one line: {str(e)[:80]!r}")
    except Exception as e:  # noqa: BLE001 - what we are looking for
        return Cell("crash", problem=f"{type(e).__name__}: {str(e)[:120]}")


def cli_cell(path: Path, out: Path) -> Cell:
    """``headforge reconstruct`` in a subprocess: exit 0 and a zip, or a non-zero exit with one
    ``error [code]: ...`` line on stderr, no traceback and no zip."""
    env = {k: v for k, v in os.environ.items() if k != "HEADFORGE_DEBUG"}
    done = subprocess.run([sys.executable, "-m", "headforge.cli", "reconstruct", str(path), "-o", str(out),
                           "--texture-size", "512", "--hair", "none"],
                          capture_output=True, text=True, env=env, timeout=600)
    how = f"exit {done.returncode}"
    if done.returncode == 0:
        return Cell("ok", how, "" if zipfile.is_zipfile(out) else "no zip written")
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    match = re.fullmatch(r"error \[([a-z_]+)\]: \S.*", lines[0]) if lines else None
    problems = [f"{len(lines)} lines on stderr"] if len(lines) != 1 else []
    problems += ["traceback"] if "Traceback" in done.stderr else []
    problems += ["zip written"] if out.exists() else []
    return Cell(match.group(1) if match else "no error line", how, "; ".join(problems))


def http_cells(client: httpx.Client, paths: dict[str, Path]) -> dict[str, Cell]:
    """POST every kind at once; a 4xx JSON error is the outcome, else the job's end."""
    cells: dict[str, Cell] = {}
    pending = {}
    for kind, path in paths.items():
        try:
            response = post(client, (path.name, path.read_bytes()), **FAST)
        except httpx.HTTPError as e:
            cells[kind] = Cell("transport error", problem=type(e).__name__)
            continue
        if response.status_code == 202:
            pending[kind] = response.json()["id"]
            continue
        code = load.error_code(response)
        problem = "" if code and 400 <= response.status_code < 500 else "not a 4xx JSON error"
        if kind == "upload_60mb" and response.status_code != 413:
            problem = "not refused with 413"
        cells[kind] = Cell(code or f"HTTP {response.status_code}", f"{response.status_code} at once", problem)
    for kind, job_id in pending.items():
        final = wait_ended(client, job_id, poll=0.2, timeout=300)
        problem = "accepted, not refused with 413" if kind == "upload_60mb" else ""
        if final["state"] == "done":
            if client.get(f"/jobs/{job_id}/avatar.zip").status_code != 200:
                problem = "no zip to download"
            cells[kind] = Cell("ok", "202, then done", problem)
        else:
            cells[kind] = Cell(final["error"]["code"], "202, then failed", problem)
    return {kind: cells[kind] for kind in paths}


# --- b) load --------------------------------------------------------------------------------


def load_rows() -> list[Row]:
    keys = [f"hardening-load-{i:02d}-{secrets.token_hex(8)}" for i in range(LOAD_CLIENTS)]
    photos = load_photos(None, LOAD_CLIENTS * LOAD_PER_CLIENT)
    with served(2, HEADFORGE_API_KEYS=",".join(keys)) as s:
        result = load.burst(s.url, keys, photos, budget_s=LOAD_BUDGET_S)
        attempts = db_attempts(s.data)
    finals = result.pop("finals")
    runs = {job_id: status.get("attempts", attempts.get(job_id)) for job_id, status in finals.items()}
    setup = (f"{LOAD_CLIENTS} clients x {LOAD_PER_CLIENT} uploads (astronaut, 512 px, no hair), each client its own "
             "API key (own rate bucket, default 30/min, burst 10); 2 workers, default queue limit; a refused upload "
             f"is sent again after its Retry-After, for at most {LOAD_BUDGET_S} s")
    r = result
    answered_ok = not r["unexpected_answers"] and not r["refusals_without_retry_after_or_json"]
    runs_seen = dict(sorted(Counter(runs.values()).items(), key=str))
    request, job = r["request_latency_s"], r["job_latency_s"]
    return [
        Row("load", "every request answered 202, or 429/503 with Retry-After and a JSON code",
            verdict(answered_ok and r["accepted"] == r["uploads"]),
            f"{r['requests']} requests for {r['uploads']} uploads: {r['answers']}; {r['accepted']} accepted; "
            f"refusals without Retry-After or JSON code: {r['refusals_without_retry_after_or_json']}. {setup}",
            {"setup": setup}),
        Row("load", "every accepted job ends done (none lost)",
            verdict(r["done"] == r["accepted"] and not r["not_ended"]),
            f"{r['done']}/{r['accepted']} done; failed {r['failed'] or 0}; gone {r['gone']}; "
            f"not ended {len(r['not_ended'])}"),
        Row("load", "no job duplicated (unique ids, each ran once)",
            verdict(r["accepted_unique"] == r["accepted"] == len(attempts) and all(n == 1 for n in runs.values())),
            f"{r['accepted_unique']} unique ids of {r['accepted']} accepted; {len(attempts)} jobs on the server; "
            f"runs per job (job table): {runs_seen}"),
        Row("load", "latency and throughput", verdict(r["done"] > 0),
            f"request (upload to answer) p50 {request['p50']} s, p95 {request['p95']} s; job (accepted to done, "
            f"queue wait included) p50 {job['p50']} s, p95 {job['p95']} s; {r['jobs_per_s']} jobs/s (done jobs over "
            f"first accept to last done); the last upload was accepted {r['uploads_wall_s']} s into the burst", r),
    ]


def db_attempts(data: Path) -> dict[str, int]:
    """{job id: runs} from the server's job table (read-only)."""
    with contextlib.closing(sqlite3.connect(f"file:{data / 'jobs.sqlite3'}?mode=ro", uri=True)) as db:
        return dict(db.execute("SELECT id, attempts FROM jobs").fetchall())


# --- c) faults ------------------------------------------------------------------------------


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


def wait_running(client: httpx.Client, job_id: str, progress: float = 0.0, timeout: float = 120) -> dict:
    """The job's status once it runs with at least ``progress``; raises if it ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(f"/jobs/{job_id}").json()
        if status["state"] == "running" and status["progress"] >= progress:
            return status
        if status["state"] in ("done", "failed"):
            raise RuntimeError(f"the job ended ({status['state']}) before it could be interrupted")
        time.sleep(0.05)
    raise RuntimeError(f"the job did not start within {timeout} s")


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


def worker_killed_rows() -> list[Row]:
    name = "worker SIGKILLed mid-job (embedded)"
    with served(1, **LIFTED) as s:
        before = worker_pids(s.process.pid)
        job_id = post(s.client, astronaut(), **HEAVY).json()["id"]
        stage = wait_running(s.client, job_id, progress=0.05)["stage"]
        os.kill(before[0], signal.SIGKILL)
        t0 = time.monotonic()
        final = wait_ended(s.client, job_id, poll=0.2, timeout=300)
        ended_s = time.monotonic() - t0
        wait_ready(s.url, s.process, s.log, 1, timeout=READY_AGAIN_S)
        after = worker_pids(s.process.pid)
        runs = final.get("attempts", db_attempts(s.data).get(job_id))
        following = quick_job(s.client)
        health = s.client.get("/health").status_code
        tail = log_tail(s.log)
    ok = (final["state"] == "done" or outcome(final) == "failed worker_lost") and following["state"] == "done"
    details = (f"killed worker {before[0]} at stage {stage}; the job ended {outcome(final)} {ended_s:.1f} s later "
               f"after {runs} run(s); workers {before} -> {after}; next job {outcome(following)}; /health {health}")
    return [Row("faults", name, verdict(ok and health == 200), details, {} if ok else {"log": tail})]


@dataclass
class CeleryStack:
    served: Served
    redis: RedisServer
    worker: subprocess.Popen
    worker_log: Path


@contextmanager
def celery_stack(**env: str):
    """redis-server, one ``headforge worker`` and ``headforge serve --broker``; ``env`` for both."""
    import shutil

    if shutil.which("redis-server") is None:
        raise Skipped("redis-server is not installed")
    with tempfile.TemporaryDirectory(prefix="headforge-celery-") as tmp:
        redis_server = RedisServer(Path(tmp))
        redis_server.start()
        log_path = Path(tmp) / "worker.log"
        try:
            worker = start_worker(redis_server.url, log_path, **env)
            try:
                with served(0, broker=redis_server.url, wait_workers=1, **LIFTED, **env) as s:
                    yield CeleryStack(s, redis_server, worker, log_path)
            finally:
                stop(worker)
        finally:
            if redis_server.process.poll() is None:
                redis_server.kill()


def celery_rows(sections: set[str]) -> list[Row]:
    """Redis restarted mid-run (faults) and DELETE in Celery mode (security), on one stack."""
    rows = []
    # a lost delivery comes back after the visibility timeout: short enough to see within the run
    with celery_stack(HEADFORGE_VISIBILITY_TIMEOUT_S="30") as stack:
        client = stack.served.client
        if "faults" in sections:
            rows += redis_restart_rows(stack)
            last = rows[-1].data.get("new_job")
        else:
            last = None
        if "security" in sections:
            if last is None:
                response = post(client, astronaut(), **FAST)
                last = response.json()["id"]
                wait_ended(client, last, poll=0.1, timeout=180)
            rows.append(delete_row(client, stack.served.data, last, "Celery", stack.redis))
    return rows


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


def redis_restart_rows(stack: CeleryStack) -> list[Row]:
    client, redis_server = stack.served.client, stack.redis
    running = post(client, astronaut(), **HEAVY).json()["id"]
    wait_running(client, running, progress=0.05)
    queued = post(client, astronaut(), **FAST).json()["id"]
    time.sleep(1.5)  # appendfsync everysec: the queued job is on disk
    redis_server.kill()
    t_down = time.monotonic()
    down, ask_s = None, 0.0
    while time.monotonic() - t_down < 60:
        t0 = time.monotonic()
        response = client.get("/ready")
        ask_s = time.monotonic() - t0
        if response.status_code == 503:
            down = response
            break
        time.sleep(0.25)
    seen_s = time.monotonic() - t_down
    refused = post(client, astronaut(), **FAST)
    time.sleep(2)
    redis_server.start()
    t_up = time.monotonic()
    back = wait_for(lambda: (r := client.get("/ready")).status_code == 200 and r.json().get("ready"), READY_AGAIN_S)
    back_s = time.monotonic() - t_up if back else None
    new = post(client, astronaut(), **FAST) if back else None
    new_id = new.json()["id"] if new is not None and new.status_code == 202 else None
    new_final = wait_ended(client, new_id, poll=0.2, timeout=240) if new_id else {"state": "not accepted"}
    new_s = time.monotonic() - t_up
    earlier = {job: wait_ended(client, job, poll=0.2, timeout=240) for job in (running, queued)}
    down_body = down.json() if down is not None else {}
    down_ok = (down is not None and down_body.get("ready") is False and down_body.get("status") == "degraded"
               and refused.status_code == 503 and load.error_code(refused) == "unavailable"
               and "retry-after" in refused.headers)
    up_ok = back_s is not None and new_final["state"] == "done" and all(f["state"] == "done" for f in earlier.values())
    tail = {"gateway_log": log_tail(stack.served.log), "worker_log": log_tail(stack.worker_log)}
    return [
        Row("faults", "Redis killed (Celery): /ready 503 degraded, POST 503 unavailable", verdict(down_ok),
            (f"/ready 503 {seen_s:.1f} s after the kill (that request took {ask_s:.1f} s)" if down is not None
             else "/ready never 503 within 60 s")
            + f": {json.dumps({k: down_body.get(k) for k in ('ready', 'status', 'broker', 'store')})}; POST "
            f"{refused.status_code} {load.error_code(refused)} (Retry-After {refused.headers.get('retry-after')})",
            {"ready": down_body} if down_ok else {"ready": down_body, **tail}),
        Row("faults", "Redis restarted on the same port: ready again, new and earlier jobs done", verdict(up_ok),
            f"/ready 200 {'%.1f s' % back_s if back_s is not None else f'not within {READY_AGAIN_S} s'} after the "
            f"restart; a new job {outcome(new_final)} {new_s:.1f} s after it; the job running when Redis died "
            f"{outcome(earlier[running])}, the one queued {outcome(earlier[queued])}",
            {"new_job": new_id, **({} if up_ok else tail)}),
    ]


@contextmanager
def tmpfs(size: str):
    """A fresh tmpfs of ``size`` (e.g. "2m") on a temporary folder; Skipped if it cannot be mounted."""
    folder = Path(tempfile.mkdtemp(prefix="headforge-tmpfs-"))
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode:
        folder.rmdir()
        raise Skipped(f"cannot mount a tmpfs: {done.stderr.strip() or f'mount exited {done.returncode}'}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        with contextlib.suppress(OSError):
            folder.rmdir()


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def disk_full_rows() -> list[Row]:
    name = "disk full: data folder on a 2 MB tmpfs"
    with tmpfs("2m") as mount, served(1, data_dir=mount / "data", **LIFTED) as s:
        response = post(s.client, astronaut(), **FAST)
        if response.status_code != 202:
            return [Row("faults", name, FAIL, f"upload refused {response.status_code} {load.error_code(response)}")]
        job_id = response.json()["id"]
        final = wait_ended(s.client, job_id, poll=0.2, timeout=240)
        download = s.client.get(f"/jobs/{job_id}/avatar.zip").status_code
        leftovers = [str(p.relative_to(mount)) for p in files_under(mount) if p.name.endswith(".tmp")]
        results = [str(p.relative_to(mount)) for p in files_under(mount / "data" / "files" / job_id)]
        health = s.client.get("/health").status_code
        tail = log_tail(s.log)
    ok = outcome(final) == "failed storage_full" and download != 200 and not leftovers and health == 200
    return [Row("faults", name, verdict(ok),
                f"job {outcome(final)}; avatar.zip answered {download}; *.tmp left: {leftovers or 'none'}; "
                f"job files left: {results or 'none'}; /health {health}", {} if ok else {"log": tail})]


def read_only_rows() -> list[Row]:
    name = "results folder remounted read-only"
    with tmpfs("64m") as mount, served(1, HEADFORGE_STORE=(mount / "files").as_uri(), **LIFTED) as s:
        remount = subprocess.run(["mount", "-o", "remount,ro", str(mount)], capture_output=True, text=True)
        if remount.returncode:
            raise Skipped(f"cannot remount read-only: {remount.stderr.strip()}")
        try:
            ready = s.client.get("/ready")
            refused = post(s.client, astronaut(), **FAST)
        finally:
            subprocess.run(["mount", "-o", "remount,rw", str(mount)], capture_output=True)
        again = wait_for(lambda: s.client.get("/ready").status_code == 200, timeout=30)
        tail = log_tail(s.log)
    body = ready.json()
    ok = (refused.status_code == 503 and load.error_code(refused) == "storage_unavailable"
          and ready.status_code == 503 and body.get("ready") is False)
    return [Row("faults", name, verdict(ok),
                f"POST {refused.status_code} {load.error_code(refused)}; /ready {ready.status_code} "
                f"{json.dumps({k: body.get(k) for k in ('ready', 'status', 'store')})}; "
                f"after remounting read-write: {'ready again' if again else 'not ready within 30 s'}",
                {} if ok else {"log": tail})]


def limit_rows(name: str, env: dict, photo: tuple[str, bytes], form: dict, expected: str,
               same_worker: bool) -> list[Row]:
    """A job over a limit fails with ``expected``; the server (and, if ``same_worker``, the
    very same worker process) then runs the next job."""
    with served(1, **LIFTED, **env) as s:
        before = worker_pids(s.process.pid)
        final = wait_ended(s.client, post(s.client, photo, **form).json()["id"], poll=0.2, timeout=300)
        wait_ready(s.url, s.process, s.log, 1, timeout=READY_AGAIN_S)
        following = quick_job(s.client, cat_photo())
        after = worker_pids(s.process.pid)
        tail = log_tail(s.log)
    kept = before == after
    ok = outcome(final) == f"failed {expected}" and outcome(following) == "failed no_face" and (kept or not same_worker)
    return [Row("faults", name, verdict(ok),
                f"job {outcome(final)}; worker {'kept' if kept else 'replaced'} ({before} -> {after}); "
                f"next job (a photo without a face) {outcome(following)}", {} if ok else {"log": tail})]


def timeout_rows() -> list[Row]:
    return limit_rows(f"job over its time limit (HEADFORGE_JOB_TIMEOUT_S={JOB_TIMEOUT_S})",
                      {"HEADFORGE_JOB_TIMEOUT_S": str(JOB_TIMEOUT_S)}, astronaut(), HEAVY, "timed_out", False)


def memory_rows() -> list[Row]:
    # 2048 px textures with hair need over 1 GB of address space beyond the loaded worker
    return limit_rows(f"job over its memory limit (HEADFORGE_JOB_MEMORY_MB={JOB_MEMORY_MB})",
                      {"HEADFORGE_JOB_MEMORY_MB": str(JOB_MEMORY_MB)}, astronaut(), HEAVY, "memory_limit", True)


# --- d) security and privacy ----------------------------------------------------------------


def marked_jpeg(marker: str) -> bytes:
    """The astronaut with ``marker`` in its EXIF description and user comment, a GPS block
    and a JPEG comment."""
    from PIL import Image

    exif = Image.Exif()
    exif[0x010E] = marker
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    exif.get_ifd(0x8769)[0x9286] = b"ASCII\x00\x00\x00" + marker.encode()
    return astronaut_jpeg(exif=exif.tobytes(), comment=marker)


def keyed_rows() -> list[Row]:
    """One server with two API keys: isolation, key coverage, privacy, zip names, DELETE, ids,
    page headers, CORS, hairstyle thumbnail ids."""
    key_a, key_b = f"hardening-a-{secrets.token_hex(8)}", f"hardening-b-{secrets.token_hex(8)}"
    marker = f"HFMARK{secrets.token_hex(8)}"
    photo = marked_jpeg(marker)
    with served(1, HEADFORGE_API_KEYS=f"{key_a},{key_b}", HEADFORGE_MAX_QUEUE="200",
                headers={"X-API-Key": key_a}, **LIFTED) as s, \
            httpx.Client(base_url=s.url, headers={"X-API-Key": key_b}, timeout=60) as b, \
            httpx.Client(base_url=s.url.removesuffix("/api/v1"), timeout=60) as root:
        a = s.client
        job_id = post(a, ("portrait.jpg", photo), **FAST).json()["id"]
        final = wait_ended(a, job_id, poll=0.1, timeout=240)
        if final["state"] != "done":
            raise RuntimeError(f"the marked photo's job ended {outcome(final)}")
        outputs = {name: a.get(f"/jobs/{job_id}/{name}").content
                   for name in ("avatar.zip", "avatar.glb", "params.json")}
        export_id = a.post(f"/jobs/{job_id}/exports", json={}).json()["id"]
        rows = [
            isolation_row(a, b, job_id, export_id),
            key_coverage_row(root, job_id, export_id),
            privacy_row(marker, photo, s, outputs),
            zip_names_row(outputs["avatar.zip"]),
            thumbnail_row(a),
            delete_row(a, s.data, job_id, "embedded"),
            ids_row(a),
            page_row(root),
            cors_row(root),
        ]
    return rows


def isolation_row(a: httpx.Client, b: httpx.Client, job_id: str, export_id: str) -> Row:
    base, export = f"/jobs/{job_id}", f"/jobs/{job_id}/exports/{export_id}"
    tries = [("GET", base), ("GET", f"{base}/avatar.zip"), ("GET", f"{base}/avatar.glb"),
             ("GET", f"{base}/params.json"), ("POST", f"{base}/exports"), ("GET", f"{export}/avatar.glb"),
             ("GET", f"{export}/avatar.zip"), ("DELETE", base)]
    seen = {f"{m} {p.replace(job_id, '{id}').replace(export_id, '{export}')}":
            b.request(m, p, json={} if m == "POST" else None).status_code for m, p in tries}
    still = a.get(base).json().get("state")
    wrong = {k: v for k, v in seen.items() if v != 404}
    return Row("security", "client B cannot read, download, re-export or delete client A's job",
               verdict(not wrong and still == "done"),
               f"{len(seen)} requests with B's key: " + (f"not 404: {wrong}" if wrong else "all 404")
               + f"; A's job afterwards: {still}", {"answers": seen})


def key_coverage_row(root: httpx.Client, job_id: str, export_id: str) -> Row:
    """Every API route without a key, and with a wrong one: 401, except health and ready."""
    from fastapi.routing import APIRoute

    from headforge.web.routes import router

    values = {"job_id": job_id, "export_id": export_id, "style_id": "bob_chin"}
    wrong, public = {}, {}
    count = 0
    for route in router.routes:
        if not isinstance(route, APIRoute):
            continue
        path = re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "x"), route.path)
        for method in sorted(route.methods - {"HEAD"}):
            for headers in ({}, {"X-API-Key": "not-a-key"}):
                status = root.request(method, path, headers=headers).status_code
                count += 1
                if route.path in PUBLIC_ROUTES:
                    if status == 401:
                        public[f"{method} {route.path}"] = status
                elif status != 401:
                    wrong[f"{method} {route.path}" + (" (wrong key)" if headers else "")] = status
    return Row("security", "every API route but health and ready needs a key (401)",
               verdict(not wrong and not public),
               f"{count} requests without a key or with a wrong one: "
               + (f"answered without 401: {wrong}" if wrong else "all 401 where a key is needed")
               + (f"; public routes refused: {public}" if public else "; health and ready open"),
               {"not_401": wrong})


def privacy_row(marker: str, photo: bytes, s: Served, outputs: dict[str, bytes]) -> Row:
    """The marker (EXIF, GPS block, comment) is nowhere: log, stored files, outputs, zip entries."""
    from PIL import Image

    needle = marker.encode()
    found = []
    log = s.log.read_bytes()
    if needle in log:
        found.append("server log")
    if b"\xff\xd8\xff" in log or b"Exif\x00" in log:
        found.append("image bytes in the server log")
    for path in files_under(s.data):
        if needle in path.read_bytes():
            found.append(f"data/{path.relative_to(s.data)}")
    with zipfile.ZipFile(io.BytesIO(outputs["avatar.zip"])) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    for name, data in {**outputs, **{f"avatar.zip:{k}": v for k, v in entries.items()}}.items():
        if needle in data:
            found.append(name)
        if b"Exif\x00\x00" in data or b"eXIf" in data:
            found.append(f"{name} (EXIF block)")
    for name, data in entries.items():
        if name.endswith((".png", ".jpg", ".jpeg")):
            with Image.open(io.BytesIO(data)) as image:
                if image.getexif() or "exif" in image.info:
                    found.append(f"avatar.zip:{name} (EXIF)")
    planted = photo.count(needle)
    return Row("security", "no image bytes or EXIF in logs or outputs", verdict(not found and planted >= 3),
               f"marker planted {planted}x (EXIF description, user comment, JPEG comment) with a GPS block; "
               f"searched the server log, {len(files_under(s.data))} stored files, the zip, GLB, params.json "
               f"and {len(entries)} zip entries: " + (f"found in {found}" if found else "not found, no EXIF"))


def zip_names_row(archive: bytes) -> Row:
    from headforge.export.package import ENTRY_NAMES, HAIR_ENTRIES

    with zipfile.ZipFile(io.BytesIO(archive)) as z:
        names = z.namelist()
    expected = [n for n in ENTRY_NAMES if n not in HAIR_ENTRIES]  # a job without hair
    return Row("security", "zip entry names fixed", verdict(names == expected),
               f"{names}" + ("" if names == expected else f" != {expected}"))


def thumbnail_row(a: httpx.Client) -> Row:
    tries = ["/hairstyles/..%2F..%2F..%2Fetc%2Fpasswd/thumbnail.png", "/hairstyles/%2Fetc%2Fpasswd/thumbnail.png",
             "/hairstyles/....%2F%2F....%2F%2Fetc%2Fpasswd/thumbnail.png"]
    seen = {t: a.get(t) for t in tries}
    bad = {t: r.status_code for t, r in seen.items() if r.status_code == 200 or b"root:" in r.content}
    return Row("security", "hairstyle thumbnail ids cannot reach files", verdict(not bad),
               f"{len(tries)} traversal ids: answered {sorted({r.status_code for r in seen.values()})}"
               + (f"; served: {bad}" if bad else ""))


def delete_row(client: httpx.Client, data: Path, job_id: str, mode: str,
               redis_server: RedisServer | None = None) -> Row:
    """DELETE a finished job: 204, then 404, and nothing with its id on disk (or in Redis)."""
    answer = client.delete(f"/jobs/{job_id}").status_code

    def leftovers() -> list[str]:
        files = [f"data/{p.relative_to(data)}" for p in data.rglob(f"*{job_id}*")] if data.exists() else []
        return files + (redis_server.keys_with(job_id) if redis_server else [])

    clean = wait_for(lambda: not leftovers(), timeout=5)
    after = client.get(f"/jobs/{job_id}").status_code
    left = leftovers()
    return Row("security", f"DELETE removes the job and its files ({mode})",
               verdict(answer == 204 and after == 404 and clean and not left),
               f"DELETE {answer}, then GET {after}; left on disk" + (" or in Redis" if redis_server else "")
               + f": {left or 'nothing'}")


def ids_row(client: httpx.Client) -> Row:
    """100 new job ids: distinct, URL-safe, at least 128 bits, no shared prefixes (then deleted)."""
    ids = [post(client, astronaut(), **FAST).json()["id"] for _ in range(100)]
    for job_id in ids:
        client.delete(f"/jobs/{job_id}")
    safe = all(re.fullmatch(r"[A-Za-z0-9_-]+", i) for i in ids)
    bits = min(len(i) for i in ids) * 6
    ordered = sorted(ids)
    prefix = max(len(os.path.commonprefix(pair)) for pair in zip(ordered, ordered[1:]))
    ok = len(set(ids)) == 100 and safe and bits >= 128 and prefix <= 5
    return Row("security", "job ids unguessable", verdict(ok),
               f"{len(set(ids))}/100 distinct; URL-safe: {safe}; {min(map(len, ids))} to {max(map(len, ids))} "
               f"characters (>= {bits} bits); longest prefix shared by two ids: {prefix} characters")


class _Scripts(html.parser.HTMLParser):
    """Counts inline scripts and inline event handlers of a page."""

    def __init__(self):
        super().__init__()
        self.inline, self.handlers = 0, []

    def handle_starttag(self, tag, attrs):
        names = dict(attrs)
        self.handlers += [f"{tag}[{n}]" for n in names if n.startswith("on")]
        if tag == "script" and not names.get("src"):
            self.inline += 1


def csp_directives(policy: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.split()}


def page_row(root: httpx.Client) -> Row:
    page = root.get("/")
    csp = csp_directives(page.headers.get("content-security-policy", ""))
    script = csp.get("script-src", csp.get("default-src", []))
    parser = _Scripts()
    parser.feed(page.text)
    checks = {
        "CSP script-src 'self'": "'self'" in script,
        "no 'unsafe-inline' for scripts": "'unsafe-inline'" not in script,
        "frame-ancestors 'none'": csp.get("frame-ancestors") == ["'none'"],
        "X-Content-Type-Options nosniff": page.headers.get("x-content-type-options") == "nosniff",
        "no inline <script>": parser.inline == 0,
        "no inline event handlers": not parser.handlers,
    }
    failed = [k for k, v in checks.items() if not v]
    return Row("security", "page security headers, no inline script", verdict(page.status_code == 200 and not failed),
               f"GET / {page.status_code}; " + ("; ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in checks.items()))
               + f"; script-src {' '.join(script)}")


def cors_row(root: httpx.Client) -> Row:
    preflight = root.options("/api/v1/jobs", headers={"Origin": EVIL_ORIGIN, "Access-Control-Request-Method": "POST"})
    simple = root.get("/api/v1/health", headers={"Origin": EVIL_ORIGIN})
    allowed = [r.headers.get("access-control-allow-origin") for r in (preflight, simple)]
    return Row("security", "CORS off by default", verdict(allowed == [None, None]),
               f"OPTIONS /api/v1/jobs ({preflight.status_code}) and GET /api/v1/health ({simple.status_code}) with "
               f"Origin {EVIL_ORIGIN}: Access-Control-Allow-Origin {allowed}")


def ttl_rows() -> list[Row]:
    env = {"HEADFORGE_JOB_TTL_S": str(TTL_S), "HEADFORGE_SWEEP_INTERVAL_S": str(SWEEP_S)}
    with served(1, **LIFTED, **env) as s:
        rows = [ttl_row(s.client, s.data, "embedded")]
    with celery_stack(**env) as stack:
        rows.append(ttl_row(stack.served.client, stack.served.data, "Celery", stack.redis))
    return rows


def ttl_row(client: httpx.Client, data: Path, mode: str, redis_server: RedisServer | None = None) -> Row:
    """A job on a server with a 3 s TTL and 1 s sweeps is gone, files (and Redis keys) too,
    soon after the TTL, and stays gone."""
    created = time.monotonic()
    job_id = post(client, astronaut(), **FAST).json()["id"]
    final = wait_ended_or_gone(client, job_id, poll=0.1, timeout=120)
    seen = "swept before it ended" if final is None else f"{outcome(final)} {time.monotonic() - created:.1f} s in"

    def gone() -> bool:
        files = list(data.rglob(f"*{job_id}*")) if data.exists() else []
        keys = redis_server.keys_with(job_id) if redis_server else []
        return client.get(f"/jobs/{job_id}").status_code == 404 and not files and not keys

    cleared = wait_for(gone, timeout=TTL_S + 20, poll=0.2)
    cleared_s = time.monotonic() - created
    time.sleep(2 * SWEEP_S)  # a late write by the worker would show now
    files = [f"data/{p.relative_to(data)}" for p in data.rglob(f"*{job_id}*")] if data.exists() else []
    keys = redis_server.keys_with(job_id) if redis_server else []
    ok = bool(cleared) and not files and not keys and client.get(f"/jobs/{job_id}").status_code == 404
    where = "disk and Redis" if redis_server else "disk"
    return Row("security", f"TTL {TTL_S} s deletes the job and its files ({mode})", verdict(ok),
               f"job {seen}; " + (f"gone from the API and {where} {cleared_s:.1f} s after upload" if cleared
                                  else f"still there {cleared_s:.0f} s after upload")
               + f"; left: {files + keys or 'nothing'}")


def hairstyle_import_rows() -> list[Row]:
    """``headforge hairstyles import --name`` with path-like names: refused or sanitised, and no
    file written outside the database's folder."""
    from headforge.hair.database import SCHEMA_VERSION, HairstyleDatabase
    from headforge.hair.formats import write_usc
    from headforge.hair.library import LIBRARY_VERSION, open_library

    library = open_library(build=False)
    if not library.count():
        raise Skipped("the hairstyle database is empty: run `headforge setup` first")
    token = secrets.token_hex(4)
    names = ["../../evil", f"/tmp/headforge-evil-{token}", "styles/../../evil", "evil\\..\\..\\x"]
    with tempfile.TemporaryDirectory(prefix="headforge-hair-") as tmp:
        root = Path(tmp)
        folder = root / "library" / "db"
        database = HairstyleDatabase(folder / "hairstyles.sqlite")  # empty but current: no build
        database.set_meta({"schema_version": SCHEMA_VERSION, "library_version": LIBRARY_VERSION, "complete": "1"})
        source = root / "style.data"
        source.write_bytes(write_usc(library.strands(library.names()[0]).strands))
        before = {p for p in root.rglob("*")}
        answers = {}
        for name in names:
            done = subprocess.run([sys.executable, "-m", "headforge.cli", "hairstyles", "import", str(source),
                                   "--name", name, "--database", str(database.path)],
                                  capture_output=True, text=True, timeout=300, cwd=folder)
            answers[name] = done.returncode
        stored = database.names()
        new = sorted(str(p.relative_to(root)) for p in set(root.rglob("*")) - before
                     if not p.name.startswith("hairstyles.sqlite"))
    escaped = new + [p for p in (f"/tmp/headforge-evil-{token}",) if Path(p).exists()]
    unsafe = [n for n in stored if "/" in n or "\\" in n or ".." in n]
    return [Row("security", "imported hairstyle names cannot escape their folder", verdict(not escaped and not unsafe),
                f"names {names}: exit codes {list(answers.values())}; stored as {stored or 'nothing'}; "
                f"files written outside the database: {escaped or 'none'}"
                + (f"; path-like names stored as they are: {unsafe}" if unsafe else ""))]


def limits_rows() -> list[Row]:
    from headforge.service.config import Settings

    defaults = Settings()
    values = {f.name: getattr(defaults, f.name) for f in dataclasses.fields(Settings)
              if type(getattr(defaults, f.name)) is int}
    ok = all(v > 0 for v in values.values())
    return [Row("security", "size, pixel, rate and concurrency limits (defaults)", verdict(ok),
                ", ".join(f"{k} {v}" for k, v in values.items()), values)]


SCENARIOS: dict[str, list[tuple[str, Callable[[], list[Row]]]]] = {
    "corpus": [("corpus", corpus_rows)],
    "load": [("burst of 100 uploads", load_rows)],
    "faults": [
        ("worker SIGKILLed mid-job (embedded)", worker_killed_rows),
        ("disk full", disk_full_rows),
        ("results folder read-only", read_only_rows),
        ("job over its time limit", timeout_rows),
        ("job over its memory limit", memory_rows),
    ],
    "security": [
        ("API keys, privacy, DELETE, ids, page", keyed_rows),
        ("TTL", ttl_rows),
        ("hairstyle import names", hairstyle_import_rows),
        ("limits", limits_rows),
    ],
}
