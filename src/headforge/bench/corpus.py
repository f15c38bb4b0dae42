"""The bad-input corpus: one file per kind of photo people (or attackers) upload.

    python -m headforge.bench.corpus OUT_DIR

Nothing here is committed as a binary: every file is made from ``skimage.data`` images and
hand-written headers. ``EXPECTED`` says how each kind must end: ``"ok"`` (an avatar) or the
stable error code every entry point (Python, CLI, HTTP) must report. Used by the tests and by
``headforge bench --hardening``.
"""
from __future__ import annotations

import io
import struct
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import skimage.data
from PIL import Image

# kind -> (file name, expected outcome)
EXPECTED: dict[str, tuple[str, str]] = {
    "empty_file": ("empty.jpg", "bad_image"),
    "text_named_jpg": ("text.jpg", "bad_image"),
    "truncated_jpeg": ("truncated.jpg", "bad_image"),
    "corrupt_huffman_jpeg": ("huffman.jpg", "bad_image"),
    "one_pixel_png": ("one_pixel.png", "image_too_small"),
    "png_bomb_header": ("bomb.png", "image_too_large"),
    "gif_bomb_header": ("bomb.gif", "image_too_large"),
    "png_16bit": ("portrait16.png", "ok"),
    "cmyk_jpeg": ("cmyk.jpg", "ok"),
    "greyscale": ("grey.jpg", "ok"),
    "rgba_transparent_face": ("transparent_face.png", "no_face"),
    "palette_png": ("palette.png", "ok"),
    "exif_rotated": ("exif_rotated.jpg", "ok"),
    "animated_gif": ("animated.gif", "ok"),
    "multipage_tiff": ("multipage.tiff", "ok"),
    "avif": ("portrait.avif", "ok"),
    "heic": ("portrait.heic", "unsupported_format"),
    "svg": ("drawing.svg", "unsupported_format"),
    "pdf": ("document.pdf", "unsupported_format"),
    "zip_named_png": ("archive.png", "unsupported_format"),
    "strip_20000x100": ("strip.png", "image_too_small"),
    "face_30px": ("tiny_face.png", "no_face"),  # under the detector's reach: no face to measure
    "no_face": ("cat.png", "no_face"),
    "several_faces": ("two_people.png", "ok"),
    "face_cut_by_border": ("cut_face.png", "ok"),
    "extreme_close_up": ("close_up.png", "ok"),
    "upload_60mb": ("huge.jpg", "image_too_large"),
}
# Where HTTP differs: the service refuses a photo of several people by default
# (HEADFORGE_SINGLE_FACE=1), while the Python API and the CLI use the largest face.
HTTP_EXPECTED = {"several_faces": "several_faces"}


def expected_code(kind: str, http: bool = False) -> str:
    """The outcome ``kind`` must end in: "ok" or an error code (``http``: over the HTTP API)."""
    return HTTP_EXPECTED.get(kind, EXPECTED[kind][1]) if http else EXPECTED[kind][1]


def _png_header(width: int, height: int) -> bytes:
    """A PNG signature and IHDR (correct CRC) with no pixel data."""
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + ihdr + struct.pack(">I", zlib.crc32(ihdr))


def _encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kw)
    return buf.getvalue()


def build(out: Path) -> dict[str, Path]:
    """Write every kind into ``out``; returns {kind: path}."""
    out.mkdir(parents=True, exist_ok=True)
    portrait = Image.fromarray(skimage.data.astronaut())
    jpeg = _encode(portrait, "JPEG", quality=92)
    data: dict[str, bytes] = {
        "empty_file": b"",
        "text_named_jpg": b"This is a text file, not a photo.\n" * 20,
        "truncated_jpeg": jpeg[: len(jpeg) // 3],
        "one_pixel_png": _encode(Image.new("RGB", (1, 1), (200, 150, 120)), "PNG"),
        "png_bomb_header": _png_header(40000, 40000),
        "gif_bomb_header": b"GIF89a" + struct.pack("<HH", 40000, 40000) + b"\x00\x00\x00;",
        "png_16bit": _encode(Image.fromarray((np.asarray(portrait.convert("L")).astype(np.uint16) * 257)), "PNG"),
        "cmyk_jpeg": _encode(portrait.convert("CMYK"), "JPEG", quality=92),
        "greyscale": _encode(portrait.convert("L"), "JPEG", quality=92),
        "palette_png": _encode(portrait.convert("P", palette=Image.ADAPTIVE, colors=256), "PNG"),
        "svg": b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="512" height="512">'
               b'<circle cx="256" cy="256" r="200"/></svg>',
        "pdf": b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n",
        "heic": b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64,
        "strip_20000x100": _encode(Image.new("RGB", (20000, 100), (128, 128, 128)), "PNG"),
        "no_face": _encode(Image.fromarray(skimage.data.chelsea()), "PNG"),
    }
    # A JPEG whose Huffman table is overwritten with garbage.
    huff = bytearray(jpeg)
    dht = huff.find(b"\xff\xc4")
    huff[dht + 5 : dht + 60] = bytes(range(7, 62))
    data["corrupt_huffman_jpeg"] = bytes(huff)
    # RGBA whose face region is fully transparent (composited away: nothing left to find).
    rgba = np.dstack([skimage.data.astronaut(), np.full((512, 512), 255, np.uint8)])
    rgba[40:220, 150:300, 3] = 0
    data["rgba_transparent_face"] = _encode(Image.fromarray(rgba), "PNG")
    # A 512x400 portrait stored sideways (400x512) with EXIF orientation 6: upright it is
    # 512 wide and 400 high again.
    exif = Image.Exif()
    exif[0x0112] = 6
    sideways = portrait.crop((0, 0, 512, 400)).transpose(Image.Transpose.ROTATE_90)
    data["exif_rotated"] = _encode(sideways, "JPEG", quality=92, exif=exif.tobytes())
    frames = [portrait, Image.fromarray(skimage.data.chelsea()).resize((512, 512))]
    data["animated_gif"] = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    data["multipage_tiff"] = _encode(frames[0], "TIFF", save_all=True, append_images=frames[1:])
    data["avif"] = _encode(portrait, "AVIF", quality=80)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("photo.jpg", jpeg)
    data["zip_named_png"] = archive.getvalue()
    # The portrait shrunk so its face is ~30 px wide, on a large grey canvas.
    canvas = Image.new("RGB", (640, 480), (128, 128, 128))
    canvas.paste(portrait.resize((150, 150)), (245, 165))
    data["face_30px"] = _encode(canvas, "PNG")
    pair = Image.new("RGB", (1024, 512))
    pair.paste(portrait, (0, 0))
    pair.paste(portrait.resize((384, 384)), (576, 64))
    data["several_faces"] = _encode(pair, "PNG")
    data["face_cut_by_border"] = _encode(portrait.crop((150, 0, 512, 512)), "PNG")  # left cheek cut off
    data["extreme_close_up"] = _encode(portrait.crop((165, 60, 290, 185)).resize((600, 600), Image.BICUBIC), "PNG")
    data["upload_60mb"] = jpeg[:2000] + np.random.default_rng(0).bytes(60_000_000)

    paths = {}
    for kind, (name, _) in EXPECTED.items():
        paths[kind] = out / name
        paths[kind].write_bytes(data[kind])
    return paths


if __name__ == "__main__":
    built = build(Path(sys.argv[1] if len(sys.argv) > 1 else "corpus"))
    print(f"{len(built)} kinds written")
