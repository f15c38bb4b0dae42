import io
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.data import astronaut

from headforge.bench.metrics import (face_mask_from_landmarks, landmark_error, masked_psnr,
                                     masked_ssim, summary)
from headforge.errors import ModelError

SHARED = Path("/work/shared")


@pytest.fixture(scope="module")
def photo():
    return astronaut()[:256, 100:356]  # (256, 256, 3) uint8, the face and some suit


@pytest.fixture(scope="module")
def mask():
    m = np.zeros((256, 256), bool)
    m[40:200, 60:220] = True
    return m


def test_psnr_identical_is_inf_and_shift_is_lower(photo, mask):
    assert masked_psnr(photo, photo, mask) == float("inf")
    small = masked_psnr(photo, np.roll(photo, 1, axis=1), mask)
    large = masked_psnr(photo, np.roll(photo, 4, axis=1), mask)
    assert np.isfinite(small) and 10 < large < small < 60
    assert np.isnan(masked_psnr(photo, photo, np.zeros_like(mask)))


def test_psnr_known_value(mask):
    a = np.full((256, 256, 3), 100, np.uint8)
    b = a + np.uint8(10)  # mse 100 -> 10 log10(255^2 / 100)
    assert masked_psnr(a, b, mask) == pytest.approx(20 * np.log10(25.5))


def test_ssim_identical_noisy_and_mask_region(photo, mask):
    assert masked_ssim(photo, photo, mask) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    noisy = np.clip(photo + rng.normal(0, 20, photo.shape), 0, 255).astype(np.uint8)
    base = masked_ssim(photo, noisy, mask)
    assert 0 < base < 0.95
    outside = noisy.copy()
    outside[~mask] = 255 - outside[~mask]  # includes pixels right next to the mask
    other = photo.copy()
    other[~mask] = 0
    assert masked_ssim(other, outside, mask) == pytest.approx(base, abs=1e-12)
    inside = noisy.copy()
    inside[mask] = 255 - inside[mask]
    assert masked_ssim(photo, inside, mask) < base


def test_ssim_small_and_empty_masks(photo):
    tiny = np.zeros((256, 256), bool)
    tiny[100:103, 100:102] = True
    assert masked_ssim(photo, photo, tiny) == pytest.approx(1.0)
    assert np.isnan(masked_ssim(photo, photo, np.zeros_like(tiny)))


def test_landmark_error_known_offset():
    target = np.array([[10.0, 10.0], [50.0, 20.0], [30.0, 60.0]])
    pred = target + np.array([3.0, 4.0])  # every point off by 5 px
    assert landmark_error(pred, target, box_diag=100.0) == pytest.approx(0.05)
    assert landmark_error(target, target, box_diag=100.0) == 0.0


def test_face_mask_hull_and_polygon():
    corners = np.array([[10.0, 10.0], [50.0, 10.0], [50.0, 30.0], [10.0, 30.0]])
    points = np.vstack([corners, [[30.0, 20.0]]])  # an inner point is ignored by the hull
    hull = face_mask_from_landmarks(points, (40, 60, 3))
    assert hull.shape == (40, 60) and hull.dtype == bool
    assert hull[20, 30] and hull[11, 11] and not hull[5, 30] and not hull[20, 55]
    assert abs(int(hull.sum()) - 41 * 21) <= 41 + 21
    # A concave polygon keeps its notch; the hull of the same points does not.
    notch = np.array([[10.0, 10.0], [30.0, 25.0], [50.0, 10.0], [50.0, 30.0], [10.0, 30.0]])
    poly = face_mask_from_landmarks(notch, (40, 60), hull_indices=np.arange(5))
    assert not poly[13, 30] and poly[28, 30]
    assert face_mask_from_landmarks(notch, (40, 60))[13, 30]


def test_summary_ignores_nan():
    s = summary([1.0, 2.0, np.nan, 3.0, 4.0])
    assert s == {"median": 2.5, "p90": pytest.approx(3.7), "mean": 2.5, "n": 4}
    assert summary([np.nan])["n"] == 0 and np.isnan(summary([])["median"])
    assert summary([20.0, np.inf])["median"] == np.inf  # an exact-match PSNR stays inf


# --- LPIPS -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def lpips_model():
    from headforge.bench.lpips import LPIPS, ensure_lpips_weights
    try:
        return LPIPS(ensure_lpips_weights())
    except ModelError as error:
        pytest.skip(f"LPIPS weights cannot be obtained here: {error}")


def _lpips_example(name):
    path = SHARED / "lpips_check" / name
    if not path.is_file():
        pytest.skip(f"LPIPS example patches missing: {path}")
    return np.asarray(Image.open(path).convert("RGB"))


def test_lpips_golden_values(lpips_model):
    ref, p0, p1 = (_lpips_example(f"ex_{n}.png") for n in ("ref", "p0", "p1"))
    assert round(lpips_model(ref, p0), 3) == 0.722
    assert round(lpips_model(ref, p1), 3) == 0.138
    assert lpips_model(ref, ref) == 0.0


def test_lpips_batch_matches_single(lpips_model, photo):
    from headforge.bench.lpips import image_to_tensor
    shifted = np.roll(photo, 3, axis=0)
    x = torch.cat([image_to_tensor(photo), image_to_tensor(photo)])
    y = torch.cat([image_to_tensor(photo), image_to_tensor(shifted)])
    batch = lpips_model.distance(x, y)
    assert batch.shape == (2,)
    assert batch[0].item() == 0.0
    assert batch[1].item() == pytest.approx(lpips_model(photo, shifted), rel=1e-5)


def test_lpips_without_weights_says_not_measured(tmp_path):
    from headforge.bench.lpips import LPIPS
    with pytest.raises(ModelError, match="LPIPS is not measured"):
        LPIPS(tmp_path / "absent.npz")


def test_weights_unpickler_refuses_anything_but_arrays():
    from headforge.bench.lpips import _ArraysOnly
    arrays = {"a": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3)}}
    loaded = _ArraysOnly(io.BytesIO(pickle.dumps(arrays, protocol=3))).load()
    np.testing.assert_array_equal(loaded["a"]["kernel"], arrays["a"]["kernel"])
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        _ArraysOnly(io.BytesIO(pickle.dumps(print))).load()


# --- identity ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def encoder():
    from headforge.bench.identity import IdentityEncoder
    enc = IdentityEncoder()
    try:
        enc.descriptor(np.zeros((64, 64, 3), np.uint8))
    except ModelError as error:
        pytest.skip(str(error))
    return enc


def _portrait(name, max_side=1000):
    path = SHARED / "portraits" / name
    if not path.is_file():
        pytest.skip(f"evaluation portraits missing: {path}")
    image = Image.open(path).convert("RGB")
    image.thumbnail((max_side, max_side))
    return np.asarray(image)


def test_identity_astronaut_detection_box_and_flip(encoder):
    from headforge.bench.identity import SAME_PERSON_THRESHOLD, identity_distance
    image = astronaut()
    found = encoder.descriptor(image)
    assert found is not None and found.shape == (128,) and found.dtype == np.float32
    boxed = encoder.descriptor(image, box=(179, 83, 266, 170))  # dlib's own box for this face
    assert identity_distance(found, boxed) < 0.1
    flipped = encoder.descriptor(np.ascontiguousarray(image[:, ::-1]))
    assert identity_distance(found, flipped) < SAME_PERSON_THRESHOLD
    assert encoder.descriptor(np.full((200, 200, 3), 128, np.uint8)) is None


def test_identity_same_vs_different_people(encoder):
    from headforge.bench.identity import SAME_PERSON_THRESHOLD, identity_distance
    person = _portrait("deca_exp_0.jpg")
    h, w = person.shape[:2]
    scaled = np.asarray(Image.fromarray(person).resize((int(w * 1.15), int(h * 1.15)), Image.BILINEAR))
    flipped = np.ascontiguousarray(person[:, ::-1])
    other = _portrait("deca_teaser_0.jpg")
    d_person, d_scaled, d_flipped, d_other = (encoder.descriptor(im) for im in (person, scaled, flipped, other))
    assert all(d is not None for d in (d_person, d_scaled, d_flipped, d_other))
    same = max(identity_distance(d_person, d_scaled), identity_distance(d_person, d_flipped))
    different = identity_distance(d_person, d_other)
    assert same < SAME_PERSON_THRESHOLD < different
