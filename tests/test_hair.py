"""Strand hair: the hairstyle database, keeping strands out of heads, file formats, imports,
other head topologies, and try-on of an avatar zip."""
from __future__ import annotations

import json
import struct
import subprocess
import sys
import zipfile

import cv2
import numpy as np
import pytest
import skimage.data
import trimesh
from scipy.spatial import cKDTree

import headforge
from headforge.cli import main
from headforge.errors import HairFileError, HairstyleNameError, UnknownHairstyleError
from headforge.export.gltf import ALBEDO_IMAGE, parse_glb, with_image, without_node
from headforge.hair.catalog import CURLS, LENGTHS, TIES, spec
from headforge.hair.collision import ClosedSurface
from headforge.hair.densify import densify
from headforge.hair.fit import fit_hairstyle, fit_on_head, fit_to_mesh
from headforge.core.strand_formats import read_hair, read_strands, read_usc, write_hair, write_usc
from headforge.hair.generator import BROW_HEIGHT, FACE_HALF_WIDTH, generate_guides
from headforge.hair.library import add_imported, load_hairstyle, open_library, seed_of
from headforge.core.geometry import closest_points
from headforge.hair.meshquery import points_inside
from headforge.hair.reference import reference_head
from headforge.core.strands import Hairstyle, decode_strands, encode_strands, resample
from headforge.tryon import read_avatar, try_on, tryon_zip
from headforge.export.obj import read_obj
from headforge.headmodel.anny_head import load_head_model
from headforge.texture.scalp import worn_albedo


@pytest.fixture(scope="module")
def library():
    return open_library()  # built by set-up; built here (a minute or two) when missing


@pytest.fixture(scope="module")
def head():
    return reference_head()


@pytest.fixture(scope="module")
def heads(head):
    """The reference head and three strongly different heads of the same model (identity
    parameters at the ends of their ranges: 3-8 cm changes of shape)."""
    m = load_head_model()

    def make(phenotypes: dict, local: dict) -> np.ndarray:
        p = [phenotypes.get(n, 0.5) for n in m.phenotype_names]
        c = [local.get(n, 0.0) for n in m.local_names]
        return m.identity_vertices(p, c).astype(np.float64)

    return {
        "reference": head.vertices,
        "large": make({"age": 1, "height": 1, "gender": 1, "weight": 1},
                      {"head-scale-horiz-incr": 1, "head-back-scale-depth-incr": 1, "head-fat-incr": 1}),
        "small": make({"age": 0.2, "height": 0.2, "gender": 0},
                      {"head-scale-horiz-incr": -1, "head-scale-vert-incr": -0.5, "l-ear-scale-incr": 1,
                       "r-ear-scale-incr": 1}),
        "long": make({"age": 0.7}, {"head-scale-vert-incr": 1, "head-scale-depth-incr": -1, "forehead-trans-forward": 1,
                                    "head-angle-out": 1, "l-ear-flap-incr": 1, "r-ear-flap-incr": 1,
                                    "head-back-scale-depth-incr": -1}),
    }


@pytest.fixture(scope="module")
def stored(library):
    return {name: library.strands(name) for name in library.names()}


def closed(head, vertices):
    surface = head.collider.surface
    return surface.extend(vertices), surface.faces


def test_database_holds_60_styles_covering_every_tag(library):
    records = library.query()
    assert len(records) >= 60
    assert {r.length for r in records} == set(LENGTHS)
    assert {r.curl for r in records} == set(CURLS)
    assert {r.tied for r in records} == set(TIES)
    assert {r.fringe for r in records} == {True, False}
    for r in records:
        assert r.thumbnail[:8] == b"\x89PNG\r\n\x1a\n" and r.color.shape == (3,)
        assert (r.length == "bald") == (r.strand_count == 0)
    # Lengths are measured on the strands: long hair hangs below the shoulders.
    assert library.record("long_straight").length == "long" and library.record("bob_chin").length == "medium"
    assert library.record("buzz_cut").length == "short" and library.record("afro").curl == "coily"


def test_query_filters_by_tags(library):
    rows = library.query(length="long", curl="curly")
    assert rows and all(r.length == "long" and r.curl == "curly" for r in rows)
    assert {r.name for r in library.query(tied="ponytail")} >= {"ponytail_high", "ponytail_low"}
    assert all(r.fringe for r in library.query(fringe=True))
    assert [r.name for r in library.query(length="bald")] == ["bald"]
    with pytest.raises(UnknownHairstyleError):
        library.record("no_such_style")


def test_build_is_reproducible(library, head):
    """A style generated again from the catalogue is the stored one (to storage precision)."""
    s = spec("bob_fringe")
    again = generate_guides(s.params, head.vertices, head.faces, head.scalp, head.collider, s.name, (0, 0, 0),
                            seed_of(s.name))
    stored = library.strands("bob_fringe")
    assert np.abs(again.strands - stored.strands).max() < 2e-5
    assert np.array_equal(again.root_face, stored.root_face)


@pytest.mark.parametrize("name", ["reference", "large", "small", "long"])
def test_every_stored_style_stays_out_of_the_head(name, head, heads, stored):
    """Every stored style fitted to the head: no strand point inside it (exact test), roots on
    the scalp within 1 mm, strands keep their length."""
    vertices = heads[name]
    points, roots, ratios = [], [], []
    for p in sorted({s.points_per_strand for s in stored.values() if s.count}):
        group = [s for s in stored.values() if s.count and s.points_per_strand == p]
        batch = Hairstyle("batch", np.concatenate([s.strands for s in group]),
                          np.concatenate([s.root_face for s in group]), np.concatenate([s.root_bary for s in group]),
                          group[0].color, np.concatenate([s.colors for s in group]), {})
        fitted = fit_hairstyle(batch, head, vertices)
        points.append(fitted.strands.reshape(-1, 3))
        roots.append(fitted.strands[:, 0])
        ratios.append(fitted.lengths() / np.maximum(batch.lengths(), 1e-9))
        assert np.array_equal(fitted.root_face, batch.root_face)
    inside = points_inside(*closed(head, vertices), np.concatenate(points))
    assert inside.sum() == 0
    roots = np.concatenate(roots)
    _, _, on_scalp = closest_points(vertices, head.faces, roots.astype(np.float64), head.scalp)
    assert np.linalg.norm(on_scalp - roots, axis=1).max() < 1e-3
    ratios = np.concatenate(ratios)
    assert np.median(ratios) == pytest.approx(1, abs=0.01) and np.quantile(ratios, 0.99) < 1.1


def test_dense_hair_on_a_strongly_different_head(head, heads):
    """10,000 strands of 32 points, none inside after the fit, scale kept (the fit's time is the
    bench's: ``headforge bench --hair``)."""
    style = load_hairstyle("bob_chin")
    assert style.count >= 10000 and style.points_per_strand >= 32
    assert len(np.unique(style.colors, axis=0)) > 100  # per-strand colour variation
    fitted = fit_on_head(style, heads["large"], head.faces)
    assert points_inside(*closed(head, heads["large"]), fitted.strands.reshape(-1, 3)).sum() == 0
    assert np.median(fitted.lengths() / style.lengths()) == pytest.approx(1, abs=0.01)


def test_roots_cover_the_scalp_and_nothing_else(head, library):
    style = load_hairstyle("buzz_cut")
    assert set(np.unique(style.root_face)) <= set(head.scalp)
    centres = head.vertices[head.faces[head.scalp]].mean(1)
    gap, _ = cKDTree(style.strands[:, 0]).query(centres)
    assert gap.max() < 0.008  # no bald patch on the scalp
    # The scalp: from the forehead hairline (6-7 cm above the eyes) to the nape, not the face.
    front = centres[centres[:, 2] > 0.05]
    assert front[:, 1].min() > 0.05 and centres[:, 1].min() < -0.06


def test_generator_shapes(head, stored):
    """Gravity, the short end, bald, and hair kept off the face unless it is a fringe."""
    assert stored["bald"].count == 0
    assert stored["buzz_cut"].lengths().max() < 0.008
    long = stored["long_straight"].strands
    assert np.median(long[:, -1, 1] - long[:, 0, 1]) < -0.2  # it hangs
    for name, s in stored.items():
        if s.count == 0 or spec(name).params.fringe > 0:
            continue
        p = s.strands.reshape(-1, 3)
        over_face = (p[:, 2] > 0.02) & (np.abs(p[:, 0]) < FACE_HALF_WIDTH - 0.01) & (p[:, 1] < BROW_HEIGHT - 0.005)
        assert not over_face.any(), name
    fringe = stored["bob_fringe"].strands.reshape(-1, 3)
    assert ((fringe[:, 2] > 0.07) & (np.abs(fringe[:, 0]) < 0.03) & (fringe[:, 1] < 0.06)).sum() > 50


def test_strand_blob_round_trip():
    rng = np.random.default_rng(0)
    strands = np.cumsum(rng.normal(0, 0.01, (50, 32, 3)), axis=1).astype(np.float32)
    back = decode_strands(encode_strands(strands), 50, 32)
    assert np.abs(back - strands).max() <= 1.01e-5


def _strands(n=20, p=12):
    rng = np.random.default_rng(3)
    return np.cumsum(rng.normal(0, 0.01, (n, p, 3)), axis=1).astype(np.float32)


def test_usc_round_trip():
    strands = _strands()
    data = write_usc(strands)
    assert struct.unpack_from("<i", data)[0] == 20 and len(data) == 4 + 20 * (4 + 12 * 12)
    back = read_usc(data).strands
    assert len(back) == 20 and all(np.array_equal(a, b) for a, b in zip(back, strands))
    ragged = [strands[0, :3], strands[1]]
    assert [len(s) for s in read_strands(write_usc(ragged)).strands] == [3, 12]


def test_hair_round_trip_with_colors():
    strands = _strands()
    colors = np.random.default_rng(1).random((20, 3)).astype(np.float32)
    data = write_hair(strands, colors, info="made by headforge")
    assert data[:4] == b"HAIR" and len(data) == 128 + 2 * 20 + 12 * 240 + 12 * 240
    back = read_strands(data)
    assert all(np.array_equal(a, b) for a, b in zip(back.strands, strands))
    assert np.allclose(back.colors, colors) and back.info == "made by headforge"


def _hair_header(n_hair, n_points, arrays=3, d_segments=0):
    return struct.pack("<4sIIIIff3f88s", b"HAIR", n_hair, n_points, arrays, d_segments, 1.0, 0.0, 0, 0, 0, b"")


@pytest.mark.parametrize("data, words", [
    (b"", "too short"),
    (struct.pack("<i", -3), "claims -3 strands"),
    (struct.pack("<i", 2_000_000_000), "claims 2000000000 strands"),
    (struct.pack("<ii", 1, 1_000_000_000) + bytes(12), "past the end"),
    (write_usc(_strands(2, 4))[:-5], "past the end"),
    (write_usc(_strands(2, 4)) + b"\0\0", "bytes after"),
    (struct.pack("<ii3f", 1, 1, np.nan, 0, 0), "not a finite number"),
    (b"HAIR" + bytes(20), "too short for its 128-byte header"),
    (_hair_header(2, 4_000_000_000), "claims 2 strands and 4000000000 points"),
    (_hair_header(1, 3, arrays=1) + struct.pack("<H", 2), "no points array"),
    (_hair_header(1, 3) + struct.pack("<H", 5) + bytes(36), "add up to 6 points"),
    (_hair_header(2, 4, arrays=2, d_segments=1) + bytes(47), "holds 175 bytes"),
    (write_hair(_strands(2, 3))[:-1], "but holds"),
])
def test_malformed_strand_files_give_clear_errors(data, words):
    with pytest.raises(HairFileError, match=words):
        read_strands(data)


def test_hair_reader_checks_the_signature():
    with pytest.raises(HairFileError, match="starts with b'HAIX'"):
        read_hair(b"HAIX" + bytes(124))


def test_hair_file_defaults_segments_when_array_absent():
    pts = _strands(2, 3).reshape(-1, 3)
    data = _hair_header(2, 6, arrays=2, d_segments=2) + pts.astype("<f4").tobytes()
    assert [len(s) for s in read_hair(data).strands] == [3, 3]


@pytest.mark.parametrize("fmt", ["data", "hair"])
def test_import_registers_a_foreign_frame(fmt, tmp_path, head):
    """A style written in another head frame (centimetres, Z up, turned and moved) comes back
    onto our scalp: roots within 1 mm, strands where they were."""
    s = spec("long_wavy")
    original = fit_hairstyle(generate_guides(s.params, head.vertices, head.faces, head.scalp, head.collider,
                                             "x", (90, 60, 40), seed=7), head, head.vertices)
    turn = np.radians(25)
    z_up = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], float)
    spin = np.array([[np.cos(turn), -np.sin(turn), 0], [np.sin(turn), np.cos(turn), 0], [0, 0, 1]])
    foreign = 100 * original.strands.astype(np.float64) @ (spin @ z_up).T + np.array([3.0, -5.0, 160.0])
    path = tmp_path / f"style.{fmt}"
    path.write_bytes(write_usc(foreign) if fmt == "data" else write_hair(foreign))
    db = open_library(tmp_path / "db.sqlite", build=False)
    record = add_imported(path, "imported", db, tags={"curl": "wavy"})
    assert record.source == path.name and record.curl == "wavy" and record.strand_count == original.count
    assert record.length == "long"
    imported = db.strands("imported")
    assert abs(imported.params["registration"]["scale"] - 0.01) < 0.0005
    _, _, on_scalp = closest_points(head.vertices, head.faces, imported.strands[:, 0].astype(np.float64), head.scalp)
    assert np.linalg.norm(on_scalp - imported.strands[:, 0], axis=1).max() < 1e-3
    moved = np.linalg.norm(resample(imported.strands, 16) - resample(original.strands, 16), axis=2)
    assert np.median(moved) < 0.004
    assert points_inside(*closed(head, head.vertices), imported.strands.reshape(-1, 3)).sum() == 0


def test_other_topology_by_registration(head, stored):
    """A remeshed, turned, scaled and moved copy of the head (a stand-in for a FLAME head)."""
    mesh = trimesh.Trimesh(head.vertices, head.faces, process=False)
    v, f = trimesh.remesh.subdivide(mesh.vertices, mesh.faces)
    a = np.radians(8)
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    v = 1.04 * v @ rot.T + np.array([0.004, -0.006, 0.003])
    v = v + 0.004 * np.sin(v * 40)  # a smooth non-rigid change
    fitted = fit_to_mesh(stored["bob_chin"], head, v, f)
    surface = ClosedSurface.from_mesh(v, f)
    assert points_inside(surface.extend(v), surface.faces, fitted.strands.reshape(-1, 3)).sum() == 0
    _, _, on = closest_points(v, f, fitted.strands[:, 0].astype(np.float64))
    assert np.linalg.norm(on - fitted.strands[:, 0], axis=1).max() < 1e-3
    assert fitted.root_face.max() < len(f)
    assert np.median(fitted.lengths() / stored["bob_chin"].lengths()) == pytest.approx(1, abs=0.02)


@pytest.fixture(scope="module")
def astronaut_with_hair(tmp_path_factory, library):
    avatar = headforge.reconstruct(skimage.data.astronaut(), hair="bob_chin")
    return avatar, headforge.write_zip(avatar, tmp_path_factory.mktemp("hair") / "avatar.zip")


def test_reconstruct_with_a_stored_hairstyle(astronaut_with_hair, tmp_path):
    avatar, path = astronaut_with_hair
    assert avatar.hair.name == "bob_chin" and avatar.hair.count >= 10000
    with zipfile.ZipFile(path) as z:
        params = json.loads(z.read("params.json"))
        strands = read_usc(z.read("hair.data")).strands
        z.extractall(tmp_path)
    assert params["hair"]["source"] == "library" and params["hair"]["name"] == "bob_chin"
    assert len(strands) == avatar.hair.count and np.allclose(strands[0], avatar.hair.strands[0])
    scene = trimesh.load(tmp_path / "avatar.glb", force="scene")
    assert {"head", "hair"} <= set(scene.graph.nodes)
    hair = scene.geometry[scene.graph["hair"][1]]
    assert len(hair.faces) > 0 and len(hair.faces) <= 60_000  # hair cards, the web budget
    # The OBJ's albedo is bare (the OBJ has no hair); the GLB's has the scalp painted under it.
    bare = cv2.imread(str(tmp_path / "head_albedo.png"))[:, :, ::-1]
    assert np.array_equal(bare, avatar.albedo)
    glb_albedo = glb_image(parse_glb((tmp_path / "avatar.glb").read_bytes()), ALBEDO_IMAGE)
    assert np.array_equal(glb_albedo, worn_albedo(avatar)) and not np.array_equal(glb_albedo, bare)


def test_zip_carries_the_strands_as_usd_curves(astronaut_with_hair, tmp_path):
    """hair.usdc, read back with Pixar's USD: one linear curve per strand, its points the
    strands exactly, per-point widths tapering root to tip, a colour per curve, Y up, metres."""
    from pxr import Usd, UsdGeom

    avatar, path = astronaut_with_hair
    with zipfile.ZipFile(path) as z:
        (tmp_path / "hair.usdc").write_bytes(z.read("hair.usdc"))
        kinds = {i.filename: i.compress_type for i in z.infolist()}
    # Float strand data is stored (deflate gains little on it); the GLB and the OBJ are deflated.
    assert kinds["hair.usdc"] == kinds["hair.data"] == kinds["preview.png"] == zipfile.ZIP_STORED
    assert kinds["avatar.glb"] == kinds["head.obj"] == zipfile.ZIP_DEFLATED
    stage = Usd.Stage.Open(str(tmp_path / "hair.usdc"))
    assert UsdGeom.GetStageUpAxis(stage) == "Y" and UsdGeom.GetStageMetersPerUnit(stage) == 1.0
    curves = UsdGeom.BasisCurves(stage.GetPrimAtPath("/avatar/hair"))
    n, p = avatar.hair.strands.shape[:2]
    assert curves.GetTypeAttr().Get() == "linear"
    assert list(curves.GetCurveVertexCountsAttr().Get()) == [p] * n and n >= 10000
    points = np.asarray(curves.GetPointsAttr().Get()).reshape(n, p, 3)
    assert np.array_equal(points, avatar.hair.strands)
    widths = np.asarray(curves.GetWidthsAttr().Get()).reshape(n, p)
    assert curves.GetWidthsInterpolation() == "vertex"
    assert np.all(np.diff(widths, axis=1) < 0) and 5e-5 < widths.min() and widths.max() < 1e-3
    colors = np.asarray(curves.GetDisplayColorPrimvar().Get())
    assert curves.GetDisplayColorPrimvar().GetInterpolation() == "uniform" and colors.shape == (n, 3)
    assert np.all((0 <= colors) & (colors <= 1)) and colors.std(axis=0).max() > 0  # per-strand variation
    lo, hi = np.asarray(curves.GetExtentAttr().Get())
    assert np.all(points.reshape(-1, 3) >= lo) and np.all(points.reshape(-1, 3) <= hi)


def test_tryon_zip_keeps_the_head(astronaut_with_hair, tmp_path):
    _, path = astronaut_with_hair
    out = tmp_path / "curly.zip"
    assert main(["tryon", str(path), "--hairstyle", "long_curly", "-o", str(out)]) == 0
    with zipfile.ZipFile(path) as a, zipfile.ZipFile(out) as b:
        for name in ("head.obj", "head.mtl", "head_albedo.png", "head_normal.png"):
            assert a.read(name) == b.read(name)
        bare = a.read("head_albedo.png")
        head_only = [without_node(parse_glb(z.read("avatar.glb")), "hair") for z in (a, b)]
        assert with_image(head_only[0], ALBEDO_IMAGE, bare).to_bytes() == \
            with_image(head_only[1], ALBEDO_IMAGE, bare).to_bytes()
        worn = glb_image(head_only[1], ALBEDO_IMAGE)
        params = json.loads(b.read("params.json"))
        strands = read_usc(b.read("hair.data")).strands
        glb = b.read("avatar.glb")
        curves = b.read("hair.usdc")
        assert curves != a.read("hair.usdc") and b.namelist() == a.namelist()
    assert params["hair"]["name"] == "long_curly" and params["hair"]["fit_seconds"] > 0
    assert len(strands) >= 10000 and len(strands[0]) == 64
    (tmp_path / "curly.glb").write_bytes(glb)
    scene = trimesh.load(tmp_path / "curly.glb", force="scene")
    assert "hair" in scene.graph.nodes
    # The scalp under the new hair is painted in its colour (the bob's under the bob before).
    with zipfile.ZipFile(path) as z:
        dressed = try_on(read_avatar({n: z.read(n) for n in z.namelist()}), "long_curly")
    assert np.array_equal(worn, worn_albedo(dressed))
    assert not np.array_equal(worn, dressed.albedo)


def test_the_zip_head_reads_back_as_the_exporter_wrote_it(astronaut_with_hair):
    """The try-on's reader (trimesh, merging the vertices it splits at UV seams) gives back the
    astronaut's head as head.obj was written: every position (6 decimals), the faces, the uv of
    every corner; and read_avatar rebuilds the same neutral head from the identity."""
    avatar, path = astronaut_with_hair
    mesh = avatar.mesh
    with zipfile.ZipFile(path) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    vertices, faces, uvs, face_uvs = read_obj(entries["head.obj"])
    assert vertices.shape == mesh.vertices.shape and np.array_equal(faces, mesh.faces)
    assert np.abs(vertices - mesh.posed(avatar.expression)).max() < 1e-6
    assert face_uvs.shape == mesh.face_uvs.shape and np.abs(uvs[face_uvs] - mesh.uvs[mesh.face_uvs]).max() < 1e-6
    assert len(uvs) <= len(np.unique(mesh.face_uvs))  # only the uvs a corner uses
    read = read_avatar(entries)
    assert np.abs(read.mesh.vertices - mesh.vertices).max() < 1e-5 and np.array_equal(read.mesh.faces, mesh.faces)
    assert np.abs(read.expression - avatar.expression).max() < 1e-3


def glb_image(builder, image: int) -> np.ndarray:
    """(S, S, 3) uint8 RGB: image number ``image`` of a parsed GLB."""
    view = builder.gltf["bufferViews"][builder.gltf["images"][image]["bufferView"]]
    data = b"".join(builder.blobs)[view["byteOffset"]:view["byteOffset"] + view["byteLength"]]
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]


def test_unknown_hairstyle_is_a_clean_cli_error(astronaut_with_hair, tmp_path, capsys):
    _, path = astronaut_with_hair
    assert main(["tryon", str(path), "--hairstyle", "mohican_pink", "-o", str(tmp_path / "x.zip")]) == 2
    assert "error [unknown_hairstyle]" in capsys.readouterr().err
    assert not (tmp_path / "x.zip").exists()
    with pytest.raises(UnknownHairstyleError):
        tryon_zip(path, "mohican_pink", tmp_path / "y.zip")


def test_hairstyles_list_cli(library, capsys):
    assert main(["hairstyles", "list", "--tied", "bun"]) == 0
    out = capsys.readouterr().out
    assert "bun_top" in out and "ponytail_high" not in out


def test_hairstyles_list_piped_into_head_ends_quietly():
    """The reader closes the pipe before anything is written (as `| head -1` does once it has
    its line): no BrokenPipeError, no traceback, status 141 (128 + SIGPIPE)."""
    process = subprocess.Popen([sys.executable, "-m", "headforge.cli", "hairstyles", "list"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141 and err == ""


def test_tryon_of_a_bald_style_gives_a_bare_scalp(astronaut_with_hair, tmp_path, library):
    """bald (no strands) tries on: a zip with no hair.data, no hair node, and the GLB's albedo
    the bare albedo (no scalp paint), its head node unchanged."""
    assert library.strands("bald").count == 0
    _, path = astronaut_with_hair
    out = tmp_path / "bald.zip"
    assert main(["tryon", str(path), "--hairstyle", "bald", "-o", str(out)]) == 0
    with zipfile.ZipFile(path) as a, zipfile.ZipFile(out) as b:
        assert "hair.data" not in b.namelist() and "hair.usdc" not in b.namelist()
        params = json.loads(b.read("params.json"))
        glb = parse_glb(b.read("avatar.glb"))
        before = [n["name"] for n in parse_glb(a.read("avatar.glb")).gltf["nodes"]]
        assert "hair" in before and [n["name"] for n in glb.gltf["nodes"]] == [n for n in before if n != "hair"]
        assert np.array_equal(glb_image(glb, ALBEDO_IMAGE), cv2.imdecode(
            np.frombuffer(b.read("head_albedo.png"), np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1])
        bare = a.read("head_albedo.png")
        assert with_image(glb, ALBEDO_IMAGE, bare).to_bytes() == \
            with_image(without_node(parse_glb(a.read("avatar.glb")), "hair"), ALBEDO_IMAGE, bare).to_bytes()
    assert params["hair"]["name"] == "bald" and params["hair"]["strands"] == 0


def test_bald_stays_bald(head, library):
    bald = densify(library.strands("bald"), head.vertices, head.faces, head.scalp)
    assert bald.count == 0 and fit_on_head(bald, head.vertices, head.faces).count == 0


@pytest.mark.parametrize("name", ["../../evil", "/tmp/evil", "styles/../x", "evil\\..\\x", "Bob", "", "a" * 65])
def test_import_refuses_names_that_are_not_style_ids(name, tmp_path):
    """A style name becomes an id in URLs: path-like or odd names are refused before the file
    is read, and nothing is stored."""
    db = open_library(tmp_path / "db.sqlite", build=False)
    with pytest.raises(HairstyleNameError, match="hairstyle name"):
        add_imported(tmp_path / "missing.data", name, db)
    assert db.query() == []
