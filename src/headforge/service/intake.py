"""Upload intake: check an upload from its header and strip its metadata before it is stored.

Only the header is read (format, size, EXIF orientation): no pixels are decoded in the gateway
for JPEG, PNG and WebP, whose metadata (EXIF with GPS and camera serials, XMP, ICC profiles,
comments, text chunks, thumbnails, extra MPO pictures) is cut out at the byte level. The EXIF
orientation is kept apart, in the job, and applied by the worker after decoding. Other formats
(GIF, BMP, TIFF, AVIF) are decoded, turned upright and stored as a plain PNG.
"""
from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from headforge.errors import BadImageError, ImageTooLargeError, ImageTooSmallError, UnsupportedFormatError
from headforge.core.images import exif_orientation, jpeg_segments
from headforge.io.image import PHOTO_FORMATS, load_photo

MIN_SIDE = 32
_PNG_KEEP = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"sBIT"}
_WEBP_DROP = {b"EXIF", b"XMP ", b"ICCP"}
_VP8X_METADATA_FLAGS = 0x20 | 0x08 | 0x04  # ICC, EXIF, XMP


@dataclass(frozen=True)
class Upload:
    """A checked upload: ``data`` without metadata, its format and size as stored, and the EXIF
    ``orientation`` (1..8) that the worker applies after decoding."""

    data: bytes
    format: str
    width: int
    height: int
    orientation: int = 1


def accept_upload(data: bytes, max_bytes: int, max_pixels: int) -> Upload:
    """Check ``data`` and return it stripped of metadata. Raises the same errors (and codes) as
    :func:`headforge.io.image.load_photo`: too large, too small, not an image, unsupported."""
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"the upload is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.0f} MB")
    if not data:
        raise BadImageError("the upload is empty (0 bytes), not an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as img:  # reads the header only
                fmt, (width, height) = img.format, img.size
                orientation = exif_orientation(img)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError):
        load_photo(data, max_bytes=max_bytes, max_pixels=max_pixels)  # raises its precise error
        raise BadImageError("the upload is not a readable image") from None
    if fmt not in PHOTO_FORMATS:
        raise UnsupportedFormatError(f"the upload is in {fmt} format, which is not a supported photo format; "
                                     "use JPEG, PNG or WebP")
    if width * height > max_pixels:
        raise ImageTooLargeError(f"the photo is {width} x {height} pixels; the limit is {max_pixels / 1e6:.0f} megapixels")
    if min(width, height) < MIN_SIDE:
        raise ImageTooSmallError(f"the photo is {width} x {height} pixels; at least {MIN_SIDE} on each side is needed")
    if fmt in ("JPEG", "MPO"):
        return Upload(strip_jpeg(data), "JPEG", width, height, orientation)
    if fmt == "PNG":
        return Upload(strip_png(data), "PNG", width, height, orientation)
    if fmt == "WEBP":
        return Upload(strip_webp(data), "WEBP", width, height, orientation)
    return _reencoded(data)


def strip_jpeg(data: bytes) -> bytes:
    """The JPEG without APP1..APP15 (EXIF, XMP, ICC, MPF, ...) except Adobe's colour-transform
    APP14, without comments or non-JFIF APP0, and without anything after the first picture's end
    (MPO's other pictures, trailers). The compressed picture is copied byte for byte."""
    if data[:2] != b"\xff\xd8":
        raise BadImageError("the upload is not a readable image: the JPEG data is corrupt")
    out = bytearray(b"\xff\xd8")
    try:
        for marker, start, end in jpeg_segments(data):
            if _keep_jpeg_segment(marker, data[start + 2:end]):
                out += data[start:end]
    except ValueError:
        raise BadImageError("the upload is not a readable image: the JPEG data is corrupt") from None
    return bytes(out)


def _keep_jpeg_segment(marker: int, segment: bytes) -> bool:
    if marker == 0xE0:
        return segment[2:7] == b"JFIF\0"
    if marker == 0xEE:
        return segment[2:7] == b"Adobe"
    return not (0xE1 <= marker <= 0xEF or marker == 0xFE)


def strip_png(data: bytes) -> bytes:
    """The PNG with only the chunks that describe pixels (no text, EXIF, time, ICC or APNG frames)."""
    out, i = bytearray(data[:8]), 8
    while i + 8 <= len(data):
        (length,) = struct.unpack(">I", data[i:i + 4])
        kind = data[i + 4:i + 8]
        end = i + 12 + length
        if kind in _PNG_KEEP:
            out += data[i:end]
        i = end
        if kind == b"IEND":
            break
    return bytes(out)


def strip_webp(data: bytes) -> bytes:
    """The WebP without EXIF, XMP and ICC chunks (and their VP8X flags)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise BadImageError("the upload is not a readable image: the WebP data is corrupt")
    body, i = bytearray(), 12
    while i + 8 <= len(data):
        kind = data[i:i + 4]
        (size,) = struct.unpack("<I", data[i + 4:i + 8])
        chunk = bytearray(data[i:i + 8 + size + (size & 1)])
        i += 8 + size + (size & 1)
        if kind in _WEBP_DROP:
            continue
        if kind == b"VP8X" and len(chunk) > 8:
            chunk[8] &= ~_VP8X_METADATA_FLAGS & 0xFF
        body += chunk
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + bytes(body)


def _reencoded(data: bytes) -> Upload:
    """Formats that are not cut at the byte level: decoded, made upright, stored as PNG."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            img = ImageOps.exif_transpose(img)
            img = img.convert("RGBA" if "A" in img.getbands() or "transparency" in img.info else "RGB")
            out = io.BytesIO()
            img.save(out, "PNG", compress_level=1)
    except Exception:  # noqa: BLE001 - PIL raises many types for broken files
        raise BadImageError("the upload is not a readable image: the data is corrupt") from None
    return Upload(out.getvalue(), "PNG", img.width, img.height, 1)
