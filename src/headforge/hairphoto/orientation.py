"""Per-pixel 2D hair direction and its confidence from an oriented filter bank (Gabor).

Angles are in image pixels (x right, y down), in [0, pi): the direction *along* the strands,
``(cos a, sin a)``. The bank holds ``ANGLES`` complex Gabor filters (an even and an odd
kernel each, so the response does not depend on whether a pixel lies on a bright or a dark
streak); a pixel's angle is the best-responding filter refined by a parabola through its
neighbours, and its confidence is how sharply that peak stands out of the bank's mean
response (0: no preferred direction or no contrast, towards 1: one clear direction).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
import torch

ANGLES = 32
WAVELENGTH = 4.0  # pixels
SIGMA = 1.8  # pixels, across the stripes
ASPECT = 0.5  # sigma along the stripes = SIGMA / ASPECT
KERNEL = 11
FLOOR = 3.0  # response (contrast-normalised units) below which no direction is trusted


@dataclass
class OrientationField:
    """angle: (H, W) float32 radians in [0, pi); confidence: (H, W) float32 in [0, 1];
    energy: (H, W) float32 peak response (contrast-normalised image units)."""

    angle: np.ndarray
    confidence: np.ndarray
    energy: np.ndarray

    def doubled(self) -> np.ndarray:
        """(2, H, W) float32 ``confidence * (cos 2a, sin 2a)``: the field as a vector that
        does not jump at 0 / pi, ready to average or to feed a network."""
        return np.stack([self.confidence * np.cos(2 * self.angle), self.confidence * np.sin(2 * self.angle)])


@lru_cache(maxsize=4)
def gabor_bank(angles: int = ANGLES) -> torch.Tensor:
    """(2 * angles, 1, KERNEL, KERNEL) float32 kernels: even, odd for each strand angle
    ``k * pi / angles``. cv2's ``theta`` is the stripes' normal, so it is the angle + pi/2."""
    kernels = []
    for k in range(angles):
        theta = k * np.pi / angles + np.pi / 2
        for psi in (0.0, np.pi / 2):
            g = cv2.getGaborKernel((KERNEL, KERNEL), SIGMA, theta, WAVELENGTH, ASPECT, psi, cv2.CV_32F)
            kernels.append(g - g.mean())  # no response to flat areas
    return torch.from_numpy(np.stack(kernels)[:, None].copy())


def normalise_contrast(gray: np.ndarray, sigma: float = 4.0) -> np.ndarray:
    """(H, W) float32: ``gray`` minus its local mean over its local standard deviation (so
    dark hair streaks count as much as bright ones)."""
    g = gray.astype(np.float32)
    mean = cv2.GaussianBlur(g, (0, 0), sigma)
    var = cv2.GaussianBlur((g - mean) ** 2, (0, 0), sigma)
    return (g - mean) / np.sqrt(var + (0.02 * 255) ** 2)


def orientation_field(gray: np.ndarray) -> OrientationField:
    """The orientation field of an (H, W) grey image (uint8 or float 0..255)."""
    x = torch.from_numpy(normalise_contrast(gray))[None, None]
    bank = gabor_bank()
    with torch.no_grad():
        r = torch.nn.functional.conv2d(x, bank, padding=KERNEL // 2)[0]
    response = torch.sqrt(r[0::2] ** 2 + r[1::2] ** 2).numpy()  # (ANGLES, H, W)
    n = response.shape[0]
    best = response.argmax(0)
    rows, cols = np.indices(best.shape)
    peak = response[best, rows, cols]
    before = response[(best - 1) % n, rows, cols]
    after = response[(best + 1) % n, rows, cols]
    curvature = before - 2 * peak + after
    offset = np.where(curvature < 0, 0.5 * (before - after) / np.minimum(curvature, -1e-9), 0.0)
    angle = np.mod((best + np.clip(offset, -0.5, 0.5)) * np.pi / n, np.pi).astype(np.float32)
    mean = response.mean(0)
    confidence = np.clip((peak - mean) / (peak + FLOOR), 0, 1).astype(np.float32)
    return OrientationField(angle, confidence, peak.astype(np.float32))
