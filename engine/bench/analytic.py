"""Analytic point functions for extraction runs without a model: logits scaled from signed
distances, inside > 0. A sphere, and shapes with thin parts (a chair of boxes, a torus, small
spheres, thin bars)."""

from __future__ import annotations

from typing import Sequence

import torch

from ..extract import PointFn


def sphere_fn(radius: float = 0.35, center=(0.0, 0.0, 0.0), scale: float = 20.0) -> PointFn:
    c = torch.tensor(center, dtype=torch.float32)

    def fn(p: torch.Tensor) -> torch.Tensor:
        return (radius - (p - c.to(p.device)).norm(dim=-1)) * scale

    return fn


def box_union(parts: Sequence[tuple[Sequence[float], Sequence[float]]], scale: float = 50.0) -> PointFn:
    """Union of axis-aligned boxes given as (centre, half extents); logit = scale * the largest
    (over boxes) of the smallest (over axes) margin, > 0 inside."""
    c = torch.tensor([q[0] for q in parts], dtype=torch.float32)
    h = torch.tensor([q[1] for q in parts], dtype=torch.float32)

    def fn(p: torch.Tensor) -> torch.Tensor:
        m = (h.to(p.device)[None] - (p[:, None, :] - c.to(p.device)[None]).abs()).min(-1).values
        return m.max(-1).values * scale

    return fn


def chair_fn(thickness: float = 0.02) -> PointFn:
    """A chair-like union of boxes `thickness` thick: seat, back (at +Y, the front faces -Y) and
    four legs."""
    t = thickness / 2
    return box_union([((0, 0, 0), (0.2, 0.2, t)), ((0, 0.2 - t, 0.2), (0.2, t, 0.2)),
                      ((0.2 - t, 0.2 - t, -0.2), (t, t, 0.2)), ((t - 0.2, 0.2 - t, -0.2), (t, t, 0.2)),
                      ((0.2 - t, t - 0.2, -0.2), (t, t, 0.2)), ((t - 0.2, t - 0.2, -0.2), (t, t, 0.2))])


def torus_fn(major: float = 0.3, minor: float = 0.03, scale: float = 50.0) -> PointFn:
    def fn(p: torch.Tensor) -> torch.Tensor:
        q = torch.stack([torch.sqrt(p[:, 0] ** 2 + p[:, 1] ** 2) - major, p[:, 2]], -1)
        return (minor - q.norm(dim=-1)) * scale

    return fn


def spheres_fn(scale: float = 30.0) -> PointFn:
    cs = torch.tensor([[0.25, 0.25, 0.25], [-0.3, 0.2, -0.1], [0.1, -0.3, 0.2], [-0.2, -0.2, -0.3],
                       [0.3, -0.1, -0.3]])
    rs = torch.tensor([0.12, 0.1, 0.08, 0.06, 0.09])

    def fn(p: torch.Tensor) -> torch.Tensor:
        d = (p[:, None, :] - cs.to(p.device)[None]).norm(dim=-1)
        return (rs.to(p.device)[None] - d).max(dim=1).values * scale

    return fn


def bars_fn(count: int = 12, radius: float = 0.012, seed: int = 3, scale: float = 50.0) -> PointFn:
    """A chain of `count` thin capsules between random points (diagonal thin bars)."""
    g = torch.Generator().manual_seed(seed)
    pts = torch.rand(count + 1, 3, generator=g) * 0.8 - 0.4
    a, ab = pts[:-1], pts[1:] - pts[:-1]

    def fn(p: torch.Tensor) -> torch.Tensor:
        aa, bb = a.to(p.device), ab.to(p.device)
        ap = p[:, None, :] - aa[None]
        t = ((ap * bb[None]).sum(-1) / (bb * bb).sum(-1)[None]).clamp(0, 1)
        d = (ap - t[..., None] * bb[None]).norm(dim=-1).min(dim=1).values
        return (radius - d) * scale

    return fn


def analytic_shapes() -> dict[str, PointFn]:
    """The shapes by name."""
    return {"sphere": sphere_fn(), "chair": chair_fn(), "torus": torus_fn(), "spheres": spheres_fn(),
            "bars": bars_fn()}
