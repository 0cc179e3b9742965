"""`python -m engine evaluate`: the model against held-out procedural shapes, next to two baselines.

For every test shape (the first seeds of the test split) one view is rendered and prepared like a
user's picture. Metrics follow docs/CONVENTIONS.md. Baselines on the same split and images:
- mean shape: the category's mean occupancy over training shapes, thresholded at 0.5;
- retrieval: the training shape whose rendered silhouette is nearest to the test image's.
"""

from __future__ import annotations

import json

from ..request import DEVICES

def add_arguments(p) -> None:
    from ..evaluation.metrics import IOU_POINTS, SURFACE_SAMPLES

    p.add_argument("--model", default="", help="bundled model name or checkpoint path")
    p.add_argument("--categories", default="", help="comma-separated (default: the model's categories)")
    p.add_argument("--families", default="all", choices=["all", "held-out"],
                   help="held-out: only the test shapes of the held-out subtype families (those "
                        "`train --hold-out-families` leaves out), per category that has some")
    p.add_argument("--shapes", type=int, default=20, help="test shapes per category")
    p.add_argument("--baseline-shapes", type=int, default=100, help="training shapes per category for the baselines")
    p.add_argument("--mesh-resolution", type=int, default=128, help="grid resolution of predicted and true meshes")
    p.add_argument("--iou-points", type=int, default=IOU_POINTS)
    p.add_argument("--surface-samples", type=int, default=SURFACE_SAMPLES)
    p.add_argument("--no-baselines", action="store_true")
    p.add_argument("--silhouette", type=int, default=0, metavar="PIXELS",
                   help="local models: carve what the picture shows as background, its mask grown by PIXELS (0: off)")
    p.add_argument("--camera", default="head", choices=["head", "fitted", "true"],
                   help="local models: place the query points with the camera head's camera, with the "
                        "camera fitted to the global stream's coarse mesh (as colouring does), or with the "
                        "renderer's true camera (a diagnostic: what a perfect camera head would give)")
    p.add_argument("--colours", action="store_true",
                   help="measure the vertex colours instead (engine.evaluation.colours): the coloured mesh "
                        "rendered flat against the picture, per category")
    p.add_argument("--device", default="auto", choices=DEVICES)
    p.add_argument("--out", default="", help="also write the report to this JSON file")
    p.add_argument("--store", action="store_true", help="store the figures in the model's checkpoint file")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args) -> int:
    from ..data.families import HELD_OUT_FAMILIES
    from ..errors import InputError
    from ..evaluation import evaluate, format_table, store_report
    from . import command_line, comma_list

    if args.colours:
        return run_colours(args)
    held_out = args.families == "held-out"
    if held_out and args.store:
        raise InputError("--store keeps the checkpoint's full test report; "
                         "write a --families held-out report with --out")
    report = evaluate(args.model, comma_list(args.categories), shapes=args.shapes, baseline_shapes=args.baseline_shapes,
                      mesh_resolution=args.mesh_resolution, iou_points=args.iou_points,
                      surface_samples=args.surface_samples, baselines=not args.no_baselines, device=args.device,
                      command=command_line(), families=HELD_OUT_FAMILIES if held_out else None,
                      silhouette=args.silhouette, camera=args.camera)
    if args.store:
        store_report(args.model, report)
    return show_report(args, report, format_table)


def run_colours(args) -> int:
    from ..errors import InputError
    from ..evaluation.colours import evaluate_colours, format_colour_table
    from . import command_line, comma_list

    if args.store or args.families != "all":
        raise InputError("--colours measures all families and writes its report with --out, not --store")
    report = evaluate_colours(args.model, comma_list(args.categories), shapes=args.shapes,
                              resolution=args.mesh_resolution, device=args.device, command=command_line())
    return show_report(args, report, format_colour_table)


def show_report(args, report: dict, table) -> int:
    """Write the report to --out (when given) and print it: JSON with --json, else as `table(report)`."""
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)
    print(json.dumps(report) if args.json else table(report))
    return 0
