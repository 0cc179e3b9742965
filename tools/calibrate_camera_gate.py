#!/usr/bin/env python3
"""Pick the camera gate of a pixel-aligned model on validation shapes and store it in its config.

    python tools/calibrate_camera_gate.py runs/local/model.pt --out runs/local/gated.pt

The local stream samples the picture where its camera head puts each point; where the head is
wrong (a table seen from the side it confuses with another), it samples the wrong pixels and does
worse than the global stream alone. The model can tell without the true camera: seen through a
wrong camera, the global stream's coarse shape misses the object's mask (local.camera_agreement).
This measures, on the first --shapes validation shapes per category (one rendered view each, IoU
on 100,000 uniform points as in docs/CONVENTIONS.md), each picture's agreement and the IoU with
and without the local stream, and takes the gate (leave the local stream out below it) with the
best mean over categories. The gate goes into the config (`camera_gate`, used by
IMDecNet.point_fn), the figures into trained["camera_gate_calibration"]; test metrics are
dropped, since they no longer hold (measure again with `python -m engine evaluate`).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from calibration_io import load_for_calibration, save_calibrated  # noqa: E402

from engine.data.samples import SampleSource  # noqa: E402
from engine.errors import InputError  # noqa: E402
from engine.evaluation import held_out_views  # noqa: E402
from engine.evaluation import metrics as M  # noqa: E402
from engine.frame import in_chunks  # noqa: E402
from engine.local import camera_agreement  # noqa: E402
from engine.model import IMDecNet  # noqa: E402

GATES = "0,0.3,0.4,0.5,0.55,0.6,0.65,0.7,0.75,0.8,0.85,0.9"


def picture_scores(net: IMDecNet, categories: list[str], shapes: int,
                   iou_points: int = M.IOU_POINTS) -> list[dict]:
    """Per validation picture: category, the head camera's agreement, IoU with and without the
    local stream."""
    source = SampleSource.create(categories=categories, image_size=net.config["image_size"], seed=777)
    points = M.iou_points(iou_points)
    rows = []
    net.eval()
    for cat, _, _, batch, image, _ in held_out_views(source, "val", shapes):
        truth = batch.occupancy(points[None])[0].numpy()
        with torch.inference_mode():
            both = net.point_fn(image[None], camera_gate=0)
            alone = net.point_fn(image[None], global_only=True)
            raw = net.camera_outputs(image[None])
            rows.append({"category": cat, "agreement": camera_agreement(alone, image[3], net.camera_head.camera(raw)),
                         "sector_probability": sector_probability(net, raw),
                         "iou_local": M.iou((in_chunks(both, points) > 0).numpy(), truth),
                         "iou_global": M.iou((in_chunks(alone, points) > 0).numpy(), truth)})
    return rows


def sector_probability(net: IMDecNet, raw: torch.Tensor) -> float:
    """The camera head's probability of its azimuth sector (1 for a head that regresses it): the
    other signal of a doubtful camera, printed beside the agreement for comparison."""
    bins = net.camera_head.bins
    return float(raw[0, :bins].float().softmax(-1).max()) if bins else 1.0


def correlation(xs: list[float], ys: list[float]) -> float:
    x, y = torch.tensor(xs, dtype=torch.float64), torch.tensor(ys, dtype=torch.float64)
    x, y = x - x.mean(), y - y.mean()
    return float((x * y).sum() / (x.norm() * y.norm()).clamp(min=1e-12))


def gated_ious(rows: list[dict], gates: list[float]) -> dict[str, list[float]]:
    """{category: mean IoU at each gate}: the local stream where agreement >= gate, else none."""
    out = {}
    for cat in dict.fromkeys(r["category"] for r in rows):
        mine = [r for r in rows if r["category"] == cat]
        out[cat] = [sum(r["iou_local"] if r["agreement"] >= g else r["iou_global"] for r in mine) / len(mine)
                    for g in gates]
    return out


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("model", help="checkpoint path of a pixel-aligned model")
    p.add_argument("--out", required=True, help="where to write the gated checkpoint (may be the input)")
    p.add_argument("--categories", default="", help="comma-separated (default: the model's categories)")
    p.add_argument("--shapes", type=int, default=20, help="validation shapes per category")
    p.add_argument("--gates", default=GATES, help="candidate gates in [0, 1], comma-separated")
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        gates = sorted({float(g) for g in args.gates.split(",") if g} | {0.0})
        if not all(0 <= g <= 1 for g in gates):
            raise InputError(f"gates must lie in [0, 1]: {args.gates}")
        payload, net = load_for_calibration(args.model)
        if net.local is None:
            raise InputError(f"{args.model} is a global-only model: it has no local stream to gate")
        categories = [c for c in args.categories.split(",") if c] or payload["categories"]
        rows = picture_scores(net, categories, args.shapes)
    except InputError as exc:
        print(f"calibrate_camera_gate: {exc}", file=sys.stderr)
        return 2
    ious = gated_ious(rows, gates)
    means = [sum(column) / len(column) for column in zip(*ious.values())]
    k = max(range(len(gates)), key=means.__getitem__)
    print("| category | " + " | ".join(f"{g:g}" for g in gates) + " |")
    print("|---|" + "---|" * len(gates))
    for cat, row in {**ious, "mean": means}.items():
        print(f"| {cat} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
    global_only = sum(r["iou_global"] for r in rows) / len(rows)
    print(f"best gate {gates[k]:g}: mean validation IoU {means[k]:.4f} (no gate: {means[0]:.4f}, "
          f"global stream alone: {global_only:.4f}); pictures gated out: "
          f"{sum(r['agreement'] < gates[k] for r in rows)} of {len(rows)}")
    gains = [r["iou_local"] - r["iou_global"] for r in rows]
    print("correlation with the local stream's gain: agreement "
          f"{correlation([r['agreement'] for r in rows], gains):+.2f}, sector probability "
          f"{correlation([r['sector_probability'] for r in rows], gains):+.2f}")
    net.config["camera_gate"] = gates[k]
    calibration = {"gate": gates[k], "val_shapes_per_category": args.shapes, "val_iou": round(means[k], 4),
                   "val_iou_no_gate": round(means[0], 4), "val_iou_global_only": round(global_only, 4),
                   "per_category": {c: {f"{g:g}": round(v, 4) for g, v in zip(gates, row)} for c, row in ious.items()}}
    save_calibrated(args.out, net, payload, "camera_gate_calibration", calibration)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
