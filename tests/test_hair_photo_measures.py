"""Hair from the photo, issue 19: the measures (colour, orientation, curl class), the comb
along the photo's flow, per-strand colours from the photo, the curl read from the flow, and
the finished style's strand budget."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import skimage.data

from headforge.bench.run import class_scores, hair_classes
from headforge.hair.generator import HairParams
from headforge.hairphoto.color import photo_strand_colors, render_light
from headforge.hairphoto.curl import CURL, curled, flow_coherence
from headforge.hairphoto.evaluate import color_error, hair_measures, orientation_error, strand_directions
from headforge.hairphoto.flow import comb_strands
from headforge.hairphoto.mask import PersonSegmenter
from headforge.hairphoto.orientation import orientation_field
from headforge.hairphoto.styles import curl_class
from headforge.pipeline import Options, default_reconstructor
from headforge.core.camera import Camera
from headforge.render.mesh import Render

SIZE = 128


def camera(size: int = SIZE) -> Camera:
    """A camera at the origin looking down +z, 1 px = 1 mm at 1 m."""
    return Camera(size, size, 1000.0 * size / 128, (size - 1) / 2, (size - 1) / 2, np.eye(3), np.zeros(3))


def no_head(size: int = SIZE) -> Render:
    return Render(np.zeros((size, size, 3), np.uint8), np.zeros((size, size), bool), np.full((size, size), -1, np.int32),
                  np.full((size, size), np.inf, np.float32))


def stripes(degrees: float, size: int = SIZE, period: float = 5.0) -> np.ndarray:
    """(size, size, 3) uint8 grey stripes running along ``degrees`` (image x right, y down)."""
    a = np.radians(degrees)
    ys, xs = np.mgrid[0:size, 0:size]
    across = -xs * np.sin(a) + ys * np.cos(a)
    g = 120 + 90 * np.sin(2 * np.pi * across / period)
    return np.repeat(g[..., None], 3, axis=2).astype(np.uint8)


def vertical_strands(n: int = 40, points: int = 16) -> np.ndarray:
    """(n, points, 3) straight strands hanging down (+y in the image) at 1 m, 4 cm long."""
    x = np.linspace(-0.04, 0.04, n)
    t = np.linspace(-0.02, 0.02, points)
    return np.stack([np.repeat(x[:, None], points, 1), np.repeat(t[None], n, 0), np.ones((n, points))], -1)


def test_strand_directions_and_orientation_error_against_stripes():
    cam, head = camera(), no_head()
    strands = vertical_strands()
    angle, covered = strand_directions(strands, cam, head)
    assert covered.sum() > 200
    assert np.allclose(angle[covered], np.pi / 2, atol=0.05)
    both = np.zeros((SIZE, SIZE), bool)
    both[30:98, 30:98] = True
    along = orientation_error(stripes(90), strands, cam, head, both)
    across = orientation_error(stripes(0), strands, cam, head, both)
    assert along is not None and along < 8
    assert across is not None and across > 75


def test_color_error_is_small_for_the_same_colours_and_large_for_others():
    rng = np.random.default_rng(0)
    photo = np.clip(rng.normal([120, 60, 30], 12, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
    both = np.ones((SIZE, SIZE), bool)
    assert color_error(photo, photo, both) == pytest.approx(0.0, abs=1e-6)
    brown = np.broadcast_to(np.array([120, 60, 30], np.uint8), photo.shape)
    assert color_error(photo, brown, both) < 2
    grey = np.broadcast_to(np.array([90, 90, 90], np.uint8), photo.shape)
    assert color_error(photo, grey, both) > 15
    assert color_error(photo, brown, np.zeros_like(both)) is None


def test_comb_turns_seen_strands_along_the_flow_and_leaves_roots_and_hidden_hair():
    cam, head = camera(), no_head()
    strands = vertical_strands()
    field = orientation_field(stripes(60)[..., 0].astype(np.float32))
    mask = np.ones((SIZE, SIZE), bool)
    valid = mask.copy()
    combed = comb_strands(strands, cam, head, field, mask, valid, 0.85)
    assert np.allclose(combed[:, 0], strands[:, 0])
    seg = np.diff(cam.project(combed.reshape(-1, 3))[:, :2].reshape(combed.shape[0], -1, 2), axis=1)
    angle = np.degrees(np.arctan2(seg[..., 1], seg[..., 0])) % 180
    assert np.median(angle[:, 4:]) == pytest.approx(60, abs=8)
    # The 3D length of every strand stays within a few percent.
    length = lambda s: np.linalg.norm(np.diff(s, axis=1), axis=2).sum(1)  # noqa: E731
    assert np.allclose(length(combed), length(strands), rtol=0.05)
    # Off the photo's hair nothing turns.
    assert np.allclose(comb_strands(strands, cam, head, field, ~mask, valid, 0.85), strands)
    assert np.allclose(comb_strands(strands, cam, head, field, mask, valid, 0.0), strands)


def test_strand_colours_come_from_the_photo_and_grey_stays_grey():
    cam, head = camera(), no_head()
    strands = vertical_strands()
    n = len(strands)
    crop = np.zeros((SIZE, SIZE, 3), np.uint8)
    crop[:, : SIZE // 2] = (150, 40, 20)  # red on the left
    crop[:, SIZE // 2:] = (110, 70, 40)  # brown on the right
    mask = np.ones((SIZE, SIZE), bool)
    base = np.array([130, 55, 30], np.uint8)
    own = np.repeat(base[None], n, 0)
    light = render_light(cam.to_camera(strands.reshape(-1, 3)).reshape(strands.shape))
    colors, seen = photo_strand_colors(strands, strands[:, 0], own, base, cam, head, crop, mask, mask)
    assert seen == 1.0
    shown_left = colors[: n // 2 - 2].astype(float) * np.median(light)
    assert np.abs(shown_left.mean(0) - (150, 40, 20)).max() < 25
    assert colors[: n // 2 - 2, 0].mean() > colors[n // 2 + 2:, 0].mean() + 20
    grey = np.full((SIZE, SIZE, 3), 200, np.uint8)
    g, _ = photo_strand_colors(strands, strands[:, 0], np.full((n, 3), 200, np.uint8), np.array([200, 200, 200]), cam,
                               head, grey, mask, mask)
    assert (g.max(1) - g.min(1)).max() <= 2 and g.min() > 200
    # Unseen strands (no hair in the mask) keep their own colours.
    kept, share = photo_strand_colors(strands, strands[:, 0], own, base, cam, head, crop, ~mask, mask)
    assert share == 0.0 and np.array_equal(kept, own)


def test_curl_is_read_from_the_flow():
    straight = stripes(80, 256)
    ys, xs = np.mgrid[0:256, 0:256]
    # Curls: stripes whose direction turns every few pixels.
    curls = (120 + 90 * np.sin(2 * np.pi * (np.hypot((xs % 12) - 6, (ys % 12) - 6)) / 5.0)).astype(np.uint8)
    curls = np.repeat(curls[..., None], 3, axis=2)
    hair = np.zeros((256, 256), bool)
    hair[40:220, 40:220] = True
    c_straight, c_curls = flow_coherence(straight, hair), flow_coherence(curls, hair)
    assert c_straight > 0.9 and c_curls < 0.4
    assert flow_coherence(straight, np.zeros_like(hair)) is None
    long = HairParams(length_fringe=0.1, length_top=0.2, length_sides=0.3, length_back=0.35)
    short = HairParams(length_fringe=0.03, length_top=0.05, length_sides=0.03, length_back=0.04)
    assert curl_class(curled(long, c_curls)) == "curly" and curled(long, c_curls).curl_radius == CURL["curl_radius"]
    assert curl_class(curled(long, 0.65)) == "wavy"
    assert curl_class(curled(short, 0.65)) == "straight"
    assert curl_class(curled(long, c_straight)) == "straight"
    assert curl_class(curled(long, None)) == "straight"


@pytest.fixture(scope="module")
def astronaut_avatar():
    return default_reconstructor()(skimage.data.astronaut(), Options(texture_size=512))


def test_photo_hair_has_the_library_strand_budget_and_is_measured(astronaut_avatar):
    avatar = astronaut_avatar
    assert avatar.hair.count >= 10_000 and avatar.hair.points_per_strand >= 32
    block = avatar.params["hair"]
    assert block["strands"] == avatar.hair.count and block["curl_class"] in ("straight", "wavy", "curly", "coily")
    img = skimage.data.astronaut()
    segmenter = PersonSegmenter()
    m = hair_measures(avatar, img, avatar.landmarks, avatar.camera, segmenter)
    assert m["hair_iou"] > 0.6
    assert m["hair_color_de"] is not None and m["hair_color_de"] < 12
    assert m["hair_orientation_deg"] is not None and 0 <= m["hair_orientation_deg"] <= 90
    # Hair of another colour scores far worse.
    green = replace(avatar.hair, colors=np.tile(np.array([40, 200, 40], np.uint8), (avatar.hair.count, 1)))
    worse = hair_measures(replace(avatar, hair=green), img, avatar.landmarks, avatar.camera, segmenter)
    assert worse["hair_color_de"] > m["hair_color_de"] + 15
    assert worse["hair_iou"] == pytest.approx(m["hair_iou"])


def test_bench_hair_classes_are_checked_against_labels(astronaut_avatar):
    labels = {"length": {"a.jpg": "short", "b.jpg": "long"}, "curl": {"a.jpg": "straight"}}
    a = hair_classes(astronaut_avatar, "a.jpg", labels)
    assert a["length_label"] == "short" and a["curl_label"] == "straight"
    rows = [{"ok": True, "hair": {**a, "length_class": "buzz", "curl_class": "straight"}},
            {"ok": True, "hair": {**hair_classes(astronaut_avatar, "b.jpg", labels), "length_class": "medium"}},
            {"ok": True, "hair": hair_classes(astronaut_avatar, "c.jpg", labels)}]
    assert class_scores(rows) == {"length": {"right": 1, "n": 2}, "curl": {"right": 1, "n": 1}}
