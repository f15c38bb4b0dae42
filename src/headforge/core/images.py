"""Image bytes: PNG encoding without metadata and decoding, EXIF orientation, and the walk over
a JPEG's marker segments.

Images are (H, W, 3) uint8 RGB arrays (RGBA (H, W, 4) where stated), row 0 at the top.
"""
from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np
from PIL import ExifTags, Image

from headforge.errors import BadImageError

# EXIF orientation -> the PIL transpose that makes the image upright.
UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# JPEG start-of-frame markers (they carry the image size); C4, C8 and CC are not frames.
JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def pool_2x2(a: np.ndarray, op: np.ufunc = np.add) -> np.ndarray:
    """(H/2, W/2, ...) ``op`` (np.add, np.maximum) of the 2 x 2 blocks of an (H, W, ...)
    array, H and W even (strided slices: far faster than a reduce over reshaped axes)."""
    return op(op(a[0::2, 0::2], a[0::2, 1::2]), op(a[1::2, 0::2], a[1::2, 1::2]))


def encode_png(image: np.ndarray) -> bytes:
    """(H, W, 3) uint8 RGB or (H, W, 4) RGBA image -> PNG bytes (IHDR, IDAT, IEND only: no
    text, EXIF or time)."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"expected an (H, W, 3) or (H, W, 4) uint8 image, got {image.shape} {image.dtype}")
    bgr = image[:, :, [2, 1, 0, 3][: image.shape[2]]]
    ok, data = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise ValueError("PNG encoding failed")
    return data.tobytes()


def decode_png(data: bytes, what: str = "a PNG image") -> np.ndarray:
    """PNG (or any OpenCV-readable) bytes -> (H, W, 3) uint8 RGB; BadImageError naming
    ``what`` when they do not decode. For files we wrote; uploads go through
    :func:`headforge.io.image.load_photo`."""
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        raise BadImageError(f"{what} is unreadable")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def exif_orientation(img: Image.Image) -> int:
    """EXIF orientation 1..8 of an opened PIL image; 1 (as stored) where missing, out of range
    or unreadable, since a broken EXIF block should not lose a good picture. PIL reads the
    EXIF block from the file's header: no pixels need to be decoded."""
    try:
        value = int(img.getexif().get(ExifTags.Base.Orientation, 1))
    except Exception:  # noqa: BLE001 - PIL raises many types for broken EXIF blocks
        return 1
    return value if 1 <= value <= 8 else 1


def upright(rgb: np.ndarray, orientation: int) -> np.ndarray:
    """(H, W, 3) ``rgb`` turned as EXIF ``orientation`` says (1: unchanged)."""
    if orientation not in UPRIGHT:
        return rgb
    return np.asarray(Image.fromarray(rgb).transpose(UPRIGHT[orientation]))


def jpeg_segments(data: bytes) -> Iterator[tuple[int, int, int]]:
    """Walk a JPEG's markers after the start of image: (marker, start, end) per segment, where
    ``data[start:end]`` is the marker (one 0xFF, fill bytes skipped), its length and payload,
    and for a start of scan (0xDA) also the entropy-coded data up to the next marker. Stops
    after the end of image (0xD9) or at the end of ``data``; raises ValueError where a marker
    should start and none does."""
    i, n = 2, len(data)
    while i < n:
        if data[i] != 0xFF:
            raise ValueError(f"no JPEG marker at byte {i}")
        while i < n and data[i] == 0xFF:  # fill bytes
            i += 1
        if i >= n:
            return
        marker, start = data[i], i - 1
        i += 1
        if marker == 0xD9 or 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no payload
            yield marker, start, i
            if marker == 0xD9:
                return
            continue
        i += int.from_bytes(data[i:i + 2], "big")
        if marker == 0xDA:
            i = _scan_end(data, i)
        yield marker, start, min(i, n)


def _scan_end(data: bytes, i: int) -> int:
    """Index of the first marker after entropy-coded data starting at ``i`` (``len(data)`` if none):
    0xFF followed by 0x00 (a stuffed byte), a restart marker or another 0xFF is not one."""
    while True:
        j = data.find(b"\xff", i)
        if j < 0 or j + 1 >= len(data):
            return len(data)
        following = data[j + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            i = j + 1
            continue
        return j
