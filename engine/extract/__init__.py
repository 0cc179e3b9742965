"""Occupancy over a grid at any resolution, coarse-to-fine, and the mesh from it.

Grid convention (see docs in :mod:`engine.extract.meshing`): resolution N samples the cell centres
x_i = -0.5 + (i + 0.5) / N, i = 0..N-1, of [-0.5, 0.5]^3, indexed [x, y, z]; dense evaluation asks
exactly N^3 decoder queries. Internally every index is on the *padded* lattice p = i + 1, p = 0..N+1;
nodes with p < 1 or p > N are outside the grid and count as outside (never sent to the decoder),
so meshes are always closed.

Methods (``extract_mesh(..., method=...)``):

``"dense"``
    every grid point, evaluated plane by plane and meshed brick by brick (memory ~ one slab of
    16 planes, not N^3).

``"imnet"``
    IM-NET's ``z2voxel`` as a reference: a 64^3 frame grid at the frame's cell centres, every frame
    cell whose 3x3x3 frame neighbourhood is mixed is evaluated in full at the final resolution
    ((N/64)^3 points), and the evaluated region grows to the 26 neighbours of any evaluated frame
    cell that contains an inside point (neighbours whose frame sample was outside); frame cells
    whose neighbourhood is all inside are filled as inside. If N is not a multiple of 64 the frame
    is the largest divisor of N not above 64. Uses a dense float volume: reference only, N <= 512.
    Each frame cell is evaluated once (IM-NET's queue can evaluate some twice; we count once).

``"adaptive"`` (default) -- coarse to fine with surface tracking:

1.  Coarse level: every S-th node, S = N // base_resolution (so >= base_resolution samples per
    axis; any N works, no power-of-two requirement; N <= base_resolution means S = 1, i.e. dense).
    The coarse nodes are p = o + m*S with o = (N//2) % S: a subset of the final lattice. We use
    this *nested*, node-aligned hierarchy on purpose: the cell-centre grids of two resolutions
    share no points, but every coarse sample here IS a final-grid sample, so its value is reused
    exactly, and the final grid is exactly the cell-centre grid above. The offset o puts coarse
    samples on the grid's central planes (i = N/2 - 1, half a cell from x = 0), where the symmetry
    planes of centred shapes and their thin central parts lie. If the coarse level sees no inside
    point at all, S is halved (reusing the samples) up to 4x base_resolution before concluding
    that the shape is empty.
2.  Seeds: on every coarse lattice edge whose end signs differ, bisection (log2 S queries) finds a
    final-resolution edge with a sign change; the 4 final cells around it are crossed by the surface.
3.  Tracking at the final resolution: starting from the seeds, a cell crossed by the surface hands
    the surface on to the neighbour across each face whose 4 corners disagree (that neighbour is
    necessarily crossed too: it shares those corners). Waves of such cells are evaluated (only
    their unknown corners) until no new cell appears. This is the refinement "by sign change plus
    dilation", with the dilation made exact: the refined band grows along the surface as far as it
    goes (a chair leg thinner than the coarse spacing is followed from the seat to its foot) and
    nowhere else. Every point tracking evaluates is a corner of a crossed cell, i.e. part of the
    floor, so queries = coarse samples + bisection + floor; the mesh equals the dense one for every
    surface component that meets a coarse sign change (components invisible to the coarse grid
    and not connected to a visible one are missed -- raise ``base_resolution`` for finer
    detection, or ``dilate=k`` to also probe k rings of cells around the found surface, which
    catches separate pieces within k cells of it at about (1+2k)x the queries).
4.  Signs of points never evaluated: such a point is not a corner of any crossed cell, so it has
    the sign of every 26-neighbour; inside each meshed brick unknown nodes take the sign of the
    known nodes they connect to (26-connected flood). These get level +/- 1 ("a clipped value of
    the right sign"), which never reaches a vertex.
5.  Memory: known values are kept sparse (sorted int64 linear indices + float32 values, merged with
    searchsorted), the crossed cells likewise; marching cubes runs over 16^3-cell bricks that
    contain crossed cells, a batch at a time, and the bricks are stitched by the lattice edge of
    each vertex (:class:`engine.extract.meshing.BrickMesher`). Nothing of size N^3 is allocated.

Modules: :mod:`.adaptive` (the default method and its sparse mesh), :mod:`.reference` (dense and
IM-NET), :mod:`.sparse` (known values kept sparse, flood fill of unknown signs), :mod:`.lattice`
(index keys and offsets), :mod:`.evaluator` (the calls out to the point function and progress),
:mod:`.meshing` (bricked marching cubes).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .adaptive import AdaptiveValues, SurfaceTracker, adaptive_values, coarse_step, mesh_adaptive
from .evaluator import PointEvaluator, PointFn, Progress
from .lattice import Lattice
from .meshing import marching_cubes
from .reference import (dense_extract, dense_floor, dense_occupancy, dense_values, imnet_extract,
                        imnet_frame)
from .sparse import SparseGrid, flood_signs

__all__ = ["PointFn", "Extraction", "SparseGrid", "extract_mesh", "dense_occupancy", "dense_values",
           "surface_floor", "coarse_step", "imnet_frame", "METHODS", "AdaptiveValues",
           "SurfaceTracker", "adaptive_values", "Lattice", "flood_signs"]

METHODS = ("adaptive", "dense", "imnet")


@dataclass
class Extraction:
    vertices: np.ndarray   # float32 [V, 3] in the normalised frame
    faces: np.ndarray      # int32 [F, 3], counter-clockwise seen from outside
    resolution: int
    queries: int           # points sent to fn in total
    seconds: dict          # {"evaluate": s, "mesh": s, "decoder": s (time inside fn, part of evaluate)}
    peak_points: int       # largest batch of points sent to fn at once (<= chunk)
    method: str = "adaptive"
    floor: int | None = None   # grid points that are corners of crossed cells, as this run saw them
    grid: object | None = field(default=None, repr=False)  # kept values (keep_values=True)
    level: float = 0.0

    def occupancy(self) -> np.ndarray:
        """Dense bool occupancy [N, N, N] of what this extraction decided (needs keep_values=True;
        allocates N^3, meant for tests and benchmarks at moderate N)."""
        if self.grid is None:
            raise ValueError("extract_mesh(..., keep_values=True) keeps what occupancy() needs")
        if isinstance(self.grid, SparseGrid):
            return self.grid.occupancy()
        g = np.asarray(self.grid)
        if g.dtype == bool:
            return g
        return g[1:-1, 1:-1, 1:-1] > self.level


def surface_floor(occupancy_or_extraction) -> int:
    """The floor: grid points that are corners of cells crossed by the surface at the final
    resolution (with the outside padding layer, so cells on the domain boundary count).

    Given a bool occupancy [N, N, N] it is computed densely; given an :class:`Extraction` it is the
    count that extraction made (for "adaptive", from the crossed cells it found: equal to the true
    floor when every surface component was found)."""
    if isinstance(occupancy_or_extraction, Extraction):
        if occupancy_or_extraction.floor is None:
            raise ValueError("this extraction did not count its floor")
        return int(occupancy_or_extraction.floor)
    occ = np.asarray(occupancy_or_extraction, bool)
    p = np.zeros(tuple(s + 2 for s in occ.shape), bool)
    p[1:-1, 1:-1, 1:-1] = occ
    return dense_floor(p)


def extract_mesh(fn: PointFn, resolution: int, level: float = 0.0, *, method: str = "adaptive",
                 base_resolution: int = 32, chunk: int | None = None, device=None,
                 progress: Callable[[float], None] | None = None, dilate: int = 0,
                 brick: int = 16, keep_values: bool = False) -> Extraction:
    """Mesh the surface {fn > level} over the resolution^3 cell-centre grid of [-0.5, 0.5]^3.

    fn: points [M, 3] float32 on ``device`` -> logits [M] (M <= chunk; default: the device's).
    method: "adaptive" (coarse to fine, see the module docstring), "dense" or "imnet".
    base_resolution: samples per axis of the adaptive coarse level (detection of small parts).
    dilate: adaptive only, rings of cells probed around the found surface (0 = exact tracking).
    brick: cells per brick side for the bricked marching cubes.
    keep_values: keep what :meth:`Extraction.occupancy` needs (sparse values for "adaptive").
    progress(fraction) is called now and then with a non-decreasing fraction in [0, 1].
    """
    n = int(resolution)
    if n < 2:
        raise ValueError("resolution must be at least 2")
    if method not in METHODS:
        raise ValueError(f"method '{method}' is not one of {', '.join(METHODS)}")
    if method == "imnet" and n > 512:
        raise ValueError("method 'imnet' keeps a dense volume; use it up to resolution 512")
    level = float(level)
    prog = Progress(progress)
    ev = PointEvaluator(fn, n, chunk, device)
    t0 = time.perf_counter()
    if method == "adaptive":
        values = adaptive_values(ev, level, base_resolution, dilate, prog)
        t1 = time.perf_counter()
        v, f = mesh_adaptive(values, brick, prog)
        seconds = {"evaluate": t1 - t0, "mesh": time.perf_counter() - t1}
        floor, kept = values.floor, (values.grid if keep_values else None)
    elif method == "dense":
        v, f, floor, kept, t_eval = dense_extract(ev, level, brick, prog, keep_values)
        seconds = {"evaluate": t_eval, "mesh": time.perf_counter() - t0 - t_eval}
    else:
        vol = imnet_extract(ev, level, prog)
        floor = dense_floor(vol > level)
        t1 = time.perf_counter()
        v, f = marching_cubes(vol, level, padded=True, brick=brick)
        seconds = {"evaluate": t1 - t0, "mesh": time.perf_counter() - t1}
        kept = vol if keep_values else None
        del vol
    seconds["decoder"] = ev.seconds
    prog(1.0)
    return Extraction(vertices=v, faces=f, resolution=n, queries=ev.queries, seconds=seconds,
                      peak_points=ev.peak, method=method, floor=floor, grid=kept, level=level)
