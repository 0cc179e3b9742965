"""Benchmark of the extraction methods: decoder queries against the floor, time and memory.

``compare_methods(fn, resolutions)`` runs "dense", "imnet" and "adaptive" (see
:mod:`engine.extract`) at each resolution and returns one dict per (method, resolution).
``analytic_shapes()`` gives point functions for runs without a model (a sphere and shapes with
thin parts); ``python -m engine.bench.extraction --shape chair --resolutions 64 128 256`` prints JSON.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import tracemalloc
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

from ..extract import PointFn, dense_occupancy, extract_mesh
from ..evaluation.metrics import iou

__all__ = ["compare_methods", "analytic_shapes", "box_union", "iou"]


# ----------------------------------------------------------------------------------------------
# analytic point functions (logits scaled from signed distances, inside > 0)


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
    return {"sphere": sphere_fn(), "chair": chair_fn(), "torus": torus_fn(), "spheres": spheres_fn(),
            "bars": bars_fn()}


# ----------------------------------------------------------------------------------------------


def _max_rss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / (1 << 20) if sys.platform == "darwin" else r / 1024.0


def compare_methods(fn: PointFn, resolutions: Iterable[int], level: float = 0.0, *,
                    methods: Sequence[str] = ("dense", "imnet", "adaptive"), chunk: int = 65536,
                    device=None, base_resolution: int = 32, iou_max: int = 256, dense_max: int = 512,
                    progress: Callable[[str], None] | None = None) -> list[dict]:
    """One dict per (method, resolution), in order:

    method, resolution, queries, floor (the true floor: dense's count where dense ran, else the
    adaptive run's), floor_seen (the method's own count), ratio (queries / floor), seconds
    (evaluate, mesh, decoder, total), peak_memory_mb (Python/numpy heap peak during the call,
    by tracemalloc; plus cuda_peak_mb on CUDA), max_rss_mb (process high-water mark so far),
    vertices, faces, iou_vs_adaptive (occupancy IoU against the adaptive run, for N <= iou_max;
    for "adaptive" itself, its IoU against a dense evaluation, not counted in its queries).
    Dense runs above ``dense_max`` and IM-NET above 512 are skipped (None values)."""
    rows: list[dict] = []
    for n in resolutions:
        n = int(n)
        occ: dict[str, np.ndarray] = {}
        here: list[dict] = []
        for m in methods:
            row = {"method": m, "resolution": n}
            if (m == "dense" and n > dense_max) or (m == "imnet" and n > 512):
                row.update(skipped=True, queries=None, floor=None, floor_seen=None, ratio=None,
                           seconds=None, peak_memory_mb=None, max_rss_mb=None, vertices=None,
                           faces=None, iou_vs_adaptive=None)
                here.append(row)
                continue
            if progress:
                progress(f"{m} {n}")
            cuda = device is not None and torch.device(device).type == "cuda"
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            tracemalloc.start()
            t0 = time.perf_counter()
            ex = extract_mesh(fn, n, level, method=m, chunk=chunk, device=device,
                              base_resolution=base_resolution, keep_values=n <= iou_max)
            total = time.perf_counter() - t0
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            if n <= iou_max:
                occ[m] = ex.occupancy()
            row.update(queries=ex.queries, floor_seen=ex.floor, seconds=dict(ex.seconds, total=total),
                       peak_memory_mb=peak / 2 ** 20, max_rss_mb=_max_rss_mb(),
                       vertices=int(len(ex.vertices)), faces=int(len(ex.faces)), peak_points=ex.peak_points)
            if cuda:
                row["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2 ** 20
            del ex
            here.append(row)
        ran = {r["method"]: r for r in here if not r.get("skipped")}
        floor = ran["dense"]["floor_seen"] if "dense" in ran else max(
            (r["floor_seen"] for r in ran.values()), default=None)
        ref = occ.get("adaptive")
        for r in here:
            if r.get("skipped"):
                continue
            r["floor"] = floor
            r["ratio"] = r["queries"] / floor if floor else None
            r["iou_vs_adaptive"] = None
            if ref is not None and r["method"] in occ:
                if r["method"] == "adaptive":
                    other = occ["dense"] if "dense" in occ else dense_occupancy(fn, n, level, chunk, device)
                    r["iou_vs_dense"] = iou(ref, other)
                else:
                    r["iou_vs_adaptive"] = iou(occ[r["method"]], ref)
        rows.extend(here)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m engine.bench.extraction",
                                 description="extraction methods on an analytic shape")
    ap.add_argument("--shape", default="sphere", choices=sorted(analytic_shapes()))
    ap.add_argument("--resolutions", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--methods", nargs="+", default=["dense", "imnet", "adaptive"])
    ap.add_argument("--device", default=None)
    args = ap.parse_args(argv)
    rows = compare_methods(analytic_shapes()[args.shape], args.resolutions, methods=args.methods,
                           device=args.device)
    for r in rows:
        print(json.dumps(dict(r, shape=args.shape)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
