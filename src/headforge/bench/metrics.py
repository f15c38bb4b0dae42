"""Image and landmark quality metrics for the benchmark.

Images are (H, W, 3) uint8 RGB; masks are (H, W) bool; landmarks are (N, 2) pixel (x, y).
A metric over an empty mask is NaN, which :func:`summary` leaves out.
"""
from __future__ import annotations

import cv2
import numpy as np
from skimage.metrics import structural_similarity

SSIM_WINDOW = 7  # scikit-image's default (uniform) window, pixels


def masked_psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """PSNR in dB over the pixels where ``mask`` is set (all three channels), peak 255.

    Identical images give ``inf``; an empty mask gives NaN.
    """
    if not mask.any():
        return float("nan")
    diff = a[mask].astype(np.float64) - b[mask].astype(np.float64)
    mse = float(np.mean(diff**2))
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(255.0**2 / mse))


def masked_ssim(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Mean SSIM (scikit-image, data_range 255, per channel) over the pixels where ``mask`` is set.

    Both images are cut to the mask's bounding box with pixels outside the mask set to black in
    both, so nothing outside the mask changes the value; the full SSIM map is then averaged
    over the mask. Identical images give 1.0; an empty mask gives NaN.
    """
    if not mask.any():
        return float("nan")
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    m = mask[box]
    pad = SSIM_WINDOW // 2  # also makes a box thinner than the window usable
    crops = [np.pad(np.where(m[..., None], im[box], 0).astype(np.uint8),
                    ((pad, pad), (pad, pad), (0, 0))) for im in (a, b)]
    _, ssim_map = structural_similarity(crops[0], crops[1], channel_axis=-1, data_range=255,
                                        win_size=SSIM_WINDOW, full=True)
    return float(ssim_map[pad:-pad, pad:-pad][m].mean())


def landmark_error(pred: np.ndarray, target: np.ndarray, box_diag: float) -> float:
    """Mean 2D distance between (N, 2) pixel landmarks, divided by the face box diagonal (px)."""
    dist = np.linalg.norm(np.asarray(pred, np.float64)[:, :2] - np.asarray(target, np.float64)[:, :2],
                          axis=1)
    return float(dist.mean() / box_diag)


def face_mask_from_landmarks(landmarks: np.ndarray, shape: tuple[int, ...],
                             hull_indices: np.ndarray | None = None) -> np.ndarray:
    """(H, W) bool mask of a face from (N, 2) pixel landmarks; ``shape`` starts with (H, W).

    Without ``hull_indices`` the convex hull of all points is filled; with them, the polygon
    through those points, in that order (e.g. a face-oval contour), is filled.
    """
    shift = 4  # sub-pixel vertex precision for cv2: coordinates in 1/16 px
    pts = np.round(np.asarray(landmarks, np.float64)[:, :2] * (1 << shift)).astype(np.int32)
    canvas = np.zeros(shape[:2], np.uint8)
    if hull_indices is None:
        cv2.fillConvexPoly(canvas, cv2.convexHull(pts), 1, lineType=cv2.LINE_8, shift=shift)
    else:
        cv2.fillPoly(canvas, [pts[np.asarray(hull_indices)]], 1, lineType=cv2.LINE_8, shift=shift)
    return canvas.astype(bool)


def _quantile(sorted_v: np.ndarray, q: float) -> float:
    """Linear-interpolation quantile of sorted values that stays defined with ``inf`` among them."""
    pos = q * (sorted_v.size - 1)
    lo = int(np.floor(pos))
    hi = min(lo + 1, sorted_v.size - 1)
    if pos == lo or sorted_v[lo] == sorted_v[hi]:
        return float(sorted_v[lo])
    return float(sorted_v[lo] + (sorted_v[hi] - sorted_v[lo]) * (pos - lo))


def summary(values) -> dict:
    """Median, 90th percentile, mean and count of ``values``, NaN left out (all NaN if none).

    ``inf`` (e.g. the PSNR of an exact match) is kept and may make the statistics ``inf``.
    """
    v = np.sort(np.asarray(values, np.float64).ravel())
    v = v[~np.isnan(v)]
    if v.size == 0:
        return {"median": float("nan"), "p90": float("nan"), "mean": float("nan"), "n": 0}
    return {"median": _quantile(v, 0.5), "p90": _quantile(v, 0.9), "mean": float(v.mean()),
            "n": int(v.size)}
