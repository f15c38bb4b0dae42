"""Is the skin seamless? Colour steps (CIEDE2000) where the photo's texels meet the fill.

- ``seam_delta_e``: along the outer boundary between photo texels (observed weight >= 0.5,
  holes in that part counted as photo: the eyes, the mouth's inside and the nostrils are
  features with their own edges, not skin seams) and filled ones, the mean colour of the photo side within ``radius`` pixels against the fill side's,
  in CIEDE2000, averaged over the boundary. Works on the (S, S) texture (UV space) and on a
  render (the observed weight rendered like a texture).
- ``tone_delta_e``: per region along that boundary, CIEDE2000 between the median colour of
  the photo's band and of the fill's band (a few percent of the side wide), averaged.
Images are (H, W, 3) uint8 sRGB; weights (H, W) float in [0, 1]; ``valid`` (H, W) bool marks
the pixels that belong to the surface (texels on a UV island, or pixels the head covers).
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy.ndimage import binary_fill_holes
from skimage.color import deltaE_ciede2000, rgb2lab

PHOTO = 0.5
SECTORS = 8
MIN_REGION = 30  # pixels each side for a region to count
MIN_SIDE = 0.2  # a boundary pixel counts when both sides cover this share of its neighbourhood


def seam_delta_e(image: np.ndarray, observed: np.ndarray, valid: np.ndarray, radius: float) -> float:
    """Mean CIEDE2000 step across the photo/fill boundary (NaN if there is none), ``radius`` in pixels."""
    photo = binary_fill_holes(observed >= PHOTO) & valid
    fill = ~photo & valid
    kernel = np.ones((3, 3), np.uint8)
    boundary = photo & cv2.dilate(fill.astype(np.uint8), kernel).astype(bool)
    if boundary.sum() < 10:
        return float("nan")
    lab = rgb2lab(image).astype(np.float32)
    sigma = max(radius / 2, 0.5)

    def side_mean(side):
        m = side.astype(np.float32)
        wsum = cv2.GaussianBlur(m, (0, 0), sigma)
        mean = cv2.GaussianBlur(lab * m[..., None], (0, 0), sigma) / np.maximum(wsum, 1e-6)[..., None]
        return mean, wsum

    inner, w_in = side_mean(photo)
    outer, w_out = side_mean(fill)
    ok = boundary & (w_in > MIN_SIDE) & (w_out > MIN_SIDE)
    if ok.sum() < 10:
        return float("nan")
    return float(deltaE_ciede2000(inner[ok], outer[ok]).mean())


def tone_delta_e(image: np.ndarray, observed: np.ndarray, valid: np.ndarray, band: float) -> float:
    """Mean over the regions around the photo part (``SECTORS`` equal angles about its centre:
    forehead, temples, cheeks, jaw, chin...) of the CIEDE2000 between the median colour of the
    photo texels within ``band`` pixels inside the boundary and of the filled ones within
    ``band`` outside; NaN if no region has both."""
    photo = binary_fill_holes(observed >= PHOTO) & valid
    fill = ~photo & valid
    if photo.sum() < 50 or fill.sum() < 50:
        return float("nan")
    inner = photo & (cv2.distanceTransform((~fill).astype(np.uint8), cv2.DIST_L2, 5) <= band)
    outer = fill & (cv2.distanceTransform((~photo).astype(np.uint8), cv2.DIST_L2, 5) <= band)
    ys, xs = np.nonzero(photo)
    h, w = photo.shape
    gy, gx = np.mgrid[0:h, 0:w]
    sector = ((np.arctan2(gy - ys.mean(), gx - xs.mean()) + np.pi) / (2 * np.pi) * SECTORS).astype(int) % SECTORS
    lab = rgb2lab(image)
    steps = []
    for k in range(SECTORS):
        a_, b_ = lab[inner & (sector == k)], lab[outer & (sector == k)]
        if len(a_) >= MIN_REGION and len(b_) >= MIN_REGION:
            steps.append(float(deltaE_ciede2000(np.median(a_, 0), np.median(b_, 0))))
    return float(np.mean(steps)) if steps else float("nan")
