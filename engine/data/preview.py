"""Contact sheet of training renders: one row per category, one column per seed
(`python -m engine preview -o docs/data_samples.png`)."""

from __future__ import annotations

import torch

from .render import bounding_radius, contact_sheet, random_cameras, render
from .shapes import ALL_CATEGORIES, ShapeBatch, make_shape, split_seeds


def make_sheet(path, seeds: int = 6, size: int = 128, split: str = "train", start: int = 0, seed: int = 0,
               categories=ALL_CATEGORIES):
    """Render the first `seeds` shapes (from `start`) of each category in `split`, each labelled
    with its subtype, into the image file `path`; returns the shapes."""
    from PIL import Image, ImageDraw

    shapes = [make_shape(c, s) for c in categories for s in split_seeds(split, seeds, start)]
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
