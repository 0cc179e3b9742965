"""`python -m engine reconstruct IMAGE [IMAGE ...] -o OUT`."""

from __future__ import annotations

import sys
from pathlib import Path

from ..errors import InputError
from ..mesh_files import FORMATS, mesh_format, write_mesh


def add_arguments(p) -> None:
    p.add_argument("images", nargs="+", metavar="IMAGE", help="picture(s) of an object; alpha is used as the mask")
    p.add_argument("-o", "--output", required=True, help="mesh file for one image, or a folder for several")
    p.add_argument("--resolution", type=int, default=128, help="grid resolution, 32..1024 (default 128)")
    p.add_argument("--threshold", type=float, default=0.5, help="occupancy threshold in (0, 1) (default 0.5)")
    p.add_argument("--model", default="", help="bundled model name or checkpoint path (default: the bundled model)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--format", choices=FORMATS, default=None, help="mesh format (default: from -o, else obj)")
    p.add_argument("--method", choices=["adaptive", "dense", "imnet"], default="adaptive",
                   help="grid evaluation: coarse-to-fine (default) or the dense/IM-NET references")
    p.add_argument("--json", action="store_true", help="print one JSON object per image on stdout")


def output_paths(images: list[str], output: str, fmt: str | None) -> list[Path]:
    out = Path(output)
    if len(images) == 1 and not out.is_dir():
        return [out.with_suffix("." + fmt) if fmt and not out.suffix else out]
    if out.exists() and not out.is_dir():
        raise InputError(f"{len(images)} images need -o to be a folder, but {out} is a file")
    stems = [Path(i).stem for i in images]
    if len(set(stems)) != len(stems):
        raise InputError("several images share a file name stem; their meshes would overwrite each other")
    return [out / f"{stem}.{fmt or 'obj'}" for stem in stems]


def run(args) -> int:
    from ..request import validate_request
    from ..device import pick_device
    from ..reconstruct import reconstruct
    from ..checkpoint import resolve_model
    from . import print_json

    # everything that can be checked up front is, so a bad call writes nothing
    validate_request(args.resolution, args.threshold)
    pick_device(args.device)
    resolve_model(args.model)
    paths = output_paths(args.images, args.output, args.format)
    for path in paths:
        mesh_format(path, args.format)
    if len(paths) > 1:
        paths[0].parent.mkdir(parents=True, exist_ok=True)

    failures = 0
    for image, path in zip(args.images, paths):
        try:
            result = reconstruct(image, model=args.model, resolution=args.resolution, threshold=args.threshold,
                                 device=args.device, method=args.method)
            write_mesh(path, result.vertices, result.faces, args.format)
        except InputError as exc:
            if len(args.images) == 1:
                raise
            print(f"imdec: error: {exc}", file=sys.stderr)
            failures += 1
            continue
        result.output = str(path)
        if args.json:
            print_json(result.to_json())
        else:
            print(f"{image} -> {path} ({len(result.vertices)} vertices, {len(result.faces)} faces, "
                  f"{result.seconds['total']:.2f} s)")
    return 2 if failures else 0
