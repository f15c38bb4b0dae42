import numpy as np
import pytest
import trimesh

from headforge.core.camera import Camera
from headforge.render import (
    rasterize,
    rasterize_uv,
    render_mesh,
    render_strands,
    sample_bilinear,
    visible_vertices,
)


def _inside_triangle(tri: np.ndarray, width: int, height: int) -> np.ndarray:
    """Reference: (H, W) bool, pixel centres inside or on the (3, 2) triangle."""
    ys, xs = np.mgrid[:height, :width].astype(float)
    side = []
    for i in range(3):
        (x0, y0), (x1, y1) = tri[i], tri[(i + 1) % 3]
        side.append((x1 - x0) * (ys - y0) - (y1 - y0) * (xs - x0))
    side = np.stack(side)
    return (side >= 0).all(0) | (side <= 0).all(0)


def _quad(half: float, z: float = 0.0):
    """Square in the plane Z = z facing +Z (the camera), with OBJ uvs."""
    v = np.array([[-half, -half, z], [half, -half, z], [half, half, z], [-half, half, z]])
    f = np.array([[0, 1, 2], [0, 2, 3]])
    uv = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    return v, f, uv


def _front_camera(size: int, distance: float) -> Camera:
    return Camera(size, size, focal=2.0 * size, cx=(size - 1) / 2, cy=(size - 1) / 2, t=np.array([0.0, 0.0, distance]))


@pytest.mark.parametrize("winding", [[0, 1, 2], [0, 2, 1]])
def test_single_triangle_pixels_and_barycentrics(winding):
    tri = np.array([[3.3, 2.2], [36.7, 9.1], [12.4, 29.6]])
    pts = np.column_stack([tri, [1.0, 2.0, 3.0]])
    frags = rasterize(pts, [winding], 40, 32)
    expected = _inside_triangle(tri, 40, 32)
    assert expected.sum() > 300
    np.testing.assert_array_equal(frags.mask, expected)
    ys, xs = np.nonzero(frags.mask)
    b = frags.bary[ys, xs].astype(float)
    np.testing.assert_allclose(b.sum(1), 1, atol=1e-6)
    assert b.min() >= 0
    corners = pts[winding]
    np.testing.assert_allclose(b @ corners[:, 0], xs, atol=1e-4)
    np.testing.assert_allclose(b @ corners[:, 1], ys, atol=1e-4)
    np.testing.assert_allclose(frags.depth[ys, xs], b @ corners[:, 2], rtol=1e-5)
    assert np.isinf(frags.depth[~frags.mask]).all() and (frags.face[~frags.mask] == -1).all()


def test_nearest_triangle_wins_in_any_order():
    near = [[2, 2, 1.0], [30, 4, 1.0], [10, 28, 1.0]]
    far = [[0, 0, 2.0], [31, 0, 2.0], [16, 31, 2.0]]
    for order in ([0, 1], [1, 0]):
        pts = np.array(near + far, float)
        faces = np.array([[0, 1, 2], [3, 4, 5]])[order]
        frags = rasterize(pts, faces, 32, 32)
        near_face = order.index(0)
        covered = _inside_triangle(pts[:3, :2], 32, 32)
        assert (frags.face[covered] == near_face).all()
        assert (frags.depth[covered] == 1.0).all()
        only_far = _inside_triangle(pts[3:, :2], 32, 32) & ~covered
        assert (frags.face[only_far] == 1 - near_face).all()


def test_depth_limit_keeps_only_nearer_fragments():
    near = [[2, 2, 1.0], [30, 4, 1.0], [10, 28, 1.0]]
    far = [[0, 0, 2.0], [31, 0, 2.0], [16, 31, 2.0]]
    pts, faces = np.array(near + far, float), [[0, 1, 2], [3, 4, 5]]
    covered_near = _inside_triangle(pts[:3, :2], 32, 32)
    covered_far = _inside_triangle(pts[3:, :2], 32, 32)
    limit = np.full((32, 32), 1.5)
    limit[:, 16:] = np.inf  # right half: no limit
    frags = rasterize(pts, faces, 32, 32, depth_limit=limit)
    assert (frags.face[covered_near] == 0).all()
    left_far = covered_far & ~covered_near & (np.arange(32) < 16)
    right_far = covered_far & ~covered_near & (np.arange(32) >= 16)
    assert left_far.sum() > 20 and right_far.sum() > 20
    assert (frags.face[left_far] == -1).all() and np.isinf(frags.depth[left_far]).all()
    assert (frags.face[right_far] == 1).all()
    # A fragment exactly at the limit is drawn; one in front of nothing stays empty.
    at_limit = rasterize(pts, faces, 32, 32, depth_limit=np.full((32, 32), 1.0))
    assert (at_limit.face[covered_near] == 0).all() and (at_limit.face[~covered_near] == -1).all()
    with pytest.raises(ValueError, match="depth_limit"):
        rasterize(pts, faces, 32, 32, depth_limit=np.ones((8, 8)))


def _nearest_kept(pts, faces, size, keep):
    """Reference: each face drawn alone, the nearest kept fragment per pixel (ties: the
    lower face); (size, size) face and depth."""
    best = np.full((size, size), np.inf, np.float32)
    want = np.full((size, size), -1)
    for f in range(len(faces)):
        alone = rasterize(pts, faces[f:f + 1], size, size, perspective=True)
        ys, xs = np.nonzero(alone.mask)
        kept = keep(np.full(len(ys), f), alone.bary[ys, xs])
        ys, xs = ys[kept], xs[kept]
        nearer = alone.depth[ys, xs] < best[ys, xs]
        best[ys[nearer], xs[nearer]] = alone.depth[ys[nearer], xs[nearer]]
        want[ys[nearer], xs[nearer]] = f
    return want, best


def test_alpha_tested_faces_match_one_face_at_a_time(monkeypatch):
    """Alpha-tested faces are drawn nearest first, hidden ones skipped: the result is what
    drawing each face alone and keeping the nearest kept fragment per pixel gives, for a
    deep random stack and for long far faces seen past the edge of a near wall."""
    import headforge.render.raster as raster

    skipped = []
    unhidden = raster._unhidden
    monkeypatch.setattr(raster, "_unhidden", lambda *a: skipped.append(~(u := unhidden(*a))) or u)
    rng = np.random.default_rng(3)
    n = 1000
    centre = rng.uniform(0, 39, (n, 1, 2))
    corners = centre + rng.normal(0, 5, (n, 3, 2))
    depth = rng.uniform(1, 3, (n, 1, 1)) + rng.uniform(0, 0.2, (n, 3, 1))
    stack = np.concatenate([corners, depth], 2).reshape(-1, 3)
    # A solid wall of 4 x 4 pixel squares at depth 1 with a gap (x 32..63), thin faces at
    # depth 2 across the gap from one side to the other, and faces wholly behind the wall.
    cells = [(x, y) for x in (*range(0, 32, 4), *range(64, 96, 4)) for y in range(0, 96, 4)]
    wall = np.array([[[x - 0.5, y - 0.5, 1.0], [x + 4, y - 0.5, 1.0], [x - 0.5, y + 4, 1.0]] for x, y in cells]
                    + [[[x + 4, y - 0.5, 1.0], [x + 4, y + 4, 1.0], [x - 0.5, y + 4, 1.0]] for x, y in cells])
    thin = np.array([[[30, y, 2.0], [66 + k % 5, y + 1.5, 2.0], [30, y + 3, 2.0]]
                     for k, y in enumerate(range(2, 92, 6))], float)
    hidden = np.array([[[x, y, 3.0], [x + 3, y, 3.0], [x, y + 3, 3.0]] for x in (4, 70) for y in range(4, 90, 6)], float)
    scene = np.concatenate([wall, thin, hidden]).reshape(-1, 3)

    def stripy(face, bary):  # some faces solid, others with holes
        return (face % 2 == 0) | (np.sin(40 * bary[:, 0]) > 0)

    for pts, keep, size in ((stack, stripy, 40), (scene, lambda f, b: np.ones(len(f), bool), 96)):
        faces = np.arange(len(pts)).reshape(-1, 3)
        skipped.clear()
        got = rasterize(pts, faces, size, size, perspective=True, keep=keep)
        want, best = _nearest_kept(pts, faces, size, keep)
        assert np.concatenate(skipped).sum() > 0  # the hidden-face test did skip faces
        np.testing.assert_array_equal(got.face, want)
        np.testing.assert_allclose(got.depth[want >= 0], best[want >= 0], rtol=1e-6)
    assert (want[:, 32:64] >= len(wall)).sum() > 300 and want.max() < len(wall) + len(thin)  # in the gap


def test_interpenetrating_triangles_split_by_depth():
    # Two triangles crossing along x = 16: left of it face 0 is nearer, right of it face 1.
    pts = np.array([[0, 0, 1], [32, 0, 3], [16, 32, 2], [0, 0, 3], [32, 0, 1], [16, 32, 2]], float)
    frags = rasterize(pts, [[0, 1, 2], [3, 4, 5]], 33, 33)
    ys, xs = np.nonzero(frags.mask)
    assert (frags.face[ys, xs][xs < 15] == 0).all() and (frags.face[ys, xs][xs > 17] == 1).all()


def test_mesh_has_no_cracks_and_no_overdraw_gaps():
    rng = np.random.default_rng(0)
    n = 12
    g = np.stack(np.meshgrid(np.linspace(-1, 65, n), np.linspace(-1, 65, n)), -1)
    g[1:-1, 1:-1] += rng.uniform(-2, 2, (n - 2, n - 2, 2))
    pts = np.column_stack([g.reshape(-1, 2), rng.uniform(1, 2, n * n)])
    i = np.arange(n - 1)[:, None] * n + np.arange(n - 1)[None, :]
    faces = np.concatenate([np.stack([i, i + 1, i + n + 1], -1), np.stack([i, i + n + 1, i + n], -1)]).reshape(-1, 3)
    frags = rasterize(pts, faces, 64, 64)
    assert frags.mask.all()


def test_offscreen_degenerate_and_invalid_faces():
    pts = np.array(
        [
            [-50, -50, 1], [-40, -50, 1], [-45, -30, 1],  # fully off-screen
            [5, 5, 1], [10, 10, 1], [15, 15, 1],  # zero area
            [2, 2, -1], [20, 2, 1], [2, 20, 1],  # behind the camera
            [np.nan, 2, 1], [20, 2, 1], [2, 20, 1],  # not finite
            [-1e4, -1e4, 1], [1e4, -1e4, 1], [0, 1e4, 1],  # huge, covers everything
        ],
        float,
    )
    frags = rasterize(pts, np.arange(15).reshape(5, 3), 48, 40)
    assert (frags.face == 4).all()
    assert rasterize(pts, np.arange(12).reshape(4, 3), 48, 40).face.max() == -1
    assert rasterize(np.zeros((0, 3)), np.zeros((0, 3), int), 8, 8).face.max() == -1


def test_large_triangles_are_chunked():
    pts = np.array([[-10, -10, 1], [3000, -10, 1], [-10, 3000, 1], [1500, 1500, 2]], float)
    frags = rasterize(pts, [[0, 1, 2], [0, 1, 3]], 1400, 1400)  # ~2.9 M candidate pixels
    assert (frags.face == 0).all()


def test_cull_backfaces():
    pts = np.array([[2, 2, 1], [20, 2, 1], [2, 20, 1]], float)
    assert rasterize(pts, [[0, 1, 2]], 24, 24, cull_backfaces=True).mask.any()  # clockwise on screen
    assert not rasterize(pts, [[0, 2, 1]], 24, 24, cull_backfaces=True).mask.any()


def test_perspective_barycentrics_reproduce_surface_points():
    cam = Camera.orbit(64, 64, yaw_deg=50, distance=0.5)
    v, f, _ = _quad(0.05)
    frags = rasterize(cam.to_screen(v), f, 64, 64, perspective=True)
    ys, xs = np.nonzero(frags.mask)
    assert len(ys) > 500
    p = np.einsum("nk,nkc->nc", frags.bary[ys, xs].astype(float), v[f[frags.face[ys, xs]]])
    np.testing.assert_allclose(cam.project(p), np.column_stack([xs, ys]), atol=1e-3)
    np.testing.assert_allclose(cam.to_camera(p)[:, 2], frags.depth[ys, xs], rtol=1e-5)


def test_rasterize_uv_covers_texels():
    v, f, uv = _quad(1.0)
    frags = rasterize_uv(uv, f, 16)
    assert frags.mask.all()
    ys, xs = np.nonzero(frags.mask)
    u = np.einsum("nk,nk->n", frags.bary[ys, xs], uv[f[frags.face[ys, xs]], 0])
    np.testing.assert_allclose(u, (xs + 0.5) / 16, atol=1e-5)


def test_sample_bilinear_texel_centres_and_midpoints():
    img = np.arange(12, dtype=np.uint8).reshape(2, 2, 3) * 10
    uv = np.array([[0.25, 0.75], [0.75, 0.25], [0.5, 0.75]])
    out = sample_bilinear(img, uv)
    np.testing.assert_allclose(out[0], img[0, 0])
    np.testing.assert_allclose(out[1], img[1, 1])
    np.testing.assert_allclose(out[2], (img[0, 0].astype(float) + img[0, 1]) / 2)


def test_flat_textured_quad_reproduces_texture():
    size, distance = 64, 0.5
    cam = _front_camera(size, distance)
    half = (size / 2) * distance / cam.focal  # edges on the image border
    v, f, uv = _quad(half)
    tex = np.random.default_rng(1).integers(0, 256, (size, size, 3)).astype(np.uint8)
    r = render_mesh(v, f, cam, uvs=uv, face_uvs=f, texture=tex, lighting="flat")
    assert r.mask.all()
    np.testing.assert_array_equal(r.image, tex)
    np.testing.assert_allclose(r.depth, distance, rtol=1e-6)


def test_vertex_colors_and_background():
    cam = _front_camera(32, 0.5)
    v, f, uv = _quad(0.05)
    colors = np.full((4, 3), [10, 200, 30], np.uint8)
    r = render_mesh(v, f, cam, uvs=uv, vertex_colors=colors, lighting="flat", background=(0, 0, 255))
    assert (r.image[r.mask] == [10, 200, 30]).all()
    assert (r.image[~r.mask] == [0, 0, 255]).all() and (~r.mask).any()
    with pytest.raises(ValueError):
        render_mesh(v, f, cam, texture=np.zeros((4, 4, 3), np.uint8))


def test_sphere_silhouette_shading_and_determinism():
    m = trimesh.creation.icosphere(subdivisions=4)
    radius, distance = 0.06, 0.6
    cam = Camera.orbit(128, 128, distance=distance)
    r = render_mesh(m.vertices * radius, m.faces, cam)
    expected = cam.focal * radius / np.sqrt(distance**2 - radius**2)
    ys, xs = np.mgrid[:128, :128]
    dist = np.hypot(xs - cam.cx, ys - cam.cy)
    assert r.mask[dist < expected - 1.5].all() and not r.mask[dist > expected + 1.5].any()
    assert abs(np.sqrt(r.mask.sum() / np.pi) - expected) < 1.0
    grey = r.image[r.mask].astype(int)
    assert grey.std() > 10  # lit, not flat
    upper_left = r.image[44, 44].astype(int).sum()
    lower_right = r.image[84, 84].astype(int).sum()
    assert upper_left > lower_right  # key light from the upper left
    again = render_mesh(m.vertices * radius, m.faces, cam)
    np.testing.assert_array_equal(again.image, r.image)
    np.testing.assert_array_equal(again.depth, r.depth)
    assert r.depth[r.mask].min() == pytest.approx(distance - radius, abs=1e-3)


def test_supersample_keeps_geometry_and_smooths_edges():
    m = trimesh.creation.icosphere(subdivisions=3)
    cam = Camera.orbit(64, 64, distance=0.6)
    one = render_mesh(m.vertices * 0.08, m.faces, cam, lighting="flat", color=(0, 0, 0))
    four = render_mesh(m.vertices * 0.08, m.faces, cam, lighting="flat", color=(0, 0, 0), supersample=4)
    np.testing.assert_array_equal(one.mask, four.mask)
    np.testing.assert_array_equal(one.face, four.face)
    assert set(np.unique(one.image)) == {0, 255}
    assert ((four.image > 0) & (four.image < 255)).any()


def test_normal_map_tilts_shading():
    cam = _front_camera(32, 0.5)
    v, f, uv = _quad(0.1)

    def lit(tilt_v: float) -> float:
        n = np.array([0.0, tilt_v, np.sqrt(1 - tilt_v**2)])
        nm = np.broadcast_to(np.rint((n * 0.5 + 0.5) * 255).astype(np.uint8), (8, 8, 3))
        return render_mesh(v, f, cam, uvs=uv, normal_map=nm).image[16, 16].mean()

    # +v is up on screen and the key light comes from above: tilting up brightens.
    assert lit(0.5) > lit(0.0) > lit(-0.5)


def test_visible_vertices_on_sphere():
    m = trimesh.creation.icosphere(subdivisions=3)
    v = m.vertices * 0.06
    cam = Camera.orbit(128, 128, yaw_deg=20, distance=0.6)
    vis = visible_vertices(v, m.faces, cam)
    centre = -cam.R.T @ cam.t
    facing = np.einsum("ij,ij->i", m.vertex_normals, centre - v) / np.linalg.norm(centre - v, axis=1)
    assert vis[facing > 0.2].all()
    assert not vis[facing < -0.2].any()


def test_strands_hidden_behind_mesh_and_drawn_in_front():
    cam = _front_camera(64, 0.5)
    v, f, _ = _quad(0.1)
    base = render_mesh(v, f, cam)
    line = np.stack([np.linspace(-0.08, 0.08, 32), np.zeros(32), np.zeros(32)], 1)
    strands = np.stack([line + [0, 0.01, -0.05], line + [0, -0.01, 0.05]])
    colors = np.array([[255, 0, 0], [0, 0, 255]], np.uint8)
    r = render_strands(strands, cam, colors=colors, base=base, lighting="flat")
    assert not (r.strand == 0).any()
    drawn = r.strand == 1
    assert drawn.sum() > 40
    assert (r.image[drawn] == [0, 0, 255]).all() and (r.face[drawn] == -1).all()
    assert (r.depth[drawn] < base.depth[drawn]).all()
    np.testing.assert_array_equal(r.image[~drawn], base.image[~drawn])
    # Without a base both strands show; the nearer one wins where they cross.
    alone = render_strands(strands, cam, colors=colors, width_px=3, background=(0, 0, 0))
    assert (alone.strand == 0).sum() > 80 and (alone.strand == 1).sum() > 80
    assert (alone.image[alone.strand < 0] == 0).all()


def test_strands_studio_shading_darkens_roots():
    cam = _front_camera(64, 0.5)
    strand = np.stack([np.zeros(32), np.linspace(0.03, -0.03, 32), np.zeros(32)], 1)[None]
    r = render_strands(strand, cam, colors=np.array([[200, 200, 200]], np.uint8))
    ys, xs = np.nonzero(r.strand == 0)
    order = np.argsort(ys)
    assert r.image[ys[order[0]], xs[order[0]]].sum() < r.image[ys[order[-1]], xs[order[-1]]].sum()
