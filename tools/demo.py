#!/usr/bin/env python3
"""Headless demo with the real Blender module: picture -> mesh object -> .blend, .obj and a rendered PNG.

    python tools/demo.py [--image docs/samples/chair.png] [--model NAME_OR_PATH] [--resolution 128]
                         [--out out] [--engine auto|workbench|cycles|eevee] [--zip dist/imdec-....zip]
                         [--no-colour]

By default the add-on is loaded straight from this repository (as the package `imdec`); with --zip
the built extension is installed with Blender's own installer into a scratch user folder instead.
Writes OUT/demo.blend, OUT/demo.obj (engine.mesh_files, the engine's normalised frame: Z up, front -Y,
with the vertex colours unless --no-colour) and OUT/demo.png (512x512, camera in front, to the left
and above the object), and prints one JSON line with the timings. Exit status 0 on success, 2 when the reconstruction reports an error.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_scratch: list[str] = []  # scratch Blender user folders (--zip), removed at the end


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--image", default=str(ROOT / "docs" / "samples" / "chair.png"))
    p.add_argument("--model", default="", help="bundled model name or checkpoint path (default: the default model)")
    p.add_argument("--resolution", type=int, default=128)
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--device", default="AUTO", choices=("AUTO", "CPU", "CUDA"))
    p.add_argument("--out", default=str(ROOT / "out"))
    p.add_argument("--no-colour", action="store_true", help="clay: no colours from the picture")
    p.add_argument("--engine", default="auto", choices=("auto", "workbench", "cycles", "eevee"),
                   help="renderer: auto tries Workbench, then Cycles on the CPU")
    p.add_argument("--zip", help="install this built extension zip instead of loading the add-on from the repository")
    return p.parse_args(argv)


def load_addon(args):
    """(module name of the add-on, the add-on package)."""
    if args.zip:
        os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="imdec-demo-user-")
        _scratch.append(os.environ["BLENDER_USER_RESOURCES"])
        import bpy

        bpy.ops.extensions.package_install_files(filepath=str(Path(args.zip).resolve()), repo="user_default",
                                                 enable_on_install=True)
        try:
            import bl_ext.user_default.imdec as addon
        except ImportError:
            raise SystemExit(f"demo: error: {args.zip} did not install as the imdec extension") from None
        return "bl_ext.user_default.imdec", addon
    import bpy  # noqa: F401

    spec = importlib.util.spec_from_file_location("imdec", ROOT / "__init__.py", submodule_search_locations=[str(ROOT)])
    addon = importlib.util.module_from_spec(spec)
    sys.modules["imdec"] = addon
    spec.loader.exec_module(addon)
    addon.register()
    return "imdec", addon


def clear_scene(bpy):
    for obj in list(bpy.data.objects):
        bpy.data.objects.remove(obj, do_unlink=True)
    for mesh in list(bpy.data.meshes):
        bpy.data.meshes.remove(mesh)


def setup_render(bpy, obj, out_png: Path, engine: str):
    from mathutils import Vector

    scene = bpy.context.scene
    centre = obj.matrix_world @ (sum((Vector(c) for c in obj.bound_box), Vector()) / 8.0)
    # camera in front (-Y), to the left (-X) and above, looking at the object's centre
    cam_data = bpy.data.cameras.new("Demo Camera")
    cam_data.lens = 50
    cam = bpy.data.objects.new("Demo Camera", cam_data)
    scene.collection.objects.link(cam)
    cam.location = centre + Vector((-1.05, -1.5, 0.95))
    cam.rotation_euler = (centre - cam.location).to_track_quat('-Z', 'Y').to_euler()
    scene.camera = cam
    sun_data = bpy.data.lights.new("Demo Sun", 'SUN')
    sun_data.energy = 2.0 if engine == "cycles" else 3.0
    sun = bpy.data.objects.new("Demo Sun", sun_data)
    sun.rotation_euler = (math.radians(50), math.radians(-10), math.radians(-35))
    scene.collection.objects.link(sun)
    if scene.world is None:
        scene.world = bpy.data.worlds.new("Demo World")
    scene.world.color = (0.8, 0.82, 0.85)

    coloured = len(obj.data.color_attributes) > 0
    if not coloured:  # clay: the add-on's own colour material shows the picture's colours otherwise
        mat = bpy.data.materials.new("Demo Clay")
        mat.diffuse_color = (0.8, 0.55, 0.4, 1.0)
        mat.use_nodes = True
        bsdf = mat.node_tree.nodes.get("Principled BSDF")
        if bsdf is not None:
            bsdf.inputs["Base Color"].default_value = (0.8, 0.55, 0.4, 1.0)
            bsdf.inputs["Roughness"].default_value = 0.6
        obj.data.materials.append(mat)

    render = scene.render
    render.resolution_x = render.resolution_y = 512
    render.resolution_percentage = 100
    render.image_settings.file_format = 'PNG'
    render.image_settings.color_mode = 'RGBA'
    render.filepath = str(out_png)
    render.film_transparent = False
    scene.view_settings.view_transform = 'Standard'  # the picture's sRGB colours as they are (AgX dulls them)
    if engine == "workbench":
        render.engine = 'BLENDER_WORKBENCH'
        shading = scene.display.shading
        shading.light = 'STUDIO'
        shading.color_type = 'VERTEX' if coloured else 'MATERIAL'  # 'VERTEX' is the UI's "Attribute"
        shading.show_cavity = True
        shading.show_shadows = True
        scene.display.render_aa = '8'
    elif engine == "eevee":
        render.engine = 'BLENDER_EEVEE_NEXT' if 'BLENDER_EEVEE_NEXT' in {e.identifier for e in type(render).bl_rna.properties['engine'].enum_items} else 'BLENDER_EEVEE'
    else:
        render.engine = 'CYCLES'
        scene.cycles.device = 'CPU'
        scene.cycles.samples = 16
        scene.cycles.use_denoising = False
        scene.cycles.preview_samples = 8
        world = scene.world
        world.use_nodes = True
        bg = world.node_tree.nodes.get("Background")
        if bg is not None:
            bg.inputs["Color"].default_value = (0.8, 0.82, 0.85, 1.0)
            bg.inputs["Strength"].default_value = 0.3


def render_png(bpy, obj, out_png: Path, engine: str) -> str:
    """Render with the first engine that works headless; returns its name."""
    order = ["workbench", "cycles"] if engine == "auto" else [engine]
    errors = []
    for name in order:
        try:
            if out_png.exists():
                out_png.unlink()
            for o in [o for o in bpy.data.objects if o.name.startswith("Demo ")]:
                bpy.data.objects.remove(o, do_unlink=True)
            for slot, material in reversed(list(enumerate(obj.data.materials))):
                if material is not None and material.name.startswith("Demo "):
                    obj.data.materials.pop(index=slot)
            setup_render(bpy, obj, out_png, name)
            bpy.ops.render.render(write_still=True)
            if out_png.is_file() and out_png.stat().st_size > 0:
                return name
            errors.append(f"{name}: no image written")
        except Exception as exc:  # e.g. no GPU context for Workbench/EEVEE in a headless process
            errors.append(f"{name}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}")
    raise RuntimeError("rendering failed: " + "; ".join(errors))


def vertex_colours(mesh):
    """The mesh's sRGB vertex colours [V, 3] from its active colour attribute, or None (clay)."""
    import numpy as np

    attribute = mesh.color_attributes.active_color
    if attribute is None or attribute.domain != 'POINT':
        return None
    rgba = np.empty(4 * len(mesh.vertices), np.float32)
    attribute.data.foreach_get("color_srgb", rgba)
    return rgba.reshape(-1, 4)[:, :3]


def main(argv=None) -> int:
    args = parse_args(argv)
    image = Path(args.image)
    if not image.is_file():
        print(f"demo: error: image {image} does not exist; pass --image PICTURE.png", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    timings = {}
    t0 = time.perf_counter()
    module, addon = load_addon(args)
    import bpy

    timings["load_addon"] = time.perf_counter() - t0
    clear_scene(bpy)
    bpy.context.scene.cursor.location = (0.0, 0.0, 0.0)
    t = time.perf_counter()
    try:
        bpy.ops.imdec.reconstruct(filepath=str(image.resolve()), resolution=args.resolution,
                                  threshold=args.threshold, model=args.model, device=args.device,
                                  colour=not args.no_colour)
    except RuntimeError as exc:
        print(f"demo: error: {str(exc).strip().removeprefix('Error: ')}", file=sys.stderr)
        return 2
    timings["reconstruct"] = time.perf_counter() - t
    obj = bpy.context.view_layer.objects.active

    t = time.perf_counter()
    import numpy as np

    mesh = obj.data
    co = np.empty(3 * len(mesh.vertices), np.float32)
    mesh.vertices.foreach_get("co", co)
    corners = np.empty(len(mesh.loops), np.int32)
    mesh.loops.foreach_get("vertex_index", corners)
    meshio = sys.modules.get(module + ".engine.mesh_files") or importlib.import_module(module + ".engine.mesh_files")
    meshio.write_mesh(out / "demo.obj", co.reshape(-1, 3), corners.reshape(-1, 3), colours=vertex_colours(mesh))
    timings["write_obj"] = time.perf_counter() - t

    t = time.perf_counter()
    engine = render_png(bpy, obj, out / "demo.png", args.engine)
    timings["render"] = time.perf_counter() - t

    t = time.perf_counter()
    bpy.ops.wm.save_as_mainfile(filepath=str((out / "demo.blend").resolve()), compress=True)
    timings["save_blend"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    print(json.dumps({"image": str(image), "object": obj.name, "vertices": len(mesh.vertices),
                      "faces": len(mesh.polygons), "render_engine": engine,
                      "outputs": [str(out / n) for n in ("demo.blend", "demo.obj", "demo.png")],
                      "seconds": {k: round(v, 3) for k, v in timings.items()}}), flush=True)
    return 0


if __name__ == "__main__":
    import shutil

    try:
        code = main()
    except SystemExit as exc:
        print(exc, file=sys.stderr) if isinstance(exc.code, str) else None
        code = exc.code if isinstance(exc.code, int) else 2
    finally:
        for folder in _scratch:
            shutil.rmtree(folder, ignore_errors=True)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # the bpy module can hang in its exit handlers
