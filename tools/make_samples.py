"""Render the sample pictures in docs/samples/: one held-out (test-split) shape per category,
seen from a three-quarter front view, RGBA on a transparent background."""

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.data import shapes as procedural  # noqa: E402
from engine.data.render import fixed_cameras, render  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="docs/samples")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--index", type=int, default=0, help="which test seed of each category")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cats = list(procedural.CATEGORIES)
    seeds = [procedural.split_seeds("test", 1, start=args.index)[0]] * len(cats)
    batch = procedural.ShapeBatch.make(cats, seeds)
    cams = fixed_cameras(len(cats), azimuth_deg=-35.0, elevation_deg=20.0)
    images = render(batch, cams, size=args.size, generator=torch.Generator().manual_seed(5), supersample=2)
    for cat, img in zip(cats, images):
        rgba = (img.permute(1, 2, 0).clamp(0, 1).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(rgba).save(out / f"{cat}.png")
        print(out / f"{cat}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
