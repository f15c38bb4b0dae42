"""Render docs/screenshots/hair-drape.png: the full-body test avatar (astronaut photo, stored
hairstyle long_straight) with its hair fitted to the head only and draped over the body, from
the front left and the back right, with headforge's CPU renderer (flat skin colour on the
head, the outfit's colours, the web budget's hair cards).

    python scripts/hair_drape_render.py [out.png]
"""
from __future__ import annotations

import dataclasses
import sys

import numpy as np
import skimage.data
from PIL import Image, ImageDraw

import headforge
from headforge.core.camera import Camera
from headforge.hair.cards import cached_cards, card_budget, strand_texture
from headforge.render.cards import render_cards
from headforge.render.mesh import render_mesh
from headforge.render.shading import linear_to_srgb

SKIN = (0.8, 0.6, 0.5)
SIZE = 420


def body_mesh(body) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(V, 3) vertices, (F, 3) faces and (V, 3) colours (0..1) of every body part."""
    vertices, faces, colors, n = [], [], [], 0
    for part in body.parts:
        color = SKIN if part.uvs is not None else tuple(linear_to_srgb(np.array(part.color)))
        vertices.append(part.vertices)
        faces.append(part.faces + n)
        colors.append(np.tile(color, (len(part.vertices), 1)))
        n += len(part.vertices)
    return np.concatenate(vertices), np.concatenate(faces), np.concatenate(colors)


def main(out: str = "docs/screenshots/hair-drape.png") -> None:
    avatar = headforge.reconstruct(skimage.data.astronaut(), texture_size=512, body="full", hair="long_straight",
                                   body_shape={"gender": 0.2, "height": 0.5})
    body = avatar.body
    vertices, faces, colors = body_mesh(body)
    target = body.world[body.bone("Neck"), :3, 3] - np.array([0.0, 0.05, 0.0])
    rows = []
    for yaw in (30, 150):
        camera = Camera.orbit(SIZE, SIZE, yaw_deg=yaw, pitch_deg=10, distance=2.4, fov_deg=18, target=target)
        base = render_mesh(vertices, faces, camera, vertex_colors=colors, supersample=2)
        row = []
        for hair in (avatar.hair, body.hair):
            cards = cached_cards(hair, card_budget("web"))
            cards = dataclasses.replace(cards, positions=(cards.positions + body.head_offset).astype(np.float32))
            row.append(render_cards(cards, strand_texture(), camera, base=base).image)
        rows.append(np.concatenate(row, axis=1))
    image = Image.fromarray(np.concatenate(rows, axis=0))
    draw = ImageDraw.Draw(image)
    draw.text((10, 8), "before: fitted to the head only", fill=(0, 0, 0))
    draw.text((SIZE + 10, 8), "after: draped over the body", fill=(0, 0, 0))
    image.save(out, optimize=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
