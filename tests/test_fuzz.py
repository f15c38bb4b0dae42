"""Property-based fuzzing: the image loader, the emotion schema and the strand-file readers either
succeed with valid output or raise a HeadforgeError with a one-line message — nothing else."""
from __future__ import annotations

import io
import struct

import numpy as np
import skimage.data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from headforge.emotion.mapping import EMOTIONS, parse_emotions
from headforge.errors import HeadforgeError
from headforge.core.strand_formats import read_hair, read_usc
from headforge.io.image import load_photo

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _small_png() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()[::8, ::8]).save(buf, "PNG")
    return buf.getvalue()


def _small_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()[::8, ::8]).save(buf, "JPEG")
    return buf.getvalue()


SEEDS = [_small_png(), _small_jpeg()]


def _loads_or_refuses(data: bytes) -> None:
    try:
        photo = load_photo(data, min_side=8)
    except HeadforgeError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert photo.rgb.dtype == np.uint8 and photo.rgb.ndim == 3 and photo.rgb.shape[2] == 3


@FUZZ
@given(st.binary(max_size=4096))
def test_loader_on_random_bytes(data):
    _loads_or_refuses(data)


@FUZZ
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=12),
       st.integers(0, 10**6))
def test_loader_on_mutated_images(seed, flips, cut):
    data = bytearray(seed)
    for pos, value in flips:
        data[pos % len(data)] = value
    _loads_or_refuses(bytes(data[: max(1, cut % (len(data) + 1))]))


@FUZZ
@given(st.text(max_size=80))
def test_emotion_text_parses_or_refuses(text):
    try:
        emotions = parse_emotions(text)
    except HeadforgeError as e:
        assert "\n" not in str(e)
        return
    assert set(emotions) <= set(EMOTIONS)
    assert all(0.0 <= v <= 1.0 for v in emotions.values())


def _usc(counts_and_points) -> bytes:
    out = [struct.pack("<i", len(counts_and_points))]
    for n, points in counts_and_points:
        out.append(struct.pack("<i", n))
        out.append(np.asarray(points, "<f4").tobytes())
    return b"".join(out)


@FUZZ
@given(st.lists(st.tuples(st.integers(-5, 2**31 - 1),
                          st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), max_size=30)),
                max_size=6),
       st.integers(-3, 2**31 - 1))
def test_usc_reader_with_lying_counts(strands, count):
    data = bytearray(_usc([(n, pts) for n, pts in strands]))
    data[:4] = struct.pack("<i", count)
    _reads_or_refuses(read_usc, bytes(data))


@FUZZ
@given(st.binary(max_size=2048))
def test_hair_reader_on_random_bytes(tail):
    _reads_or_refuses(read_hair, b"HAIR" + tail)
    _reads_or_refuses(read_usc, tail)


def _reads_or_refuses(reader, data: bytes) -> None:
    try:
        result = reader(data)
    except HeadforgeError as e:
        assert "\n" not in str(e)
        return
    for strand in result.strands:
        assert np.all(np.isfinite(strand)) and strand.ndim == 2 and strand.shape[1] == 3
