"""The reference extractions: every grid point (dense, slab by slab), IM-NET's ``z2voxel``, and the
floor of a dense occupancy."""

from __future__ import annotations

import time

import numpy as np

from .evaluator import PointEvaluator, PointFn, Progress
from .lattice import CORNERS, NEIGHBOURS27, lattice_points
from .meshing import OUTSIDE_MARGIN, BrickMesher, Bricks

__all__ = ["dense_occupancy", "dense_values", "dense_extract", "imnet_frame", "imnet_extract",
           "crossed_cells", "cell_corners", "dense_floor"]


def _planes_index(n: int, lo: int, hi: int) -> np.ndarray:
    """Padded indices [lo, hi) x [1, n] x [1, n] in x-major order -> [M, 3] int64."""
    real = np.arange(1, n + 1, dtype=np.int64)
    return lattice_points(np.arange(lo, hi, dtype=np.int64), real, real).reshape(-1, 3)


def dense_occupancy(fn: PointFn, resolution: int, level: float = 0.0, chunk: int | None = None,
                    device=None) -> np.ndarray:
    """Reference occupancy: all N^3 grid points (chunked), bool [N, N, N] indexed [x, y, z]."""
    n = int(resolution)
    ev = PointEvaluator(fn, n, chunk, device)
    occ = np.empty((n, n, n), bool)
    step = max(1, ev.chunk // (n * n))  # whole x planes per call
    for x0 in range(0, n, step):
        x1 = min(n, x0 + step)
        occ[x0:x1] = (ev(_planes_index(n, x0 + 1, x1 + 1)) > level).reshape(x1 - x0, n, n)
    return occ


def dense_values(fn: PointFn, resolution: int, chunk: int | None = None, device=None) -> np.ndarray:
    """All N^3 logits, float32 [N, N, N] (reference for small N)."""
    n = int(resolution)
    ev = PointEvaluator(fn, n, chunk, device)
    return ev(_planes_index(n, 1, n + 1)).reshape(n, n, n)


# ----------------------------------------------------------------------------------------------
# the floor of dense values


def crossed_cells(inside: np.ndarray) -> np.ndarray:
    """bool [D-1, H-1, W-1]: the cells of a node block inside [D, H, W] whose 8 corners disagree."""
    d, h, w = (s - 1 for s in inside.shape)
    count = np.zeros((d, h, w), np.int8)
    for dx, dy, dz in CORNERS:
        count += inside[dx:dx + d, dy:dy + h, dz:dz + w]
    return (count > 0) & (count < 8)


def cell_corners(cells: np.ndarray) -> np.ndarray:
    """bool [D+1, H+1, W+1]: the nodes that are corners of the marked cells [D, H, W]."""
    d, h, w = cells.shape
    mark = np.zeros((d + 1, h + 1, w + 1), bool)
    for dx, dy, dz in CORNERS:
        mark[dx:dx + d, dy:dy + h, dz:dz + w] |= cells
    return mark


def dense_floor(inside_padded: np.ndarray) -> int:
    """Count real nodes (not the padding layer) that are corners of crossed cells."""
    return int(cell_corners(crossed_cells(inside_padded))[1:-1, 1:-1, 1:-1].sum())


# ----------------------------------------------------------------------------------------------
# dense, slab by slab


def dense_extract(ev: PointEvaluator, level: float, brick: int, progress: Progress, keep: bool):
    """Every grid point, evaluated plane by plane into slabs of ``brick`` planes and meshed brick
    by brick. Returns (vertices, faces, floor, occupancy bool [N]^3 if keep else None, seconds
    spent evaluating)."""
    n, b = ev.n, int(brick)
    nb = -(-(n + 1) // b)  # bricks per axis
    q = nb * b + 1         # nodes per axis of a slab
    mesher = BrickMesher(n, level, lattice=q + b)
    occ = np.zeros((n, n, n), bool) if keep else None
    prev = None    # the last plane of the previous slab: the first of this one
    carry = None   # floor marks of that plane from the previous slab's cells
    floor = 0
    t_eval = 0.0
    for bx in range(nb):
        t0 = time.perf_counter()
        px0 = bx * b
        slab = _dense_slab(ev, level, px0, b, q, prev, occ)
        prev = slab[b].copy()
        t_eval += time.perf_counter() - t0
        cross = crossed_cells(slab > level)
        mark = cell_corners(cross)
        if carry is not None:
            mark[0] |= carry
        carry = mark[b].copy()
        xs = np.arange(px0, px0 + b)
        rx = (xs >= 1) & (xs <= n)
        floor += int(mark[:b][rx][:, 1:n + 1, 1:n + 1].sum())
        bcross = cross.reshape(b, nb, b, nb, b).any(axis=(0, 2, 4))
        sel = np.argwhere(bcross)
        if len(sel):
            vals = np.stack([slab[:, y * b:y * b + b + 1, z * b:z * b + b + 1] for y, z in sel])
            origins = np.concatenate([np.full((len(sel), 1), px0), sel * b], 1)
            mesher.add(Bricks(vals, origins))
        progress((bx + 1) / nb)
    v, f = mesher.finish()
    return v, f, floor, occ, t_eval


def _dense_slab(ev: PointEvaluator, level: float, px0: int, b: int, q: int,
                prev: np.ndarray | None, occ: np.ndarray | None) -> np.ndarray:
    """Values float32 [b+1, q, q] of padded planes px0..px0+b (outside fill beyond the grid);
    plane px0 is ``prev`` when given (shared with the previous slab); fills ``occ``."""
    n = ev.n
    slab = np.full((b + 1, q, q), np.float32(level - OUTSIDE_MARGIN), np.float32)
    j0 = 0
    if prev is not None:
        slab[0] = prev
        j0 = 1
    for x in range(max(1, px0 + j0), min(n, px0 + b) + 1):  # one plane of N^2 points at a time
        v = ev(_planes_index(n, x, x + 1)).reshape(n, n)
        slab[x - px0, 1:n + 1, 1:n + 1] = v
        if occ is not None:
            occ[x - 1] = v > level
    return slab


# ----------------------------------------------------------------------------------------------
# IM-NET


def imnet_frame(resolution: int, frame: int = 64) -> int:
    """IM-NET's frame grid size for resolution N: ``frame`` if it divides N, else the largest
    divisor of N not above it."""
    n = int(resolution)
    if n % frame == 0:
        return frame
    return max(d for d in range(1, min(frame, n) + 1) if n % d == 0)


def imnet_extract(ev: PointEvaluator, level: float, progress: Progress,
                  frame: int = 64) -> np.ndarray:
    """IM-NET's ``z2voxel`` (see the :mod:`engine.extract` docstring): padded float32 volume
    [N+2]^3, outside where never evaluated, inside where filled."""
    from scipy import ndimage

    n = ev.n
    fr = imnet_frame(n, frame)
    c = n // fr
    # frame points: IM-NET's (j + 0.5) / F - 0.5, i.e. padded fine index j*c + (c + 1) / 2
    jj = np.arange(fr, dtype=np.float64) * c + (c + 1) / 2.0
    fi = np.stack(np.meshgrid(jj, jj, jj, indexing="ij"), -1).reshape(-1, 3)
    fl = (ev(fi) > level).reshape(fr, fr, fr)
    flag = np.zeros((fr + 2,) * 3, np.uint8)  # padded frame: 1 = inside or queued
    flag[1:-1, 1:-1, 1:-1] = fl
    mx = ndimage.maximum_filter(flag, size=3, mode="constant", cval=0)[1:-1, 1:-1, 1:-1]
    mn = ndimage.minimum_filter(flag, size=3, mode="constant", cval=0)[1:-1, 1:-1, 1:-1]
    queue = mx != mn
    fill = (mx == mn) & (mx == 1)
    vol = np.full((n + 2,) * 3, np.float32(level - OUTSIDE_MARGIN), np.float32)
    if fill.any():
        up = fill.repeat(c, 0).repeat(c, 1).repeat(c, 2)
        vol[1:-1, 1:-1, 1:-1][up] = np.float32(level + OUTSIDE_MARGIN)
        del up
    progress(0.1)
    _imnet_grow(ev, level, progress, vol, flag, np.argwhere(queue), c)
    return vol


def _imnet_grow(ev: PointEvaluator, level: float, progress: Progress, vol: np.ndarray,
                flag: np.ndarray, front: np.ndarray, c: int) -> None:
    """Evaluate the frame cells ``front`` in full (c^3 points each, into ``vol``), then the 26
    neighbours not flagged yet of those that hold an inside point, until none is left."""
    fr = flag.shape[0] - 2
    local = lattice_points(*(np.arange(c),) * 3).reshape(-1, 3)
    evaluated = np.zeros((fr, fr, fr), bool)
    per_batch = max(1, ev.chunk // (c ** 3))
    total_guess = max(1, len(front) * 2)
    done = 0
    while len(front):
        evaluated[tuple(front.T)] = True
        anyin = np.zeros(len(front), bool)
        for s in range(0, len(front), per_batch):
            fb = front[s:s + per_batch]
            pts = (fb[:, None, :] * c + local[None] + 1).reshape(-1, 3)
            v = ev(pts)
            vol[tuple(pts.T)] = v
            anyin[s:s + per_batch] = (v.reshape(len(fb), -1) > level).any(1)
        done += len(front)
        progress(0.1 + 0.8 * min(1.0, done / total_guess))
        nbr = (front[anyin][:, None, :] + NEIGHBOURS27[None]).reshape(-1, 3)
        nbr = nbr[((nbr >= 0) & (nbr < fr)).all(1)]
        if len(nbr) == 0:
            break
        nbr = np.unique(nbr, axis=0)
        ok = (flag[tuple((nbr + 1).T)] == 0) & ~evaluated[tuple(nbr.T)]
        nbr = nbr[ok]
        flag[tuple((nbr + 1).T)] = 1
        front = nbr
