"""Hair from the photo: mask, orientation field, network, and the astronaut's avatar hair."""
from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest
import skimage.data

from headforge.detection.landmarks import FaceDetector
from headforge.hair.collision import ClosedSurface
from headforge.hair.generator import HairParams
from headforge.hair.meshquery import points_inside
from headforge.hair.reference import reference_head
from headforge.hair.scalp import root_points
from headforge.hairphoto.align import BORDER, align_face
from headforge.hairphoto.features import CHANNELS, INPUT_SIZE
from headforge.hairphoto.evaluate import hair_iou
from headforge.hairphoto.grow import LOWEST_FOREHEAD, hairline_band
from headforge.hairphoto.mask import PersonSegmenter, body_mask, face_frame, hair_mask, runs_off_below_chin
from headforge.hairphoto.model import WEIGHTS_PATH, Prediction, load_model, predict
from headforge.hairphoto.orientation import orientation_field
from headforge.hairphoto.refine import BODY_DEPTH, behind_body, carve_strands, iou, prefix, silhouette
from headforge.hairphoto.stage import RUNS_OFF, photo_style
from headforge.hairphoto.styles import CLASS_HEADS, LENGTH_CLASSES, decode, encode, length_class, sample_style
from headforge.hairphoto.synth import NECK_TOP, Torso, drape_on_torso, make_samples
from headforge.pipeline import Options, default_reconstructor
from headforge.render import render_mesh
from headforge.core.camera import Camera
from headforge.texture.scalp import worn_albedo


@pytest.fixture(scope="module")
def astronaut():
    """The astronaut photo, its landmarks, its face-aligned crop and the person probability."""
    img = skimage.data.astronaut()
    landmarks = FaceDetector()(img).points[:, :2]
    return img, landmarks, PersonSegmenter()


def composite(img, landmarks, color, stripes: bool, period: float = 5.0):
    """The astronaut with a painted hair cap of known shape over (and well beyond) her own hair:
    an ellipse around the top of the head down to the ears, the face oval cut out. Returns
    the crop, its landmarks, the valid area and the known hair (all in the crop)."""
    alignment = align_face(landmarks)
    crop = alignment.warp(img, border=BORDER)
    lm = alignment.to_crop(landmarks)
    f = face_frame(lm, crop.shape[0])
    cap = (f.ring < 1.75) & (f.height > 0.45)
    face = np.zeros(cap.shape, np.uint8)
    cv2.fillPoly(face, [np.round(lm[[10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378,
                                     400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21,
                                     54, 103, 67, 109]]).astype(np.int32)], 1)
    known = cap & (face == 0)
    paint = np.broadcast_to(np.asarray(color, np.float64), crop.shape).copy()
    if stripes:  # strands: thin streaks along a fixed direction
        ys, xs = np.mgrid[0:crop.shape[0], 0:crop.shape[1]]
        paint *= (0.8 + 0.3 * np.sin(2 * np.pi * (xs + 0.3 * ys) / period))[..., None]
    out = crop.copy()
    out[known] = np.clip(paint[known], 0, 255).astype(np.uint8)
    return out, lm, alignment.valid(img.shape), known, alignment


def painted_back(img: np.ndarray, crop: np.ndarray, known: np.ndarray, alignment) -> np.ndarray:
    """``img`` with the composite's painted hair (``known`` pixels of the aligned ``crop``)
    warped back into it: the person model runs on the photo, so it must see the same cap."""
    inverse = cv2.invertAffineTransform(alignment.matrix)
    size = img.shape[1::-1]
    back = cv2.warpAffine(known.astype(np.uint8), inverse, size, flags=cv2.INTER_NEAREST) > 0
    photo = img.copy()
    photo[back] = cv2.warpAffine(crop, inverse, size)[back]
    return photo


def test_mask_finds_painted_hair_and_leaves_the_face(astronaut):
    img, landmarks, segmenter = astronaut
    crop, lm, valid, known, alignment = composite(img, landmarks, (70, 45, 30), stripes=True)
    photo = painted_back(img, crop, known, alignment)
    mask = hair_mask(crop, lm, valid, segmenter.in_crop(photo, alignment))
    assert iou(mask.hair, known, valid) > 0.8
    f = face_frame(lm, crop.shape[0])
    below_brows = (f.ring < 0.9) & (f.height < f.brow)
    assert mask.hair[below_brows].mean() < 0.02  # no face skin
    assert not mask.hair[(f.height < -0.6) & (np.abs(f.across) < 0.3)].any()  # no spacesuit


def test_mask_keeps_hair_over_the_shoulders_but_not_a_collar(astronaut):
    """Below the chin, hair coloured like the hair above is hair; a collar of another colour
    is not."""
    img, landmarks, segmenter = astronaut
    color = (70, 45, 30)
    crop, lm, valid, known, alignment = composite(img, landmarks, color, stripes=True)
    f = face_frame(lm, crop.shape[0])
    # Locks falling from the cap over her right shoulder (the image's left), a green collar on
    # the other side.
    lock = (f.across < -0.45) & (f.across > -0.75) & (f.height < 0.6) & (f.height > -0.5)
    collar = (f.across > 0.45) & (f.across < 0.75) & (f.height < -0.1) & (f.height > -0.5)
    ys, xs = np.mgrid[0:crop.shape[0], 0:crop.shape[1]]
    streaks = (0.8 + 0.3 * np.sin(2 * np.pi * (xs + 0.3 * ys) / 5.0))[..., None]
    crop[lock & ~known] = np.clip(np.asarray(color) * streaks, 0, 255).astype(np.uint8)[lock & ~known]
    crop[collar] = (40, 160, 60)
    painted = known | lock | collar
    photo = painted_back(img, crop, painted, alignment)
    mask = hair_mask(crop, lm, valid, segmenter.in_crop(photo, alignment))
    below = f.height < -0.05
    assert mask.hair[lock & below & valid].mean() > 0.7
    assert mask.hair[collar & valid].mean() < 0.05


def test_mask_finds_blond_hair_in_a_grey_photo(astronaut):
    """Without colour, streaked hair as bright as the skin is found by its texture."""
    img, landmarks, segmenter = astronaut
    grey = np.repeat(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    skin = np.median(grey[int(landmarks[50][1]) - 3:int(landmarks[50][1]) + 3,
                          int(landmarks[50][0]) - 3:int(landmarks[50][0]) + 3].reshape(-1, 3), axis=0)
    crop, lm, valid, known, alignment = composite(grey, landmarks, skin, stripes=True, period=8)
    photo = painted_back(grey, crop, known, alignment)
    mask = hair_mask(crop, lm, valid, segmenter.in_crop(photo, alignment))
    assert iou(mask.hair, known, valid) > 0.7
    f = face_frame(lm, crop.shape[0])
    # Next to no face skin (the blurred texture reaches a little over the face's edge).
    assert mask.hair[(f.ring < 0.9) & (f.height < f.brow)].mean() < 0.04


def test_a_skin_colored_crown_is_bald(astronaut):
    img, landmarks, segmenter = astronaut
    skin = np.median(img[int(landmarks[50][1]) - 3:int(landmarks[50][1]) + 3,
                         int(landmarks[50][0]) - 3:int(landmarks[50][0]) + 3].reshape(-1, 3), axis=0)
    crop, lm, valid, known, alignment = composite(img, landmarks, skin, stripes=False)
    photo = img.copy()
    inverse = cv2.invertAffineTransform(alignment.matrix)
    back = cv2.warpAffine(known.astype(np.uint8), inverse, img.shape[1::-1], flags=cv2.INTER_NEAREST) > 0
    photo[back] = cv2.warpAffine(crop, inverse, img.shape[1::-1])[back]
    mask = hair_mask(crop, lm, valid, segmenter.in_crop(photo, alignment))
    assert not mask.hair.any()


def test_short_hair_running_off_the_photo_below_the_chin_is_continued(astronaut):
    """Hair beside the face that leaves the photo below the chin belongs to a long style,
    whatever the network says; hair that ends inside the photo keeps the network's class."""
    img, landmarks, _ = astronaut
    lm = align_face(landmarks).to_crop(landmarks)
    f = face_frame(lm, 256)
    hair = (np.abs(f.across) > 0.55) & (np.abs(f.across) < 0.8) & (f.height > -0.5) & (f.height < 0.9)
    cut = f.height > -0.3  # the photo ends 0.3 face heights below the chin
    everywhere = np.ones_like(hair)
    assert runs_off_below_chin(hair, cut, lm) == pytest.approx(0.3, abs=0.05)
    assert runs_off_below_chin(hair, everywhere, lm) is None
    assert runs_off_below_chin(hair & (f.height > 0.2), f.height > 0.2, lm) is None  # cut above the chin
    assert 0.3 > RUNS_OFF
    values, classes = encode(HairParams(length_fringe=0.05, length_top=0.06, length_sides=0.05, length_back=0.06))
    assert LENGTH_CLASSES[classes["length"]] == "short"
    probabilities = {k: np.eye(len(names))[classes[k]] for k, names in CLASS_HEADS.items()}
    prediction = Prediction(values, classes, probabilities)
    assert length_class(photo_style(prediction, hair, everywhere, lm)) == "short"
    assert length_class(photo_style(prediction, hair, cut, lm)) == "long"


@pytest.mark.parametrize("degrees", [0, 17, 45, 80, 90, 123, 160])
def test_orientation_of_stripes(degrees):
    a = np.radians(degrees)
    ys, xs = np.mgrid[0:128, 0:128]
    across = -xs * np.sin(a) + ys * np.cos(a)  # distance across stripes running along angle a
    image = 120 + 90 * np.sin(2 * np.pi * across / 5.0)
    field = orientation_field(image.astype(np.float32))
    inner = (slice(16, -16), slice(16, -16))
    error = np.degrees(np.abs((field.angle[inner] - a + np.pi / 2) % np.pi - np.pi / 2))
    assert error.max() < 10
    assert field.confidence[inner].mean() > 0.5
    flat = orientation_field(np.full((64, 64), 100, np.float32))
    assert flat.confidence.max() < 0.05


def test_model_loads_and_predicts():
    # Its speed is the benchmark's (the hair stage's timings), not a timed test's.
    x = np.zeros((len(CHANNELS), INPUT_SIZE, INPUT_SIZE), np.float32)
    net = load_model.__wrapped__(WEIGHTS_PATH)  # a fresh load, not the cached model
    prediction = predict(x, np.array([0.0, 0.0]), net)
    assert set(prediction.classes) == {"length", "parting", "tie"}
    assert np.all((prediction.values >= 0) & (prediction.values <= 1))


def test_style_codes_round_trip():
    rng = np.random.default_rng(3)
    for _ in range(30):
        params = sample_style(rng)
        values, classes = encode(params)
        back = decode(values, classes)
        assert length_class(back) == length_class(params) == LENGTH_CLASSES[classes["length"]]
        if not params.bald:
            assert back.length_top == pytest.approx(params.length_top, rel=1e-4)
            assert back.parting == params.parting


def test_prefix_cuts_strands_along_their_length():
    t = np.linspace(0, 1, 9)
    strands = np.stack([np.column_stack([t, t ** 2, 0 * t])] * 2)
    half = prefix(strands, 0.5)
    seg = np.linalg.norm(np.diff(strands, axis=1), axis=2).sum(1)
    assert np.linalg.norm(np.diff(half, axis=1), axis=2).sum(1) == pytest.approx(seg / 2, rel=0.02)
    assert np.allclose(half[:, 0], strands[:, 0])


@pytest.fixture(scope="module")
def astronaut_avatar():
    return default_reconstructor()(skimage.data.astronaut(), Options(texture_size=512))


def test_astronaut_wears_her_hair_rooted_on_the_scalp_outside_the_head(astronaut_avatar):
    avatar = astronaut_avatar
    hair = avatar.hair
    block = avatar.params["hair"]
    assert block["source"] == "photo" and block["length_class"] in ("short", "medium")
    assert hair is not None and hair.count > 1000
    head = avatar.mesh
    ref = reference_head()
    # On the scalp, or on the band just below its hairline where the photo shows hair.
    assert np.isin(hair.root_face, np.union1d(ref.scalp, hairline_band())).all()
    assert np.isin(hair.root_face, ref.scalp).mean() > 0.8
    roots, _ = root_points(head.vertices, head.faces, hair.root_face, hair.root_bary)
    assert np.abs(hair.strands[:, 0] - roots).max() < 1e-4  # on the fitted head's own scalp
    closed = ClosedSurface.from_mesh(head.vertices, head.faces)
    inside = points_inside(closed.extend(head.vertices), closed.faces, hair.strands.reshape(-1, 3))
    assert inside.mean() < 1e-3
    # Her brown hair, not a default colour.
    r, g, b = block["color_srgb"]
    assert r > b and 40 < r < 200
    assert block["timings_s"]["mask"] > 0  # its speed is the benchmark's


def test_hairline_band_stays_off_the_face_and_ears():
    ref = reference_head()
    band = hairline_band()
    assert len(band) and not np.isin(band, ref.scalp).any()
    centre = ref.vertices[ref.faces[band]].mean(1)
    front = np.abs(np.degrees(np.arctan2(centre[:, 0], centre[:, 2] + 0.01))) < 30
    assert centre[front, 1].min() > LOWEST_FOREHEAD - 0.005  # above the brows
    assert np.abs(centre[:, 0]).max() < 0.09  # in front of the ears


def test_hair_none_leaves_it_off():
    avatar = default_reconstructor()(skimage.data.astronaut(), Options(texture_size=512, hair="none"))
    assert avatar.hair is None and avatar.params["hair"] == {"source": "none"}


def test_hair_falling_onto_the_torso_drapes_over_its_front_or_back():
    torso = Torso(np.eye(3), 1.0, 1.0)
    y = np.linspace(0.0, -0.45, 40)
    # Two strands hanging straight down beside the neck, one a little in front of the
    # torso's mid-plane and one a little behind it, and one well clear of the shoulders.
    strands = np.stack([np.column_stack([np.full_like(y, x), y, np.full_like(y, z)])
                        for x, z in ((0.09, 0.0), (0.09, -0.04), (0.3, 0.0))])
    draped = drape_on_torso(strands, torso)
    local = torso.to_local(draped)
    depth = -local[..., 1]
    w, d = torso.section(np.clip(depth, 0, None))
    inside = (depth > 0) & ((np.abs(local[..., 0]) / w) ** 2.5 + (np.abs(local[..., 2]) / d) ** 2.5 < 0.999)
    assert not inside.any()
    below_shoulders = strands[0, :, 1] < NECK_TOP - 0.15
    assert (draped[0, below_shoulders, 2] > 0.07).all()  # over the chest
    assert (draped[1, below_shoulders, 2] < -0.11).all()  # down the back
    assert np.allclose(draped[2], strands[2])  # beyond the shoulders: untouched
    assert np.allclose(draped[:, :, :2], strands[:, :, :2])  # only moved forwards or back


def test_synthetic_renders_stand_the_head_on_shoulders():
    (sample,) = make_samples(4, seed=0, views=1)
    body = sample.body
    assert body.mean() > 0.05
    rows = np.nonzero(body.any(1))[0]
    face_rows = np.nonzero(sample.x[CHANNELS.index("face")].any(1))[0] * (body.shape[0] // INPUT_SIZE)
    assert rows.max() > face_rows.max()  # below the face
    assert not (body & sample.truth).any()


def test_hair_behind_the_body_is_hidden_and_not_cut():
    size = 64
    cam = Camera(size, size, 80.0, (size - 1) / 2, (size - 1) / 2, np.eye(3), np.zeros(3))
    head_vertices = np.array([[-0.05, -0.3, 1.0], [0.05, -0.3, 1.0], [0.0, -0.2, 1.0]])  # a small triangle at the top
    head = render_mesh(head_vertices, np.array([[0, 1, 2]]), cam, lighting="flat")
    body = np.zeros((size, size), bool)
    body[40:, :] = True  # the lower third of the image: shoulders
    occluder = behind_body(head, body)
    plane = float(np.median(head.depth[head.mask])) + BODY_DEPTH
    assert np.allclose(occluder.depth[body], plane) and np.array_equal(occluder.depth[head.mask], head.depth[head.mask])
    t = np.linspace(-0.1, 0.3, 30)
    behind = np.column_stack([0 * t - 0.1, t, np.full_like(t, plane + 0.05)])[None]
    in_front = np.column_stack([0 * t + 0.1, t, np.full_like(t, plane - 0.05)])[None]
    sil_behind, sil_front = silhouette(behind, cam, occluder), silhouette(in_front, cam, occluder)
    assert not sil_behind[44:].any() and sil_behind[20:36].any()
    assert sil_front[44:].any()
    # No hair in the mask over the body: the strand behind it is not cut there, the one in
    # front of it is.
    mask = np.zeros((size, size), bool)
    mask[:40] = True
    valid = np.ones((size, size), bool)
    cut_behind = carve_strands(behind, cam, occluder, mask, valid)
    cut_front = carve_strands(in_front, cam, occluder, mask, valid)
    length = lambda s: np.linalg.norm(np.diff(s[0], axis=0), axis=1).sum()  # noqa: E731
    assert length(cut_behind) == pytest.approx(length(behind), rel=1e-6)
    assert length(cut_front) < 0.8 * length(in_front)


def test_body_mask_is_the_person_below_the_chin_but_hair_and_head(astronaut):
    img, landmarks, segmenter = astronaut
    alignment = align_face(landmarks)
    crop = alignment.warp(img, border=BORDER)
    lm = alignment.to_crop(landmarks)
    person = segmenter.in_crop(img, alignment)
    mask = hair_mask(crop, lm, alignment.valid(img.shape), person)
    head = np.zeros(person.shape, bool)
    body = body_mask(person, mask.hair, head, lm)
    f = face_frame(lm, crop.shape[0])
    assert body.sum() > 0.05 * body.size  # her suit and neck
    assert (f.height[body] < 0).all() and not (body & mask.hair).any()


def test_hair_iou_does_not_score_hair_behind_the_body(astronaut, astronaut_avatar):
    img, _, segmenter = astronaut
    avatar = astronaut_avatar
    before = hair_iou(avatar, img, avatar.landmarks, avatar.camera, segmenter)
    # A curtain of hair hanging behind her neck and shoulders, down her back.
    xs, ys = np.meshgrid(np.linspace(-0.12, 0.12, 60), np.linspace(-0.2, -0.45, avatar.hair.points_per_strand))
    curtain = np.stack([xs.T, ys.T, np.full_like(xs.T, -0.06)], -1).astype(np.float32)
    pixels = avatar.camera.project(curtain.reshape(-1, 3))[:, :2]
    chin = avatar.landmarks[152]
    h, w = img.shape[:2]
    on_photo = (pixels[:, 0] >= 0) & (pixels[:, 0] < w) & (pixels[:, 1] < h) & (pixels[:, 1] > chin[1])
    assert on_photo.mean() > 0.5  # it shows in the photo's view, below the chin
    more = lambda a: np.concatenate([a, np.repeat(a[:1], len(curtain), 0)])  # noqa: E731
    hair = replace(avatar.hair, strands=np.concatenate([avatar.hair.strands, curtain]), colors=more(avatar.hair.colors),
                   root_face=more(avatar.hair.root_face), root_bary=more(avatar.hair.root_bary))
    after = hair_iou(replace(avatar, hair=hair), img, avatar.landmarks, avatar.camera, segmenter)
    assert after == pytest.approx(before, abs=0.01)


def test_the_scalp_under_the_hair_is_painted_in_its_color(astronaut_avatar):
    avatar = astronaut_avatar
    m = avatar.mesh
    worn = worn_albedo(avatar)
    size = worn.shape[0]

    def texel(vertex: int) -> tuple[int, int]:
        f, corner = np.argwhere(m.faces == vertex)[0]
        u, v = m.uvs[m.face_uvs[f, corner]]
        return int(np.clip((1 - v) * size, 0, size - 1)), int(np.clip(u * size, 0, size - 1))

    crown = [texel(v) for v in np.flatnonzero(m.vertices[:, 1] > 0.07)]  # the top of the head
    nose = texel(int(np.argmax(m.vertices[:, 2])))
    root_color = avatar.hair.color.astype(float) * 0.6
    error = np.median([np.abs(worn[t].astype(float) - root_color).max() for t in crown])
    assert error < 0.1 * 255
    assert np.array_equal(worn[nose], avatar.albedo[nose])
    changed = np.any(worn != avatar.albedo, axis=2).mean()
    assert 0.02 < changed < 0.5
    assert worn_albedo(replace(avatar, hair=None)) is avatar.albedo


def test_strand_colour_median_matches_nanmedian():
    from headforge.hairphoto.color import _median_seen

    rng = np.random.default_rng(1)
    samples = rng.uniform(0, 255, (400, 32, 3))
    unseen = rng.random((400, 32)) < 0.6
    unseen[:, 5] = False  # every strand has a seen point; counts odd and even
    samples[unseen] = np.nan
    np.testing.assert_array_equal(_median_seen(samples), np.nanmedian(samples, axis=1))
