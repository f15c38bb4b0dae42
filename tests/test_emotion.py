"""Emotion sliders: the mapping's behaviour, plausibility, the browser evaluator and the export."""
from __future__ import annotations

import itertools
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skimage.data

import headforge
from headforge.cli import main as cli_main
from headforge.emotion import EMOTIONS, apply_emotions, load_mapping, parse_emotions, with_emotions
from headforge.emotion.mapping import MAPPING_PATH, intensity_vector
from headforge.emotion.plausibility import all_pairs
from headforge.emotion.prototypes import target_actions
from headforge.errors import EmotionError
from headforge.headmodel.anny_head import load_head_model

JS_EVALUATOR = Path(__file__).parents[1] / "src" / "headforge" / "emotion" / "emotion_mlp.js"
GRID = np.array(list(itertools.product([0.0, 0.5, 1.0], repeat=len(EMOTIONS))))  # 2187 mixtures


@pytest.fixture(scope="module")
def mapping():
    return load_mapping()


def one(name: str, value: float = 1.0) -> np.ndarray:
    x = np.zeros(len(EMOTIONS))
    x[EMOTIONS.index(name)] = value
    return x


def action(mapping, name: str) -> int:
    return mapping.actions.index(name)


def test_actions_are_the_head_models(mapping):
    assert list(mapping.actions) == load_head_model().action_names
    assert mapping.emotions == EMOTIONS == ("happiness", "anger", "sadness", "fear", "contempt", "surprise", "disgust")


def test_all_zero_is_exactly_the_neutral_face(mapping):
    assert np.all(mapping(np.zeros(7)) == 0)
    assert np.all(mapping(np.zeros((5, 7))) == 0)
    assert np.all(apply_emotions(np.full(52, 0.3), {}, keep_expression=False) == 0)
    # No emotion keeps a plausible photo expression as it is.
    base = np.zeros(52, np.float32)
    base[[action(mapping, "mouthSmileLeft"), action(mapping, "mouthSmileRight")]] = 0.6
    assert np.array_equal(apply_emotions(base, {"happiness": 0.0}), base)


def test_actions_stay_in_bounds_on_a_grid(mapping):
    raw = mapping(GRID)
    assert raw.min() >= 0 and raw.max() <= 1
    rng = np.random.default_rng(0)
    for x in GRID[::7]:
        a = apply_emotions(rng.uniform(0, 1, 52), dict(zip(EMOTIONS, x)))
        assert a.min() >= 0 and a.max() <= 1


@pytest.mark.parametrize(
    "emotion, actions",
    [
        ("happiness", ["mouthSmileLeft", "mouthSmileRight", "cheekSquintLeft"]),
        ("anger", ["browDownLeft", "mouthUpperUpLeft"]),
        ("sadness", ["browInnerUp", "mouthFrownLeft", "mouthFrownRight"]),
        ("fear", ["eyeWideLeft", "mouthStretchRight"]),
        ("contempt", ["mouthDimpleRight", "mouthSmileRight"]),
        ("surprise", ["browOuterUpLeft", "jawOpen"]),
        ("disgust", ["noseSneerLeft", "mouthUpperUpRight"]),
    ],
)
def test_response_grows_with_intensity(mapping, emotion, actions):
    ramp = np.linspace(0, 1, 101)[:, None] * one(emotion)
    for background in (np.zeros(7), np.full(7, 0.3) * (1 - one(emotion))):
        out = mapping(ramp + background)
        for name in actions:
            curve = out[:, action(mapping, name)]
            assert np.all(np.diff(curve) >= -1e-9), (emotion, name)
        assert out[-1, action(mapping, actions[0])] > out[0, action(mapping, actions[0])] + 0.3


def test_full_intensity_matches_the_prototype(mapping):
    names = list(mapping.actions)
    for emotion in EMOTIONS:
        target = target_actions(one(emotion), names)[0]
        for limit in mapping.limits:
            target = limit.apply(target, np.zeros(52))
        assert np.abs(mapping(one(emotion)) - target).max() < 0.05, emotion


def test_contempt_is_one_sided_and_the_rest_symmetric(mapping):
    left = [i for i, n in enumerate(mapping.actions) if n.endswith("Left")]
    right = [mapping.actions.index(mapping.actions[i][: -len("Left")] + "Right") for i in left]
    for emotion in EMOTIONS:
        a = mapping(one(emotion))
        gap = np.abs(a[left] - a[right]).max()
        assert (gap > 0.3) if emotion == "contempt" else (gap < 0.03), (emotion, gap)


def test_mixtures_are_sane(mapping):
    smile, frown = action(mapping, "mouthSmileLeft"), action(mapping, "mouthFrownLeft")
    jaw, brows = action(mapping, "jawOpen"), action(mapping, "browOuterUpLeft")
    happy, sad, surprised = mapping(one("happiness")), mapping(one("sadness")), mapping(one("surprise"))
    both = mapping(one("happiness") + one("surprise"))
    assert both[smile] > 0.8 * happy[smile] and both[jaw] >= 0.9 * surprised[jaw] and both[brows] > 0.8 * surprised[brows]
    # Happiness against sadness: neither side of the conflict grows; shared actions add up
    # like probabilities, never past 1 - (1 - happy) * (1 - sad).
    bitter = mapping(one("happiness") + one("sadness"))
    assert bitter[smile] < happy[smile] and bitter[frown] < sad[frown]
    assert np.all(bitter <= 1 - (1 - happy) * (1 - sad) + 0.05)


def test_evaluation_is_deterministic(mapping):
    x = {"happiness": 0.8, "surprise": 0.3}
    base = np.random.default_rng(1).uniform(0, 1, 52)
    first = apply_emotions(base, x)
    again = apply_emotions(base, x)
    assert np.array_equal(first, again)
    assert np.array_equal(load_mapping.__wrapped__()(np.eye(7)), mapping(np.eye(7)))


def test_no_eyelid_or_lip_crossing_on_a_grid(mapping):
    model = load_head_model()
    pairs = all_pairs(model)
    neutral = np.stack([apply_emotions(np.zeros(52), dict(zip(EMOTIONS, x)), keep_expression=False) for x in GRID])
    # A photo expression that already crosses (blinking and squinting, lips shut with the jaw
    # closed): emotions may keep what remains of it, never add to it, and replace it at 1.0.
    shut = np.zeros(52)
    for name in ("eyeBlinkLeft", "eyeBlinkRight", "eyeSquintLeft", "eyeSquintRight", "mouthClose", "mouthShrugLower"):
        shut[action(mapping, name)] = 1.0
    mixes = GRID[::5]
    kept = np.stack([apply_emotions(shut, dict(zip(EMOTIONS, x))) for x in mixes])
    remaining = shut * (1 - mixes.max(axis=1, keepdims=True))
    for p in pairs:
        assert len(p.upper) >= 10
        assert p.closure(model, neutral).max() <= 1.001, p.name
        allowed = np.maximum(p.closure(model, remaining).max(axis=1), 1.0)
        assert np.all(p.closure(model, kept).max(axis=1) <= allowed + 0.001), p.name
        assert p.closure(model, kept[mixes.max(axis=1) == 1]).max() <= 1.001, p.name
    # The check has teeth: the shut expression crosses, and the raw network output on the grid does.
    assert min(p.closure(model, shut).max() for p in pairs) > 1.2
    assert max(p.closure(model, mapping(GRID)).max() for p in pairs) > 1.05


def test_browser_evaluator_gives_the_servers_result(mapping, tmp_path, needs_node):
    node = shutil.which("node")
    rng = np.random.default_rng(2)
    cases = [
        ({"happiness": 0.8, "surprise": 0.3}, True),
        ({"anger": 1.0, "disgust": 0.4}, False),
        ({name: float(v) for name, v in zip(EMOTIONS, rng.uniform(0, 1, 7))}, True),
        ({}, True),
    ]
    base = rng.uniform(0, 1, 52).round(4).tolist()
    script = tmp_path / "run.js"
    script.write_text(
        f"const H = require({json.dumps(str(JS_EVALUATOR))});\n"
        f"const m = JSON.parse(require('fs').readFileSync({json.dumps(str(MAPPING_PATH))}, 'utf8'));\n"
        f"const cases = {json.dumps(cases)};\nconst base = {json.dumps(base)};\n"
        "console.log(JSON.stringify(cases.map(([e, keep]) => [H.emotionActions(m, e), H.applyEmotions(m, base, e, keep)])));\n"
    )
    out = json.loads(subprocess.run([node, str(script)], capture_output=True, text=True, check=True, timeout=60).stdout)
    for (emotions, keep), (js_mlp, js_applied) in zip(cases, out):
        assert np.abs(np.array(js_mlp) - mapping(intensity_vector(emotions))).max() < 1e-4
        assert np.abs(np.array(js_applied) - apply_emotions(np.array(base), emotions, keep)).max() < 1e-4


def test_parse_emotions_validates():
    assert parse_emotions("happiness=0.8, surprise=0.3") == {"happiness": 0.8, "surprise": 0.3}
    assert parse_emotions("") == {}
    for bad in ("joy=0.5", "happiness=1.5", "happiness=-0.1", "happiness", "anger=nan", "fear=x"):
        with pytest.raises(EmotionError):
            parse_emotions(bad)


def test_cli_rejects_an_unknown_emotion_in_one_line(capsys, tmp_path):
    code = cli_main(["reconstruct", "photo.jpg", "--emotion", "joy=0.5", "-o", str(tmp_path / "a.zip")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error [bad_emotion]: unknown emotion 'joy'")


def test_cli_expression_flags():
    from headforge.cli import build_parser

    parse = build_parser().parse_args
    assert parse(["reconstruct", "p.jpg"]).expression == "keep"
    assert parse(["reconstruct", "p.jpg", "--expression", "neutral"]).expression == "neutral"
    assert parse(["reconstruct", "p.jpg", "--neutral"]).expression == "neutral"
    assert parse(["reconstruct", "p.jpg", "--emotion", "happiness=0.8,surprise=0.3"]).emotion == "happiness=0.8,surprise=0.3"


@pytest.fixture(scope="module")
def emotional_avatar():
    return headforge.reconstruct(skimage.data.astronaut(), texture_size=512, emotions={"happiness": 0.8, "surprise": 0.3})


def test_glb_morph_weights_carry_the_emotions(emotional_avatar, tmp_path):
    pygltflib = pytest.importorskip("pygltflib")
    avatar = emotional_avatar
    fitted = np.array(list(avatar.params["expression"]["fitted_arkit"].values()))
    assert np.allclose(avatar.expression, apply_emotions(fitted, {"happiness": 0.8, "surprise": 0.3}), atol=1e-5)
    path = headforge.write_zip(avatar, tmp_path / "avatar.zip")
    with zipfile.ZipFile(path) as z:
        (tmp_path / "a.glb").write_bytes(z.read("avatar.glb"))
        params = json.loads(z.read("params.json"))
        assert z.read("emotion_mlp.json") == MAPPING_PATH.read_bytes()
    mesh = pygltflib.GLTF2().load(str(tmp_path / "a.glb")).meshes[0]
    assert mesh.extras["targetNames"] == avatar.mesh.morph_names
    assert np.allclose(mesh.weights, avatar.expression, atol=1e-6)
    assert params["emotions"]["intensities"]["happiness"] == 0.8
    assert params["emotions"]["expression"] == "keep" and params["emotions"]["mapping"] == "emotion_mlp.json"


def test_with_emotions_reapplies_without_refitting(emotional_avatar):
    avatar = emotional_avatar
    sad = with_emotions(avatar, {"sadness": 1.0})
    assert sad.mesh is avatar.mesh and np.array_equal(sad.mesh.vertices, avatar.mesh.vertices)  # identity untouched
    frown = avatar.mesh.morph_names.index("mouthFrownLeft")
    assert sad.expression[frown] > 0.8 and sad.params["emotions"]["intensities"]["sadness"] == 1.0
    assert sad.params["expression"]["arkit"]["mouthFrownLeft"] == pytest.approx(float(sad.expression[frown]), abs=1e-6)
    # Emotions apply to the fitted expression, not on top of the previous emotions.
    fitted = np.array(list(avatar.params["expression"]["fitted_arkit"].values()), np.float32)
    assert np.allclose(with_emotions(sad, {}).expression, apply_emotions(fitted, {}), atol=1e-6)
    assert np.all(with_emotions(sad, {}, keep_expression=False).expression == 0)


def test_emotion_check_scores_intended_labels():
    from headforge.bench.emotion_check import LABELS, emotion_check

    def fake(image):  # each render's "image" is the label the fake recogniser sees
        p = np.full(len(LABELS), 0.01)
        p[LABELS.index(image)] = 0.9
        return p

    renders = {"neutral": "surprise", "happiness": "happiness", "anger": "surprise", "sadness": "sadness",
               "fear": "surprise", "contempt": "happiness", "surprise": "surprise", "disgust": "anger"}
    result = emotion_check(renders, fake)
    assert result["emotions_scored"] == ["happiness", "anger", "sadness", "fear", "surprise", "disgust"]
    assert result["top1_share"] == pytest.approx(3 / 6, abs=1e-4)  # happiness, sadness, surprise
    assert result["rise_share"] == pytest.approx(2 / 6, abs=1e-4)  # surprise does not rise over neutral
    assert result["renders"]["disgust"]["label"] == "anger"


def test_the_recogniser_reads_the_smiling_astronaut():
    pytest.importorskip("tflite_runtime")
    from headforge.bench.emotion_check import LABELS, Recogniser

    recognise = Recogniser()
    assert LABELS[int(np.argmax(recognise(skimage.data.astronaut())))] == "happiness"
    assert recognise(np.full((200, 200, 3), 255, np.uint8)) is None


def test_a_smile_folds_the_cheek_over_a_groove():
    from headforge.core.geometry import interpolate, vertex_normals
    from headforge.headmodel.anny_head import ACTION_GAINS, cache_path, mesh_components
    from headforge.headmodel.folds import FOLDS, MAX_TURN_DEG, REACH, fold_displacement, limit_turn
    from headforge.headmodel.landmark_embedding import load_landmark_embedding

    model = load_head_model()
    lm_faces, lm_bary = load_landmark_embedding()
    skin = mesh_components(model.faces, len(model.template)) == 0
    with np.load(cache_path()) as z:
        gained = z["action_basis"] * np.array(
            [np.broadcast_to(ACTION_GAINS.get(n.removesuffix("Left").removesuffix("Right"), 1.0), 3)
             for n in model.action_names], np.float32)[:, None, :]
    added = np.zeros_like(gained)
    for fold in FOLDS:
        row = model.action_names.index(fold.action)
        posed = model.template + gained[row]
        landmarks = interpolate(posed, model.faces[lm_faces], lm_bary)
        d = limit_turn(model.template, posed, model.faces, fold_displacement(fold, posed, model.faces, skin, landmarks))
        added[row] += d
        # no triangle turns further than MAX_TURN_DEG from the neutral head, unless the action
        # alone already turns it (then the fold turns it no further)
        def cos_turn(v):
            n = [np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]) for t in (model.template[model.faces], v[model.faces])]
            return np.einsum("fc,fc->f", *n) / np.linalg.norm(n[0], axis=1) / np.linalg.norm(n[1], axis=1)
        allowed = np.minimum(cos_turn(posed), np.cos(np.radians(MAX_TURN_DEG)))
        assert np.all(cos_turn(posed + d) >= allowed - 1e-4)
        along = np.einsum("vc,vc->v", d, vertex_normals(posed, model.faces))
        assert np.all(np.isfinite(d)) and not d[~skin].any()
        assert 0.5 * fold.depth < np.abs(along).max() <= 1.0001 * fold.depth
        moved = np.flatnonzero(np.abs(along) > 0)
        assert 10 < len(moved) < 0.05 * len(posed)  # a strip along the chain, not the face
        chain = landmarks[list(fold.chain)]
        near = np.linalg.norm(posed[moved, None] - chain[None], axis=2).min(1)
        assert near.max() < REACH * fold.width + np.linalg.norm(np.diff(chain, axis=0), axis=1).max()
        # the cheek bulges out away from the midline, on the action's side (the person's left is
        # +X), over a groove at the chain
        top = moved[along[moved].argmax()]
        assert along[top] > 0.8 * fold.depth and abs(posed[top, 0]) > abs(chain[:, 0]).max()
        assert np.sign(posed[top, 0]) == (1 if fold.action.endswith("Left") else -1)
        assert along.min() < -0.2 * fold.groove * fold.depth
    # the model's actions are exactly the gained actions plus their folds; the rest untouched
    assert np.allclose(model.action_basis, gained + added, atol=1e-7)
    folded = [model.action_names.index(f.action) for f in FOLDS]
    assert {f.action for f in FOLDS} == {"mouthSmileLeft", "mouthSmileRight"}
    assert np.array_equal(np.delete(model.action_basis, folded, 0), np.delete(gained, folded, 0))
