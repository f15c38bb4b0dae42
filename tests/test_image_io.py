"""Tests for headforge.io.image: every input is generated here with PIL/numpy."""
from __future__ import annotations

import io
import struct
import tracemalloc
import warnings
import zipfile
import zlib

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageFile, features
from skimage import data as skdata

from headforge.errors import (
    BadImageError,
    ImageTooLargeError,
    ImageTooSmallError,
    UnsupportedFormatError,
)
from headforge.io.image import Photo, load_photo, working_copy


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skdata.astronaut()


def encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kwargs)
    return buf.getvalue()


def write(tmp_path, name: str, payload: bytes):
    path = tmp_path / name
    path.write_bytes(payload)
    return path


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def mean_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int32) - b.astype(np.int32)).mean())


# --- formats -------------------------------------------------------------------------

def needs(feature: str, fmt: str):
    reason = f"this PIL cannot write {fmt}"
    return pytest.param(fmt, marks=pytest.mark.skipif(not features.check(feature), reason=reason))


LOSSY = {"JPEG": 6.0, "WEBP": 6.0, "AVIF": 6.0, "GIF": 8.0}
FORMATS = [
    "JPEG",
    "PNG",
    needs("webp", "WEBP"),
    "GIF",
    "TIFF",
    "BMP",
    needs("avif", "AVIF"),
]


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_loads_with_source_colors(tmp_path, astronaut, fmt):
    path = write(tmp_path, f"photo.{fmt.lower()}", encode(Image.fromarray(astronaut), fmt))
    photo = load_photo(path)
    assert isinstance(photo, Photo)
    assert photo.format == fmt
    assert photo.rgb.shape == astronaut.shape and photo.rgb.dtype == np.uint8
    assert mean_error(photo.rgb, astronaut) <= LOSSY.get(fmt, 0.0)
    assert not photo.exif_rotated


def test_bytes_and_str_path_sources(tmp_path, astronaut):
    payload = encode(Image.fromarray(astronaut), "PNG")
    from_bytes = load_photo(payload)
    from_str = load_photo(str(write(tmp_path, "a.png", payload)))
    np.testing.assert_array_equal(from_bytes.rgb, astronaut)
    np.testing.assert_array_equal(from_str.rgb, astronaut)


def test_grey_jpeg_becomes_three_equal_channels(astronaut):
    grey = Image.fromarray(astronaut).convert("L")
    photo = load_photo(encode(grey, "JPEG", quality=95))
    assert photo.original_mode == "L" and photo.rgb.shape == astronaut.shape
    assert np.array_equal(photo.rgb[..., 0], photo.rgb[..., 1])
    assert np.array_equal(photo.rgb[..., 0], photo.rgb[..., 2])
    assert mean_error(photo.rgb[..., 0], np.asarray(grey)) < 3.0


@pytest.mark.parametrize("orientation, turns", [(6, -1), (8, 1)])
def test_exif_orientation_gives_upright_image(astronaut, orientation, turns):
    stored = np.ascontiguousarray(astronaut[:, :320])  # (512, 320, 3): not square
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    photo = load_photo(encode(Image.fromarray(stored), "JPEG", quality=95, exif=exif))
    upright = np.rot90(stored, k=turns)  # 6: turn clockwise, 8: anticlockwise
    assert photo.exif_rotated
    assert photo.rgb.shape == (320, 512, 3)
    assert mean_error(photo.rgb, upright) < 4.0
    assert mean_error(photo.rgb, np.rot90(stored, k=-turns)) > 20.0


@pytest.mark.parametrize("kind", ["noise", "bad-orientation-entry"])
def test_corrupt_exif_block_still_loads(astronaut, capfd, kind):
    if kind == "noise":
        exif = b"Exif\x00\x00" + np.random.default_rng(1).bytes(200)
    else:  # an IFD whose orientation entries point past the end of the block
        entry = b"\x12\x01\x03\x00\xff\xff\xff\x7f"  # tag 274, SHORT, 2**31 - 1 values
        exif = b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x05\x00" + entry * 3
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        photo = load_photo(encode(Image.fromarray(astronaut), "JPEG", quality=95, exif=exif))
    assert caught == [] and capfd.readouterr().err == ""
    assert not photo.exif_rotated
    assert mean_error(photo.rgb, astronaut) < 4.0


def test_rgba_transparency_composites_over_grey(tmp_path):
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[:, :32] = (255, 0, 0, 0)  # fully transparent red
    rgba[:, 32:48] = (0, 0, 255, 255)  # opaque blue
    rgba[:, 48:] = (255, 255, 255, 128)  # half-transparent white
    photo = load_photo(write(tmp_path, "a.png", encode(Image.fromarray(rgba), "PNG")))
    assert photo.original_mode == "RGBA" and photo.rgb.shape == (64, 64, 3)
    assert np.all(photo.rgb[:, :32] == 128)
    assert np.all(photo.rgb[:, 32:48] == (0, 0, 255))
    assert np.all(np.abs(photo.rgb[:, 48:].astype(int) - 192) <= 1)


def test_16_bit_png_scales_to_8_bit(tmp_path):
    grey = np.zeros((64, 96), np.uint16)
    grey[:, 32:64] = 32768
    grey[:, 64:] = 65535
    photo = load_photo(write(tmp_path, "deep.png", encode(Image.fromarray(grey), "PNG")))
    assert photo.original_mode.startswith("I;16")
    assert photo.rgb.shape == (64, 96, 3) and photo.rgb.dtype == np.uint8
    assert np.all(photo.rgb[:, :32] == 0)
    assert np.all(np.abs(photo.rgb[:, 32:64].astype(int) - 128) <= 1)
    assert np.all(photo.rgb[:, 64:] == 255)


def test_cmyk_jpeg_has_right_colors(astronaut):
    cmyk = Image.fromarray(astronaut).convert("CMYK")
    photo = load_photo(encode(cmyk, "JPEG", quality=95))
    assert photo.original_mode == "CMYK" and photo.rgb.shape == astronaut.shape
    assert mean_error(photo.rgb, astronaut) < 4.0


def test_palette_png_with_transparent_index(tmp_path):
    pal = Image.new("P", (64, 64), 1)
    pal.putpalette([0, 0, 0, 0, 200, 0] + [0] * 762)
    pal.paste(0, (0, 0, 32, 64))  # index 0 is transparent
    photo = load_photo(write(tmp_path, "p.png", encode(pal, "PNG", transparency=0)))
    assert photo.original_mode == "P"
    assert np.all(photo.rgb[:, :32] == 128)
    assert np.all(photo.rgb[:, 32:] == (0, 200, 0))


def test_animated_gif_gives_first_frame(tmp_path):
    frames = [Image.new("RGB", (64, 48), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    payload = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    photo = load_photo(write(tmp_path, "anim.gif", payload))
    assert photo.rgb.shape == (48, 64, 3)
    assert np.all(photo.rgb == (255, 0, 0))


def test_multipage_tiff_gives_first_page(tmp_path):
    pages = [Image.new("RGB", (80, 60), (10, 20, 30)), Image.new("RGB", (40, 40), (200, 0, 0))]
    payload = encode(pages[0], "TIFF", save_all=True, append_images=pages[1:])
    photo = load_photo(write(tmp_path, "scan.tiff", payload))
    assert photo.rgb.shape == (60, 80, 3)
    assert np.all(photo.rgb == (10, 20, 30))


def test_multi_picture_jpeg_reports_jpeg(astronaut):
    first = Image.fromarray(astronaut)
    payload = encode(first, "MPO", save_all=True, append_images=[first.rotate(90)])
    photo = load_photo(payload)
    assert photo.format == "JPEG"
    assert mean_error(photo.rgb, astronaut) < 6.0


def test_loading_does_not_enable_truncated_images(astronaut):
    load_photo(encode(Image.fromarray(astronaut), "JPEG"))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


# --- numpy arrays --------------------------------------------------------------------


def test_array_inputs(astronaut):
    rgb = load_photo(astronaut)
    assert rgb.format == "ARRAY" and rgb.original_mode == "RGB"
    np.testing.assert_array_equal(rgb.rgb, astronaut)
    assert rgb.rgb is not astronaut

    grey = load_photo(astronaut[..., 0])
    assert grey.original_mode == "L"
    np.testing.assert_array_equal(grey.rgb, np.repeat(astronaut[..., :1], 3, axis=2))

    rgba = np.dstack([astronaut, np.zeros(astronaut.shape[:2], np.uint8)])
    assert np.all(load_photo(rgba).rgb == 128)

    floats = load_photo(astronaut.astype(np.float64) / 255.0)
    np.testing.assert_array_equal(floats.rgb, astronaut)


@pytest.mark.parametrize(
    "array",
    [
        np.full((64, 64, 3), 2.0),
        np.full((64, 64, 3), np.nan),
        np.zeros((64, 64, 2), np.uint8),
        np.zeros((64, 64, 3, 1), np.uint8),
        np.zeros((64, 64, 3), np.int16),
    ],
    ids=["float-out-of-range", "nan", "two-channels", "4d", "int16"],
)
def test_bad_arrays(array):
    with pytest.raises(BadImageError, match="not an image"):
        load_photo(array)


def test_small_array_is_too_small():
    with pytest.raises(ImageTooSmallError):
        load_photo(np.zeros((8, 8, 3), np.uint8))


# --- bad input -----------------------------------------------------------------------


def _truncated_jpeg(astronaut):
    payload = encode(Image.fromarray(astronaut), "JPEG", quality=90)
    return payload[: len(payload) // 2]


def _broken_huffman_jpeg(astronaut):
    payload = bytearray(encode(Image.fromarray(astronaut), "JPEG", quality=90))
    dht = payload.find(b"\xff\xc4")
    payload[dht + 5 : dht + 21] = b"\xff" * 16  # code counts summing to far over 256
    return bytes(payload)


def _bad_crc_png(astronaut):
    payload = bytearray(encode(Image.fromarray(astronaut), "PNG"))
    payload[29] ^= 0xFF  # last byte of the IHDR CRC
    return bytes(payload)


def _zip(_):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("face.jpg", b"not really")
    return buf.getvalue()


def _heic(_):
    return struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00" + b"mif1heic" + b"\x00" * 64


def _mp4(_):
    return struct.pack(">I", 24) + b"ftypisom" + b"\x00\x00\x02\x00" + b"isomiso2" + b"\x00" * 64


BAD_CASES = [
    ("empty.jpg", lambda a: b"", BadImageError, "empty"),
    ("notes.jpg", lambda a: b"Dear diary,\nno photo here.\n" * 20, BadImageError, "not an image"),
    ("noise.jpg", lambda a: np.random.default_rng(0).bytes(4096), BadImageError, "not an image"),
    ("half.jpg", _truncated_jpeg, BadImageError, "truncated"),
    ("huffman.jpg", _broken_huffman_jpeg, BadImageError, "corrupt"),
    ("crc.png", _bad_crc_png, BadImageError, "PNG"),
    ("dot.png", lambda a: encode(Image.new("RGB", (1, 1)), "PNG"), ImageTooSmallError, "1x1"),
    ("strip.png", lambda a: encode(Image.new("L", (20000, 100)), "PNG"), ImageTooSmallError, "200"),
    (
        "drawing.svg",
        lambda a: b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>',
        UnsupportedFormatError,
        "SVG",
    ),
    ("doc.jpg", lambda a: b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", UnsupportedFormatError, "PDF"),
    ("archive.png", _zip, UnsupportedFormatError, "zip"),
    ("phone.heic", _heic, UnsupportedFormatError, "HEIC"),
    ("clip.jpg", _mp4, UnsupportedFormatError, "video"),
    ("pixels.png", lambda a: encode(Image.fromarray(a), "PPM"), UnsupportedFormatError, "PPM"),
    ("icon.png", lambda a: encode(Image.new("L", (64, 64)), "ICO"), UnsupportedFormatError, "ICO"),
]


@pytest.mark.parametrize("name, make, error, words", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_input_raises_clean_error(tmp_path, capfd, astronaut, name, make, error, words):
    path = write(tmp_path, name, make(astronaut))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(error) as info:
            load_photo(path)
    message = str(info.value)
    assert words in message and name in message
    assert "\n" not in message and len(message) < 200
    assert info.value.__cause__ is None
    assert info.value.__context__ is None or info.value.__suppress_context__
    assert caught == []
    assert capfd.readouterr().err == ""


def test_missing_file(tmp_path):
    with pytest.raises(BadImageError, match="no such file"):
        load_photo(tmp_path / "absent.jpg")


def test_byte_limit(tmp_path, astronaut):
    payload = encode(Image.fromarray(astronaut), "PNG")
    with pytest.raises(ImageTooLargeError, match="bytes"):
        load_photo(write(tmp_path, "big.png", payload), max_bytes=1000)
    with pytest.raises(ImageTooLargeError, match="bytes"):
        load_photo(payload, max_bytes=1000)


def test_pixel_limit_on_a_real_image(astronaut):
    with pytest.raises(ImageTooLargeError, match="512x512"):
        load_photo(encode(Image.fromarray(astronaut), "PNG"), max_pixels=100_000)


# --- decompression bombs: headers claiming a huge image, with no pixel data --------------


def _png_header(w, h):
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)


def _gif_header(w, h):
    return b"GIF89a" + struct.pack("<HH", w, h) + b"\x00\x00\x00"


def _jpeg_header(w, h):
    components = b"\x01\x11\x00\x02\x11\x00\x03\x11\x00"
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, h, w, 3) + components
    return b"\xff\xd8" + sof


def _riff(chunk: bytes) -> bytes:
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


def _webp_vp8x_header(w, h):
    body = b"\x00\x00\x00\x00" + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little")
    return _riff(b"VP8X" + struct.pack("<I", len(body)) + body)


def _webp_vp8l_header(w, h):
    body = b"\x2f" + ((w - 1) | (h - 1) << 14).to_bytes(4, "little")
    return _riff(b"VP8L" + struct.pack("<I", len(body)) + body)


def _webp_vp8_header(w, h):
    body = b"\x00\x00\x00\x9d\x01\x2a" + struct.pack("<HH", w, h)
    return _riff(b"VP8 " + struct.pack("<I", len(body)) + body)


def _bmp_header(w, h):
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + info


def _tiff_header(w, h):
    # width, height, bits, photometric, strip offset, samples, rows per strip, strip bytes
    tags = [(256, 4, w), (257, 4, h), (258, 3, 8), (262, 3, 1), (273, 4, 8), (277, 3, 1),
            (278, 4, h), (279, 4, w * h)]
    entries = b"".join(struct.pack("<HHII", tag, kind, 1, value) for tag, kind, value in tags)
    return b"II*\x00" + struct.pack("<IH", 8, len(tags)) + entries + b"\x00\x00\x00\x00"


BOMBS = {
    "png": (_png_header, 40000),
    "gif": (_gif_header, 40000),
    "jpeg": (_jpeg_header, 40000),
    "webp-vp8x": (_webp_vp8x_header, 40000),
    "webp-vp8l": (_webp_vp8l_header, 16000),
    "webp-vp8": (_webp_vp8_header, 16000),
    "bmp": (_bmp_header, 40000),
    "tiff": (_tiff_header, 40000),
    "png-under-pil-limit": (_png_header, 8000),
    "bmp-under-pil-limit": (_bmp_header, 8000),
}


@pytest.mark.parametrize("kind", BOMBS)
def test_header_claiming_huge_image_is_refused_without_decoding(tmp_path, capfd, kind):
    make, side = BOMBS[kind]
    path = write(tmp_path, f"bomb.{kind}", make(side, side))
    tracemalloc.start()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(ImageTooLargeError):
                load_photo(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000
    assert caught == []
    assert capfd.readouterr().err == ""


# --- working_copy --------------------------------------------------------------------


def test_working_copy_downscales_to_max_side():
    rgb = np.zeros((600, 900, 3), np.uint8)
    small, scale = working_copy(rgb, max_side=300)
    assert small.shape == (200, 300, 3) and small.dtype == np.uint8
    assert scale == pytest.approx(1 / 3)


def test_working_copy_is_area_average():
    checker = np.indices((64, 64)).sum(axis=0) % 2 * 200
    rgb = np.repeat(checker[:, :, None], 3, axis=2).astype(np.uint8)
    small, scale = working_copy(rgb, max_side=32)
    assert scale == 0.5 and small.shape == (32, 32, 3)
    assert np.all(small == 100)


def test_working_copy_never_upscales(astronaut):
    same, scale = working_copy(astronaut, max_side=1280)
    assert scale == 1.0
    np.testing.assert_array_equal(same, astronaut)
    assert not np.shares_memory(same, astronaut)
