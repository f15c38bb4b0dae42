"""The HTTP API in embedded mode: a real local worker pool behind FastAPI's TestClient, plus a
held engine (jobs stay queued) for the gateway's own limits."""
from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skimage.data
from fastapi.testclient import TestClient
from PIL import Image
from webhelpers import astronaut_jpeg, encoded, morph_weights

from headforge.bench.serving import job_status, poll_job, wait_ready
from headforge.detection.landmarks import LANDMARKER_SHA256
from headforge.fitting import landmark_fit, loop
from headforge.service.config import Settings
from headforge.service.service import AvatarService, NewJob
from headforge.web.app import create_app

API = "/api/v1"


class HeldEngine:
    """An engine whose jobs never run: what the gateway does on its own."""

    def __init__(self):
        self.submitted = []

    def start(self):
        pass

    def submit(self, job):
        self.submitted.append(job.id)

    def workers(self):
        return {"anny": 1}

    def broker(self):
        return None

    def forget(self, job_id):
        pass

    def close(self):
        pass


def settings_for(data_dir: Path, **changes) -> Settings:
    base = Settings(data_dir=data_dir, workers=1, rate_per_min=600, rate_burst=100, job_timeout_s=120)
    return base.replace(**changes)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("hfdata")


@pytest.fixture(scope="module")
def leftover_job(data_dir):
    """A job queued by a gateway that stopped before any worker ran it."""
    service = AvatarService(settings_for(data_dir), engine=HeldEngine())
    job = service.create_job(NewJob(astronaut_jpeg()), service.client(None, "testclient"))
    service.close()
    return job.id


@pytest.fixture(scope="module")
def client(data_dir, leftover_job):
    with TestClient(create_app(settings_for(data_dir))) as client:
        wait_ready(lambda: client.get(f"{API}/ready").json(), timeout=120)
        yield client


@pytest.fixture(scope="module")
def astronaut_job(client):
    response = client.post(f"{API}/jobs", files={"photo": ("me.jpg", astronaut_jpeg(), "image/jpeg")},
                           data={"texture_size": "512"})
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"{API}/jobs/{response.json()['id']}"
    final, seen = poll_job(job_status(client, response.json()["id"], API))
    return response.json(), final, seen


@pytest.fixture
def held(tmp_path):
    """A gateway with a held engine and small limits."""
    settings = settings_for(tmp_path, rate_per_min=1, rate_burst=3, max_queue=2, retry_after_s=7, job_ttl_s=3600)
    service = AvatarService(settings, engine=HeldEngine())
    with TestClient(create_app(settings, service)) as client:
        yield client, service


def error_of(response) -> str:
    body = response.json()
    assert set(body) == {"error"} and body["error"]["message"], body
    return body["error"]["code"]


def test_a_portrait_becomes_an_avatar_with_live_progress(client, astronaut_job):
    created, final, seen = astronaut_job
    assert created["state"] == "queued" and len(created["id"]) == 22
    assert final["state"] == "done", final
    stages = [s["stage"] for s in seen]
    assert {"fit", "texture"} & set(stages), stages  # stages are reported while the job runs
    progress = [s["progress"] for s in seen]
    assert progress == sorted(progress) and progress[-1] == 1.0
    assert {"detect", "fit", "texture", "export"} <= set(final["timings_s"])

    glb = client.get(final["links"]["glb"])
    assert glb.status_code == 200 and glb.headers["content-type"] == "model/gltf-binary"
    weights = morph_weights(glb.content)
    assert len(weights) == 52 and weights["mouthSmileLeft"] > 0.3  # the astronaut smiles
    archive = client.get(final["links"]["zip"])
    assert archive.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(archive.content)) as z:
        assert {"avatar.glb", "head.obj", "params.json", "preview.png"} <= set(z.namelist())
        assert z.read("avatar.glb") == glb.content
        params = json.loads(z.read("params.json"))
    assert client.get(final["links"]["params"]).json() == params
    assert params["detection"]["face_count"] == 1
    assert params["hair"]["source"] != "none"  # hair "auto": read from the photo


def test_the_upload_is_deleted_once_the_job_ends(client, astronaut_job, data_dir):
    job_id = astronaut_job[1]["id"]
    files = data_dir / "files" / job_id
    assert (files / "result" / "avatar.glb").is_file()
    assert not (files / "upload").exists()


def test_a_job_left_by_a_stopped_gateway_is_run_after_restart(client, leftover_job):
    final, _ = poll_job(job_status(client, leftover_job, API))
    assert final["state"] == "done"


def test_reexport_changes_emotions_and_hair_without_refitting(client, astronaut_job, monkeypatch):
    job = astronaut_job[1]
    before = morph_weights(client.get(job["links"]["glb"]).content)
    refits = []
    monkeypatch.setattr(loop, "fit_two_stage", lambda *a, **k: refits.append(1))
    monkeypatch.setattr(landmark_fit, "fit_two_stage", lambda *a, **k: refits.append(1))
    response = client.post(job["links"]["exports"], json={"emotions": {"sadness": 1.0}, "hair": "none"})
    assert response.status_code == 201, response.text
    assert refits == [], "a re-export must not re-fit the head"
    export = response.json()
    after = morph_weights(client.get(export["glb"]).content)
    assert after["mouthFrownLeft"] > before["mouthFrownLeft"] + 0.3
    assert after["mouthSmileLeft"] < before["mouthSmileLeft"]
    assert client.post(job["links"]["exports"], json={"emotions": {"sadness": 1.0}, "hair": "none"}).json() == export
    with zipfile.ZipFile(io.BytesIO(client.get(export["zip"]).content)) as z:
        params = json.loads(z.read("params.json"))
    assert params["emotions"]["intensities"]["sadness"] == 1.0
    assert params["hair"] == {"source": "none"}
    assert params["identity"] == json.loads(client.get(job["links"]["params"]).content)["identity"]


def test_delete_removes_the_job_and_all_its_files(client, data_dir):
    response = client.post(f"{API}/jobs", files={"photo": ("a.jpg", astronaut_jpeg(), "image/jpeg")},
                           data={"texture_size": "512", "hair": "none"})
    job_id = response.json()["id"]
    final, _ = poll_job(job_status(client, job_id, API))
    assert final["state"] == "done"
    client.post(f"{API}/jobs/{job_id}/exports", json={"emotions": {"fear": 0.5}})
    assert (data_dir / "files" / job_id).is_dir()
    assert client.delete(f"{API}/jobs/{job_id}").status_code == 204
    assert not (data_dir / "files" / job_id).exists()
    for path in ("", "/avatar.glb", "/avatar.zip"):
        response = client.get(f"{API}/jobs/{job_id}{path}")
        assert response.status_code == 404 and error_of(response) == "not_found"


def test_a_job_deleted_while_it_runs_leaves_nothing_behind(client, data_dir):
    response = client.post(f"{API}/jobs", files={"photo": ("a.jpg", astronaut_jpeg(), "image/jpeg")},
                           data={"texture_size": "512", "hair": "none"})
    job_id = response.json()["id"]
    poll_job(job_status(client, job_id, API), lambda status: status["stage"] in ("fit", "texture", "normal_map"),
             timeout=60, poll=0.02)
    assert client.delete(f"{API}/jobs/{job_id}").status_code == 204
    probe = client.post(f"{API}/jobs", files={"photo": ("a.jpg", astronaut_jpeg(), "image/jpeg")},
                        data={"texture_size": "512", "hair": "none"})
    final, _ = poll_job(job_status(client, probe.json()["id"], API))  # the worker has moved on
    assert final["state"] == "done"
    assert not (data_dir / "files" / job_id).exists()


@pytest.mark.parametrize("image, code", [
    (skimage.data.chelsea(), "no_face"),
    (np.concatenate([skimage.data.astronaut()] * 2, axis=1), "several_faces"),
])
def test_photos_without_one_face_fail_with_a_code(client, image, code):
    response = client.post(f"{API}/jobs", files={"photo": ("p.jpg", encoded(image), "image/jpeg")})
    assert response.status_code == 202
    final, _ = poll_job(job_status(client, response.json()["id"], API))
    assert final["state"] == "failed" and final["error"]["code"] == code, final
    assert client.get(final["links"]["zip"]).status_code == 409


def test_bad_requests_are_refused_at_once_with_json_codes(client):
    def post(content, name="p.jpg", **data):
        return client.post(f"{API}/jobs", files={"photo": (name, content, "image/jpeg")}, data=data)

    cases = [
        (post(b"Dear diary, this is not a photo.\n" * 20, "notes.txt"), 422, "bad_image"),
        (post(b""), 422, "bad_image"),
        (post(os.urandom(16 * 1024 * 1024)), 413, "image_too_large"),
        (post(encoded(np.zeros((5200, 5200, 3), np.uint8), "PNG")), 413, "image_too_large"),
        (post(encoded(np.zeros((20, 20, 3), np.uint8), "PNG")), 422, "image_too_small"),
        (post(astronaut_jpeg(), hair="mohawk-from-mars"), 422, "unknown_hairstyle"),
        (post(astronaut_jpeg(), backend="nope"), 422, "unknown_backend"),
        (post(astronaut_jpeg(), emotions='{"glee": 0.5}'), 422, "bad_emotion"),
        (post(astronaut_jpeg(), texture_size="300"), 422, "bad_request"),
        (client.get(f"{API}/jobs/AAAAAAAAAAAAAAAAAAAAAA"), 404, "not_found"),
        (client.get(f"{API}/hairstyles/mohawk-from-mars/thumbnail.png"), 422, "unknown_hairstyle"),
        (client.get("/no/such/page"), 404, "not_found"),
    ]
    for response, status, code in cases:
        assert (response.status_code, error_of(response)) == (status, code), response.text


def test_rate_limit_answers_429_with_retry_after(held):
    client, _ = held
    photo = {"photo": ("a.jpg", astronaut_jpeg(), "image/jpeg")}
    responses = [client.post(f"{API}/jobs", files=photo) for _ in range(4)]
    # A burst of 3: two jobs are queued, the third meets the queue bound (2), the fourth the limit.
    assert [r.status_code for r in responses] == [202, 202, 503, 429]
    limited = responses[-1]
    assert error_of(limited) == "rate_limited"
    assert 1 <= int(limited.headers["retry-after"]) <= 60


def test_a_full_queue_answers_503_with_retry_after_and_keeps_its_jobs(held):
    client, service = held
    photo = {"photo": ("a.jpg", astronaut_jpeg(), "image/jpeg")}
    accepted = [client.post(f"{API}/jobs", files=photo) for _ in range(2)]
    assert [r.status_code for r in accepted] == [202, 202]
    full = client.post(f"{API}/jobs", files=photo)
    assert full.status_code == 503 and error_of(full) == "queue_full" and full.headers["retry-after"] == "7"
    assert service.engine.submitted == [r.json()["id"] for r in accepted]
    for r in accepted:
        assert client.get(r.headers["location"]).json()["state"] == "queued"
        assert client.get(f"{r.headers['location']}/avatar.glb").status_code == 409


def test_uploads_are_stored_without_metadata(held, tmp_path):
    client, service = held
    exif = Image.Exif()
    exif[0x010F] = "SecretCam"  # make
    exif[0x0112] = 6  # orientation: kept apart and applied by the worker
    photo = encoded(skimage.data.astronaut(), exif=exif.tobytes())
    job_id = client.post(f"{API}/jobs", files={"photo": ("a.jpg", photo, "image/jpeg")}).json()["id"]
    stored = (tmp_path / "files" / job_id / "upload" / "photo").read_bytes()
    assert b"SecretCam" not in stored and b"Exif" not in stored
    assert Image.open(io.BytesIO(stored)).size == (512, 512)
    assert service.jobs.get(job_id).options["orientation"] == 6


def test_the_sweeper_deletes_expired_jobs_and_their_files(held, tmp_path):
    client, service = held
    job_id = client.post(f"{API}/jobs", files={"photo": ("a.jpg", astronaut_jpeg(), "image/jpeg")}).json()["id"]
    assert service.sweep() == 0 and (tmp_path / "files" / job_id).exists()
    assert service.sweep(now=time.time() + 3601) == 1
    assert not (tmp_path / "files" / job_id).exists()
    assert client.get(f"{API}/jobs/{job_id}").status_code == 404


def test_api_keys_scope_jobs_to_their_owner(tmp_path):
    settings = settings_for(tmp_path, api_keys=frozenset({"key-a", "key-b"}))
    with TestClient(create_app(settings, AvatarService(settings, engine=HeldEngine()))) as client:
        photo = {"photo": ("a.jpg", astronaut_jpeg(), "image/jpeg")}
        assert error_of(client.post(f"{API}/jobs", files=photo)) == "unauthorized"
        created = client.post(f"{API}/jobs", files=photo, headers={"X-API-Key": "key-a"})
        assert created.status_code == 202
        url = created.headers["location"]
        assert client.get(url, headers={"X-API-Key": "key-a"}).status_code == 200
        assert client.get(url, headers={"X-API-Key": "key-b"}).status_code == 404
        assert client.get(f"{API}/emotions/mapping.json").status_code == 401
        assert client.get(f"{API}/health").status_code == 200


def test_page_and_docs_are_served_with_security_headers(client):
    page = client.get("/")
    assert page.status_code == 200 and '<script type="module" src="/static/app.js">' in page.text
    csp = page.headers["content-security-policy"]
    # WebAssembly (the mirror's face tracker) may compile; JavaScript eval and inline code may not.
    assert "script-src 'self' 'wasm-unsafe-eval';" in csp and "unsafe-inline" not in csp
    assert "'unsafe-eval'" not in csp and "connect-src 'self' blob: data:;" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "access-control-allow-origin" not in client.get(f"{API}/health", headers={"Origin": "https://x.example"}).headers
    assert client.get("/static/app.js").headers["content-type"].startswith("text/javascript")
    assert "HeadforgeEmotion" in client.get("/lib/emotion_mlp.js").text
    model = client.get("/lib/face_landmarker.task")  # the mirror's tracker model, from our origin
    assert model.status_code == 200 and hashlib.sha256(model.content).hexdigest() == LANDMARKER_SHA256
    assert client.get(f"{API}/emotions/mapping.json").json()["schema"] == "headforge.emotion_mlp/1"
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {f"{API}/jobs", f"{API}/jobs/{{job_id}}", f"{API}/jobs/{{job_id}}/exports", f"{API}/hairstyles",
            f"{API}/health", f"{API}/ready"} <= set(paths)


def test_a_killed_worker_does_not_lose_the_job_or_the_server(client):
    response = client.post(f"{API}/jobs", files={"photo": ("a.jpg", astronaut_jpeg(), "image/jpeg")},
                           data={"texture_size": "512", "hair": "none"})
    get = job_status(client, response.json()["id"], API)
    poll_job(get, lambda status: status["state"] == "running", timeout=60, poll=0.05)
    (pid,) = client.app.state.service.engine.worker_pids()
    os.kill(pid, signal.SIGKILL)
    assert client.get(f"{API}/health").status_code == 200
    final, seen = poll_job(get, timeout=120)
    assert final["state"] == "done", final  # run again by the replacement worker
    assert client.app.state.service.jobs.get(final["id"]).attempts == 2
