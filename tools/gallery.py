#!/usr/bin/env python3
"""Inputs next to reconstructions, for the README: for each picture, the input and the mesh that
imdec makes from it, rendered by Blender (Workbench) from the front-left, the right and the back.

    python tools/gallery.py [--images docs/samples/*.png] [--model NAME] [--resolution 128]
                            [--out docs/gallery.png]
"""

from __future__ import annotations

import argparse
import glob
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import demo  # noqa: E402  (the demo's add-on loading and render set-up)

VIEWS = {"front-left": 0.0, "right": 125.0, "back": 200.0}   # camera azimuth about Z, degrees
TILE = 256


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--images", nargs="*", default=sorted(glob.glob(str(demo.ROOT / "docs" / "samples" / "*.png"))))
    p.add_argument("--model", default="")
    p.add_argument("--resolution", type=int, default=128)
    p.add_argument("--threshold", type=float, default=0.5, help="occupancy threshold, as in the panel")
    p.add_argument("--out", default=str(demo.ROOT / "docs" / "gallery.png"))
    args = p.parse_args(argv)
    args.zip = None
    demo.load_addon(args)
    import bpy
    from mathutils import Matrix
    from PIL import Image

    rows = []
    scratch = Path(tempfile.mkdtemp(prefix="imdec-gallery-"))
    for image in args.images:
        demo.clear_scene(bpy)
        t = time.perf_counter()
        bpy.ops.imdec.reconstruct(filepath=str(Path(image).resolve()), resolution=args.resolution, model=args.model,
                                  threshold=args.threshold)
        obj = bpy.context.view_layer.objects.active
        demo.setup_render(bpy, obj, scratch / "x.png", "workbench")
        scene = bpy.context.scene
        scene.render.resolution_x = scene.render.resolution_y = TILE
        cam = scene.camera
        centre = obj.location.copy()
        offset = cam.location - centre
        tiles = [Image.open(image).convert("RGBA").resize((TILE, TILE))]
        for name, azimuth in VIEWS.items():
            cam.location = centre + Matrix.Rotation(math.radians(azimuth), 3, 'Z') @ offset
            cam.rotation_euler = (centre - cam.location).to_track_quat('-Z', 'Y').to_euler()
            scene.render.filepath = str(scratch / f"{name}.png")
            bpy.ops.render.render(write_still=True)
            tiles.append(Image.open(scratch / f"{name}.png").convert("RGBA"))
        rows.append(tiles)
        print(f"gallery: {Path(image).name} in {time.perf_counter() - t:.1f} s", flush=True)
    sheet = Image.new("RGBA", (TILE * 4, TILE * len(rows)), (255, 255, 255, 255))
    for r, tiles in enumerate(rows):
        for c, tile in enumerate(tiles):
            sheet.alpha_composite(tile, (c * TILE, r * TILE))
    sheet.convert("RGB").save(args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)  # the bpy module can hang in its exit handlers
