"""`python -m engine bench`: image to mesh at 64..512 on the bundled model, next to the references.

For each image and resolution: the full image-to-mesh run (seconds per stage, decoder queries, the
floor, peak memory, decoder throughput as a share of this machine's measured matmul peak), then the
dense reference (where it fits) and the IM-NET-style reference (64^3 frame + full boundary cells)
on the same latent, each with its time ratio to ours and its occupancy IoU against ours.

With --analytic SHAPE, no model: the extraction methods (--methods) on an analytic shape, one JSON
line per (method, resolution).
"""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputError
from ..request import DEVICES


def add_arguments(p) -> None:
    from ..bench.analytic import analytic_shapes
    from ..bench.extraction import METHODS
    from ..bench.pipeline import SAMPLES

    p.add_argument("--model", default="", help="bundled model name or checkpoint path")
    p.add_argument("--images", nargs="*", default=None, help=f"images (default: {SAMPLES}/*.png)")
    p.add_argument("--resolutions", default="64,128,256,512")
    p.add_argument("--references", default="dense,imnet", help="reference methods to run beside ours")
    p.add_argument("--dense-max", type=int, default=256, help="largest resolution for the dense reference")
    p.add_argument("--iou-max", type=int, default=256, help="largest resolution for IoU against ours")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--int8", action="store_true", help="also decode with int8 weights (CPU) and compare with ours")
    p.add_argument("--repeat", type=int, default=1, help="runs of ours per case (the fastest is kept)")
    p.add_argument("--out", default="", help="also write the report to this JSON file")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--analytic", default="", choices=["", *sorted(analytic_shapes())], metavar="SHAPE",
                   help=f"no model: compare the extraction methods on an analytic shape ({', '.join(sorted(analytic_shapes()))})")
    p.add_argument("--methods", default=",".join(METHODS),
                   help=f"with --analytic: extraction methods to compare (default {','.join(METHODS)})")


def run(args) -> int:
    from . import comma_list

    resolutions = comma_list(args.resolutions, int, "--resolutions")
    if args.analytic:
        return run_analytic(args, resolutions)
    from ..bench import bench, format_table

    report = bench(args.model, args.images, resolutions, comma_list(args.references), dense_max=args.dense_max,
                   iou_max=args.iou_max, device=args.device, int8=args.int8, repeat=args.repeat)
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps(report) if args.json else format_table(report))
    return 0


def run_analytic(args, resolutions: tuple[int, ...]) -> int:
    from ..bench.analytic import analytic_shapes
    from ..bench.extraction import METHODS, compare_methods
    from ..device import pick_device

    methods = comma_list_of_methods(args.methods, METHODS)
    rows = compare_methods(analytic_shapes()[args.analytic], resolutions, methods=methods,
                           device=pick_device(args.device), dense_max=args.dense_max, iou_max=args.iou_max)
    rows = [dict(r, shape=args.analytic) for r in rows]
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))
    for r in rows:
        print(json.dumps(r))
    return 0


def comma_list_of_methods(text: str, known: tuple[str, ...]) -> tuple[str, ...]:
    from . import comma_list

    methods = comma_list(text)
    unknown = [m for m in methods if m not in known]
    if unknown or not methods:
        raise InputError(f"--methods takes some of {','.join(known)}, not {text!r}")
    return methods
