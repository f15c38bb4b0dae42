"""PNG encoding without metadata: the files carry pixels only (no text, EXIF or time chunks)."""
from __future__ import annotations

import cv2
import numpy as np


def encode_png(image: np.ndarray) -> bytes:
    """(H, W, 3) uint8 RGB or (H, W, 4) RGBA image, row 0 at the top -> PNG bytes (IHDR,
    IDAT, IEND only)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3) or (H, W, 4) uint8 image, got {image.shape} {image.dtype}")
    bgr = image[:, :, [2, 1, 0, 3][: image.shape[2]]]
    ok, data = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise ValueError("PNG encoding failed")
    return data.tobytes()
