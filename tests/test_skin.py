"""Skin: the photo's shading fitted and divided out, occluders left to the fill, and the seam
and tone measures of the bench, on synthetic inputs with known answers."""
from __future__ import annotations

import numpy as np
import pytest
from skimage.color import deltaE_ciede2000, rgb2lab

from headforge.bench.seams import seam_delta_e, tone_delta_e
from headforge.texture.delight import delight, fit_shading, relight, sh_basis, shading
from headforge.texture.unwrap import skin_weight


def _hemisphere(n: int = 4000, seed: int = 0) -> np.ndarray:
    """(n, 3) unit normals facing the camera (camera frame: z forward, so z < 0)."""
    v = np.random.default_rng(seed).normal(size=(n, 3))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    v[:, 2] = -np.abs(v[:, 2])
    return v.astype(np.float32)


def test_shading_fitted_on_a_lit_surface_is_divided_out():
    normals = _hemisphere()
    # A key light from the upper left plus ambient, as grey SH; the albedo is one skin colour.
    truth = np.zeros(9, np.float32)
    truth[0], truth[1], truth[3], truth[2] = 3.0, -0.8, -0.6, -0.5
    shade = sh_basis(normals) @ truth
    shade /= shade.mean()
    skin = np.array([190.0, 140.0, 120.0], np.float32)
    lit = relight(np.tile(skin, (len(normals), 1)), shade)
    coeffs = fit_shading(lit, normals, np.ones(len(normals)))
    assert np.corrcoef(shading(normals, coeffs), shade)[0, 1] > 0.99
    flat = delight(lit, shading(normals, coeffs))
    # The lit surface spans many shades; the de-lit one is close to the albedo again (the
    # ridge on the directional bands leaves a little of a light this strong).
    def error(colors):
        return deltaE_ciede2000(rgb2lab(colors[None] / 255)[0], rgb2lab(skin[None, None] / 255)[0])

    assert np.ptp(lit[:, 1]) > 60
    assert error(flat).mean() < 0.35 * error(lit).mean()


def test_features_do_not_bend_the_fitted_light():
    normals = _hemisphere(seed=1)
    colors = np.tile(np.array([180.0, 135.0, 115.0], np.float32), (len(normals), 1))
    colors[:300] = (40, 30, 25)  # dark brows and eyes, in one corner of the normals' sphere
    coeffs = fit_shading(colors, normals, np.ones(len(normals)))
    # Robust fit: the skin stays evenly lit (spread of the shading over the skin small).
    assert np.std(shading(normals[300:], coeffs)) < 0.08


def test_too_few_samples_leave_the_photo_as_it_is():
    normals = _hemisphere(50)
    coeffs = fit_shading(np.full((50, 3), 128.0), normals, np.ones(50))
    assert np.allclose(shading(normals, coeffs), 1.0)


def test_delight_and_relight_are_inverse():
    rng = np.random.default_rng(2)
    colors = rng.uniform(20, 180, size=(100, 3)).astype(np.float32)  # none clips when lit
    shade = rng.uniform(0.5, 1.5, size=100).astype(np.float32)
    assert np.allclose(delight(relight(colors, shade), shade), colors, atol=0.6)


def test_hair_coloured_texels_where_hair_falls_go_to_the_fill():
    rng = np.random.default_rng(3)
    skin = np.array([200, 150, 130], np.float32) + rng.normal(0, 4, size=(2000, 3))
    hair = np.array([60, 40, 30], np.float32) + rng.normal(0, 4, size=(200, 3))
    colors = np.clip(np.concatenate([skin, hair, hair]), 0, 255).astype(np.float32)
    weight = np.ones(len(colors))
    features = np.zeros(len(colors))
    features[2200:2300] = 1  # dark on purpose: a brow
    territory = np.zeros(len(colors))
    territory[2000:] = 1  # the hair sits on the forehead
    territory[:200] = 1  # and so does some skin
    w = skin_weight(colors, weight, features, territory)
    assert w[:2000].mean() > 0.95
    assert w[2000:2200].max() < 0.1 and w[2000:2200].mean() < 0.02
    assert np.all(w[2200:2300] == 1.0)
    # Below the hair territory (beards, lips) nothing is taken away.
    assert np.all(skin_weight(colors, weight, features, np.zeros(len(colors))) == 1.0)


def _two_halves(left, right, size=200):
    image = np.zeros((size, size, 3), np.uint8)
    image[:, : size // 2], image[:, size // 2:] = left, right
    observed = np.zeros((size, size), np.float32)
    observed[:, : size // 2] = 1.0
    return image, observed, np.ones((size, size), bool)


def test_seam_measure_reads_a_colour_step():
    a, b = (200, 150, 130), (170, 120, 100)
    truth = deltaE_ciede2000(rgb2lab(np.array([[a]], np.uint8))[0, 0], rgb2lab(np.array([[b]], np.uint8))[0, 0])
    image, observed, valid = _two_halves(a, b)
    assert seam_delta_e(image, observed, valid, 4) == pytest.approx(truth, rel=0.02)
    assert tone_delta_e(image, observed, valid, 8) == pytest.approx(truth, rel=0.02)
    same, _, _ = _two_halves(a, a)
    assert seam_delta_e(same, observed, valid, 4) < 1e-3 and tone_delta_e(same, observed, valid, 8) < 1e-3


def test_seam_measure_ignores_holes_in_the_photo_part():
    image, observed, valid = _two_halves((200, 150, 130), (200, 150, 130))
    image[90:110, 40:60] = (30, 30, 30)  # an eye: a feature, not filled skin
    observed[90:110, 40:60] = 0.0
    assert seam_delta_e(image, observed, valid, 4) < 1e-3


def test_no_boundary_is_not_a_number():
    image = np.full((50, 50, 3), 128, np.uint8)
    assert np.isnan(seam_delta_e(image, np.ones((50, 50)), np.ones((50, 50), bool), 4))
    assert np.isnan(tone_delta_e(image, np.ones((50, 50)), np.ones((50, 50), bool), 4))
