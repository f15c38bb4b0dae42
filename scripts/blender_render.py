"""Import headforge GLBs into Blender and render them: front and +-40 degrees, with and
without the hair (Cycles on the CPU, denoising off). Run inside Blender, under a clean
environment so that Blender's Python uses Debian's numpy:

    env -i PATH=/usr/bin:/bin HOME="$HOME" blender -b --factory-startup -noaudio \
        --python scripts/blender_render.py -- --out DIR [--size 256] [--samples 16] A.glb [B.glb ...]

For each GLB ``NAME.glb`` it writes ``NAME_{front,left40,right40}_{hair,bald}.png`` to DIR
and one ``report.json``: per file, the imported objects (type, vertices, faces, material
blend mode) and per view the share of pixels the hair changes. Views match the project's
preview (head frame: 0.75 m from a point 3 cm below the eyes, 20 degree vertical field).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy

numpy.bool = bool  # Blender 3.4's glTF importer still calls numpy.bool (removed in numpy 1.24)

import bpy  # noqa: E402  (Blender's module, after the numpy fix)

VIEWS = {"front": 0.0, "left40": 40.0, "right40": -40.0}
DISTANCE = 0.75  # metres
FOV_DEG = 20.0
TARGET = (0.0, 0.0, -0.03)  # Blender frame (Z up): the head frame's (0, -0.03, 0)
HAIR_CHANGE = 0.08  # an RGB change above this (0..1) marks a pixel the hair covers


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("glb", nargs="+")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {}
    for glb in args.glb:
        reset_scene(args.size, args.samples)
        bpy.ops.import_scene.gltf(filepath=str(glb))
        name = Path(glb).stem
        report[name] = {"objects": describe_objects(), "views": {}}
        camera = add_studio()
        hair = [o for o in bpy.data.objects if o.type == "MESH" and "hair" in o.name.lower()]
        for view, yaw in VIEWS.items():
            place_camera(camera, yaw)
            images = {}
            for state in ("hair", "bald"):
                for o in hair:
                    o.hide_render = state == "bald"
                path = out / f"{name}_{view}_{state}.png"
                bpy.context.scene.render.filepath = str(path)
                bpy.ops.render.render(write_still=True)
                images[state] = read_png(path)
            changed = numpy.abs(images["hair"] - images["bald"]).max(axis=2) > HAIR_CHANGE
            report[name]["views"][view] = {"hair_pixels": float(changed.mean())}
    (out / "report.json").write_text(json.dumps(report, indent=2))


def reset_scene(size: int, samples: int) -> None:
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    scene.render.engine = "CYCLES"
    scene.cycles.device = "CPU"
    scene.cycles.samples = samples
    scene.cycles.use_denoising = False
    scene.cycles.max_bounces = 4
    scene.cycles.transparent_max_bounces = 32  # alpha-tested hair cards lie many deep
    scene.render.resolution_x = scene.render.resolution_y = size
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGB"
    scene.view_settings.view_transform = "Standard"
    world = bpy.data.worlds.new("studio")
    world.use_nodes = True
    world.node_tree.nodes["Background"].inputs["Color"].default_value = (0.8, 0.8, 0.8, 1.0)
    world.node_tree.nodes["Background"].inputs["Strength"].default_value = 0.6
    scene.world = world


def describe_objects() -> list[dict]:
    """The imported mesh objects: name, vertex and face counts, material blend modes."""
    out = []
    for o in bpy.data.objects:
        if o.type != "MESH":
            continue
        out.append({
            "name": o.name,
            "vertices": len(o.data.vertices),
            "faces": len(o.data.polygons),
            "loose_edges": sum(1 for e in o.data.edges if e.is_loose),
            "shape_keys": len(o.data.shape_keys.key_blocks) if o.data.shape_keys else 0,
            "materials": [{"name": m.name, "blend_method": m.blend_method} for m in o.data.materials if m],
        })
    return out


def add_studio():
    """A camera and two lights: a key from the upper left front and a weak fill (as the
    project's preview); returns the camera object."""
    scene = bpy.context.scene
    cam_data = bpy.data.cameras.new("camera")
    cam_data.sensor_fit = "VERTICAL"
    cam_data.angle = math.radians(FOV_DEG)
    cam_data.clip_start = 0.05
    camera = bpy.data.objects.new("camera", cam_data)
    scene.collection.objects.link(camera)
    scene.camera = camera
    for name, direction, energy in (("key", (-0.55, -1.0, 0.6), 3.0), ("fill", (0.8, -0.6, 0.1), 1.0)):
        light = bpy.data.lights.new(name, "SUN")
        light.energy = energy
        obj = bpy.data.objects.new(name, light)
        scene.collection.objects.link(obj)
        # A sun shines along its -Z: point -Z from the light direction towards the head.
        obj.rotation_euler = look_rotation([-d for d in direction])
    return camera


def place_camera(camera, yaw_deg: float) -> None:
    """At DISTANCE from TARGET in front of the face (-Y in Blender), turned by ``yaw_deg``
    about the vertical (positive: towards the head's left, +X)."""
    a = math.radians(yaw_deg)
    camera.location = (TARGET[0] + DISTANCE * math.sin(a), TARGET[1] - DISTANCE * math.cos(a), TARGET[2])
    camera.rotation_euler = look_rotation([TARGET[i] - camera.location[i] for i in range(3)])


def look_rotation(direction) -> tuple:
    """Euler angles that point an object's -Z along ``direction`` with +Y up (Z up world)."""
    from mathutils import Vector

    return Vector(direction).to_track_quat("-Z", "Y").to_euler()


def read_png(path: Path) -> numpy.ndarray:
    """(H, W, 3) float 0..1 pixels of a PNG Blender wrote."""
    image = bpy.data.images.load(str(path))
    w, h = image.size
    pixels = numpy.array(image.pixels[:], dtype=numpy.float32).reshape(h, w, -1)[:, :, :3]
    bpy.data.images.remove(image)
    return pixels


if __name__ == "__main__":
    main(sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else [])
