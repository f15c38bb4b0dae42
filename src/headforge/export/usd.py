"""The hair's strands as USD ``BasisCurves`` (``hair.usdc`` in the avatar zip), for 3D tools
that read hair curves (Houdini, Unity's USD importer with its hair package, Omniverse, usdview).

Stage: Y up, 1 unit = 1 metre (the head frame: the face along +Z), default prim ``/avatar``
holding ``/avatar/hair``: linear, non-periodic curves, one per strand, its points root first
(the strands of :class:`headforge.core.strands.Hairstyle` exactly, no resampling), per-point
``widths`` (metres, interpolation ``vertex``) tapering from ``ROOT_WIDTH`` at the root to
``TIP_WIDTH`` at the tip, ``primvars:displayColor`` per curve (interpolation ``uniform``,
linear RGB of the strand's sRGB colour). Written with Pixar's ``usd-core`` wheel as a binary
``.usdc`` crate.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from headforge.hair.cards import srgb_to_linear
from headforge.core.strands import Hairstyle

ROOT_WIDTH = 3e-4  # metres: each of ~10k curves stands for ~10 real hairs (each ~0.07 mm)
TIP_WIDTH = 1e-4  # metres
CURVES_PATH = "/avatar/hair"


def strand_widths(count: int, points: int) -> np.ndarray:
    """(count * points,) float32 widths in metres, root to tip along each strand."""
    taper = np.linspace(ROOT_WIDTH, TIP_WIDTH, points, dtype=np.float32)
    return np.tile(taper, count)


def hair_usdc(hair: Hairstyle) -> bytes:
    """The bytes of a ``.usdc`` file holding ``hair``'s N >= 1 strands (see the module notes)."""
    from pxr import Usd, UsdGeom, Vt

    n, p = hair.strands.shape[:2]
    if n == 0:
        raise ValueError("a hairstyle with no strands has no curves")
    with tempfile.TemporaryDirectory(prefix="headforge-usd-") as tmp:
        path = Path(tmp) / "hair.usdc"
        stage = Usd.Stage.CreateNew(str(path))
        UsdGeom.SetStageUpAxis(stage, UsdGeom.Tokens.y)
        UsdGeom.SetStageMetersPerUnit(stage, 1.0)
        stage.SetDefaultPrim(UsdGeom.Xform.Define(stage, "/avatar").GetPrim())
        curves = UsdGeom.BasisCurves.Define(stage, CURVES_PATH)
        curves.CreateTypeAttr(UsdGeom.Tokens.linear)
        curves.CreateWrapAttr(UsdGeom.Tokens.nonperiodic)
        points = np.ascontiguousarray(hair.strands, np.float32).reshape(-1, 3)
        curves.CreatePointsAttr(Vt.Vec3fArray.FromNumpy(points))
        curves.CreateCurveVertexCountsAttr(Vt.IntArray.FromNumpy(np.full(n, p, np.int32)))
        curves.CreateWidthsAttr(Vt.FloatArray.FromNumpy(strand_widths(n, p)))
        curves.SetWidthsInterpolation(UsdGeom.Tokens.vertex)
        pad = ROOT_WIDTH / 2  # the extent holds the curves' width too
        curves.CreateExtentAttr(Vt.Vec3fArray.FromNumpy(np.stack([points.min(0) - pad, points.max(0) + pad])))
        color = curves.CreateDisplayColorPrimvar(UsdGeom.Tokens.uniform)
        color.Set(Vt.Vec3fArray.FromNumpy(srgb_to_linear(hair.colors).astype(np.float32)))
        curves.GetPrim().SetCustomDataByKey("headforge:hairstyle", hair.name)
        stage.GetRootLayer().Save()
        del stage, curves, color  # the layer closes with its last reference
        return path.read_bytes()
