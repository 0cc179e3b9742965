"""The camera of the prepared picture, found by fitting the reconstructed mesh's silhouette to the
object's mask.

The mesh is in the shape frame, so the picture's camera is the view from which the mesh's outline
matches the mask: a search over azimuth and elevation (a coarse grid, then finer around the best
few), where each candidate's scale and offset follow from matching the outline's bounding box to
the mask's (prepare_batch centres the object and sizes its longer side, so this is exact for the
true view). Candidates are scored by the IoU of the silhouettes, less a small cost per degree of
elevation outside what product shots use. The distance is fixed at a
typical product shot's: the field of view follows from the fit, and within ordinary lenses the
perspective barely changes the outline."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..camera import ImageCamera, image_axes, view_direction

DISTANCE = 3.3          # eye to the frame's origin, normalised-frame units (a ~40 degree lens at the usual fill)
GRID = 64               # silhouettes are compared at this resolution
POINTS = (1200, 2500)   # mesh vertices used for the outline: in the coarse search, in the refinements
ELEVATIONS = (-10.0, 70.0)
COARSE_STEP = 10.0      # degrees
FINE_STEPS = (4.0, 1.5)  # degrees, each refinement around the best candidates of the last
KEEP = 4                # candidates refined in each round
# product shots are taken from a little above: outside this band (degrees) each degree costs this
# much silhouette IoU, so a mesh that misses parts (a table top without its legs) is not tipped
# over until its outline fills the mask's
USUAL_ELEVATION = (0.0, 50.0)
ELEVATION_COST = 0.004


def mask_box(mask: torch.Tensor) -> torch.Tensor:
    """[4] (x0, y0, x1, y1) of mask [H, W] > 0.5 in image positions."""
    h, w = mask.shape
    rows = torch.nonzero((mask > 0.5).any(1)).flatten()
    cols = torch.nonzero((mask > 0.5).any(0)).flatten()
    return torch.tensor([2 * cols[0] / w - 1, 2 * rows[0] / h - 1, 2 * (cols[-1] + 1) / w - 1, 2 * (rows[-1] + 1) / h - 1],
                        dtype=torch.float32)


def outline(mask: torch.Tensor) -> torch.Tensor:
    """The mask at GRID resolution, grown by a pixel as the splatted outlines are: bool [GRID * GRID]."""
    small = F.interpolate(mask[None, None].float(), size=(GRID, GRID), mode="area")[0] > 0.5
    return grow(small.float())[0].flatten() > 0


def nominal_projection(points: torch.Tensor, azimuth: torch.Tensor, elevation: torch.Tensor) -> torch.Tensor:
    """points [N, 3] seen by unit-focal cameras at DISTANCE looking at the origin -> [C, N, 2]."""
    back = view_direction(azimuth, elevation)                    # [C, 3], origin to eye
    right, up = image_axes(-back)
    # one matmul gives each point's coordinates along the camera's right, up and back axes
    along = points @ torch.stack([right, up, back], 1).transpose(1, 2)   # [C, N, 3]
    depth = DISTANCE - along[..., 2]
    return torch.stack([along[..., 0], -along[..., 1]], -1) / depth.unsqueeze(-1)


def box_fit(projected: torch.Tensor, box: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale [C], offset [C, 2]) that put each candidate's bounding box on the mask's box."""
    lo, hi = projected.amin(1), projected.amax(1)
    size, centre = (hi - lo).clamp(min=1e-6), (hi + lo) / 2
    target_size, target_centre = box[2:] - box[:2], (box[2:] + box[:2]) / 2
    scale = torch.sqrt(target_size.prod() / size.prod(-1))
    return scale, target_centre - scale[:, None] * centre


def grow(masks: torch.Tensor) -> torch.Tensor:
    """masks [C, G, G] grown by a pixel (3 x 3 maximum as two 3-tap passes: cheaper than max_pool2d here)."""
    p = F.pad(masks, (1, 1, 1, 1))
    rows = torch.maximum(torch.maximum(p[:, :, :-2], p[:, :, 1:-1]), p[:, :, 2:])
    return torch.maximum(torch.maximum(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])


def silhouette_iou(projected: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """IoU [C] of each candidate's splatted points (grown by a pixel) with the target outline."""
    c = projected.shape[0]
    ij = torch.floor((projected + 1) * (GRID / 2)).long()
    inside = ((ij >= 0) & (ij < GRID)).all(-1)
    flat = ij[..., 1] * GRID + ij[..., 0] + torch.arange(c)[:, None] * GRID * GRID
    outside = c * GRID * GRID  # one spare slot takes the points that fall outside the picture
    splat = torch.zeros(outside + 1).index_fill_(0, torch.where(inside, flat, outside).flatten(), 1.0)
    grown = grow(splat[:outside].view(c, GRID, GRID)).reshape(c, -1)
    both = grown @ target.float()
    either = grown.sum(-1) + target.sum() - both
    return both / either.clamp(min=1)


def score(points, azimuth, elevation, box, target):
    """(score [C]: IoU less the unusual-elevation cost, scale [C], offset [C, 2]) of the candidate views."""
    projected = nominal_projection(points, azimuth, elevation)
    scale, offset = box_fit(projected, box)
    iou = silhouette_iou(projected * scale[:, None, None] + offset[:, None], target)
    degrees = torch.rad2deg(elevation)
    outside = (USUAL_ELEVATION[0] - degrees).clamp(min=0) + (degrees - USUAL_ELEVATION[1]).clamp(min=0)
    return iou - ELEVATION_COST * outside, scale, offset


def around(azimuth: torch.Tensor, elevation: torch.Tensor, step: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The 5 x 5 views within +-2 steps (degrees) of each given view."""
    d = torch.deg2rad(torch.arange(-2, 3, dtype=torch.float32) * step)
    da, de = torch.meshgrid(d, d, indexing="ij")
    lo, hi = (math.radians(e) for e in ELEVATIONS)
    return ((azimuth[:, None] + da.flatten()).flatten(),
            (elevation[:, None] + de.flatten()).flatten().clamp(lo, hi))


def fit_camera(vertices: np.ndarray, mask: torch.Tensor) -> tuple[ImageCamera, float]:
    """(the camera of the prepared picture whose object mask is `mask` [H, W], its score: the
    silhouette IoU it reaches, less the cost of an unusual elevation) for the mesh `vertices`
    [V, 3] in the shape frame."""
    pick = np.random.default_rng(0).permutation(len(vertices))[:max(POINTS)]
    points = torch.from_numpy(np.ascontiguousarray(vertices[pick], np.float32))
    box, target = mask_box(mask), outline(mask)
    az = torch.deg2rad(torch.arange(0.0, 360.0, COARSE_STEP))
    el = torch.deg2rad(torch.arange(ELEVATIONS[0], ELEVATIONS[1] + 1e-3, COARSE_STEP))
    azimuth, elevation = (t.flatten() for t in torch.meshgrid(az, el, indexing="ij"))
    iou, _, _ = score(points[:POINTS[0]], azimuth, elevation, box, target)
    for step in FINE_STEPS:
        best = iou.topk(min(KEEP, len(iou))).indices
        azimuth, elevation = around(azimuth[best], elevation[best], step)
        iou, scale, offset = score(points, azimuth, elevation, box, target)
    i = int(iou.argmax())
    camera = ImageCamera(azimuth[i:i + 1] % (2 * math.pi), elevation[i:i + 1], torch.tensor([DISTANCE]),
                         scale[i:i + 1], offset[i:i + 1])
    return camera, float(iou[i])
