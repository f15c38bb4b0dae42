"""Direct unit tests of pieces the system tests only reach through a whole run: the landmark
fit (on synthetic landmarks with a known answer), the rate limiter (with a fake clock) and the
shared geometry, file and image helpers of headforge.core."""
import io
import os

import numpy as np
import pytest
import torch
from PIL import Image

from headforge.core.camera import Camera
from headforge.core.files import atomic_file, atomic_path, atomic_write
from headforge.core.geometry import (
    Similarity,
    closest_points,
    interpolate,
    rotation_matrices,
    rotation_x,
    rotation_y,
    rotation_z,
    umeyama,
    unit,
)
from headforge.core.images import decode_png, encode_png, exif_orientation, jpeg_segments, upright
from headforge.detection.landmarks import FaceLandmarks
from headforge.errors import BadImageError
from headforge.fitting.landmark_fit import FitSettings, fit_landmarks, head_angles_deg
from headforge.hairphoto.stage import HairJob
from headforge.headmodel.anny_head import load_head_model
from headforge.headmodel.landmark_embedding import load_landmark_embedding
from headforge.service import ratelimit
from headforge.service.ratelimit import RateLimiter


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- fit_landmarks -------------------------------------------------------------------------


def synthetic_face(yaw: float, pitch: float, size: int = 640):
    """Landmarks of a known head (identity, expression) seen by a known camera, as the detector
    would report them: pixels, relative depth and the expression's blendshape scores."""
    model = load_head_model()
    faces, bary = load_landmark_embedding()
    rng = np.random.default_rng(3)
    phen = np.clip(0.5 + rng.normal(0, 0.08, len(model.phenotype_names)), 0, 1)
    local = np.zeros(len(model.local_names))
    actions = np.zeros(len(model.action_names))
    names = list(model.action_names)
    actions[names.index("jawOpen")] = 0.4
    actions[names.index("mouthSmileLeft")] = actions[names.index("mouthSmileRight")] = 0.5
    vertices = model.identity_vertices(phen, local) + np.tensordot(actions, model.action_basis, 1)
    points = interpolate(vertices.astype(np.float64), model.faces[faces], bary.astype(np.float64))
    camera = Camera.orbit(size, size, yaw, pitch, distance=0.55, fov_deg=30, target=np.array([0, -0.02, 0.03]))
    pixels = camera.project(points)
    depth = camera.to_camera(points)[:, 2]
    z = depth * camera.focal / depth.mean()
    detected = FaceLandmarks(np.column_stack([pixels, z - z.mean()]).astype(np.float32),
                             dict(zip(names, actions)), (0, 0, size, size), 1)
    return model, (faces, bary), detected, camera, actions


@pytest.mark.parametrize("yaw, pitch", [(0.0, 0.0), (25.0, -8.0), (-35.0, 6.0)])
def test_fit_landmarks_recovers_a_known_pose(yaw, pitch):
    model, embedding, detected, camera, actions = synthetic_face(yaw, pitch)
    fit = fit_landmarks(model, embedding, detected, (camera.height, camera.width))
    assert fit.error < 0.01  # mean landmark error under 1 % of the face box (the priors pull a little)
    assert np.abs(fit.landmarks_2d - detected.points[:, :2]).max() < 0.03 * detected.box_diagonal
    truth = head_angles_deg(camera.R)
    angles = fit.head_angles_deg
    assert abs(angles["yaw"] - truth["yaw"]) < 3.0 and abs(angles["pitch"] - truth["pitch"]) < 4.0
    assert abs(fit.camera.focal / camera.focal - 1) < 0.3  # weakly determined at 35 degrees of yaw
    names = list(model.action_names)
    assert fit.actions[names.index("jawOpen")] > 0.2 and fit.actions[names.index("mouthSmileLeft")] > 0.25
    assert fit.phenotypes.shape == (len(model.phenotype_names),) and fit.actions.shape == (52,)
    assert np.all((fit.phenotypes >= 0) & (fit.phenotypes <= 1)) and np.all(np.abs(fit.local) <= 1)


def test_fit_landmarks_neutral_ignores_the_expression_prior():
    model, embedding, detected, camera, _ = synthetic_face(0.0, 0.0)
    kept = fit_landmarks(model, embedding, detected, (camera.height, camera.width))
    neutral = fit_landmarks(model, embedding, detected, (camera.height, camera.width),
                            FitSettings(keep_expression=False))
    smile = list(model.action_names).index("mouthSmileLeft")
    assert neutral.actions[smile] < kept.actions[smile]


def test_fit_landmarks_is_deterministic():
    model, embedding, detected, camera, _ = synthetic_face(10.0, 0.0)
    a = fit_landmarks(model, embedding, detected, (camera.height, camera.width))
    b = fit_landmarks(model, embedding, detected, (camera.height, camera.width))
    assert np.array_equal(a.landmarks_2d, b.landmarks_2d) and np.array_equal(a.actions, b.actions)


# --- RateLimiter ---------------------------------------------------------------------------


def test_rate_limiter_burst_then_refill():
    clock = FakeClock()
    limiter = RateLimiter(per_min=60, burst=3, clock=clock)  # one token a second
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(1.0)
    clock.now += 0.5
    assert limiter.take("a") == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.take("a") == 0.0
    assert limiter.take("a") == pytest.approx(1.0)
    clock.now += 60  # a long pause refills to the burst, no more
    assert [limiter.take("a") for _ in range(4)][:3] == [0.0, 0.0, 0.0]


def test_rate_limiter_clients_are_separate():
    clock = FakeClock()
    limiter = RateLimiter(per_min=6, burst=1, clock=clock)
    assert limiter.take("a") == 0.0
    assert limiter.take("a") == pytest.approx(10.0)
    assert limiter.take("b") == 0.0


def test_rate_limiter_zero_rate_never_refills():
    clock = FakeClock()
    limiter = RateLimiter(per_min=0, burst=2, clock=clock)
    assert limiter.take("a") == 0.0 and limiter.take("a") == 0.0
    clock.now += 3600
    assert limiter.take("a") == float("inf")


def test_rate_limiter_forgets_only_refilled_clients(monkeypatch):
    monkeypatch.setattr(ratelimit, "MAX_CLIENTS", 3)
    clock = FakeClock()
    limiter = RateLimiter(per_min=60, burst=2, clock=clock)
    for client in ("a", "b", "c"):
        limiter.take(client)
    limiter.take("c")  # c is empty, a and b hold one token each
    clock.now += 1.0  # a and b are full again, c is not
    limiter.take("d")
    assert set(limiter._buckets) == {"c", "d"}
    assert limiter.take("c") == 0.0  # c kept its state: one token back after a second
    assert limiter.take("c") == pytest.approx(1.0)


# --- core.geometry -------------------------------------------------------------------------


def test_rotations_agree_with_rodrigues():
    for axis, matrix in ((0, rotation_x), (1, rotation_y), (2, rotation_z)):
        rotvec = torch.zeros(3, dtype=torch.float64)
        rotvec[axis] = 0.7
        assert np.allclose(rotation_matrices(rotvec).numpy(), matrix(0.7), atol=1e-12)
    assert np.allclose(rotation_y(np.pi / 2) @ [0, 0, 1.0], [1, 0, 0], atol=1e-12)  # +Z turns towards +X
    batch = torch.tensor(np.random.default_rng(0).normal(size=(4, 2, 3)))
    r = rotation_matrices(batch)
    assert r.shape == (4, 2, 3, 3)
    assert np.allclose(r.numpy() @ np.swapaxes(r.numpy(), -1, -2), np.eye(3), atol=1e-12)
    assert torch.equal(rotation_matrices(torch.zeros(3)), torch.eye(3))


def test_unit_and_interpolate():
    v = np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]])
    assert np.allclose(unit(v), [[0.6, 0.8, 0], [0, 0, 0]])
    assert np.allclose(unit(v, np.array([0.0, 0, 1])), [[0.6, 0.8, 0], [0, 0, 1]])
    values = np.arange(12.0).reshape(4, 3)
    corners = np.array([[0, 1, 2], [1, 2, 3]])
    bary = np.array([[1.0, 0, 0], [0.25, 0.25, 0.5]])
    assert np.allclose(interpolate(values, corners, bary), [values[0], 0.25 * values[1] + 0.25 * values[2] + 0.5 * values[3]])
    batched = interpolate(np.stack([values, 2 * values]), corners, bary)
    assert batched.shape == (2, 2, 3) and np.allclose(batched[1], 2 * batched[0])
    t = interpolate(torch.tensor(values), corners, torch.tensor(bary))
    assert isinstance(t, torch.Tensor) and np.allclose(t.numpy(), batched[0])


def test_closest_points_on_a_square():
    vertices = np.array([[0.0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]])
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    points = np.array([[0.9, 0.2, 0.5], [-1.0, -1.0, 0.0], [0.25, 0.75, -2.0]])
    face, bary, closest = closest_points(vertices, faces, points)
    assert np.allclose(closest, [[0.9, 0.2, 0], [0, 0, 0], [0.25, 0.75, 0]])
    assert list(face[[0, 2]]) == [0, 1]
    assert np.allclose(interpolate(vertices, faces[face], bary), closest)
    only_second, _, on_second = closest_points(vertices, faces, points[:1], face_ids=np.array([1]))
    assert only_second[0] == 1 and np.allclose(on_second, [[0.55, 0.55, 0]])


def test_umeyama_recovers_a_similarity():
    rng = np.random.default_rng(1)
    source = rng.normal(size=(50, 3))
    truth = Similarity(1.7, rotation_z(0.3) @ rotation_x(-0.4), np.array([0.1, -2.0, 0.5]))
    fit = umeyama(source, truth.apply(source))
    assert fit.scale == pytest.approx(1.7) and np.allclose(fit.rotation, truth.rotation)
    assert np.allclose(fit.translation, truth.translation)
    rigid = umeyama(source, truth.apply(source), scale=False)
    assert rigid.scale == 1.0 and np.allclose(rigid.rotation, truth.rotation)
    step = Similarity(0.5, rotation_y(1.0), np.array([1.0, 0, 0]))
    assert np.allclose(step.after(truth).apply(source), step.apply(truth.apply(source)))


# --- core.files ----------------------------------------------------------------------------


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "sub" / "data.bin"
    atomic_write(path, b"one")
    atomic_write(path, b"two")
    assert path.read_bytes() == b"two" and os.listdir(path.parent) == ["data.bin"]
    assert (path.stat().st_mode & 0o777) == 0o600
    with atomic_file(tmp_path / "arrays.npz") as file:
        np.savez(file, x=np.arange(3))
    assert np.load(tmp_path / "arrays.npz")["x"].tolist() == [0, 1, 2]


def test_atomic_write_failure_keeps_the_old_file(tmp_path):
    path = tmp_path / "data.bin"
    atomic_write(path, b"old")
    with pytest.raises(RuntimeError):
        with atomic_file(path) as file:
            file.write(b"half")
            raise RuntimeError("stop")
    with pytest.raises(RuntimeError):
        with atomic_path(path) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("stop")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["data.bin"]


# --- core.images ---------------------------------------------------------------------------


def test_png_round_trip_and_bad_bytes():
    image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    data = encode_png(image)
    assert data.startswith(b"\x89PNG") and b"tEXt" not in data
    assert np.array_equal(decode_png(data), image)
    with pytest.raises(BadImageError, match="the thumbnail is unreadable"):
        decode_png(b"not a png", "the thumbnail")
    with pytest.raises(ValueError):
        encode_png(image.astype(np.float32))


def test_exif_orientation_and_upright():
    image = np.zeros((2, 3, 3), np.uint8)
    image[0, 0] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, "JPEG", exif=exif.tobytes(), quality=95)
    with Image.open(io.BytesIO(buffer.getvalue())) as img:
        assert exif_orientation(img) == 6
    with Image.open(io.BytesIO(encode_png(image))) as img:
        assert exif_orientation(img) == 1
    assert upright(image, 6).shape == (3, 2, 3) and upright(image, 1) is image


def test_jpeg_segments_walk_the_markers():
    buffer = io.BytesIO()
    Image.new("RGB", (9, 4)).save(buffer, "JPEG", comment=b"hello")
    data = buffer.getvalue()
    segments = list(jpeg_segments(data))
    markers = [m for m, _, _ in segments]
    assert markers[-1] == 0xD9 and 0xDA in markers and 0xFE in markers and 0xC0 in markers
    assert b"".join(data[s:e] for _, s, e in segments) == data[2:]  # contiguous, nothing skipped
    with pytest.raises(ValueError):
        list(jpeg_segments(b"\xff\xd8garbage"))


class _Reader:
    """A stand-in PhotoHairReader: records what the hair job hands it."""

    def __init__(self, fail: bool = False):
        self.fail, self.finished = fail, []

    def read_photo(self, photo, landmarks):
        if self.fail:
            raise ValueError("unreadable")
        return ("read", photo.shape, landmarks.shape)

    def finish(self, read, *head):
        self.finished.append((read, head))
        return "hair"


def test_hair_job_reads_the_photo_then_waits_for_the_fit():
    reader = _Reader()
    job = HairJob(reader, np.zeros((4, 4, 3), np.uint8), np.zeros((478, 2)))
    job.fitted("camera", "vertices", "posed", "faces")
    assert job.result() == "hair"
    assert reader.finished == [(("read", (4, 4, 3), (478, 2)), ("camera", "vertices", "posed", "faces"))]


def test_a_cancelled_hair_job_ends_without_finishing():
    reader = _Reader()
    job = HairJob(reader, np.zeros((4, 4, 3), np.uint8), np.zeros((478, 2)))
    job.cancel()
    assert job.result() is None and reader.finished == []
    job._thread.join(5)
    assert not job._thread.is_alive()


def test_a_hair_job_hands_its_error_to_the_caller():
    job = HairJob(_Reader(fail=True), np.zeros((4, 4, 3), np.uint8), np.zeros((478, 2)))
    with pytest.raises(ValueError, match="unreadable"):
        job.result()
