#!/usr/bin/env python3
"""Fold the occupancy threshold that scores best on validation shapes into a model's output bias.

    python tools/calibrate_threshold.py runs/table1/model.pt --out runs/table1/calibrated.pt

A decoder trained with cross-entropy is rarely at its best IoU at probability 0.5: where it is
unsure, on thin parts such as table legs, a lower threshold keeps them whole. This measures IoU
(100,000 uniform points, as in docs/CONVENTIONS.md) on the first --shapes validation shapes per category,
one rendered view each, at each of --thresholds, takes the one with the best mean over categories
and shifts the decoder's output bias by -logit(best): the written model at the default threshold
0.5 is the measured model at `best`, in the add-on and on the command line alike. The figures go
into the checkpoint's trained["threshold_calibration"]; its test metrics are dropped, since they no
longer hold (measure again with `python -m engine evaluate`).
"""

import argparse
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from calibration_io import load_for_calibration, save_calibrated  # noqa: E402

from engine.evaluation import metrics as M  # noqa: E402
from engine.data.samples import SampleSource  # noqa: E402
from engine.errors import InputError  # noqa: E402
from engine.evaluation import held_out_views  # noqa: E402
from engine.frame import in_chunks  # noqa: E402
from engine.model import IMDecNet  # noqa: E402

THRESHOLDS = "0.2,0.25,0.3,0.35,0.4,0.45,0.5,0.55,0.6"


def logit(probability: float) -> float:
    """The decoder output at which the occupancy probability is `probability`."""
    return math.log(probability / (1 - probability))


def threshold_ious(net: IMDecNet, categories: list[str], shapes: int, thresholds: list[float],
                   iou_points: int = M.IOU_POINTS) -> dict[str, list[float]]:
    """{category: mean validation IoU at each threshold}."""
    source = SampleSource.create(categories=categories, image_size=net.config["image_size"], seed=777)
    points = M.iou_points(iou_points)
    levels = [logit(t) for t in thresholds]
    sums = {c: torch.zeros(len(thresholds), dtype=torch.float64) for c in categories}
    net.eval()
    for cat, _, _, batch, image, _ in held_out_views(source, "val", shapes):
        truth = batch.occupancy(points[None])[0].numpy()
        with torch.inference_mode():
            logits = in_chunks(net.point_fn(image[None]), points)
        sums[cat] += torch.tensor([M.iou((logits > level).numpy(), truth) for level in levels], dtype=torch.float64)
    return {c: (s / shapes).tolist() for c, s in sums.items()}


def mean_over_categories(ious: dict[str, list[float]]) -> list[float]:
    return [sum(column) / len(column) for column in zip(*ious.values())]


def fold_threshold(net: IMDecNet, threshold: float) -> None:
    """Shift the output logit so that probability 0.5 of the new model is `threshold` of the old.
    A pixel-aligned model's shift goes into its local stream, whose logit is added to the global
    one: the global stream, which the camera gate and `global_only` use alone, stays as it was."""
    out = net.decoder.out if net.local is None else net.local.out
    with torch.no_grad():
        out.bias -= logit(threshold)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("model", help="checkpoint path or bundled model name")
    p.add_argument("--out", required=True, help="where to write the calibrated checkpoint (may be the input)")
    p.add_argument("--categories", default="", help="comma-separated (default: the model's categories)")
    p.add_argument("--shapes", type=int, default=20, help="validation shapes per category")
    p.add_argument("--thresholds", default=THRESHOLDS, help="candidate probabilities, comma-separated")
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        thresholds = sorted({float(t) for t in args.thresholds.split(",") if t} | {0.5})
        if not all(0 < t < 1 for t in thresholds):
            raise InputError(f"thresholds must lie strictly between 0 and 1: {args.thresholds}")
        payload, net = load_for_calibration(args.model)
        categories = [c for c in args.categories.split(",") if c] or payload["categories"]
        ious = threshold_ious(net, categories, args.shapes, thresholds)
    except InputError as exc:
        print(f"calibrate_threshold: {exc}", file=sys.stderr)
        return 2
    means = mean_over_categories(ious)
    k = max(range(len(thresholds)), key=means.__getitem__)
    best, at_half = thresholds[k], means[thresholds.index(0.5)]
    print("| category | " + " | ".join(f"{t:g}" for t in thresholds) + " |")
    print("|---|" + "---|" * len(thresholds))
    for cat, row in {**ious, "mean": means}.items():
        print(f"| {cat} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
    print(f"best threshold {best:g}: mean validation IoU {means[k]:.4f} (at 0.5: {at_half:.4f})")
    fold_threshold(net, best)
    calibration = {"threshold": best, "val_shapes_per_category": args.shapes, "val_iou": round(means[k], 4),
                   "val_iou_at_0.5": round(at_half, 4),
                   "per_category": {c: {f"{t:g}": round(v, 4) for t, v in zip(thresholds, row)} for c, row in ious.items()}}
    save_calibrated(args.out, net, payload, "threshold_calibration", calibration)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
