"""The avatar's separate parts, fitted to its head: teeth, tongue, eyeballs, mouth cavity, bust and top.

From the default-identity parts of :mod:`headforge.headmodel.parts` and the avatar's fitted
head (:class:`headforge.core.avatar.HeadMesh` of the anny back-end, head frame, metres):

- the tongue is the head model's own (its vertices and morph targets, as fitted); the teeth
  follow the tongue's similarity transform from the default identity to the person's;
- each eyeball is a sphere at the head model's eyeball, turned by the eyeLook* actions
  (morph targets holding the rotation's offsets), with an iris of the photo's colour;
- the mouth cavity is the head's own inner-mouth faces, drawn with the atlas's mucosa;
- the bust (neck, shoulders, upper chest) shares the head's neck vertices: skin in the tone
  of the head's neck inside the neckline, a top of plain fabric outside it.

Every part is textured from one atlas (:mod:`headforge.headmodel.parts_atlas`). :func:`scene`
merges the head and its parts into one mesh and one texture for the CPU renderer.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from headforge.core.avatar import Avatar, HeadMesh
from headforge.headmodel.parts import EYE_ACTIONS, PartsModel, carry_bust, load_parts
from headforge.headmodel import parts_atlas as atlas

EYE_RINGS, EYE_SEGMENTS = 18, 32
EYE_BACK_ANGLE = np.radians(165.0)  # the eyeball sphere stops here (a hole at the back, inside the head)
NECK_BAND_M = 0.03  # the skin tone is the median albedo of the head's lowest 3 cm of neck
MOVE_EPS_M = 1e-5
# anny's helpers sit the upper incisors' edge level with the lips' contact line and the tongue
# up to the lower teeth's edge; a relaxed open mouth shows a little of the upper teeth and
# the tongue lying behind the lower ones, so they move by these (metres, head frame).
UPPER_TEETH_SHIFT_M = np.array([0.0, -0.002, 0.0])
TONGUE_SHIFT_M = np.array([0.0, -0.005, -0.003])


@dataclass
class Part:
    """One separate mesh: vertices (N, 3) float32 head frame; faces (F, 3) int32; uvs (N, 2)
    atlas coordinates (OBJ convention); morph_names (K,) ARKit names and morph_deltas (K, N, 3)
    float32 offsets per unit weight; roughness for glTF; double_sided when its back shows."""

    name: str
    vertices: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray
    morph_names: list[str]
    morph_deltas: np.ndarray
    roughness: float = 0.5
    double_sided: bool = False

    def posed(self, weights: dict[str, float]) -> np.ndarray:
        out = self.vertices.astype(np.float64)
        for name, delta in zip(self.morph_names, self.morph_deltas):
            out = out + weights.get(name, 0.0) * delta
        return out


@dataclass
class HeadParts:
    """skin_faces, cavity_faces: (Fs,), (Fc,) indices into the head's faces (the head model's
    own tongue and eyeball faces are in neither); cavity_uvs: (V, 2) atlas uvs per head vertex
    (used by the cavity faces); parts: teeth, tongue, EyeLeft, EyeRight, and body and top with a
    bust; atlas: (S, S, 3) uint8."""

    skin_faces: np.ndarray
    cavity_faces: np.ndarray
    cavity_uvs: np.ndarray
    parts: list[Part]
    atlas: np.ndarray


def _similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """scale, (3, 3) rotation, (3,) translation with dst ~ scale * R @ src + t (Umeyama)."""
    ms, md = src.mean(0), dst.mean(0)
    a, b = src - ms, dst - md
    u, sig, vt = np.linalg.svd(b.T @ a)
    d = np.diag([1, 1, np.sign(np.linalg.det(u @ vt))])
    r = u @ d @ vt
    scale = float(np.trace(np.diag(sig) @ d) / max((a ** 2).sum(), 1e-12))
    return scale, r, md - scale * r @ ms


def _rotate(points: np.ndarray, rotvec: np.ndarray) -> np.ndarray:
    """(N, 3) points turned by the axis * angle ``rotvec`` (Rodrigues)."""
    angle = np.linalg.norm(rotvec)
    if angle < 1e-12:
        return points
    k = rotvec / angle
    return (points * np.cos(angle) + np.cross(k, points) * np.sin(angle)
            + np.outer(points @ k, k) * (1 - np.cos(angle)))


def _moving(names: list[str], deltas: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The actions among (K, N, 3) ``deltas`` that move some vertex more than MOVE_EPS_M."""
    keep = [k for k in range(len(names)) if np.abs(deltas[k]).max() > MOVE_EPS_M]
    return [names[k] for k in keep], deltas[keep].astype(np.float32)


def _eye(side: str, centre: np.ndarray, radius: float, rotations: dict[str, np.ndarray]) -> Part:
    """A UV sphere looking along +Z (front pole first), open at the back."""
    theta = np.linspace(0, EYE_BACK_ANGLE, EYE_RINGS + 1)[1:]
    phi = np.linspace(0, 2 * np.pi, EYE_SEGMENTS, endpoint=False)
    th, ph = np.meshgrid(theta, phi, indexing="ij")
    dirs = np.column_stack([np.sin(th).ravel() * np.cos(ph).ravel(), np.sin(th).ravel() * np.sin(ph).ravel(),
                            np.cos(th).ravel()])
    local = np.concatenate([[[0.0, 0.0, 1.0]], dirs]) * radius
    uvs = atlas.eye_uv(np.concatenate([[0.0], th.ravel()]), np.concatenate([[0.0], ph.ravel()]))
    ring = lambda i, j: 1 + i * EYE_SEGMENTS + j % EYE_SEGMENTS  # noqa: E731
    faces = [(0, ring(0, j), ring(0, j + 1)) for j in range(EYE_SEGMENTS)]
    for i in range(EYE_RINGS - 1):
        for j in range(EYE_SEGMENTS):
            faces += [(ring(i, j), ring(i + 1, j), ring(i + 1, j + 1)), (ring(i, j), ring(i + 1, j + 1), ring(i, j + 1))]
    names = sorted(rotations)
    deltas = np.array([_rotate(local, rotations[n]) - local for n in names], np.float32).reshape(len(names), -1, 3)
    return Part(f"Eye{side}", (local + centre).astype(np.float32), np.array(faces, np.int32), uvs, names,
                deltas, roughness=0.08)


def _bust(mesh: HeadMesh, template: np.ndarray, model: PartsModel) -> Part:
    """Part "body": neck, shoulders and upper chest, its first vertices the head's neck (with
    the head's morph offsets there), the rest carried by the neck (:func:`carry_bust`); skin
    and top painted by :func:`headforge.headmodel.parts_atlas.bust_uv`."""
    n = len(mesh.vertices)
    faces = model.bust_faces
    neck = np.unique(faces[faces < n])
    own = carry_bust(model, template, mesh.vertices)
    index = np.full(n + len(own), -1)
    index[neck] = np.arange(len(neck))
    index[n:] = len(neck) + np.arange(len(own))
    verts = np.concatenate([mesh.vertices[neck], own])
    deltas = np.zeros((len(mesh.morph_names), len(verts), 3), np.float32)
    deltas[:, :len(neck)] = mesh.morph_deltas[:, neck]
    names, deltas = _moving(list(mesh.morph_names), deltas)
    uvs = atlas.bust_uv(verts, mesh.vertices[neck].mean(0))
    return Part("body", verts.astype(np.float32), index[faces].astype(np.int32), uvs, names, deltas,
                roughness=0.85, double_sided=True)


def skin_tone(mesh: HeadMesh, albedo: np.ndarray) -> np.ndarray:
    """(3,) uint8 median albedo over the head's lowest ``NECK_BAND_M`` of neck."""
    from headforge.render.shading import sample_bilinear

    low = mesh.vertices[:, 1].min() + NECK_BAND_M
    faces = np.flatnonzero((mesh.vertices[mesh.faces][:, :, 1] < low).all(1))
    if not len(faces):
        return atlas.DEFAULT_SKIN
    uv = mesh.uvs[mesh.face_uvs[faces]].reshape(-1, 2)
    return np.clip(np.median(sample_bilinear(albedo, uv), axis=0), 0, 255).astype(np.uint8)


def head_parts(mesh: HeadMesh, albedo: np.ndarray, iris: np.ndarray | None = None,
               bust: bool = True) -> HeadParts | None:
    """The parts of an anny head (None for another back-end's mesh). ``albedo``: (S, S, 3)
    uint8, for the bust's skin tone; ``iris``: (3,) uint8 sRGB or None (a default brown)."""
    from headforge.headmodel.anny_head import load_head_model

    model = load_parts()
    if len(mesh.faces) != len(model.cavity_faces):
        return None
    head = load_head_model()
    if len(mesh.vertices) != len(head.template) or list(mesh.morph_names) != head.action_names:
        return None
    names = list(mesh.morph_names)
    template = head.template.astype(np.float64)
    tongue = model.tongue_head
    scale, rot, shift = _similarity(template[tongue], mesh.vertices[tongue].astype(np.float64))

    def carried(points, deltas):
        return (scale * points @ rot.T + shift).astype(np.float32), (scale * deltas @ rot.T).astype(np.float32)

    teeth_rest = model.teeth_vertices + np.where(model.teeth_lower[:, None], 0.0, UPPER_TEETH_SHIFT_M)
    teeth_v, teeth_d = carried(teeth_rest, model.teeth_actions)
    teeth_uv = _teeth_uvs(model.teeth_vertices, model.teeth_lower)
    tongue_uv = _tongue_uvs(model.tongue_vertices)
    parts = [Part("teeth", teeth_v, model.teeth_faces, teeth_uv, *_moving(names, teeth_d), roughness=0.3),
             Part("tongue", (mesh.vertices[tongue] + scale * rot @ TONGUE_SHIFT_M).astype(np.float32), _tongue_faces(mesh, tongue), tongue_uv,
                  *_moving(names, mesh.morph_deltas[:, tongue]), roughness=0.4)]
    for side, label in enumerate(("Left", "Right")):
        ids = model.eye_head[model.eye_side == side]
        s, r, t = _similarity(template[ids], mesh.vertices[ids].astype(np.float64))
        centre = s * r @ model.eye_centers[side] + t
        rotations = {n: r @ model.eye_rotations[k, side] for k, n in enumerate(names)
                     if n.startswith(EYE_ACTIONS) and np.abs(model.eye_rotations[k, side]).max() > 0}
        parts.append(_eye(label, centre, float(s * model.eye_radius[side]), rotations))
    if bust:
        parts.append(_bust(mesh, template, model))
    cavity = np.flatnonzero(model.cavity_faces)
    skin_faces = np.flatnonzero(~model.cavity_faces & ~model.helper_faces)
    return HeadParts(skin_faces, cavity, _cavity_uvs(mesh.vertices, mesh.faces[cavity]), parts,
                     atlas.parts_atlas(iris, skin_tone(mesh, albedo)))


def _tongue_faces(mesh: HeadMesh, tongue: np.ndarray) -> np.ndarray:
    """The head's tongue faces in the tongue's own vertex numbering."""
    local = np.full(len(mesh.vertices), -1)
    local[tongue] = np.arange(len(tongue))
    f = local[mesh.faces]
    return f[(f >= 0).all(1)].astype(np.int32)


def _teeth_uvs(vertices: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Atlas uvs: u along the arch (the angle around its back centre), v from gum (0) to edge (1)."""
    uvs = np.zeros((len(vertices), 2))
    for row, gum_at_top in ((~lower, True), (lower, False)):
        p = vertices[row]
        angle = np.arctan2(p[:, 0], p[:, 2] - p[:, 2].min() + 1e-6)
        u = (angle - angle.min()) / max(np.ptp(angle), 1e-9)
        h = (p[:, 1] - p[:, 1].min()) / max(np.ptp(p[:, 1]), 1e-9)
        uvs[row] = np.column_stack([u, 1 - h if gum_at_top else h])
    return atlas.region_uv(atlas.TEETH, uvs)


def _tongue_uvs(vertices: np.ndarray) -> np.ndarray:
    p = vertices
    u = (p[:, 0] - p[:, 0].min()) / max(np.ptp(p[:, 0]), 1e-9)
    v = (p[:, 2] - p[:, 2].min()) / max(np.ptp(p[:, 2]), 1e-9)
    return atlas.region_uv(atlas.TONGUE, np.column_stack([u, v]))


def _cavity_uvs(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 2) atlas uvs: u from the front of the mouth (0) to its back (1), by depth."""
    z = vertices[np.unique(faces), 2]
    u = (z.max() - vertices[:, 2]) / max(np.ptp(z), 1e-9)
    return atlas.region_uv(atlas.CAVITY, np.column_stack([u, np.full(len(vertices), 0.5)]))


def avatar_parts(avatar: Avatar) -> HeadParts | None:
    """The parts around ``avatar``'s head (None for a back-end whose mesh has none), computed
    once per mesh and albedo and kept on the avatar."""
    mesh, albedo, parts = avatar._parts
    if mesh is not avatar.mesh or albedo is not avatar.albedo:
        parts = head_parts(avatar.mesh, avatar.albedo, avatar.iris, avatar.bust)
        avatar._parts = (avatar.mesh, avatar.albedo, parts)
    return parts


@dataclass
class Scene:
    """The head and its parts as one mesh for the CPU renderer: vertices (V, 3) float64 posed;
    faces (F, 3); uvs (T, 2) and face_uvs (F, 3) into ``texture`` (2S, S, 3) uint8, the
    albedo above the parts' atlas, and ``normal_map`` (2S, S, 3) (flat under the atlas)."""

    vertices: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray
    face_uvs: np.ndarray
    texture: np.ndarray
    normal_map: np.ndarray


def scene(avatar: Avatar, expression: np.ndarray | None = None, albedo: np.ndarray | None = None) -> Scene:
    """The avatar (posed by the (52,) ``expression``, default its own) with its parts, for
    :func:`headforge.render.render_mesh`; ``albedo`` defaults to ``avatar.albedo`` (pass
    :func:`headforge.texture.scalp.worn_albedo` for the scalp under the hair painted).
    Without parts: the head alone."""
    m = avatar.mesh
    weights = avatar.expression if expression is None else expression
    albedo = avatar.albedo if albedo is None else albedo
    posed = m.posed(weights)
    hp = avatar_parts(avatar)
    if hp is None:
        return Scene(posed, m.faces, m.uvs, m.face_uvs, albedo, avatar.normal_map)
    by_name = dict(zip(m.morph_names, np.asarray(weights, np.float64)))
    skin_uv = np.column_stack([m.uvs[:, 0], 0.5 + 0.5 * m.uvs[:, 1]])
    vertices, faces, uvs, face_uvs = [posed], [m.faces[hp.skin_faces]], [skin_uv], [m.face_uvs[hp.skin_faces]]
    n_v, n_t = len(posed), len(skin_uv)
    half = lambda uv: np.column_stack([uv[:, 0], 0.5 * uv[:, 1]])  # noqa: E731
    uvs.append(half(hp.cavity_uvs))
    faces.append(m.faces[hp.cavity_faces])
    face_uvs.append(m.faces[hp.cavity_faces] + n_t)
    n_t += len(hp.cavity_uvs)
    for part in hp.parts:
        vertices.append(part.posed(by_name))
        faces.append(part.faces + n_v)
        uvs.append(half(part.uvs))
        face_uvs.append(part.faces + n_t)
        n_v += len(part.vertices)
        n_t += len(part.uvs)
    texture, normal = _stacked(albedo, avatar.normal_map, hp.atlas)
    return Scene(np.concatenate(vertices), np.concatenate(faces), np.concatenate(uvs).astype(np.float32),
                 np.concatenate(face_uvs), texture, normal)


_stack_cache: list = []  # [(albedo, normal_map, atlas), (texture, normal)]: the last avatar's, by identity


def _stacked(albedo: np.ndarray, normal_map: np.ndarray, parts_atlas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(2S, S, 3) texture and normal map: the head's above the parts' atlas (resized to S) and a
    flat normal; the last result is reused while the same arrays come in (one preview's views)."""
    import cv2

    if _stack_cache and all(a is b for a, b in zip(_stack_cache[0], (albedo, normal_map, parts_atlas))):
        return _stack_cache[1]
    size = albedo.shape[1]
    parts_img = cv2.resize(parts_atlas, (size, size), interpolation=cv2.INTER_LINEAR)
    flat = np.broadcast_to(np.array([128, 128, 255], np.uint8), (size, size, 3))
    normal = cv2.resize(normal_map, (size, size)) if normal_map.shape[1] != size else normal_map
    result = (np.concatenate([albedo, parts_img]), np.concatenate([normal, flat]))
    _stack_cache[:] = [(albedo, normal_map, parts_atlas), result]
    return result
