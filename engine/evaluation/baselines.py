"""The two baselines of docs/CONVENTIONS.md, measured beside the model on the same split and images:
- mean shape: the category's mean occupancy over training shapes, thresholded at 0.5;
- retrieval: the training shape whose rendered silhouette is nearest to the test image's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..extract.meshing import mesh_node_grid
from ..frame import DOMAIN_HALF, in_chunks, node_grid

MEAN_GRID = 64          # resolution of the mean-shape occupancy grid over [-0.55, 0.55]^3
RETRIEVAL_SIZE = 32     # silhouettes are compared at this size


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
        """(occupancy at `points`, mesh) of the category's mean shape."""
        return grid_lookup(self.mean_grid[category], points) > 0.5, self.mean_mesh[category]

    def retrieve(self, image: torch.Tensor) -> tuple[str, int]:
        """(category, seed) of the training shape with the nearest silhouette."""
        d = torch.cdist(self.silhouette(image[None]), self.silhouettes)[0]
        shape = int(d.argmin()) // 2
        return self.cats[shape], self.seeds[shape]
