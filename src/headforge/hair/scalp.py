"""The scalp: the part of a head surface that grows hair, and points on it.

Head frame (metres, Y up, the face along +Z, origin at eye height). The scalp is every face
of the head's main component whose centre lies above a hairline that follows the azimuth
around the vertical axis: about 6.5 cm above the eyes at the forehead, receding at the
temples, down in front of the ears (sideburns), over the ears, and down to the nape at the
back. Faces nearer than ``MIN_RADIUS`` to the head's centre (the mouth's inner surface)
are never scalp. Points on a mesh are (face, barycentric) pairs, so they follow the mesh when it
changes shape.
"""
from __future__ import annotations

import numpy as np

from headforge.hair.collision import ClosedSurface
from headforge.core.geometry import interpolate

HEAD_CENTRE = np.array([0.0, 0.0, -0.01])  # metres, head frame
MIN_RADIUS = 0.065  # metres: the scalp is at least this far from HEAD_CENTRE
ROOT_LIFT = 0.0004  # metres: roots sit this far out along the face normal (outside the head)
# Hairline height (m, head frame) against the azimuth (degrees from the front, either side).
_HAIRLINE_AZIMUTH = np.array([0, 20, 35, 48, 58, 66, 71, 78, 82, 86, 112, 122, 135, 150, 180])
_HAIRLINE_HEIGHT = np.array(
    [0.068, 0.067, 0.062, 0.052, 0.040, 0.022, -0.012, -0.018, 0.018, 0.038, 0.038, 0.0, -0.045, -0.068, -0.074]
)


def hairline_height(azimuth_deg: np.ndarray) -> np.ndarray:
    """Height (m) of the hairline at the given azimuths (degrees; 0 = front, +-180 = back)."""
    return np.interp(np.abs(azimuth_deg), _HAIRLINE_AZIMUTH, _HAIRLINE_HEIGHT)


def azimuth_deg(points: np.ndarray) -> np.ndarray:
    """(...,) azimuth in degrees of (..., 3) head-frame points: 0 in front (+Z), +90 at the
    head's left (+X), +-180 at the back."""
    return np.degrees(np.arctan2(points[..., 0], points[..., 2]))


def scalp_faces(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(K,) int32 ids of the scalp faces of the head (V, 3), (F, 3), in the head frame."""
    main = ClosedSurface.from_mesh(vertices, faces).source_faces
    centre = np.asarray(vertices, np.float64)[np.asarray(faces)[main]].mean(1)
    above = centre[:, 1] > hairline_height(azimuth_deg(centre - HEAD_CENTRE))
    outer = np.linalg.norm(centre - HEAD_CENTRE, axis=1) > MIN_RADIUS
    return main[above & outer].astype(np.int32)


def face_areas(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(F,) triangle areas (m^2)."""
    t = np.asarray(vertices, np.float64)[faces]
    return 0.5 * np.linalg.norm(np.cross(t[:, 1] - t[:, 0], t[:, 2] - t[:, 0]), axis=1)


def sample_surface(vertices: np.ndarray, faces: np.ndarray, face_ids: np.ndarray, count: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` points uniform by area over the faces ``face_ids``: (count,) int32 face ids
    and (count, 3) float32 barycentric coordinates."""
    area = face_areas(vertices, np.asarray(faces)[face_ids])
    pick = rng.choice(len(face_ids), size=count, p=area / area.sum())
    u, v = rng.random(count), rng.random(count)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    bary = np.column_stack([1 - u - v, u, v]).astype(np.float32)
    return np.asarray(face_ids, np.int32)[pick], bary


def surface_frame(vertices: np.ndarray, faces: np.ndarray, face: np.ndarray,
                  bary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Points (n, 3) and unit face normals (n, 3), float64, at (face, bary) on the mesh."""
    corners = np.asarray(faces)[face]
    tri = np.asarray(vertices, np.float64)[corners]
    points = interpolate(np.asarray(vertices, np.float64), corners, np.asarray(bary, np.float64))
    normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    return points, normal / np.linalg.norm(normal, axis=1, keepdims=True)


def root_points(vertices: np.ndarray, faces: np.ndarray, face: np.ndarray,
                bary: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Root positions (n, 3), lifted ``ROOT_LIFT`` off the surface, and the unit normals."""
    points, normal = surface_frame(vertices, faces, face, bary)
    return points + ROOT_LIFT * normal, normal


def spread_samples(points: np.ndarray, count: int) -> np.ndarray:
    """(count,) indices of a well-spread subset of (M, 3) points (greedy farthest point,
    starting from point 0)."""
    chosen = np.zeros(min(count, len(points)), np.int64)
    dist = np.linalg.norm(points - points[0], axis=1)
    for i in range(1, len(chosen)):
        chosen[i] = dist.argmax()
        dist = np.minimum(dist, np.linalg.norm(points - points[chosen[i]], axis=1))
    return chosen
