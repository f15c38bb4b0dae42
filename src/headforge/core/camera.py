"""Pinhole camera in OpenCV convention.

World frame (the head's frame): metres, Y up, the face looks along +Z.
Camera frame: x right, y down, z forward (into the scene). A point X (world) maps to
``x_cam = R @ X + t`` and to pixels ``u = f * x/z + cx``, ``v = f * y/z + cy``;
pixel centres are at integer coordinates (0, 0 is the centre of the top-left pixel).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from headforge.core.geometry import rotation_x, rotation_y

# Rotation that turns the world frame (Y up, +Z towards the viewer) into a camera that
# looks at the face from the front (camera y down, z into the scene).
FRONT = np.diag([1.0, -1.0, -1.0])


@dataclass
class Camera:
    """focal, cx, cy in pixels; R (3, 3) and t (3,) in metres, world -> camera."""

    width: int
    height: int
    focal: float
    cx: float
    cy: float
    R: np.ndarray = field(default_factory=lambda: FRONT.copy())
    t: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 1.0]))

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) world points -> (N, 3) camera-frame points."""
        return points @ self.R.T + self.t

    def project(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) world points -> (N, 2) pixel coordinates."""
        p = self.to_camera(points)
        z = np.maximum(p[:, 2:3], 1e-9)
        return p[:, :2] / z * self.focal + np.array([self.cx, self.cy])

    def resized(self, factor: float, width: int, height: int) -> "Camera":
        """The same camera for an image ``factor`` times larger (pixel centres kept aligned)."""
        return Camera(
            width, height, self.focal * factor, (self.cx + 0.5) * factor - 0.5,
            (self.cy + 0.5) * factor - 0.5, self.R.copy(), self.t.copy(),
        )

    def to_screen(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) world points -> (N, 3) (x_pixel, y_pixel, camera z in metres), unclamped:
        points at z <= 0 (behind the camera) get non-finite or meaningless pixels."""
        p = self.to_camera(np.asarray(points, np.float64))
        with np.errstate(divide="ignore", invalid="ignore"):
            xy = p[:, :2] / p[:, 2:3] * self.focal + np.array([self.cx, self.cy])
        return np.column_stack([xy, p[:, 2]])

    def scaled(self, factor: int) -> "Camera":
        """The same view on a ``factor`` times finer pixel grid (for supersampling): pixel
        (i, j) of this camera covers the factor x factor block starting at (i*f, j*f)."""
        return Camera(
            self.width * factor,
            self.height * factor,
            self.focal * factor,
            (self.cx + 0.5) * factor - 0.5,
            (self.cy + 0.5) * factor - 0.5,
            self.R,
            self.t,
        )

    @staticmethod
    def orbit(
        width: int,
        height: int,
        yaw_deg: float = 0.0,
        pitch_deg: float = 0.0,
        distance: float = 1.0,
        fov_deg: float = 18.0,
        target: np.ndarray | None = None,
    ) -> "Camera":
        """A camera at ``distance`` metres from ``target`` (world), turned by yaw (about +Y,
        positive = the camera moves to the head's left, so we see its left cheek) and pitch
        (positive = camera above the head), looking at the target."""
        target = np.zeros(3) if target is None else np.asarray(target, float)
        ry = rotation_y(np.radians(yaw_deg))
        rx = rotation_x(-np.radians(pitch_deg))
        # Orientation of the camera in the world, then invert.
        R = FRONT @ (ry @ rx).T
        centre = target + (ry @ rx) @ np.array([0.0, 0.0, distance])
        t = -R @ centre
        focal = 0.5 * height / np.tan(np.radians(fov_deg) / 2)
        return Camera(width, height, focal, (width - 1) / 2, (height - 1) / 2, R, t)
