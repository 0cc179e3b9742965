"""The shape frame's domain and node grids over it (see docs/CONVENTIONS.md, "Shape frame").

Normalised shapes fit [-0.5, 0.5]^3; sampling, metrics and reference meshes use the cube
[-DOMAIN_HALF, DOMAIN_HALF]^3 around it, so that surfaces on the unit cube's faces are closed.
"""

from __future__ import annotations

from typing import Callable

import torch

DOMAIN_HALF = 0.55
CHUNK = 65536  # points per call in in_chunks: bounds memory (extraction picks its own per device)


def node_grid(resolution: int, half: float = DOMAIN_HALF, device="cpu") -> torch.Tensor:
    """The resolution^3 nodes of a regular grid over [-half, half]^3 (both ends included), as
    points [R^3, 3] in x-major order (reshape values to [R, R, R] indexed [x, y, z])."""
    axis = torch.linspace(-half, half, int(resolution), device=device)
    return torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)


def in_chunks(fn: Callable[[torch.Tensor], torch.Tensor], points: torch.Tensor, chunk: int = CHUNK,
              dim: int = 0) -> torch.Tensor:
    """fn over `points` in slices of `chunk` along `dim`, concatenated: bounded memory for any count."""
    size = points.shape[dim]
    return torch.cat([fn(points.narrow(dim, s, min(chunk, size - s))) for s in range(0, size, chunk)], dim)
