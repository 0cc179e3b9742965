"""The picture's colours where the mesh can look them up: straight (un-premultiplied) sRGB, with the
background filled from the nearest object pixels, so a vertex that projects onto the object's edge
(or just past it, where mesh and picture disagree by a pixel) never takes the backdrop's colour."""

from __future__ import annotations

import torch
import torch.nn.functional as F

SOLID = 0.02  # alpha above which a pixel's own (un-premultiplied) colour is used


def filled_colours(picture: torch.Tensor) -> torch.Tensor:
    """picture [4, H, W]: premultiplied RGB + alpha (prepare_batch's output) -> straight RGB [3, H, W].

    Push-pull: the alpha-weighted means of ever coarser 2x2 blocks fill every pixel whose alpha is
    below SOLID with the mean object colour of the smallest block around it that holds object."""
    premultiplied, alpha = picture[None, :3].float(), picture[None, 3:].float()
    levels = [(premultiplied, alpha)]
    while min(levels[-1][1].shape[-2:]) > 1:
        c, a = levels[-1]
        levels.append((F.avg_pool2d(c, 2, ceil_mode=True), F.avg_pool2d(a, 2, ceil_mode=True)))
    c, a = levels[-1]
    colour = c / a.clamp(min=1e-8)
    for c, a in reversed(levels[:-1]):
        coarse = F.interpolate(colour, size=c.shape[-2:], mode="nearest")
        colour = torch.where(a > SOLID, c / a.clamp(min=1e-8), coarse)
    return colour[0].clamp(0.0, 1.0)


def sample_colours(colours: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """colours [3, H, W] at image positions [N, 2] (grid_sample's, -1..1) -> [N, 3]; border-clamped."""
    out = F.grid_sample(colours[None], positions[None, :, None].to(colours.dtype), mode="bilinear",
                        padding_mode="border", align_corners=False)
    return out[0, :, :, 0].T
