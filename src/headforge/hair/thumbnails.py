"""Pictures of hairstyles: a three-quarter thumbnail on a plain head, and a contact sheet."""
from __future__ import annotations

import cv2
import numpy as np

from headforge.core.strands import Hairstyle
from headforge.core.camera import Camera
from headforge.render import render_mesh, render_strands

SIZE = 256
SKIN = np.array([222, 186, 160], np.float64)
SCALP_TINT = 0.6  # how much hair colour shows on the scalp under hair (roots, shadow)
VIEW = dict(yaw_deg=35.0, pitch_deg=8.0, distance=1.0, fov_deg=30.0, target=np.array([0.0, -0.1, 0.0]))


def thumbnail(style: Hairstyle, vertices: np.ndarray, faces: np.ndarray, scalp: np.ndarray,
              size: int = SIZE) -> np.ndarray:
    """(size, size, 3) uint8: the fitted ``style`` on the head (V, 3), (F, 3) seen from the
    front-left, the scalp faces ``scalp`` tinted with the hair colour when there is hair."""
    camera = Camera.orbit(size, size, **VIEW)
    colors = np.tile(SKIN, (len(vertices), 1))
    if style.count:
        scalp_vertices = np.unique(np.asarray(faces)[scalp])
        colors[scalp_vertices] = (1 - SCALP_TINT) * SKIN + SCALP_TINT * style.color.astype(np.float64)
    base = render_mesh(vertices, faces, camera, vertex_colors=colors.astype(np.uint8), supersample=2)
    if not style.count:
        return base.image
    return render_strands(style.strands, camera, colors=style.colors, width_px=1.5 * size / SIZE, base=base).image


def contact_sheet(tiles: list[tuple[str, np.ndarray]], columns: int = 8) -> np.ndarray:
    """(rows * S, columns * S, 3) uint8 sheet of (label, (S, S, 3) image) tiles, each label
    written along the tile's bottom edge."""
    size = tiles[0][1].shape[0]
    rows = -(-len(tiles) // columns)
    sheet = np.full((rows * size, columns * size, 3), 255, np.uint8)
    for i, (label, image) in enumerate(tiles):
        tile = np.ascontiguousarray(image)
        scale = size / 512
        cv2.putText(tile, label, (6, size - 8), cv2.FONT_HERSHEY_SIMPLEX, 1.1 * scale, (255, 255, 255), 3, cv2.LINE_AA)
        cv2.putText(tile, label, (6, size - 8), cv2.FONT_HERSHEY_SIMPLEX, 1.1 * scale, (30, 30, 30), 1, cv2.LINE_AA)
        r, c = divmod(i, columns)
        sheet[r * size:(r + 1) * size, c * size:(c + 1) * size] = tile
    return sheet
