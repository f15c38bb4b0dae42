"""Faults, with real servers, workers and redis-server on 127.0.0.1: jobs over their memory or
time limit, a full or read-only store, Redis restarted under a running gateway, and deletion
(DELETE, expiry) leaving nothing of a job on disk or in Redis."""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from conftest import mounted_tmpfs, need

from headforge.bench.serving import astronaut_jpeg, celery_workers, job_status, poll_job, wait_ready

from headforge.service.config import Settings
from headforge.service.errors import StorageFullError
from headforge.service.jobs import Job, JobStore
from headforge.web.app import create_app

API = "/api/v1"
MEMORY_MB = 300  # a 512 texel job fits in this beyond the loaded worker, a 2048 one does not


def post(client, texture_size: int = 512):
    return client.post(f"{API}/jobs", files={"photo": ("a.jpg", astronaut_jpeg(), "image/jpeg")},
                       data={"texture_size": str(texture_size), "hair": "none"})


def run_job(client, texture_size: int = 512) -> dict:
    """Post a job and wait for its end; its last status."""
    response = post(client, texture_size)
    assert response.status_code == 202, response.text
    return poll_job(job_status(client, response.json()["id"], API), timeout=120)[0]


def until_ready(client, timeout: float = 150, workers: list[subprocess.Popen] = ()) -> dict:
    """The readiness body once ready (failing if one of ``workers`` exits meanwhile)."""
    return wait_ready(lambda: client.get(f"{API}/ready").json(), processes=workers, timeout=timeout)


def files_of(root: Path, job_id: str) -> list[Path]:
    """Every file or folder under ``root`` whose path names the job."""
    return [p for p in root.rglob("*") if job_id in str(p)]


def embedded(data_dir: Path, **changes):
    settings = Settings(data_dir=data_dir, workers=1, rate_per_min=600, rate_burst=100, job_timeout_s=120)
    return TestClient(create_app(settings.replace(**changes)))


# --- embedded: memory budget, full and read-only store, deletion on disk --------------------


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    """An embedded gateway whose jobs may use MEMORY_MB beyond the loaded worker; its data folder."""
    data_dir = tmp_path_factory.mktemp("limited")
    with embedded(data_dir, job_memory_mb=MEMORY_MB) as client:
        until_ready(client)
        yield client, data_dir


def test_the_memory_budget_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("HEADFORGE_JOB_MEMORY_MB", "1234")
    assert Settings.from_env().job_memory_mb == 1234
    assert Settings().job_memory_mb == 4096


def test_a_job_over_its_memory_budget_fails_and_the_worker_lives_on(limited):
    client, data_dir = limited
    engine = client.app.state.service.engine
    pids = engine.worker_pids()
    final = run_job(client, texture_size=2048)
    assert final["state"] == "failed" and final["error"]["code"] == "memory_limit", final
    message = final["error"]["message"]
    assert f"{MEMORY_MB} MB" in message and "\n" not in message
    assert engine.worker_pids() == pids  # the same process, not a replacement
    assert client.get(f"{API}/ready").json()["ready"]
    assert not files_of(data_dir / "files", final["id"])
    assert run_job(client)["state"] == "done"  # the next job, in the same worker
    assert engine.worker_pids() == pids


@pytest.fixture
def small_disk(limited):
    """A 2 MB tmpfs mounted over the store's folder while the gateway runs: uploads fit, results
    do not. Skipped where mounting is not permitted."""
    client, data_dir = limited
    with mounted_tmpfs("2m", data_dir / "files") as files:
        yield client, files


def test_results_that_do_not_fit_fail_the_job_and_leave_nothing(small_disk):
    client, files = small_disk
    final = run_job(client)
    assert final["state"] == "failed" and final["error"]["code"] == "storage_full", final
    assert "\n" not in final["error"]["message"]
    response = client.get(final["links"]["zip"])
    assert response.status_code == 409 and response.json()["error"]["code"] == "not_ready"
    assert list(files.rglob("*")) == []  # no upload, no result, no temporary file
    assert until_ready(client, timeout=10)["store"]
    assert client.get(f"{API}/health").status_code == 200


def test_an_upload_to_a_full_disk_is_refused_and_nothing_is_queued(small_disk):
    client, files = small_disk
    service = client.app.state.service
    with open(files / "filler", "wb", buffering=0) as f, pytest.raises(OSError):
        while True:
            f.write(b"\0" * 65536)
    jobs_before = service.jobs.created_before(time.time() + 1)
    response = post(client)
    assert response.status_code == 507 and response.json()["error"]["code"] == "storage_full", response.text
    assert service.jobs.created_before(time.time() + 1) == jobs_before
    ready = client.get(f"{API}/ready")
    assert ready.status_code == 503 and ready.json()["status"] == "degraded" and not ready.json()["store"]
    assert [p.name for p in files.iterdir()] == ["filler"]
    (files / "filler").unlink()
    assert until_ready(client, timeout=10)["status"] == "ok"


def test_a_read_only_store_refuses_uploads_and_is_not_ready(small_disk):
    client, files = small_disk
    subprocess.run(["mount", "-o", "remount,ro", str(files)], check=True)
    response = post(client)
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "storage_unavailable" and int(response.headers["retry-after"]) > 0
    ready = client.get(f"{API}/ready")
    body = ready.json()
    assert ready.status_code == 503
    assert (body["ready"], body["status"], body["broker"], body["store"], body["workers"]) == (
        False, "degraded", None, False, {"anny": 1})
    subprocess.run(["mount", "-o", "remount,rw", str(files)], check=True)
    assert until_ready(client, timeout=10)["store"]


def test_delete_and_expiry_leave_no_file_of_a_job(limited):
    client, data_dir = limited
    deleted, expired = run_job(client), run_job(client)
    assert deleted["state"] == expired["state"] == "done"
    assert client.post(deleted["links"]["exports"], json={"emotions": {"fear": 0.5}}).status_code == 201
    assert files_of(data_dir, deleted["id"])
    assert client.delete(deleted["links"]["status"]).status_code == 204
    assert files_of(data_dir, deleted["id"]) == []
    service = client.app.state.service
    assert service.sweep(now=time.time() + service.settings.job_ttl_s + 1) >= 1
    assert files_of(data_dir, expired["id"]) == []
    assert client.get(expired["links"]["status"]).status_code == 404


# --- embedded: time limit -----------------------------------------------------------------


def test_a_job_over_its_time_limit_fails_and_the_worker_lives_on(tmp_path):
    # A 2048 texel job spends seconds on its texture: past a 1 s limit at the next stage.
    with embedded(tmp_path, job_timeout_s=1) as client:
        until_ready(client)
        engine = client.app.state.service.engine
        pids = engine.worker_pids()
        final = run_job(client, texture_size=2048)
        assert final["state"] == "failed" and final["error"]["code"] == "timed_out", final
        assert final["error"]["message"] == "the reconstruction took longer than 1 s"
        assert engine.worker_pids() == pids  # stopped by its own deadline, not killed
        assert client.get(f"{API}/ready").json()["ready"]
        assert client.get(f"{API}/health").status_code == 200
        assert files_of(tmp_path / "files", final["id"]) == []


# --- Celery: Redis restarted, deletion in Redis -------------------------------------------


@pytest.fixture(scope="module")
def celery(tmp_path_factory):
    """A persistent redis-server, one `headforge worker` (its jobs within MEMORY_MB) and a gateway."""
    need(shutil.which("redis-server") is not None, "redis-server")
    with celery_workers(tmp_path_factory.mktemp("redis"), HEADFORGE_VISIBILITY_TIMEOUT_S="8",
                        HEADFORGE_JOB_MEMORY_MB=str(MEMORY_MB)) as celery:
        settings = Settings(data_dir=tmp_path_factory.mktemp("gateway"), broker_url=celery.redis.url,
                            rate_per_min=600, rate_burst=100, job_timeout_s=120, retry_after_s=3)
        with TestClient(create_app(settings)) as client:
            until_ready(client, workers=celery.workers)
            yield client, celery.redis, celery.workers[0]


def test_a_celery_job_over_its_memory_budget_fails_and_the_worker_lives_on(celery):
    client, _, worker = celery
    final = run_job(client, texture_size=2048)
    assert final["state"] == "failed" and final["error"]["code"] == "memory_limit", final
    assert worker.poll() is None
    assert run_job(client)["state"] == "done"


def test_the_gateway_rides_out_a_redis_restart(celery, caplog):
    client, server, worker = celery
    accepted = [post(client) for _ in range(3)]
    assert [r.status_code for r in accepted] == [202] * 3
    urls = [r.headers["location"] for r in accepted]
    poll_job(lambda: client.get(urls[0]).json(), lambda status: status["state"] != "queued", timeout=60, poll=0.05)
    server.stop()

    ready = client.get(f"{API}/ready")
    assert ready.status_code == 503
    assert (ready.json()["status"], ready.json()["broker"], ready.json()["ready"]) == ("degraded", False, False)
    t0 = time.monotonic()
    refused = post(client)
    assert time.monotonic() - t0 < 5, "a request waited on the missing broker"
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "unavailable"
    assert refused.headers["retry-after"] == "3"
    for url in urls:  # job states are in the gateway's own database
        assert client.get(url).status_code == 200
    time.sleep(1)  # several sync rounds without the broker

    server.start()
    assert until_ready(client, timeout=60, workers=[worker])["status"] == "ok"
    after = post(client)
    assert after.status_code == 202, after.text
    for url in urls + [after.headers["location"]]:  # none lost, the new one too
        final, _ = poll_job(lambda: client.get(url).json(), timeout=120)
        assert final["state"] == "done", final
    lost = [r for r in caplog.records if "cannot reach the broker" in r.getMessage()]
    assert len(lost) == 1 and not any(r.exc_info for r in caplog.records if r.name.startswith("headforge"))


def test_delete_and_expiry_leave_no_redis_key_of_a_job(celery):
    client, server, _ = celery
    done, expired = run_job(client), run_job(client)
    assert done["state"] == expired["state"] == "done"
    assert server.keys_with(done["id"])  # results and task state
    assert client.delete(done["links"]["status"]).status_code == 204
    assert server.keys_with(done["id"]) == []

    running = post(client).headers["location"]  # deleted mid-run: its worker drops everything
    poll_job(lambda: client.get(running).json(), lambda status: status["state"] == "running", timeout=60, poll=0.05)
    job_id = running.rsplit("/", 1)[1]
    assert client.delete(running).status_code == 204
    assert run_job(client)["state"] == "done"  # the worker has finished the deleted job by now
    assert server.keys_with(job_id) == []

    service = client.app.state.service
    assert service.sweep(now=time.time() + service.settings.job_ttl_s + 1) >= 1
    assert server.keys_with(expired["id"]) == []
    assert client.get(expired["links"]["status"]).status_code == 404


def test_a_full_disk_under_the_job_database_refuses_new_jobs_with_a_code(tmp_path):
    """The job table on a full 1 MB tmpfs: a new job is refused with storage_full (507 over
    HTTP), the jobs already recorded can still be read."""
    folder = tmp_path / "db"
    folder.mkdir()
    with mounted_tmpfs("1m", folder, mode="0755"):
        jobs = JobStore(folder / "jobs.sqlite3")
        jobs.add(Job(id="kept", backend="anny", options={}))
        with open(folder / "filler", "wb", buffering=0) as f, pytest.raises(OSError):
            while True:
                f.write(b"\0" * 65536)
        with pytest.raises(StorageFullError, match="no room left") as info:
            for i in range(1000):  # the first pages may still fit
                jobs.add(Job(id=f"new-{i}", backend="anny", options={"pad": "x" * 4000}))
        assert info.value.status == 507
        assert jobs.get("kept").state == "queued"
        jobs.close()
