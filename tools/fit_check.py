#!/usr/bin/env python3
"""Fit against generalisation: a model's IoU on shapes it trained on next to validation shapes.

    python tools/fit_check.py runs/big3/model.pt --seed 6 --categories table,chair,lamp --shapes 48

rebuilds the first shapes of the pool that `train --seed 6 --categories table,chair,lamp --pool N
--views 2 --pool-points 8192` made (N >= --shapes; shapes x categories a multiple of 16), and draws as
many validation shapes, sampled the same way (first view, half the points near the surface). Both
columns are IoU at those points per category: close together and low means the model underfits,
far apart means it overfits.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from engine.checkpoint import load_model  # noqa: E402
from engine.data.samples import POOL_CHUNK, Pool, SampleSource, source_seed  # noqa: E402
from engine.errors import InputError  # noqa: E402
from engine.training.validation import shape_ious  # noqa: E402


def rebuild_pool(categories: list[str], seed: int, shapes: int, views: int, points: int,
                 image_size: int = 128) -> tuple[SampleSource, Pool]:
    """The first `shapes` per category of the pool `train --seed --categories --views --pool-points`
    built, and the sample source that drew them."""
    if shapes * len(categories) % POOL_CHUNK:
        raise InputError(f"shapes x categories must be a multiple of {POOL_CHUNK} to match the pool's shapes")
    source = SampleSource.create(categories=categories, image_size=image_size, seed=source_seed(seed))
    return source, source.build_pool(shapes, views, points, progress=False)


def fit_report(model_path: str, categories: list[str], seed: int, shapes: int, views: int = 2,
               points: int = 8192) -> dict:
    """{category: {"train": mean IoU, "val": mean IoU}} over `shapes` of each category."""
    net, _ = load_model(model_path, torch.device("cpu"))
    source, pool = rebuild_pool(categories, seed, shapes, views, points, net.config["image_size"])
    train = shape_ious(net, pool.images[:, 0].float() / 255, pool.points.float(), pool.occupancy)
    held_out = source.validation_set(shapes, points, near_surface=True)
    val = shape_ious(net, held_out["images"], held_out["points"], held_out["occupancy"])

    def mean_by_category(ious, labels):
        return {c: sum(i for i, l in zip(ious, labels) if l == c) / labels.count(c) for c in categories}

    by_train, by_val = mean_by_category(train, pool.categories), mean_by_category(val, held_out["categories"])
    return {c: {"train": by_train[c], "val": by_val[c]} for c in categories}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("model", help="checkpoint path")
    p.add_argument("--seed", type=int, required=True, help="the --seed the pool was built with")
    p.add_argument("--categories", required=True, help="the --categories the pool was built with, in order")
    p.add_argument("--shapes", type=int, default=48, help="shapes per category")
    p.add_argument("--views", type=int, default=2, help="the pool's --views")
    p.add_argument("--points", type=int, default=8192, help="the pool's --pool-points")
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        report = fit_report(args.model, args.categories.split(","), args.seed, args.shapes, args.views, args.points)
    except InputError as exc:
        print(f"fit_check: {exc}", file=sys.stderr)
        return 2
    print("| category | IoU on training shapes | IoU on validation shapes |\n|---|---|---|")
    for category, row in report.items():
        print(f"| {category} | {row['train']:.3f} | {row['val']:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
