"""c) faults: a worker SIGKILLed mid-job, Redis restarted under Celery, a full disk, a read-only
results folder, a job over its time limit and one over its memory limit."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time

from headforge.bench import load
from headforge.bench.hardening.common import (
    FAST,
    HEAVY,
    READY_AGAIN_S,
    CeleryStack,
    astronaut,
    cat_photo,
    db_attempts,
    files_under,
    log_tail,
    outcome,
    quick_job,
    wait_for,
    worker_pids,
)
from headforge.bench.hardening.report import FAIL, Row, Skipped, verdict
from headforge.bench.serving import (
    LIFTED,
    post,
    served,
    tmpfs,
    wait_ended,
    wait_running,
)

JOB_TIMEOUT_S = 2


JOB_MEMORY_MB = 300


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
        s.wait_workers(1, timeout=READY_AGAIN_S)
        after = worker_pids(s.process.pid)
        runs = final.get("attempts", db_attempts(s.data).get(job_id))
        following = quick_job(s.client)
        health = s.client.get("/health").status_code
        tail = log_tail(s.log)
    ok = (final["state"] == "done" or outcome(final) == "failed worker_lost") and following["state"] == "done"
    details = (f"killed worker {before[0]} at stage {stage}; the job ended {outcome(final)} {ended_s:.1f} s later "
               f"after {runs} run(s); workers {before} -> {after}; next job {outcome(following)}; /health {health}")
    return [Row("faults", name, verdict(ok and health == 200), details, {} if ok else {"log": tail})]


def redis_restart_rows(stack: CeleryStack) -> list[Row]:
    client, redis_server = stack.served.client, stack.celery.redis
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
    tail = {"gateway_log": log_tail(stack.served.log), "worker_log": log_tail(stack.celery.logs[0])}
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
        s.wait_workers(1, timeout=READY_AGAIN_S)
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
