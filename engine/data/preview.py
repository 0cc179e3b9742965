"""Contact sheet of training renders: one row per category, one column per seed.

    python -m engine.data.preview -o docs/data_samples.png [--seeds 6] [--size 128] [--split train]
"""

from __future__ import annotations

import argparse

import torch

from .render import bounding_radius, contact_sheet, random_cameras, render
from .shapes import CATEGORIES, ShapeBatch, make_shape, split_seeds


def make_sheet(path, seeds: int = 6, size: int = 128, split: str = "train", start: int = 0, seed: int = 0):
    from PIL import Image, ImageDraw

    shapes = [make_shape(c, s) for c in CATEGORIES for s in split_seeds(split, seeds, start)]
    gen = torch.Generator().manual_seed(seed)
    batch = ShapeBatch(shapes)
    cams = random_cameras(len(shapes), gen, radius=bounding_radius(batch))
    images = render(batch, cams, size=size, generator=gen, supersample=2)
    sheet = Image.fromarray(contact_sheet(images, seeds, background=(0.93, 0.93, 0.93)))
    draw = ImageDraw.Draw(sheet)
    for i, s in enumerate(shapes):
        r, c = divmod(i, seeds)
        draw.text((c * size + 3, r * size + 2), s.subtype, fill=(70, 70, 70))
    sheet.save(path)
    return shapes


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default="docs/data_samples.png")
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--split", default="train")
    ap.add_argument("--start", type=int, default=0)
    args = ap.parse_args(argv)
    make_sheet(args.output, args.seeds, args.size, args.split, args.start)


if __name__ == "__main__":
    main()
