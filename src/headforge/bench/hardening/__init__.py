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

One module per section (``corpus``, ``load``, ``faults``, ``security``), the table in ``report``,
what they share in ``common``; the servers, Redis, workers and tmpfs mounts they stage are
:mod:`headforge.bench.serving`'s, which the service tests use too.
"""
from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from headforge.bench.hardening.common import FAST, astronaut, celery_stack
from headforge.bench.hardening.corpus import corpus_rows
from headforge.bench.hardening.faults import (
    disk_full_rows,
    memory_rows,
    read_only_rows,
    redis_restart_rows,
    timeout_rows,
    worker_killed_rows,
)
from headforge.bench.hardening.load import load_rows
from headforge.bench.hardening.report import FAIL, SECTIONS, SKIP, Row, Skipped, write_report
from headforge.bench.hardening.security import (
    delete_row,
    hairstyle_import_rows,
    keyed_rows,
    limits_rows,
    ttl_rows,
)
from headforge.bench.serving import (
    MountRefused,
    post,
    wait_ended,
)


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
    except (Skipped, MountRefused) as e:
        return [Row(section, name, SKIP, str(e))]
    except Exception as e:  # noqa: BLE001 - one broken scenario must not stop the others
        return [Row(section, name, FAIL, f"error: {type(e).__name__}: {str(e)[:300]}")]


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
            rows.append(delete_row(client, stack.served.data, last, "Celery", stack.celery.redis))
    return rows


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
