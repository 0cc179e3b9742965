"""`python -m engine reconstruct IMAGE [IMAGE ...] -o OUT`."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InputError
from ..mesh_files import FORMATS, check_output, write_mesh
from ..request import (DEFAULT_DEVICE, DEFAULT_RESOLUTION, DEFAULT_THRESHOLD, DEVICES, MAX_RESOLUTION,
                       MIN_RESOLUTION, ReconstructionRequest)


def add_arguments(p) -> None:
    p.add_argument("images", nargs="+", metavar="IMAGE", help="picture(s) of an object; alpha is used as the mask")
    p.add_argument("-o", "--output", required=True,
                   help="mesh file for one image (.obj, .ply or .glb), or a folder for several")
    p.add_argument("--resolution", type=int, default=DEFAULT_RESOLUTION,
                   help=f"grid resolution, {MIN_RESOLUTION}..{MAX_RESOLUTION} (default {DEFAULT_RESOLUTION})")
    p.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                   help=f"occupancy threshold in (0, 1) (default {DEFAULT_THRESHOLD})")
    p.add_argument("--model", default="", help="bundled model name or checkpoint path (default: the bundled model)")
    p.add_argument("--device", default=DEFAULT_DEVICE, choices=DEVICES)
    p.add_argument("--format", choices=FORMATS, default=None,
                   help="mesh format: must agree with -o's suffix, and is added to a name without one "
                        "(-o chair --format ply writes chair.ply); default: from -o's suffix, else obj")
    p.add_argument("--method", choices=["adaptive", "dense", "imnet"], default="adaptive",
                   help="grid evaluation: coarse-to-fine (default) or the dense/IM-NET references")
    p.add_argument("--no-colour", action="store_true", help="write clay: no vertex colours from the picture")
    p.add_argument("--json", action="store_true", help="print one JSON object per image on stdout")


def output_paths(images: list[str], output: str, fmt: str | None) -> list[Path]:
    if not output.strip():
        raise InputError("-o is empty; give the mesh file to write (e.g. -o chair.obj), or a folder for several images")
    out = Path(output)
    if len(images) == 1 and not out.is_dir():
        has_mesh_suffix = out.suffix.lstrip(".").lower() in FORMATS
        return [out.with_name(f"{out.name}.{fmt}") if fmt and not has_mesh_suffix else out]
    if out.exists() and not out.is_dir():
        raise InputError(f"{len(images)} images need -o to be a folder, but {out} is a file")
    stems = [Path(i).stem for i in images]
    if len(set(stems)) != len(stems):
        raise InputError("several images share a file name stem; their meshes would overwrite each other")
    return [out / f"{stem}.{fmt or 'obj'}" for stem in stems]


def run(args) -> int:
    from ..device import pick_device
    from ..model_files import resolve_model
    from ..reconstruct import reconstruct_request
    from . import print_json

    requests = [ReconstructionRequest(image=image, model=args.model, resolution=args.resolution,
                                      threshold=args.threshold, device=args.device, colour=not args.no_colour)
                for image in args.images]
    # everything that can be checked up front is, so a bad call writes nothing
    requests[0].validate()
    pick_device(args.device)
    resolve_model(args.model)
    paths = output_paths(args.images, args.output, args.format)
    for path in paths:
        check_output(path, args.format)
    if len(paths) > 1:
        paths[0].parent.mkdir(parents=True, exist_ok=True)

    failures = 0
    for request, path in zip(requests, paths):
        try:
            result = reconstruct_request(request, method=args.method)
            write_mesh(path, result.vertices, result.faces, args.format, colours=result.colours)
        except InputError as exc:
            if len(requests) == 1:
                raise
            print(f"imdec: error: {exc}", file=sys.stderr)
            failures += 1
            continue
        result.output = str(path)
        if args.json:
            print_json(result.to_json())
        else:
            coloured = ", coloured" if result.colours is not None else ""
            print(f"{request.image} -> {path} ({len(result.vertices)} vertices, {len(result.faces)} faces"
                  f"{coloured}, {result.seconds['total']:.2f} s)")
    return 2 if failures else 0
