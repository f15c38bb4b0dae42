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
from webhelpers import encoded, morph_weights

from headforge.bench.serving import celery_workers, job_status, poll_job, wait_ready, workers_up

from headforge.service.config import Settings
from headforge.web.app import create_app

pytestmark = pytest.mark.usefixtures("needs_redis")  # skipped without redis-server; failed under CI=true
API = "/api/v1"
VISIBILITY_TIMEOUT_S = 8  # a killed worker's job is back in the queue this long after it was taken


@pytest.fixture(scope="module")
def celery(tmp_path_factory):
    """redis-server and two `headforge worker` processes (their logs: ``celery.logs``)."""
    with celery_workers(tmp_path_factory.mktemp("celery"), 2,
                        HEADFORGE_VISIBILITY_TIMEOUT_S=str(VISIBILITY_TIMEOUT_S)) as celery:
        yield celery


@pytest.fixture(scope="module")
def settings(celery, tmp_path_factory):
    return Settings(data_dir=tmp_path_factory.mktemp("gateway"), broker_url=celery.redis.url, rate_per_min=600,
                    rate_burst=100, visibility_timeout_s=VISIBILITY_TIMEOUT_S, job_timeout_s=120)


@pytest.fixture(scope="module")
def client(settings, celery):
    with TestClient(create_app(settings)) as client:
        wait_ready(lambda: client.get(f"{API}/ready").json(), workers_up(2), celery.workers, timeout=150)
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


def test_eight_jobs_at_once_are_shared_by_two_workers(client, celery):
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda photo: post(client, photo), photos(8)))
    assert len(set(ids)) == 8
    finals = [poll_job(job_status(client, job_id, API), timeout=180)[0] for job_id in ids]
    assert [f["state"] for f in finals] == ["done"] * 8, finals
    for final in finals:
        weights = morph_weights(client.get(final["links"]["glb"]).content)
        assert weights["mouthSmileLeft"] > 0.2 and weights["mouthSmileRight"] > 0.2
        assert client.get(final["links"]["params"]).json()["image"]["width"] == 512
    served = [log.read_text().count("succeeded in") for log in celery.logs]
    assert sum(served) >= 8 and min(served) >= 1, served


def test_a_worker_killed_mid_job_does_not_lose_the_job(client, celery):
    ids = [post(client, photo) for photo in photos(2)]

    def both() -> dict:  # the two jobs' states as one status
        return {"state": [job_status(client, job_id, API)()["state"] for job_id in ids]}

    poll_job(both, lambda status: status["state"] == ["running", "running"], timeout=60, poll=0.05)
    victim = celery.workers[0]
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    t0 = time.monotonic()
    finals = [poll_job(job_status(client, job_id, API), timeout=90)[0] for job_id in ids]
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
        final, _ = poll_job(job_status(second, job_id, API), timeout=90)
        assert final["state"] == "done", final
        assert second.get(final["links"]["glb"]).status_code == 200
