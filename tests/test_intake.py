"""Upload intake: metadata is cut out of JPEG, PNG and WebP without touching the pixels, and
the EXIF orientation, kept apart, turns the decoded photo upright."""
from __future__ import annotations

import io

import numpy as np
import pytest
import skimage.data
from PIL import Image, ImageOps, PngImagePlugin

from headforge.errors import BadImageError, ImageTooLargeError, UnsupportedFormatError
from headforge.io.image import load_photo
from headforge.core.images import upright
from headforge.service.intake import accept_upload

SECRET = "SecretCam-1234"
LIMITS = {"max_bytes": 20_000_000, "max_pixels": 25_000_000}


def with_metadata(fmt: str) -> bytes:
    image = Image.fromarray(skimage.data.astronaut()[:, :400])  # not square: rotations show
    exif = Image.Exif()
    exif[0x010F] = SECRET  # camera make
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    out = io.BytesIO()
    extra = {"icc_profile": b"ICC" + SECRET.encode() * 20}
    if fmt == "PNG":
        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", SECRET)
        extra["pnginfo"] = info
    if fmt == "JPEG":
        extra["comment"] = SECRET.encode()
    image.save(out, fmt, exif=exif.tobytes(), **extra)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "TIFF"])
def test_metadata_is_stripped_and_the_photo_stays_the_same(fmt):
    original = with_metadata(fmt)
    assert SECRET.encode() in original
    upload = accept_upload(original, LIMITS["max_bytes"], LIMITS["max_pixels"])
    assert SECRET.encode() not in upload.data
    assert not Image.open(io.BytesIO(upload.data)).getexif()
    expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(original))).convert("RGB"))
    got = upright(load_photo(upload.data).rgb, upload.orientation)
    assert got.shape == expected.shape == (400, 512, 3)
    assert np.array_equal(got, expected)


def test_an_mpo_keeps_only_its_first_picture():
    first, second = with_metadata("JPEG"), with_metadata("JPEG")
    upload = accept_upload(first + second, LIMITS["max_bytes"], LIMITS["max_pixels"])
    assert upload.data.count(b"\xff\xd8") == 1 and upload.data.endswith(b"\xff\xd9")


@pytest.mark.parametrize("data, error", [
    (b"%PDF-1.7 not a photo" * 10, UnsupportedFormatError),
    (b"just some text, not a photo\n" * 10, BadImageError),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 50, BadImageError),
])
def test_non_photos_are_refused(data, error):
    with pytest.raises(error):
        accept_upload(data, LIMITS["max_bytes"], LIMITS["max_pixels"])


def test_limits_are_checked_from_the_header():
    big = io.BytesIO()
    Image.new("L", (6000, 5000)).save(big, "PNG")
    with pytest.raises(ImageTooLargeError, match="megapixels"):
        accept_upload(big.getvalue(), LIMITS["max_bytes"], LIMITS["max_pixels"])
    with pytest.raises(ImageTooLargeError, match="MB"):
        accept_upload(with_metadata("JPEG"), 1000, LIMITS["max_pixels"])
