"""The photo's shading, estimated and divided out: a de-lit albedo that relights.

Model (Lambertian skin, distant light): photo = albedo * shading(n), with ``shading`` a grey
2nd-order spherical-harmonics function of the surface normal n (9 coefficients, camera frame:
x right, y down, z forward). It is fitted by robust least squares to the luminance of the
well-seen skin texels on the fitted head's smooth normals (albedo taken as constant there, the
usual assumption), then scaled so that its mean over those texels is 1: the albedo keeps the
photo's average brightness and loses the light's direction (lit cheek vs shadowed jaw and
temple). Colours are divided in linear light (sRGB decoded first).
"""
from __future__ import annotations

import numpy as np

SH_BANDS = 9
MIN_SHADING = 0.6  # of the mean: deeper shadows are not brightened further (noise, occluders)
MAX_SHADING = 1.6
RIDGE = 0.02  # keeps the higher bands small where the seen normals do not constrain them
HUBER = 0.08  # luminance residual (linear units) beyond which a texel's weight falls (features)
IRLS_STEPS = 4
LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)


def sh_basis(normals: np.ndarray) -> np.ndarray:
    """(N, 9) real spherical harmonics up to band 2 of (N, 3) unit normals (constant factors
    included, Ramamoorthi and Hanrahan's irradiance convention)."""
    x, y, z = normals[:, 0], normals[:, 1], normals[:, 2]
    return np.stack([
        np.full_like(x, 0.282095),
        0.488603 * y, 0.488603 * z, 0.488603 * x,
        1.092548 * x * y, 1.092548 * y * z, 0.315392 * (3 * z * z - 1),
        1.092548 * x * z, 0.546274 * (x * x - y * y),
    ], axis=1).astype(np.float32)


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """sRGB 0..255 (any shape) -> linear light 0..1, float32."""
    c = np.asarray(c, np.float32) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(c: np.ndarray) -> np.ndarray:
    """Linear light 0..1 -> sRGB 0..255 float32 (clipped)."""
    c = np.clip(c, 0.0, 1.0)
    return (255.0 * np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)).astype(np.float32)


def fit_shading(colors: np.ndarray, normals: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(9,) grey SH coefficients, normalised to mean 1 over the weighted samples.

    colors: (N, 3) sRGB 0..255; normals: (N, 3) unit, camera frame; weights: (N,) >= 0 (how
    sure each sample is skin seen by the photo). Fewer than 200 weighted samples: flat (1, 0...)."""
    w = np.asarray(weights, np.float64)
    if (w > 0.05).sum() < 200:
        return np.array([1 / 0.282095] + [0.0] * (SH_BANDS - 1), np.float32)
    y = srgb_to_linear(colors) @ LUMA
    basis = sh_basis(normals).astype(np.float64)
    ridge = RIDGE * np.diag([0.0] + [1.0] * 3 + [4.0] * 5) * w.sum()
    robust = np.ones_like(w)
    for _ in range(IRLS_STEPS):
        ww = w * robust
        a = basis.T @ (basis * ww[:, None]) + ridge
        coeffs = np.linalg.solve(a, basis.T @ (y * ww))
        r = np.abs(basis @ coeffs - y)
        robust = np.where(r <= HUBER, 1.0, HUBER / np.maximum(r, 1e-9))
    mean = float((basis @ coeffs * w).sum() / w.sum())
    return (coeffs / max(mean, 1e-6)).astype(np.float32)


def shading(normals: np.ndarray, coeffs: np.ndarray) -> np.ndarray:
    """(N,) grey shading of (N, 3) unit camera-frame normals, clamped to
    [MIN_SHADING, MAX_SHADING] (1 = the photo's mean over the skin)."""
    return np.clip(sh_basis(normals) @ coeffs, MIN_SHADING, MAX_SHADING).astype(np.float32)


def delight(colors: np.ndarray, shade: np.ndarray) -> np.ndarray:
    """(N, 3) sRGB 0..255 colours with the (N,) grey ``shade`` divided out (in linear light)."""
    return linear_to_srgb(srgb_to_linear(colors) / shade[:, None])


def relight(colors: np.ndarray, shade: np.ndarray) -> np.ndarray:
    """The inverse of :func:`delight`: (N, 3) sRGB 0..255 albedo under the (N,) grey ``shade``."""
    return linear_to_srgb(srgb_to_linear(colors) * shade[:, None])
