"""The adaptive method: coarse samples, bisection seeds, surface tracking at the final resolution
(steps 1-3 of the :mod:`engine.extract` docstring), and the sparse bricked mesh of what it found
(steps 4-5).

Cells are indexed by their lower corner c (a padded node), c = 0..N per axis, and keyed over that
(N+1)^3 cell :class:`~engine.extract.lattice.Lattice`; cell c has the 8 corners c + CORNERS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .evaluator import PointEvaluator, Progress
from .lattice import AXES, CORNERS, FACE_CORNERS, NEIGHBOURS27, Lattice, lattice_points, lookup
from .meshing import OUTSIDE_MARGIN, BrickMesher, Bricks
from .sparse import SparseGrid, flood_signs

__all__ = ["coarse_step", "AdaptiveValues", "SurfaceTracker", "adaptive_values", "mesh_adaptive"]

# If the coarse level finds no inside point at all, it is refined (halving S, reusing the samples)
# up to this many times base_resolution samples per axis before concluding the shape is empty.
_MAX_DETECT = 4
# cells handled at once by a tracking step (memory: ~200 bytes each)
_WAVE_BATCH = 1 << 17
# cells whose 27 neighbours a dilation ring lists at once
_RING_BATCH = 1 << 16
# cells counted at once by the floor of an inexact tracking
_FLOOR_BATCH = 1 << 18
# crossed cells turned into brick keys at once
_BRICK_KEY_BATCH = 1 << 20


def coarse_step(resolution: int, base_resolution: int) -> int:
    """Coarse spacing S (in final-grid cells) for the adaptive method."""
    return max(1, int(resolution) // max(1, int(base_resolution)))


@dataclass
class CoarseLevel:
    """Values on the coarse lattice: padded coordinate ``coords[m]`` per axis (``coords[0]`` <= 0
    and ``coords[-1]`` >= N+1 are outside), spacing ``step``, ``values`` float32
    [len(coords)]^3 with outside fill."""

    coords: np.ndarray
    step: int
    values: np.ndarray


@dataclass
class AdaptiveValues:
    """What the adaptive method evaluated and found."""

    grid: SparseGrid     # every value evaluated (coarse, bisection, tracking)
    cells: np.ndarray    # sorted int64 keys (over ``lattice``) of the crossed cells found
    lattice: Lattice     # the cell lattice, lower corners 0..N per axis
    floor: int           # known real nodes that are corners of the crossed cells


def adaptive_values(ev: PointEvaluator, level: float, base: int, dilate: int,
                    progress: Progress) -> AdaptiveValues:
    """Coarse samples, bisection seeds and surface tracking at resolution ``ev.n``."""
    return SurfaceTracker(ev, level, progress).run(base, dilate)


class SurfaceTracker:
    """Finds the cells crossed by the surface {fn > level}: coarse level, bisection seeds, then
    waves of neighbour cells across mixed faces, optionally dilation rings; counts the floor."""

    def __init__(self, ev: PointEvaluator, level: float, progress: Progress):
        self.ev = ev
        self.n = ev.n
        self.level = float(level)
        self.progress = progress
        self.grid = SparseGrid(self.n, level)
        self.lattice = Lattice(self.n + 1)
        self.processed = np.empty(0, np.int64)  # sorted keys of every cell looked at
        self.crossed: list[np.ndarray] = []     # keys of the crossed cells, wave by wave
        self.n_crossed = 0
        # every tracked cell was crossed: then every node tracking evaluated is floor
        self.exact = True
        self.estimate = 1.0  # expected number of crossed cells, for progress

    def run(self, base: int, dilate: int) -> AdaptiveValues:
        coarse = self.coarse_level(base)
        self.progress(0.05)
        edge_lo, edge_axis, lo_inside = coarse_sign_changes(coarse, self.level)
        self.estimate = max(1.0, len(edge_lo) * float(coarse.step) ** 2 * 1.2)
        edge_nodes = self.bisect(edge_lo, edge_axis, lo_inside, coarse.step)
        seeds = cells_around_edges(edge_nodes, edge_axis)
        del coarse, edge_lo, edge_axis, lo_inside, edge_nodes
        pre_keys = self.grid.keys.copy()  # coarse and bisection samples
        if len(seeds):
            latest = self.track(self.lattice.key(seeds[self.lattice.contains(seeds)]))
            for _ in range(max(0, int(dilate))):  # optional probing rings around the surface
                if len(latest) == 0:
                    break
                latest = self.dilation_ring(latest)
        cells = np.sort(np.concatenate(self.crossed)) if self.crossed else np.zeros(0, np.int64)
        return AdaptiveValues(self.grid, cells, self.lattice, self.floor(pre_keys, cells))

    # 1. coarse level

    def coarse_level(self, base: int) -> CoarseLevel:
        """The coarse level at spacing S = coarse_step(N, base), halved (reusing the samples)
        while it sees no inside point at all, up to _MAX_DETECT * base samples per axis."""
        n = self.n
        step = coarse_step(n, base)
        while True:
            coarse = self._coarse_values(step)
            if ((coarse.values > self.level).any() or step == 1
                    or n // step >= _MAX_DETECT * max(1, int(base))):
                return coarse
            step = max(1, step // 2)

    def _coarse_values(self, step: int) -> CoarseLevel:
        """Evaluate the coarse lattice p = o + m*S, o = (N//2) % S, which contains the grid's
        central planes (i = N/2 - 1: the symmetry planes of centred shapes, where thin parts like
        fins and central plates sit) and extends to <= 0 and >= N+1 (outside)."""
        n = self.n
        o = (n // 2) % step
        start = o - step if o > 0 else 0
        coords = np.arange(start, n + 1 + step, step, dtype=np.int64)
        real = (coords >= 1) & (coords <= n)
        rc = coords[real]
        vals = self.grid.fetch(lattice_points(rc, rc, rc).reshape(-1, 3), self.ev)
        values = np.full((len(coords),) * 3, np.float32(self.level - OUTSIDE_MARGIN), np.float32)
        values[np.ix_(real, real, real)] = vals.reshape(len(rc), len(rc), len(rc))
        return CoarseLevel(coords, step, values)

    # 2. seeds

    def bisect(self, edge_lo: np.ndarray, edge_axis: np.ndarray, lo_inside: np.ndarray,
               step: int) -> np.ndarray:
        """Bisection (log2 S queries each) along coarse edges of length ``step`` from nodes
        ``edge_lo`` [E, 3] along ``edge_axis`` [E] whose low end has sign ``lo_inside``: the lower
        node [E, 3] of a final-resolution edge with a sign change on each."""
        unit = AXES[edge_axis]
        lo_off = np.zeros(len(edge_lo), np.int64)
        hi_off = np.full(len(edge_lo), step, np.int64)
        while True:
            act = np.nonzero(hi_off - lo_off > 1)[0]
            if len(act) == 0:
                break
            mid = (lo_off[act] + hi_off[act]) // 2
            mid_inside = self.grid.fetch(edge_lo[act] + mid[:, None] * unit[act], self.ev) > self.level
            same = mid_inside == lo_inside[act]
            lo_off[act] = np.where(same, mid, lo_off[act])
            hi_off[act] = np.where(same, hi_off[act], mid)
        return edge_lo + lo_off[:, None] * unit

    # 3. tracking

    def track(self, front_keys: np.ndarray) -> np.ndarray:
        """Track the surface from the cells ``front_keys``, wave by wave, until no new cell
        appears; returns the keys of the crossed cells found (unsorted)."""
        front_keys = np.unique(front_keys)
        front_keys = front_keys[~self.is_processed(front_keys)]
        new_crossed: list[np.ndarray] = []
        while len(front_keys):
            self.processed = np.insert(self.processed, np.searchsorted(self.processed, front_keys),
                                       front_keys)
            candidates: list[np.ndarray] = []
            for s in range(0, len(front_keys), _WAVE_BATCH):  # bounded memory per step
                crossed, onward = self._wave(front_keys[s:s + _WAVE_BATCH])
                new_crossed.append(crossed)
                candidates += onward
            front_keys = np.unique(np.concatenate(candidates)) if candidates else np.zeros(0, np.int64)
        return np.concatenate(new_crossed) if new_crossed else np.zeros(0, np.int64)

    def _wave(self, keys: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        """Evaluate the corners of the cells ``keys``. Returns (keys of those that are crossed,
        keys of the unprocessed neighbours across each face whose 4 corners disagree: the surface
        goes on through that face, so the neighbour is crossed too)."""
        cells = self.lattice.index(keys)
        corners = (cells[:, None, :] + CORNERS[None]).reshape(-1, 3)
        inside = (self.grid.fetch(corners, self.ev) > self.level).reshape(-1, 8)
        count = inside.sum(1)
        cross = (count > 0) & (count < 8)
        self.exact &= bool(cross.all())
        self.crossed.append(keys[cross])
        self.n_crossed += int(cross.sum())
        self.progress(0.05 + 0.75 * min(1.0, self.n_crossed / self.estimate))
        across = []  # neighbours across the mixed faces, all six faces looked up at once
        for a in range(3):
            for side in (0, 1):
                on_face = inside[:, FACE_CORNERS[a][side]].sum(1)
                mixed = (on_face > 0) & (on_face < 4)
                if mixed.any():
                    across.append(cells[mixed] + (2 * side - 1) * AXES[a])
        if not across:
            return keys[cross], []
        nb = np.concatenate(across)
        nb_keys = np.unique(self.lattice.key(nb[self.lattice.contains(nb)]))
        return keys[cross], [nb_keys[~self.is_processed(nb_keys)]]

    def dilation_ring(self, source: np.ndarray) -> np.ndarray:
        """Probe the unprocessed 26-neighbours of the cells ``source`` (and track the surface from
        any of them that is crossed); returns the ring and the newly crossed cells, the source of
        the next ring."""
        parts = []
        for s in range(0, len(source), _RING_BATCH):  # chunked: 27 neighbours per cell
            cells = self.lattice.index(source[s:s + _RING_BATCH])
            ring = (cells[:, None, :] + NEIGHBOURS27[None]).reshape(-1, 3)
            ring_keys = np.unique(self.lattice.key(ring[self.lattice.contains(ring)]))
            parts.append(ring_keys[~self.is_processed(ring_keys)])
        ring_keys = np.unique(np.concatenate(parts))
        return np.union1d(ring_keys, self.track(ring_keys))

    def is_processed(self, keys: np.ndarray) -> np.ndarray:
        return lookup(self.processed, keys)[1]

    # the floor

    def floor(self, pre_keys: np.ndarray, cells: np.ndarray) -> int:
        """Known real nodes that are corners of the crossed cells ``cells`` (sorted keys);
        ``pre_keys``: the nodes known before tracking (coarse and bisection samples)."""
        if not self.exact:
            return _floor_from_cells(self.grid, self.lattice, cells)
        # every node tracking evaluated is floor; of the earlier samples, those touching a crossed cell
        pre = self.grid.lattice.index(pre_keys)
        touch = np.zeros(len(pre), bool)
        if len(cells):
            for d in CORNERS:
                c = pre - d
                ok = self.lattice.contains(c)
                _, found = lookup(cells, self.lattice.key(c[ok]))
                touch[np.nonzero(ok)[0][found]] = True
        return len(self.grid) - len(pre_keys) + int(touch.sum())


def coarse_sign_changes(coarse: CoarseLevel, level: float):
    """Coarse lattice edges whose end signs differ: (lower node [E, 3] padded, axis [E], sign of
    the lower node [E]), axis by axis."""
    inside = coarse.values > level
    los, axes, lo_inside = [], [], []
    for a in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[a], hi[a] = slice(0, -1), slice(1, None)
        m = np.argwhere(inside[tuple(lo)] != inside[tuple(hi)])
        los.append(coarse.coords[m])
        axes.append(np.full(len(m), a, np.int64))
        lo_inside.append(inside[tuple(m.T)])
    return np.concatenate(los), np.concatenate(axes), np.concatenate(lo_inside)


def cells_around_edges(edge_nodes: np.ndarray, edge_axis: np.ndarray) -> np.ndarray:
    """The 4 cells [4E, 3] around each final-resolution lattice edge (lower node, axis)."""
    seeds = []
    for d1 in (0, 1):
        for d2 in (0, 1):
            # the other two axes of each edge: (a+1)%3 and (a+2)%3
            shift = -(d1 * AXES[(edge_axis + 1) % 3] + d2 * AXES[(edge_axis + 2) % 3])
            seeds.append(edge_nodes + shift)
    return np.concatenate(seeds)


def _floor_from_cells(grid: SparseGrid, lattice: Lattice, cells: np.ndarray) -> int:
    """Count the known real nodes that are corners of the crossed cells (chunked)."""
    mark = np.zeros(len(grid), bool)
    for s in range(0, len(cells), _FLOOR_BATCH):
        c = lattice.index(cells[s:s + _FLOOR_BATCH])
        corners = (c[:, None, :] + CORNERS[None]).reshape(-1, 3)
        corners = corners[grid.real(corners)]
        pos, found = grid.find(np.unique(grid.lattice.key(corners)))
        mark[pos[found]] = True
    return int(mark.sum())


# ----------------------------------------------------------------------------------------------
# the sparse bricked mesh


def mesh_adaptive(values: AdaptiveValues, brick: int, progress: Progress,
                  batch: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Marching cubes over the bricks that hold crossed cells, ``batch`` bricks at a time, unknown
    nodes flooded; (vertices float32 [V, 3], faces int32 [F, 3])."""
    grid, b = values.grid, int(brick)
    mesher = BrickMesher(grid.n, grid.level, lattice=grid.n + 2 + 2 * b)
    if len(values.cells) == 0:
        return mesher.finish()
    bricks, brick_keys = _crossed_bricks(values, b)
    # the z-rows of a brick's nodes: (b+1)^2 rows of b+1 nodes
    row_starts = lattice_points(np.arange(b + 1), np.arange(b + 1), [0]).reshape(-1, 3)
    for s in range(0, len(brick_keys), batch):
        origins = bricks.index(brick_keys[s:s + batch]) * b
        mesher.add(Bricks(_brick_values(grid, origins, row_starts, b), origins))
        progress(0.8 + 0.2 * min(1.0, (s + batch) / len(brick_keys)))
    return mesher.finish()


def _crossed_bricks(values: AdaptiveValues, b: int) -> tuple[Lattice, np.ndarray]:
    """The brick lattice (bricks of b cells per side) and the sorted keys of the bricks that hold
    a crossed cell."""
    bricks = Lattice(-(-values.lattice.size // b))
    keys = []
    for s in range(0, len(values.cells), _BRICK_KEY_BATCH):  # chunked to bound memory
        c = values.lattice.index(values.cells[s:s + _BRICK_KEY_BATCH]) // b
        keys.append(np.unique(bricks.key(c)))
    return bricks, np.unique(np.concatenate(keys))


def _brick_values(grid: SparseGrid, origins: np.ndarray, row_starts: np.ndarray,
                  b: int) -> np.ndarray:
    """Node values float32 [len(origins), b+1, b+1, b+1] of the bricks at ``origins``: known
    values, unknown nodes at level +/- OUTSIDE_MARGIN by the sign flooded from the known ones."""
    rows = (origins[:, None, :] + row_starts[None]).reshape(-1, 3)
    vals, known = grid.gather_rows(rows, b + 1)
    vals, known = vals.reshape(-1), known.reshape(-1)
    shape = (len(origins), b + 1, b + 1, b + 1)
    if not known.all():
        level = grid.level
        hi = np.float32(level + OUTSIDE_MARGIN)
        lo = np.float32(level - OUTSIDE_MARGIN)
        sg = np.where(known, np.where(vals > level, 1, -1), 0).astype(np.int8)
        sg = flood_signs(sg.reshape(shape)).reshape(-1)
        vals = np.where(known, vals, np.where(sg > 0, hi, lo)).astype(np.float32)
    return vals.reshape(shape)
