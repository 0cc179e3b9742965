"""`python -m engine evaluate`: the model against held-out procedural shapes, next to two baselines.

For every test shape (the first seeds of the test split) one view is rendered and prepared like a
user's picture. Metrics follow CONVENTIONS.md. Baselines on the same split and images:
- mean shape: the category's mean occupancy over training shapes, thresholded at 0.5;
- retrieval: the training shape whose rendered silhouette is nearest to the test image's.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from ..extract.meshing import mesh_node_grid
from ..frame import DOMAIN_HALF, in_chunks, node_grid
from . import metrics as M
from ..errors import InputError

MEAN_GRID = 64          # resolution of the mean-shape occupancy grid over [-0.55, 0.55]^3
RETRIEVAL_SIZE = 32     # silhouettes are compared at this size


def add_arguments(p) -> None:
    p.add_argument("--model", default="", help="bundled model name or checkpoint path")
    p.add_argument("--categories", default="", help="comma-separated (default: the model's categories)")
    p.add_argument("--shapes", type=int, default=20, help="test shapes per category")
    p.add_argument("--baseline-shapes", type=int, default=100, help="training shapes per category for the baselines")
    p.add_argument("--mesh-resolution", type=int, default=128, help="grid resolution of predicted and true meshes")
    p.add_argument("--iou-points", type=int, default=M.IOU_POINTS)
    p.add_argument("--surface-samples", type=int, default=M.SURFACE_SAMPLES)
    p.add_argument("--no-baselines", action="store_true")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--out", default="", help="also write the report to this JSON file")
    p.add_argument("--store", action="store_true", help="store the figures in the model's checkpoint file")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def grid_lookup(grid: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Trilinear value of a [R, R, R] node grid (indexed x, y, z over the domain) at points [N, 3]."""
    coords = (points / DOMAIN_HALF).flip(-1).reshape(1, 1, 1, -1, 3)  # grid_sample wants (z, y, x) order reversed
    return F.grid_sample(grid[None, None], coords, align_corners=True).reshape(-1)


class Baselines:
    """Mean shape per category and silhouette retrieval over training shapes."""

    def __init__(self, source, per_category: int, device):
        from ..data import shapes as procedural

        self.device = device
        cats, idx = source.pick(per_category * len(source.categories), "train", first=0)
        self.cats, self.seeds = cats, [procedural.SPLIT_BASE["train"] + i for i in idx]
        pts = node_grid(MEAN_GRID, device=device)
        sums = {c: torch.zeros(len(pts), device=device) for c in source.categories}
        silhouettes = []
        for start in range(0, len(cats), 16):
            batch = source.shape_batch(cats[start:start + 16], idx[start:start + 16], "train")
            occ = in_chunks(batch.occupancy, pts[None].expand(len(batch), -1, -1), 32768, dim=1).float()
            for c, o in zip(cats[start:start + 16], occ):
                sums[c] += o
            silhouettes.append(self.silhouette(source.render_views(batch, 2).flatten(0, 1)))
        counts = {c: cats.count(c) for c in source.categories}
        self.mean_grid = {c: (sums[c] / counts[c]).reshape(MEAN_GRID, MEAN_GRID, MEAN_GRID) for c in source.categories}
        self.mean_mesh = {c: mesh_node_grid(g.cpu().numpy(), 0.5, DOMAIN_HALF) for c, g in self.mean_grid.items()}
        self.silhouettes = torch.cat(silhouettes)  # two views per shape
        self.source = source

    @staticmethod
    def silhouette(images: torch.Tensor) -> torch.Tensor:
        return F.interpolate(images[:, 3:], size=(RETRIEVAL_SIZE, RETRIEVAL_SIZE), mode="area").flatten(1)

    def mean_shape(self, category: str, points: torch.Tensor):
        return grid_lookup(self.mean_grid[category], points) > 0.5, self.mean_mesh[category]

    def retrieve(self, image: torch.Tensor) -> tuple[str, int]:
        d = torch.cdist(self.silhouette(image[None]), self.silhouettes)[0]
        shape = int(d.argmin()) // 2
        return self.cats[shape], self.seeds[shape]


def held_out_views(source, split: str, per_category: int):
    """(category, seed, shape, ShapeBatch, image) for the first `per_category` shapes of each of
    the source's categories in `split`, one rendered view each. The views depend only on the split,
    the categories and `per_category` (not on what the source drew before, such as the baselines)."""
    from ..data import shapes as procedural

    cats, idx = source.pick(per_category * len(source.categories), split, first=0)
    source.generator.manual_seed(2024)
    source.cpu_generator.manual_seed(2025)  # cameras and colours
    for cat, i in zip(cats, idx):
        seed = procedural.SPLIT_BASE[split] + i
        shape = procedural.make_shape(cat, seed)
        batch = procedural.ShapeBatch([shape]).to(source.device)
        yield cat, seed, shape, batch, source.render_views(batch)[0, 0]


def run(args) -> int:
    from ..checkpoint import load_model, read_checkpoint, save_checkpoint, build_model
    from ..data import shapes as procedural
    from ..data.samples import SampleSource
    from ..extract import extract_mesh
    from ..device import pick_device

    device = pick_device(args.device)
    net, meta = load_model(args.model, device)
    cats = [c for c in args.categories.split(",") if c] or [c for c in meta["categories"] if c in procedural.CATEGORIES]
    if not cats:
        raise InputError("the model has no procedural categories to evaluate; name them with --categories")
    t0 = time.time()
    source = SampleSource.create(categories=cats, image_size=net.config["image_size"], device=device, seed=777)
    baselines = None if args.no_baselines else Baselines(source, args.baseline_shapes, device)
    points = M.iou_points(args.iou_points).to(device)
    rows = {"imdec": [], "mean_shape": [], "retrieval": []}
    mesh_cache: dict[tuple[str, int], tuple] = {}

    def true_mesh(category: str, seed: int, shape):
        if (category, seed) not in mesh_cache:
            mesh_cache[category, seed] = procedural.shape_mesh(shape, args.mesh_resolution, device=device)
        return mesh_cache[category, seed]

    total = args.shapes * len(cats)
    for k, (cat, seed, shape, batch, image) in enumerate(held_out_views(source, "test", args.shapes)):
        truth = batch.occupancy(points[None])[0].cpu().numpy()
        gt_mesh = true_mesh(cat, seed, shape)
        with torch.inference_mode():
            fn = net.decoder.point_fn(net.encoder(image[None])[0])
            pred = (in_chunks(fn, points) > 0).cpu().numpy()
            ext = extract_mesh(fn, args.mesh_resolution, 0.0, device=device)
        row = {"category": cat, "seed": seed, "iou": M.iou(pred, truth)}
        row.update(M.surface_metrics((ext.vertices, ext.faces), gt_mesh, args.surface_samples))
        rows["imdec"].append(row)
        if baselines is not None:
            occ, mesh = baselines.mean_shape(cat, points)
            row = {"category": cat, "seed": seed, "iou": M.iou(occ.cpu().numpy(), truth)}
            row.update(M.surface_metrics(mesh, gt_mesh, args.surface_samples))
            rows["mean_shape"].append(row)
            r_cat, r_seed = baselines.retrieve(image)
            r_shape = procedural.ShapeBatch([procedural.make_shape(r_cat, r_seed)]).to(device)
            row = {"category": cat, "seed": seed, "retrieved": f"{r_cat}:{r_seed}",
                   "iou": M.iou(r_shape.occupancy(points[None])[0].cpu().numpy(), truth)}
            row.update(M.surface_metrics(true_mesh(r_cat, r_seed, r_shape), gt_mesh, args.surface_samples))
            rows["retrieval"].append(row)
        print(f"\revaluating: {k + 1}/{total} shapes", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)

    report = {
        "model": meta["name"], "split": "test", "shapes_per_category": args.shapes,
        "mesh_resolution": args.mesh_resolution, "iou_points": args.iou_points,
        "surface_samples": args.surface_samples, "baseline_training_shapes": args.baseline_shapes,
        "command": "python -m engine " + " ".join(sys.argv[1:]), "seconds": round(time.time() - t0, 1),
        "date": time.strftime("%Y-%m-%d"),
        "results": {name: M.summarize(r) for name, r in rows.items() if r},
    }
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)
    if args.store:
        payload = read_checkpoint(meta["path"])
        model = build_model(payload, meta["path"])
        half = any(v.dtype == torch.float16 for v in payload["state_dict"].values())
        save_checkpoint(meta["path"], model, categories=payload["categories"], metrics=report,
                        trained=payload.get("trained"), half=half)
    if args.json:
        print(json.dumps(report))
    else:
        print(format_table(report))
    return 0


def format_table(report: dict) -> str:
    """A Markdown table: one row per category and method."""
    lines = ["| category | method | IoU | Chamfer-L1 | F@1% | F@2% | normal cons. |", "|---|---|---|---|---|---|---|"]
    results = report["results"]
    for cat in results["imdec"]:
        for method, table in results.items():
            r = table.get(cat)
            if r:
                lines.append(f"| {cat} | {method} | {r['iou']:.3f} | {r['chamfer_l1']:.4f} | {r['fscore@0.01']:.3f} "
                             f"| {r['fscore@0.02']:.3f} | {r['normal_consistency']:.3f} |")
    return "\n".join(lines)
