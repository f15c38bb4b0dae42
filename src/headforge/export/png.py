"""PNG encoding without metadata: the files carry pixels only (no text, EXIF or time chunks)."""
from __future__ import annotations

import cv2
import numpy as np


def encode_png(image: np.ndarray) -> bytes:
    """(H, W, 3) uint8 RGB image, row 0 at the top -> PNG bytes (IHDR, IDAT, IEND only)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {image.shape} {image.dtype}")
    ok, data = cv2.imencode(".png", image[:, :, ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise ValueError("PNG encoding failed")
    return data.tobytes()
