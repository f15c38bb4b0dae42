"""Hair cards: the strands as textured triangles in the GLB, drawn by the CPU renderer, and
the GLBs checked by Khronos glTF-Validator (node, tests/clients: installed by
scripts/install.sh)."""
from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import trimesh

import headforge
from headforge.emotion import with_emotions
from headforge.export.gltf import glb_bytes, parse_glb
from headforge.hair.cards import BUDGETS, CardBudget, build_cards, card_budget, strand_texture
from headforge.core.strands import Hairstyle
from headforge.tryon import tryon_zip
from headforge.render import render_mesh, render_strands
from headforge.core.camera import Camera
from headforge.render.cards import render_cards
from headforge.export.package import write_zip

CLIENTS = Path(__file__).parent / "clients"


def sphere_hair(n: int = 400, points: int = 24, radius: float = 0.09, length: float = 0.15, seed: int = 0) -> Hairstyle:
    """``n`` strands rooted on a band of a sphere at the origin (0 to 24 degrees above its
    equator): straight out for 1 cm, then falling down past the sphere."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 2 * np.pi, n)
    d = np.column_stack([np.cos(a), rng.uniform(0, 0.45, n), np.sin(a)])
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    t = np.linspace(0, 1, points)[None, :, None]
    roots = radius * d
    fall = np.array([0.0, -1.0, 0.0])
    strands = roots[:, None] + 0.01 * t.clip(0, 0.1) / 0.1 * d[:, None] + length * np.maximum(t - 0.1, 0) * fall
    colors = rng.integers(60, 120, (n, 3)).astype(np.uint8)
    return Hairstyle("test", strands.astype(np.float32), np.zeros(n, np.int32), np.zeros((n, 3), np.float32),
                     np.array([90, 60, 40], np.uint8), colors)


def test_cards_follow_the_strands_root_to_tip():
    hair = sphere_hair(n=300, points=24)
    cards = build_cards(hair, CardBudget(triangles=100_000, segments=12))
    s = 12
    assert cards.count == 300 and np.array_equal(np.sort(cards.guide), np.arange(300))  # they fit: one card a strand
    hair = dataclasses.replace(hair, strands=hair.strands[cards.guide], colors=hair.colors[cards.guide])  # card order
    assert cards.positions.shape == (300 * (s + 1) * 2, 3) and cards.faces.shape == (300 * s * 2, 3)
    assert cards.faces.dtype == np.uint32 and cards.faces.max() == len(cards.positions) - 1
    rows = cards.positions.reshape(300, s + 1, 2, 3)
    centre = rows.mean(2)
    # Each card runs along its strand, from the root to the tip.
    assert np.abs(centre[:, 0] - hair.strands[:, 0]).max() < 1e-6
    assert np.abs(centre[:, -1] - hair.strands[:, -1]).max() < 1e-6
    uv = cards.uvs.reshape(300, s + 1, 2, 2)
    np.testing.assert_allclose(uv[..., 1], np.broadcast_to(np.linspace(0, 1, s + 1)[None, :, None], (300, s + 1, 2)))
    assert set(np.unique(uv[..., 0])) == {0.0, 1.0} and (uv[:, :, 0, 0] != uv[:, :, 1, 0]).all()
    # Narrower at the tip than at the root.
    width = np.linalg.norm(rows[:, :, 1] - rows[:, :, 0], axis=2)
    assert (width[:, -1] < width[:, 0]).all() and width.min() > 0.002
    # Unit tangents along the strand (root -> tip), w = 1; unit normals across them, out of the head.
    tangent = cards.tangents.reshape(300, s + 1, 2, 4)
    step = np.diff(centre, axis=1)
    assert (np.einsum("crk,crk->cr", tangent[:, :-1, 0, :3], step) > 0).all()
    np.testing.assert_allclose(np.linalg.norm(cards.tangents[:, :3], axis=1), 1, atol=1e-5)
    assert (cards.tangents[:, 3] == 1).all()
    np.testing.assert_allclose(np.linalg.norm(cards.normals, axis=1), 1, atol=1e-5)
    assert np.abs(np.einsum("ij,ij->i", cards.normals, cards.tangents[:, :3])).max() < 1e-4
    # Out of the head where the strand lies along it (below its first, radial centimetre).
    # (The two edges' normals lean across the card by as much either way.)
    normals = cards.normals.reshape(300, s + 1, 2, 3)[:, 3:].sum(2)
    assert (np.einsum("crk,crk->cr", normals, centre[:, 3:]) > 0).all()
    # Faces wound counter-clockwise seen from outside (their normals agree with the vertices'
    # but where a quad bends round the strand's turn at 1 cm).
    tri = cards.positions[cards.faces]
    face_normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    assert (np.einsum("ij,ij->i", face_normal, cards.normals[cards.faces[:, 0]]) > 0).mean() > 0.999
    np.testing.assert_allclose(cards.colors[::2 * (s + 1)] ** (1 / 2.4) * 1.055 - 0.055, hair.colors / 255, atol=0.01)


def test_outer_cards_come_first():
    """Faces are ordered from the outermost card in: drawn in order, outer hair hides inner."""
    cards = build_cards(sphere_hair(n=2000, points=16), BUDGETS["web"])
    rows = cards.positions.reshape(cards.count, -1, 3)
    radius = np.linalg.norm(rows - [0.0, 0.0, -0.01], axis=2).mean(1)
    assert (np.diff(radius) <= 1e-3).all() and radius[0] > radius[-1]


def test_card_budgets_bound_the_triangles():
    hair = sphere_hair(n=20_000, points=32)
    for name, limit in BUDGETS.items():
        cards = build_cards(hair, limit)
        assert limit.triangles - 2 * limit.segments < len(cards.faces) <= limit.triangles, name
        assert cards.count < 20_000 and len(np.unique(cards.guide)) == cards.count
    assert BUDGETS["web"].triangles <= 60_000 < BUDGETS["high"].triangles
    with pytest.raises(ValueError, match="web"):
        card_budget("ultra")
    with pytest.raises(ValueError, match="strand"):
        build_cards(dataclasses.replace(hair, strands=hair.strands[:0]), BUDGETS["web"])


def test_clump_cards_are_as_wide_as_their_clumps():
    hair = sphere_hair(n=8000, points=32)
    few = build_cards(hair, CardBudget(2_000, 10))
    many = build_cards(hair, CardBudget(40_000, 10))
    w_few = np.linalg.norm(few.positions[1::2] - few.positions[0::2], axis=1)
    w_many = np.linalg.norm(many.positions[1::2] - many.positions[0::2], axis=1)
    assert np.median(w_few) > 1.5 * np.median(w_many)


def test_strand_texture_draws_fibres_dark_at_the_root():
    tex = strand_texture()
    assert tex.shape == (512, 128, 4) and tex.dtype == np.uint8 and not tex.flags.writeable
    grey, alpha = tex[..., 0].astype(float), tex[..., 3].astype(float)
    assert grey[:20].mean() < 0.8 * grey[200:300].mean()  # darker roots
    assert alpha[:40, 44:84].min() >= 230  # opaque at the root in the middle
    # Fibres: alpha switches on and off across the card, more often at the edges than in the middle.
    row = alpha[300] >= 128
    assert np.count_nonzero(np.diff(row)) >= 10
    assert alpha[100:480, 48:80].mean() > alpha[100:480, :12].mean() + 60
    assert alpha[-4:].mean() < alpha[250:260].mean()  # fewer fibres reach the tip


def _front_camera(size: int, distance: float) -> Camera:
    return Camera.orbit(size, size, 0.0, 0.0, distance, 30.0)


def test_render_cards_alpha_test_and_depth():
    hair = sphere_hair(n=60, points=12)
    cards = build_cards(hair, BUDGETS["web"])
    cam = _front_camera(96, 0.6)
    tex = strand_texture()
    flat = render_cards(cards, tex, cam, lighting="flat", background=(0, 0, 0))
    drawn = flat.strand >= 0
    assert drawn.sum() > 100 and (flat.image[~drawn] == 0).all() and flat.mask[drawn].all()
    assert set(np.unique(flat.strand[drawn])) <= set(cards.guide.tolist())
    # Fully transparent texture: nothing is drawn; opaque: at least as much as with the fibres.
    clear = tex.copy()
    clear[..., 3] = 0
    assert not (render_cards(cards, clear, cam, lighting="flat").strand >= 0).any()
    solid = tex.copy()
    solid[..., 3] = 255
    assert (render_cards(cards, solid, cam, lighting="flat").strand >= 0).sum() > drawn.sum()
    # A wall in front hides the cards; one behind them does not.
    wall = np.array([[-1, -1, 0], [1, -1, 0], [1, 1, 0], [-1, 1, 0]], float)
    quad = np.array([[0, 1, 2], [0, 2, 3]])
    front = render_mesh(wall + [0, 0, 0.3], quad, cam, lighting="flat", color=(0, 255, 0))
    assert not (render_cards(cards, tex, cam, base=front).strand >= 0).any()
    back = render_mesh(wall + [0, 0, -0.3], quad, cam, lighting="flat", color=(0, 255, 0))
    over = render_cards(cards, tex, cam, base=back, lighting="flat")
    np.testing.assert_array_equal(over.strand >= 0, drawn)
    assert (over.image[~drawn] == [0, 255, 0]).all()
    # Studio light shades the cards, darker towards the roots (the texture's gradient).
    lit = render_cards(cards, tex, cam)
    assert lit.image[drawn].std() > 5


@pytest.fixture(scope="module")
def astronaut():
    return headforge.reconstruct(skimage.data.astronaut())


def test_glb_hair_is_textured_triangles(astronaut, tmp_path):
    data = glb_bytes(astronaut)
    gltf = parse_glb(data).gltf
    names = [gltf["nodes"][n]["name"] for n in gltf["scenes"][0]["nodes"]]
    assert names[0] == "head" and names[-1] == "hair"  # the head's parts (teeth, eyes, ...) between
    hair_node = gltf["nodes"][names.index("hair")]
    mesh = gltf["meshes"][hair_node["mesh"]]
    (prim,) = mesh["primitives"]
    assert mesh["name"] == "hair" and prim["mode"] == 4
    assert set(prim["attributes"]) == {"POSITION", "NORMAL", "TANGENT", "TEXCOORD_0", "COLOR_0"}
    material = gltf["materials"][prim["material"]]
    assert material["name"] == "hair" and material["alphaMode"] == "MASK" and material["alphaCutoff"] == 0.5
    assert material["doubleSided"] is True and "baseColorTexture" in material["pbrMetallicRoughness"]
    triangles = gltf["accessors"][prim["indices"]]["count"] // 3
    assert triangles == mesh["extras"]["triangles"] <= 60_000
    assert mesh["extras"]["strands"] == astronaut.hair.count
    path = tmp_path / "avatar.glb"
    path.write_bytes(data)
    scene = trimesh.load(path, force="scene")
    hair = scene.geometry[scene.graph["hair"][1]]
    assert len(hair.faces) == triangles and hair.visual.uv.shape == (len(hair.vertices), 2)
    high = parse_glb(glb_bytes(astronaut, hair_budget="high")).gltf
    assert next(m for m in high["meshes"] if m["name"] == "hair")["extras"]["triangles"] > triangles


def test_cards_cover_the_strands_in_the_input_view(astronaut):
    """The cards (alpha-tested) cover at least 90 % of the pixels the strands cover in the
    photo's own view, hair hidden by the head not counted."""
    cam, m = astronaut.camera, astronaut.mesh
    head = render_mesh(m.posed(astronaut.expression), m.faces, cam, lighting="flat")
    strands = render_strands(astronaut.hair.strands, cam, colors=astronaut.hair.colors, base=head,
                             lighting="flat").strand >= 0
    for name in ("web", "high"):
        cards = render_cards(build_cards(astronaut.hair, BUDGETS[name]), strand_texture(), cam, base=head,
                             lighting="flat").strand >= 0
        assert strands.sum() > 5000
        assert (cards & strands).sum() / strands.sum() >= 0.9, name


def validate(paths: list[Path]) -> list[dict]:
    """glTF-Validator's reports on the GLB files (one node process)."""
    node = shutil.which("node")
    assert node, "node is not installed (scripts/install.sh installs it)"
    assert (CLIENTS / "node_modules" / "gltf-validator").is_dir(), \
        "gltf-validator is missing: run `npm ci` in tests/clients (scripts/install.sh does)"
    out = subprocess.run([node, str(CLIENTS / "validate_gltf.js"), *map(str, paths)], capture_output=True,
                         text=True, timeout=300, check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_gltf_validator_finds_no_error_or_warning(astronaut, tmp_path):
    zipped = write_zip(astronaut, tmp_path / "avatar.zip")
    tried = tryon_zip(zipped, "long_curly", tmp_path / "curly.zip")
    assert tried.hair.count >= 10_000
    with zipfile.ZipFile(tmp_path / "curly.zip") as z:
        (tmp_path / "tryon.glb").write_bytes(z.read("avatar.glb"))
    files = {
        "hair.glb": glb_bytes(astronaut),
        "bald.glb": glb_bytes(dataclasses.replace(astronaut, hair=None)),
        "emotions.glb": glb_bytes(with_emotions(astronaut, {"happiness": 0.8, "surprise": 0.3})),
        "high.glb": glb_bytes(astronaut, hair_budget="high"),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    paths = [tmp_path / n for n in files] + [tmp_path / "tryon.glb"]
    reports = validate(paths)
    assert len(reports) == len(paths)
    for path, report in zip(paths, reports):
        assert report["errors"] == 0 and report["warnings"] == 0, (path.name, report["messages"])


def test_blender_imports_and_renders_the_hair(astronaut, tmp_path):
    """Debian's Blender (scripts/install.sh installs it) imports the GLB's hair as a mesh with
    faces and its Cycles render shows hair pixels, front and +-40 degrees."""
    blender = shutil.which("blender")
    assert blender, "blender is not installed (scripts/install.sh installs it: apt-get install blender)"
    glb = tmp_path / "astronaut.glb"
    glb.write_bytes(glb_bytes(astronaut))
    script = Path(__file__).parents[1] / "scripts" / "blender_render.py"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(Path.home())}  # Blender's Python with Debian's numpy
    run = subprocess.run([blender, "-b", "--factory-startup", "-noaudio", "--python", str(script), "--",
                          "--out", str(tmp_path), "--size", "96", "--samples", "4", str(glb)],
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0 and (tmp_path / "report.json").exists(), run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())["astronaut"]
    objects = {o["name"]: o for o in report["objects"]}
    hair = objects["hair"]
    meshes = parse_glb(glb.read_bytes()).gltf["meshes"]
    assert hair["faces"] == next(m for m in meshes if m["name"] == "hair")["extras"]["triangles"]
    assert hair["loose_edges"] == 0 and hair["materials"][0]["blend_method"] == "CLIP"
    assert objects["head"]["shape_keys"] == 53
    for view, result in report["views"].items():
        assert result["hair_pixels"] > 0.1, view
