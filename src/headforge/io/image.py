"""Photo loading that refuses bad input with a one-line error instead of crashing.

Order of checks: byte size, magic bytes (known non-images, header dimensions), a lazy
PIL open (format and pixel count from the header), then the full decode. Nothing is
decoded before the pixel count is known to be within the limit.
"""
from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError, features

from headforge.core.images import JPEG_SOF, UPRIGHT, exif_orientation, jpeg_segments
from headforge.errors import (
    BadImageError,
    HeadforgeError,
    ImageTooLargeError,
    ImageTooSmallError,
    UnsupportedFormatError,
)

# PIL format names we accept. MPO is the multi-picture JPEG many phone cameras write.
PHOTO_FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "GIF", "TIFF", "BMP", "AVIF"}
# Long side / short side above which a picture is a strip, not a portrait.
MAX_ASPECT = 10.0
# Grey the transparent parts of an image are composited over.
BACKGROUND = 128

_USE = "use JPEG, PNG or WebP"

_NON_IMAGE_MAGIC = [
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a zip archive"),
    (b"PK\x05\x06", "a zip archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
]
_IMAGE_MAGIC = [
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),
    (b"MM\x00+", "TIFF"),
]
_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}
_AVIF_BRANDS = {b"avif", b"avis"}
_HEIF_BRANDS = {b"mif1", b"msf1"}  # generic HEIF container: HEIC or AVIF inside
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}
_CONVERTIBLE_MODES = {
    "1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr"
}


@dataclass
class Photo:
    """A decoded photo: ``rgb`` is (H, W, 3) uint8, upright, full resolution, no metadata."""

    rgb: np.ndarray
    format: str  # 'JPEG', 'PNG', 'WEBP', ... ('ARRAY' for a numpy input)
    original_mode: str  # PIL mode before conversion: 'L', 'RGBA', 'P', 'I;16', 'CMYK', ...
    exif_rotated: bool  # whether an EXIF orientation other than 1 was applied


def load_photo(
    source: str | Path | bytes | np.ndarray,
    *,
    max_bytes: int = 50_000_000,
    max_pixels: int = 40_000_000,
    min_side: int = 32,
) -> Photo:
    """Load a photo from a path, encoded bytes or an array ((H, W), (H, W, 3) or (H, W, 4);
    uint8, or float in [0, 1]). Transparency is composited over mid-grey.

    Raises BadImageError, UnsupportedFormatError, ImageTooLargeError or ImageTooSmallError
    with a one-line message; nothing is printed and no warning escapes. PIL's own
    decompression-bomb limit (about 89 MP) applies on top of ``max_pixels``.
    """
    if isinstance(source, np.ndarray):
        return _from_array(source, max_pixels, min_side)
    if isinstance(source, (bytes, bytearray)):
        label, data = "the image data", bytes(source)
    elif isinstance(source, (str, Path)):
        label, data = _read_file(Path(source), max_bytes)
    else:
        raise TypeError(f"load_photo takes a path, bytes or an array, not {type(source).__name__}")
    if not data:
        raise BadImageError(f"{label} is empty (0 bytes), not an image")
    _check_bytes(len(data), label, max_bytes)
    return _decode(data, label, max_pixels, min_side)


def working_copy(rgb: np.ndarray, max_side: int = 1280) -> tuple[np.ndarray, float]:
    """A copy of ``rgb`` (H, W[, C]) shrunk with area interpolation so that its long side is
    at most ``max_side`` pixels, and the scale factor (<= 1, never upscales):
    working = scale * original. For pixel-centre coordinates the exact map is
    (u + 0.5) * scale - 0.5; the two differ by under half a working pixel."""
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, got {max_side}")
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    if scale == 1.0:
        return rgb.copy(), 1.0
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), scale


def _read_file(path: Path, max_bytes: int) -> tuple[str, bytes]:
    """('name' label, the file's bytes); a file over ``max_bytes`` is refused before reading.
    The read is sized from the stat (a bigger buffer would be allocated in full); a size of 0
    may be a pipe or device, read up to the limit and checked by the caller."""
    label = f"'{path.name}'"
    try:
        size = path.stat().st_size
        _check_bytes(size, label, max_bytes)
        with path.open("rb") as f:
            return label, f.read(size + 1 if size else max_bytes + 1)
    except FileNotFoundError:
        raise BadImageError(f"{label} cannot be read: no such file") from None
    except IsADirectoryError:
        raise BadImageError(f"{label} cannot be read: it is a folder") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise BadImageError(f"{label} cannot be read: {reason}") from None


def _decode(data: bytes, label: str, max_pixels: int, min_side: int) -> Photo:
    """Sniff, check the size from the header, then fully decode ``data`` into a Photo."""
    kind = _non_image_kind(data)
    if kind:
        raise UnsupportedFormatError(f"{label} is {kind}, not a photo; {_USE}")
    magic = _magic_format(data)
    # PIL has no HEVC decoder; AVIF depends on how PIL was built.
    if magic == "HEIC" or (magic == "AVIF" and not features.check("avif")):
        raise UnsupportedFormatError(
            f"{label} is in {magic} format, which cannot be read here; {_USE}"
        )
    header = _header_size(data, magic)
    if header:
        _check_pixels(*header, label, max_pixels)
    fmt = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format or "unknown"
                if fmt not in PHOTO_FORMATS:
                    raise UnsupportedFormatError(
                        f"{label} is in {fmt} format, which is not a supported photo format; {_USE}"
                    )
                _check_dims(*img.size, label, max_pixels, min_side)
                img.load()
                mode = img.mode
                orientation = exif_orientation(img)
                upright = img.transpose(UPRIGHT[orientation]) if orientation in UPRIGHT else img
                rgb = _to_rgb(upright, label)
    except HeadforgeError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning, MemoryError):
        raise ImageTooLargeError(f"{label} has too many pixels to decode safely") from None
    except UnidentifiedImageError:
        raise BadImageError(_unidentified_message(data, label, magic)) from None
    except Exception as exc:  # PIL raises many types (OSError, SyntaxError, ValueError, ...)
        problem = "truncated" if isinstance(exc, EOFError) or "truncated" in str(exc) else "corrupt"
        raise BadImageError(
            f"{label} is not a readable image: the {magic or fmt or 'image'} data is {problem}"
        ) from None
    return Photo(rgb=rgb, format="JPEG" if fmt == "MPO" else fmt, original_mode=mode,
                 exif_rotated=orientation in UPRIGHT)


def _from_array(arr: np.ndarray, max_pixels: int, min_side: int) -> Photo:
    """Photo from an (H, W), (H, W, 3) or (H, W, 4) uint8 or float-in-[0, 1] array."""
    label = "the array"
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise BadImageError(
            f"{label} is not an image: shape {arr.shape}, expected (H, W), (H, W, 3) or (H, W, 4)"
        )
    _check_dims(arr.shape[1], arr.shape[0], label, max_pixels, min_side)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all() or arr.min() < -1e-6 or arr.max() > 1 + 1e-6:
            raise BadImageError(
                f"{label} is not an image: float values must be finite and in [0, 1]"
            )
        arr = np.rint(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)
    elif arr.dtype != np.uint8:
        raise BadImageError(
            f"{label} is not an image: dtype {arr.dtype}, expected uint8 or float in [0, 1]"
        )
    img = Image.fromarray(np.ascontiguousarray(arr))
    rgb = _to_rgb(img, label)
    return Photo(rgb=rgb, format="ARRAY", original_mode=img.mode, exif_rotated=False)


def _check_bytes(size: int, label: str, max_bytes: int) -> None:
    """Refuse an encoded file over ``max_bytes`` bytes."""
    if size > max_bytes:
        raise ImageTooLargeError(f"{label} is {size:,} bytes; the limit is {max_bytes:,} bytes")


def _check_pixels(width: int, height: int, label: str, max_pixels: int) -> None:
    """Refuse more than ``max_pixels`` pixels (the decompression-bomb guard)."""
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{label} is {width}x{height} pixels ({width * height / 1e6:.1f} MP); "
            f"the limit is {max_pixels / 1e6:.1f} MP"
        )


def _check_dims(width: int, height: int, label: str, max_pixels: int, min_side: int) -> None:
    """Refuse too many pixels, a short side under ``min_side`` or a strip-like aspect ratio."""
    _check_pixels(width, height, label, max_pixels)
    short, long = sorted((width, height))
    if short < min_side:
        raise ImageTooSmallError(
            f"{label} is {width}x{height} pixels; the short side must be at least {min_side}"
        )
    if long > MAX_ASPECT * short:
        raise ImageTooSmallError(
            f"{label} is {width}x{height} pixels, a {long / short:.0f}:1 strip; "
            f"a portrait needs an aspect ratio within {MAX_ASPECT:.0f}:1"
        )


def _to_rgb(img: Image.Image, label: str) -> np.ndarray:
    """(H, W, 3) uint8 from a decoded PIL image: 16-bit grey scaled by 255/65535,
    transparency composited over BACKGROUND grey, CMYK/palette/grey converted."""
    if img.mode in _SIXTEEN_BIT_MODES:
        grey = np.asarray(img).astype(np.float32)
        grey8 = np.rint(np.clip(grey, 0, 65535) * (255.0 / 65535.0)).astype(np.uint8)
        return np.repeat(grey8[:, :, None], 3, axis=2)
    if img.mode not in _CONVERTIBLE_MODES:
        raise UnsupportedFormatError(
            f"{label} uses the {img.mode} pixel mode, which photos do not use; {_USE}"
        )
    if img.has_transparency_data:
        rgba = img.convert("RGBA")
        rgb = Image.new("RGB", img.size, (BACKGROUND,) * 3)
        rgb.paste(rgba, (0, 0), rgba)
    else:
        rgb = img.convert("RGB")
    return np.array(rgb, dtype=np.uint8)


def _non_image_kind(data: bytes) -> str | None:
    """'a PDF document', 'an SVG drawing', ... for known non-image content, else None."""
    for prefix, kind in _NON_IMAGE_MAGIC:
        if data.startswith(prefix):
            return kind
    if data[4:8] == b"ftyp" and _magic_format(data) is None:
        return "a video or other media file"
    text = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith((b"<?xml", b"<svg", b"<!doctype svg")) and b"<svg" in text:
        return "an SVG drawing"
    if text.startswith((b"<!doctype html", b"<html")):
        return "an HTML page"
    if text.startswith(b"<?xml"):
        return "an XML document"
    return None


def _magic_format(data: bytes) -> str | None:
    """Image format named by the magic bytes ('JPEG', 'PNG', 'HEIC', ...), else None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[4:8] == b"ftyp":
        box_size = int.from_bytes(data[:4], "big")
        brands = {data[8:12]} | {data[i:i + 4] for i in range(16, min(box_size, 256), 4)}
        if brands & _AVIF_BRANDS:
            return "AVIF"
        if brands & _HEIC_BRANDS or data[8:12] in _HEIF_BRANDS:
            return "HEIC"
        return None
    for prefix, fmt in _IMAGE_MAGIC:
        if data.startswith(prefix):
            return fmt
    return None


def _header_size(data: bytes, fmt: str | None) -> tuple[int, int] | None:
    """(width, height) in pixels read from the header of formats PIL will not open without
    pixel data (PNG, GIF, JPEG, WebP); None where not found. BMP and TIFF open lazily."""
    try:
        if fmt == "PNG" and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        if fmt == "GIF":
            return struct.unpack("<HH", data[6:10])
        if fmt == "JPEG":
            return _jpeg_size(data)
        if fmt == "WEBP":
            return _webp_size(data)
    except struct.error:
        return None
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first JPEG start-of-frame segment, walking the markers."""
    try:
        for marker, start, end in jpeg_segments(data):
            if marker in JPEG_SOF and end >= start + 9:
                height, width = struct.unpack(">HH", data[start + 5:start + 9])
                return width, height
    except ValueError:
        return None
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the first WebP chunk: VP8X canvas, VP8L or VP8 frame header."""
    chunk = data[12:16]
    if chunk == b"VP8X":
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    if chunk == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


def _unidentified_message(data: bytes, label: str, magic: str | None) -> str:
    """Why PIL could not identify ``data``: text, a broken known format, or unknown bytes."""
    head = data[:512]
    if not any((b < 0x20 and b not in b"\t\n\r\f") or b == 0x7F for b in head):
        return f"{label} is not an image: it contains text"
    if magic:
        return f"{label} is not a readable image: the {magic} data is truncated or corrupt"
    return f"{label} is not an image: its content is not a known image format"
