"""Deterministic CPU rendering (pure numpy): meshes, hair strands, UV-space rasterisation.

Frames and units follow :mod:`headforge.core.camera`: world metres, Y up, the face
looks along +Z; OpenCV pinhole cameras with pixel centres at integer coordinates.
"""
from headforge.render.mesh import Render, render_mesh, visible_vertices
from headforge.render.raster import Fragments, rasterize, rasterize_uv
from headforge.render.shading import sample_bilinear
from headforge.render.strands import render_strands

__all__ = [
    "Fragments",
    "Render",
    "rasterize",
    "rasterize_uv",
    "render_mesh",
    "render_strands",
    "sample_bilinear",
    "visible_vertices",
]
