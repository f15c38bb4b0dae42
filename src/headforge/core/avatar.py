"""The result of a reconstruction: a textured, animatable head and what made it.

Frames and units: the head frame is metres, Y up, the face looks along +Z, the origin near
the centre of the head. Texture images are (S, S, 3) uint8 with row 0 at the top; texture
coordinates follow OBJ: (0, 0) is the bottom-left corner of the image, v grows upwards.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from headforge.core.strands import Hairstyle
from headforge.core.camera import Camera


@dataclass
class HeadMesh:
    """A head-and-neck mesh with ARKit-named expression morph targets.

    vertices: (V, 3) float32, the person's identity with a neutral expression.
    faces: (F, 3) int32 vertex indices, counter-clockwise seen from outside.
    uvs: (T, 2) float32 texture coordinates; face_uvs: (F, 3) int32 indices into ``uvs``.
    morph_names: the 52 ARKit action names; morph_deltas: (52, V, 3) float32 offsets in metres.
    """

    vertices: np.ndarray
    faces: np.ndarray
    uvs: np.ndarray
    face_uvs: np.ndarray
    morph_names: list[str]
    morph_deltas: np.ndarray

    def posed(self, weights: np.ndarray) -> np.ndarray:
        """(V, 3) vertices with the (52,) morph ``weights`` applied."""
        return self.vertices + np.tensordot(np.asarray(weights, np.float32), self.morph_deltas, 1)


@dataclass
class Avatar:
    """A reconstructed head: mesh, fitted expression, textures, parameters and a preview.

    expression: (52,) morph weights in [0, 1] that reproduce the photo's expression
    (all zero when a neutral avatar was asked for). albedo, normal_map: (S, S, 3) uint8.
    params: the JSON-ready ``params.json`` content. preview: (H, W, 3) uint8 or None.
    landmarks: (478, 2) detected landmarks in photo pixels (not exported), or None.
    camera: the fitted camera that sees the head as in the photo (photo pixels), or None.
    hair: the strands it wears (:class:`headforge.core.strands.Hairstyle`, head frame,
    fitted to ``mesh.vertices``), or None.
    observed: (S, S) float32 in [0, 1], how much of each albedo texel the photo gave (the rest
    is fill), or None; light: (9,) float32 grey spherical-harmonics shading of the photo in the
    fitted camera's frame (:mod:`headforge.texture.delight`: photo ~ albedo * shading), or None.
    Neither is exported.
    body: the head on a rigged, dressed body
    (:class:`headforge.body.fullbody.FullBody`), or None for a head-only avatar.
    iris: (3,) uint8 sRGB iris colour read from the photo, or None (a default brown).
    bust: whether the avatar has neck, shoulders and a top below the head
    (:func:`headforge.headmodel.fitted_parts.avatar_parts`).
    """

    mesh: HeadMesh
    expression: np.ndarray
    albedo: np.ndarray
    normal_map: np.ndarray
    params: dict = field(default_factory=dict)
    preview: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    camera: Camera | None = None
    hair: Hairstyle | None = None
    observed: np.ndarray | None = None
    light: np.ndarray | None = None
    body: object | None = None
    iris: np.ndarray | None = None
    bust: bool = True
    # (mesh, albedo, parts): the cache of :func:`headforge.headmodel.fitted_parts.avatar_parts`.
    _parts: tuple = field(default=(None, None, None), init=False, repr=False, compare=False)
    # (hair, albedo, worn): the cache of :func:`headforge.texture.scalp.worn_albedo`.
    _worn: tuple = field(default=(None, None, None), init=False, repr=False, compare=False)
