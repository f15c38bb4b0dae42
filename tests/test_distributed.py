"""Distributed mode: a real redis-server on 127.0.0.1, two `headforge worker` processes (Celery)
and the gateway; eight jobs at once, a worker killed mid-job, a gateway restart."""
from __future__ import annotations

import signal
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import skimage.data
from fastapi.testclient import TestClient
from webhelpers import encoded, morph_weights, stop_processes, wait_for_job

from headforge.bench.serving import RedisServer, start_worker

from headforge.service.config import Settings
from headforge.web.app import create_app

pytestmark = pytest.mark.usefixtures("needs_redis")  # skipped without redis-server; failed under CI=true
API = "/api/v1"
VISIBILITY_TIMEOUT_S = 8  # a killed worker's job is back in the queue this long after it was taken


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def workers(redis_url, tmp_path_factory):
    logs = [tmp_path_factory.mktemp("workers") / f"worker{i}.log" for i in range(2)]
    processes = [start_worker(redis_url, log, HEADFORGE_VISIBILITY_TIMEOUT_S=str(VISIBILITY_TIMEOUT_S)) for log in logs]
    yield processes, logs
    stop_processes(processes)


@pytest.fixture(scope="module")
def settings(redis_url, tmp_path_factory):
    return Settings(data_dir=tmp_path_factory.mktemp("gateway"), broker_url=redis_url, rate_per_min=600,
                    rate_burst=100, visibility_timeout_s=VISIBILITY_TIMEOUT_S, job_timeout_s=120)


@pytest.fixture(scope="module")
def client(settings, workers):
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 150
        while client.get(f"{API}/ready").json()["workers"].get("anny", 0) < 2:
            assert time.monotonic() < deadline, "the workers did not start"
            assert all(p.poll() is None for p in workers[0]), "a worker exited"
            time.sleep(0.5)
        yield client


def photos(n: int) -> list[bytes]:
    """Different portraits: the astronaut, mirrored and shifted."""
    base = skimage.data.astronaut()
    return [encoded(np.roll(base[:, ::-1] if i % 2 else base, 8 * i, axis=1)) for i in range(n)]


def post(client, photo: bytes, **data):
    response = client.post(f"{API}/jobs", files={"photo": ("p.jpg", photo, "image/jpeg")},
                           data={"texture_size": "512", "hair": "none", **data})
    assert response.status_code == 202, response.text
    return response.json()["id"]


def status_of(client, job_id):
    return lambda: client.get(f"{API}/jobs/{job_id}").json()


def test_eight_jobs_at_once_are_shared_by_two_workers(client, workers):
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda photo: post(client, photo), photos(8)))
    assert len(set(ids)) == 8
    finals = [wait_for_job(status_of(client, job_id), timeout=180)[0] for job_id in ids]
    assert [f["state"] for f in finals] == ["done"] * 8, finals
    for final in finals:
        weights = morph_weights(client.get(final["links"]["glb"]).content)
        assert weights["mouthSmileLeft"] > 0.2 and weights["mouthSmileRight"] > 0.2
        assert client.get(final["links"]["params"]).json()["image"]["width"] == 512
    served = [log.read_text().count("succeeded in") for log in workers[1]]
    assert sum(served) >= 8 and min(served) >= 1, served


def test_a_worker_killed_mid_job_does_not_lose_the_job(client, workers):
    ids = [post(client, photo) for photo in photos(2)]
    deadline = time.monotonic() + 60
    while sum(status_of(client, job_id)()["state"] == "running" for job_id in ids) < 2:
        assert time.monotonic() < deadline, "the jobs did not start"
        time.sleep(0.05)
    victim = workers[0][0]
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    t0 = time.monotonic()
    finals = [wait_for_job(status_of(client, job_id), timeout=90)[0] for job_id in ids]
    assert time.monotonic() - t0 < 90
    # The killed worker's job comes back to the queue and the other worker runs it.
    assert [f["state"] for f in finals] == ["done", "done"], finals
    attempts = [client.app.state.service.jobs.get(job_id).attempts for job_id in ids]
    assert sorted(attempts) == [1, 2], attempts


def test_jobs_survive_a_gateway_restart(client, settings, tmp_path):
    settings = settings.replace(data_dir=tmp_path)  # a gateway of its own, apart from `client`
    with TestClient(create_app(settings)) as first:
        job_id = post(first, photos(1)[0])
    # The first gateway has stopped before the job ended; the next one picks it up.
    with TestClient(create_app(settings)) as second:
        final, _ = wait_for_job(status_of(second, job_id), timeout=90)
        assert final["state"] == "done", final
        assert second.get(final["links"]["glb"]).status_code == 200
