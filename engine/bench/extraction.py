"""Benchmark of the extraction methods: decoder queries against the floor, time and memory.

``compare_methods(fn, resolutions)`` runs "dense", "imnet" and "adaptive" (see
:mod:`engine.extract`) at each resolution and returns one dict per (method, resolution);
analytic.py gives point functions for runs without a model (``python -m engine bench --analytic chair``).
"""

from __future__ import annotations

import time
import tracemalloc
from typing import Callable, Iterable, Sequence

import numpy as np
import torch

from ..evaluation.metrics import iou
from ..extract import PointFn, dense_occupancy, extract_mesh
from .machine import peak_rss_mb

__all__ = ["compare_methods"]

METHODS = ("dense", "imnet", "adaptive")
IMNET_MAX = 512  # IM-NET keeps a dense volume


def compare_methods(fn: PointFn, resolutions: Iterable[int], level: float = 0.0, *,
                    methods: Sequence[str] = METHODS, chunk: int | None = None,
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
        occupancy: dict[str, np.ndarray] = {}
        here = []
        for m in methods:
            if (m == "dense" and n > dense_max) or (m == "imnet" and n > IMNET_MAX):
                here.append(skipped_row(m, n))
                continue
            if progress:
                progress(f"{m} {n}")
            row, occ = run_method(fn, m, n, level, chunk=chunk, device=device, base_resolution=base_resolution,
                                  keep=n <= iou_max)
            if occ is not None:
                occupancy[m] = occ
            here.append(row)
        add_floor_and_iou(here, occupancy, fn, n, level, chunk, device)
        rows.extend(here)
    return rows


def skipped_row(method: str, n: int) -> dict:
    return {"method": method, "resolution": n, "skipped": True, "queries": None, "floor": None, "floor_seen": None,
            "ratio": None, "seconds": None, "peak_memory_mb": None, "max_rss_mb": None, "vertices": None,
            "faces": None, "iou_vs_adaptive": None}


def run_method(fn: PointFn, method: str, n: int, level: float, *, chunk: int, device, base_resolution: int,
               keep: bool) -> tuple[dict, np.ndarray | None]:
    """One extraction, measured: (its row without floor and IoU, its occupancy if `keep`)."""
    cuda = device is not None and torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    tracemalloc.start()
    t0 = time.perf_counter()
    ex = extract_mesh(fn, n, level, method=method, chunk=chunk, device=device,
                      base_resolution=base_resolution, keep_values=keep)
    total = time.perf_counter() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    row = {"method": method, "resolution": n, "queries": ex.queries, "floor_seen": ex.floor,
           "seconds": dict(ex.seconds, total=total), "peak_memory_mb": peak / 2 ** 20, "max_rss_mb": peak_rss_mb(),
           "vertices": int(len(ex.vertices)), "faces": int(len(ex.faces)), "peak_points": ex.peak_points}
    if cuda:
        row["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2 ** 20
    return row, ex.occupancy() if keep else None


def add_floor_and_iou(here: list[dict], occupancy: dict[str, np.ndarray], fn: PointFn, n: int, level: float,
                      chunk: int, device) -> None:
    """Fill floor, ratio and the IoUs of the rows of one resolution, once all its methods ran."""
    ran = [r for r in here if not r.get("skipped")]
    dense = next((r for r in ran if r["method"] == "dense"), None)
    floor = dense["floor_seen"] if dense else max((r["floor_seen"] for r in ran), default=None)
    ref = occupancy.get("adaptive")
    for r in ran:
        r["floor"] = floor
        r["ratio"] = r["queries"] / floor if floor else None
        r["iou_vs_adaptive"] = None
        if ref is None or r["method"] not in occupancy:
            continue
        if r["method"] == "adaptive":
            other = occupancy["dense"] if "dense" in occupancy else dense_occupancy(fn, n, level, chunk, device)
            r["iou_vs_dense"] = iou(ref, other)
        else:
            r["iou_vs_adaptive"] = iou(occupancy[r["method"]], ref)
