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
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .meshing import OUTSIDE_MARGIN, BrickMesher, Bricks

__all__ = ["PointFn", "Extraction", "SparseGrid", "extract_mesh", "dense_occupancy", "surface_floor",
           "METHODS"]

PointFn = Callable[[torch.Tensor], torch.Tensor]
METHODS = ("adaptive", "dense", "imnet")

# corner offsets of a cell, corner index = 4*dx + 2*dy + dz
_OFF8 = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], np.int64)
# for each axis and side, the 4 corners on that face
_FACES = [[np.nonzero(_OFF8[:, a] == s)[0] for s in (0, 1)] for a in range(3)]
_EYE = np.eye(3, dtype=np.int64)
_OFF27 = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], np.int64)


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


# ----------------------------------------------------------------------------------------------
# evaluation


class _Evaluator:
    """Sends padded-lattice indices to fn as frame points, in chunks; counts and times."""

    def __init__(self, fn: PointFn, resolution: int, chunk: int, device):
        self.fn = fn
        self.n = int(resolution)
        self.chunk = max(1, int(chunk))
        self.device = torch.device(device) if device is not None else _guess_device(fn)
        self.queries = 0
        self.peak = 0
        self.seconds = 0.0

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx)
        m = len(idx)
        out = np.empty(m, np.float32)
        for s in range(0, m, self.chunk):
            part = idx[s:s + self.chunk]
            pts = torch.from_numpy(((part.astype(np.float64) - 0.5) / self.n - 0.5).astype(np.float32))
            pts = pts.to(self.device)
            t = time.perf_counter()
            with torch.no_grad():
                y = self.fn(pts)
            y = y.detach().reshape(-1).float().cpu().numpy()
            self.seconds += time.perf_counter() - t
            if y.shape[0] != len(part):
                raise ValueError(f"point function returned {y.shape[0]} values for {len(part)} points")
            out[s:s + len(part)] = y
            self.queries += len(part)
            self.peak = max(self.peak, len(part))
        return out


def _guess_device(fn) -> torch.device:
    dev = getattr(fn, "device", None)
    if dev is not None:
        return torch.device(dev)
    if isinstance(fn, torch.nn.Module):
        for p in fn.parameters():
            return p.device
    return torch.device("cpu")


def _grid_index(n: int, lo: int, hi: int) -> np.ndarray:
    """Padded indices [lo, hi) x [1, n] x [1, n] in x-major order -> [M, 3] int64."""
    xs = np.arange(lo, hi, dtype=np.int64)
    ys = np.arange(1, n + 1, dtype=np.int64)
    g = np.empty((len(xs), n, n, 3), np.int64)
    g[..., 0] = xs[:, None, None]
    g[..., 1] = ys[None, :, None]
    g[..., 2] = ys[None, None, :]
    return g.reshape(-1, 3)


def dense_occupancy(fn: PointFn, resolution: int, level: float = 0.0, chunk: int = 65536,
                    device=None) -> np.ndarray:
    """Reference occupancy: all N^3 grid points (chunked), bool [N, N, N] indexed [x, y, z]."""
    n = int(resolution)
    ev = _Evaluator(fn, n, chunk, device)
    occ = np.empty((n, n, n), bool)
    step = max(1, chunk // (n * n))
    for x0 in range(0, n, step):
        x1 = min(n, x0 + step)
        occ[x0:x1] = (ev(_grid_index(n, x0 + 1, x1 + 1)) > level).reshape(x1 - x0, n, n)
    return occ


def dense_values(fn: PointFn, resolution: int, chunk: int = 65536, device=None) -> np.ndarray:
    """All N^3 logits, float32 [N, N, N] (reference for small N)."""
    n = int(resolution)
    ev = _Evaluator(fn, n, chunk, device)
    return ev(_grid_index(n, 1, n + 1)).reshape(n, n, n)


# ----------------------------------------------------------------------------------------------
# the floor


def _floor_dense(inside_padded: np.ndarray) -> int:
    """Count real nodes (not the padding layer) that are corners of crossed cells."""
    p = inside_padded
    c = p.shape[0] - 1
    cnt = np.zeros((c, c, c), np.int8)
    for dx, dy, dz in _OFF8:
        cnt += p[dx:dx + c, dy:dy + c, dz:dz + c]
    cross = (cnt > 0) & (cnt < 8)
    del cnt
    mark = np.zeros(p.shape, bool)
    for dx, dy, dz in _OFF8:
        mark[dx:dx + c, dy:dy + c, dz:dz + c] |= cross
    return int(mark[1:-1, 1:-1, 1:-1].sum())


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
    return _floor_dense(p)


# ----------------------------------------------------------------------------------------------
# sparse known values


class SparseGrid:
    """Known node values of the padded lattice of resolution N, kept sparse: sorted int64 keys
    (x-major linear index over (N+2)^3) and float32 values. Only real nodes (1 <= p <= N) are
    stored; the rest is outside."""

    def __init__(self, resolution: int, level: float):
        self.n = int(resolution)
        self.p = self.n + 2
        self.level = float(level)
        self.keys = np.empty(0, np.int64)
        self.values = np.empty(0, np.float32)

    def __len__(self) -> int:
        return len(self.keys)

    def key(self, idx: np.ndarray) -> np.ndarray:
        idx = np.asarray(idx, np.int64)
        return (idx[..., 0] * self.p + idx[..., 1]) * self.p + idx[..., 2]

    def decode(self, keys: np.ndarray) -> np.ndarray:
        p = self.p
        out = np.empty((len(keys), 3), np.int64)
        out[:, 0], r = np.divmod(keys, p * p)
        out[:, 1], out[:, 2] = np.divmod(r, p)
        return out

    def real(self, idx: np.ndarray) -> np.ndarray:
        return ((idx >= 1) & (idx <= self.n)).all(-1)

    def find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(self.keys) == 0:
            return np.zeros(len(keys), np.int64), np.zeros(len(keys), bool)
        pos = np.searchsorted(self.keys, keys)
        np.minimum(pos, len(self.keys) - 1, out=pos)
        return pos, self.keys[pos] == keys

    def insert(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Insert keys that are not present yet (unique)."""
        order = np.argsort(keys, kind="stable")
        keys, values = keys[order], np.asarray(values, np.float32)[order]
        pos = np.searchsorted(self.keys, keys)
        self.keys = np.insert(self.keys, pos, keys)
        self.values = np.insert(self.values, pos, values)

    def gather_rows(self, starts: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
        """Values of the rows of ``length`` nodes along z starting at padded indices ``starts``
        [R, 3]: (float32 [R, length], known bool [R, length]); two binary searches per row (the
        rows' known nodes are contiguous in the sorted keys) instead of one per node."""
        r = len(starts)
        out = np.full((r, length), np.float32(self.level - OUTSIDE_MARGIN))
        known = np.ones((r, length), bool)
        z = starts[:, 2:3] + np.arange(length)[None]
        rowreal = ((starts[:, :2] >= 1) & (starts[:, :2] <= self.n)).all(1)
        real = rowreal[:, None] & (z >= 1) & (z <= self.n)
        out[real] = np.nan
        known[real] = False
        if len(self.keys) == 0 or not rowreal.any():
            return out, known
        k0 = self.key(starts)
        # the run must not spill into the next row: stop at z = N (the last stored z)
        span = np.clip(self.n + 1 - starts[:, 2], 0, length)
        a = np.searchsorted(self.keys, k0)
        b = np.searchsorted(self.keys, k0 + span)
        cnt = np.where(rowreal, b - a, 0)
        tot = int(cnt.sum())
        if tot:
            row = np.repeat(np.arange(r), cnt)
            first = np.repeat(a - np.concatenate([[0], np.cumsum(cnt)[:-1]]), cnt)
            pos = first + np.arange(tot)
            off = self.keys[pos] - k0[row]
            out[row, off] = self.values[pos]
            known[row, off] = True
        return out, known

    def fetch(self, idx: np.ndarray, ev: _Evaluator) -> np.ndarray:
        """Values at padded indices [M, 3], evaluating the real nodes not known yet (once each)."""
        out = np.full(len(idx), np.float32(self.level - OUTSIDE_MARGIN))
        real = self.real(idx)
        if real.any():
            # unique sorted keys: fewer and sorted needles make the binary searches fast
            k, inv = np.unique(self.key(idx[real]), return_inverse=True)
            pos, found = self.find(k)
            if not found.all():
                miss = k[~found]
                self.insert(miss, ev(self.decode(miss)))
                pos, found = self.find(k)
            out[real] = self.values[pos][inv.reshape(-1)]
        return out

    def occupancy(self) -> np.ndarray:
        """Dense bool [N, N, N]: known signs, unknown nodes flooded from their known neighbours."""
        n, p = self.n, self.p
        s = np.zeros((p, p, p), np.int8)
        s[0], s[-1], s[:, 0], s[:, -1], s[:, :, 0], s[:, :, -1] = (-1,) * 6
        idx = self.decode(self.keys)
        s[tuple(idx.T)] = np.where(self.values > self.level, 1, -1)
        s = _flood_signs(s)
        return s[1:n + 1, 1:n + 1, 1:n + 1] > 0


def _dilate26(a: np.ndarray) -> np.ndarray:
    """Binary dilation by the 3x3x3 cube over the last three axes (separable, in numpy)."""
    d = a.copy()
    for ax in (-3, -2, -1):
        e = d.copy()
        lo = [slice(None)] * d.ndim
        hi = [slice(None)] * d.ndim
        lo[ax], hi[ax] = slice(1, None), slice(None, -1)
        e[tuple(lo)] |= d[tuple(hi)]
        e[tuple(hi)] |= d[tuple(lo)]
        d = e
    return d


def _flood_signs(s: np.ndarray) -> np.ndarray:
    """s int8 [..., D, H, W] in {-1, 0, +1}: give every 0 the sign of the signed nodes its
    26-connected region of 0s touches. Valid because an unknown node is a corner of no crossed
    cell, so it has the sign of all its 26 neighbours. Leading axes are independent blocks. Where
    both signs touch a region (never when the surface was tracked completely) outside wins; a
    region touching no sign becomes outside (its cells cross nothing either way)."""
    from scipy import ndimage

    s = np.array(s, np.int8)
    unk = s == 0
    if not unk.any():
        return s
    st = np.zeros((3,) * s.ndim, bool)
    st[(1,) * (s.ndim - 3)] = True  # 3x3x3 within each block, nothing across blocks
    lab, nl = ndimage.label(unk, structure=st)
    pos = np.zeros(nl + 1, bool)
    neg = np.zeros(nl + 1, bool)
    pos[lab[_dilate26(s > 0) & unk]] = True
    neg[lab[_dilate26(s < 0) & unk]] = True
    sign = np.where(neg | ~pos, -1, 1).astype(np.int8)
    s[unk] = sign[lab[unk]]
    return s


# ----------------------------------------------------------------------------------------------
# adaptive


def coarse_step(resolution: int, base_resolution: int) -> int:
    """Coarse spacing S (in final-grid cells) for the adaptive method."""
    return max(1, int(resolution) // max(1, int(base_resolution)))


class _Progress:
    def __init__(self, cb):
        self.cb = cb
        self.last = -1.0

    def __call__(self, f: float) -> None:
        if self.cb is None:
            return
        f = float(min(1.0, max(self.last, f)))
        if f - self.last >= 0.005 or (f >= 1.0 > self.last):
            self.last = f
            self.cb(f)


# If the coarse level finds no inside point at all, it is refined (halving S, reusing the samples)
# up to this many times base_resolution samples per axis before concluding the shape is empty.
_MAX_DETECT = 4
# cells handled at once by a tracking step (memory: ~200 bytes each)
_WAVE_BATCH = 1 << 17


def _coarse_level(grid: SparseGrid, ev: _Evaluator, n: int, s_: int):
    """Evaluate the coarse lattice p = o + m*S, o = (N//2) % S, which contains the grid's central
    planes (i = N/2 - 1: the symmetry planes of centred shapes, where thin parts like fins and
    central plates sit) and extends to <= 0 and >= N+1 (outside). Returns (coordinates per axis,
    first coordinate, values [len]^3 with outside fill)."""
    o = (n // 2) % s_
    start = o - s_ if o > 0 else 0
    cs = np.arange(start, n + 1 + s_, s_, dtype=np.int64)
    realc = (cs >= 1) & (cs <= n)
    rc = cs[realc]
    nc = len(rc)
    gi = np.empty((nc, nc, nc, 3), np.int64)
    gi[..., 0], gi[..., 1], gi[..., 2] = rc[:, None, None], rc[None, :, None], rc[None, None, :]
    vals = grid.fetch(gi.reshape(-1, 3), ev)
    del gi
    vc = np.full((len(cs),) * 3, np.float32(grid.level - OUTSIDE_MARGIN), np.float32)
    vc[np.ix_(realc, realc, realc)] = vals.reshape(nc, nc, nc)
    return cs, start, vc


def _adaptive_values(ev: _Evaluator, n: int, level: float, base: int, dilate: int,
                     progress: _Progress):
    """Coarse samples, bisection seeds and surface tracking. Returns (grid, crossed cell keys
    sorted, cell key base)."""
    grid = SparseGrid(n, level)
    s_ = coarse_step(n, base)
    # 1. coarse level (escalated while it sees no sign change at all, see _coarse_level)
    while True:
        cs, start, vc = _coarse_level(grid, ev, n, s_)
        inc = vc > level
        if inc.any() or s_ == 1 or n // s_ >= _MAX_DETECT * max(1, int(base)):
            break
        s_ = max(1, s_ // 2)
    progress(0.05)

    # 2. seeds: bisection on coarse edges with a sign change
    los, axes = [], []
    for a in range(3):
        lo = [slice(None)] * 3
        hi = [slice(None)] * 3
        lo[a], hi[a] = slice(0, -1), slice(1, None)
        m = np.argwhere(inc[tuple(lo)] != inc[tuple(hi)])
        los.append(cs[m])
        axes.append(np.full(len(m), a, np.int64))
    lo_node = np.concatenate(los) if los else np.zeros((0, 3), np.int64)
    axis = np.concatenate(axes)
    ea = _EYE[axis]
    n_coarse_cross = len(lo_node)
    s_lo = vc[tuple(((lo_node - start) // s_).T)] > level
    lo_off = np.zeros(len(lo_node), np.int64)
    hi_off = np.full(len(lo_node), s_, np.int64)
    while True:
        act = np.nonzero(hi_off - lo_off > 1)[0]
        if len(act) == 0:
            break
        mid = (lo_off[act] + hi_off[act]) // 2
        smid = grid.fetch(lo_node[act] + mid[:, None] * ea[act], ev) > level
        same = smid == s_lo[act]
        lo_off[act] = np.where(same, mid, lo_off[act])
        hi_off[act] = np.where(same, hi_off[act], mid)
    edge_node = lo_node + lo_off[:, None] * ea
    seeds = []
    for d1 in (0, 1):
        for d2 in (0, 1):
            # the other two axes of each edge: (a+1)%3 and (a+2)%3
            shift = -(d1 * _EYE[(axis + 1) % 3] + d2 * _EYE[(axis + 2) % 3])
            seeds.append(edge_node + shift)
    seeds = np.concatenate(seeds) if seeds else np.zeros((0, 3), np.int64)
    del lo_node, edge_node, ea, axis, vc, inc

    # 3. tracking at the final resolution
    cp = n + 1  # cells per axis (lower corners 0..N)

    def ckey(c):
        return (c[:, 0] * cp + c[:, 1]) * cp + c[:, 2]

    def cdecode(k):
        out = np.empty((len(k), 3), np.int64)
        out[:, 0], r = np.divmod(k, cp * cp)
        out[:, 1], out[:, 2] = np.divmod(r, cp)
        return out

    def in_range(c):
        return ((c >= 0) & (c <= n)).all(1)

    processed = np.empty(0, np.int64)  # sorted keys of every cell looked at
    crossed: list[np.ndarray] = []
    estimate = max(1.0, n_coarse_cross * float(s_) ** 2 * 1.2)
    found = 0

    def is_processed(k):
        if len(processed) == 0:
            return np.zeros(len(k), bool)
        pos = np.minimum(np.searchsorted(processed, k), len(processed) - 1)
        return processed[pos] == k

    def track(front_keys):
        nonlocal processed, found, exact
        front_keys = np.unique(front_keys)
        front_keys = front_keys[~is_processed(front_keys)]
        new_cross = []
        while len(front_keys):
            processed = np.insert(processed, np.searchsorted(processed, front_keys), front_keys)
            cand = []
            for s in range(0, len(front_keys), _WAVE_BATCH):  # bounded memory per step
                fk = front_keys[s:s + _WAVE_BATCH]
                cells = cdecode(fk)
                corners = (cells[:, None, :] + _OFF8[None]).reshape(-1, 3)
                ins = (grid.fetch(corners, ev) > level).reshape(-1, 8)
                cnt = ins.sum(1)
                cross = (cnt > 0) & (cnt < 8)
                exact &= bool(cross.all())
                crossed.append(fk[cross])
                new_cross.append(fk[cross])
                found += int(cross.sum())
                progress(0.05 + 0.75 * min(1.0, found / estimate))
                for a in range(3):
                    for side in (0, 1):
                        fc = ins[:, _FACES[a][side]].sum(1)
                        mixed = (fc > 0) & (fc < 4)
                        if mixed.any():
                            nb = cells[mixed] + (2 * side - 1) * _EYE[a]
                            ck = np.unique(ckey(nb[in_range(nb)]))
                            cand.append(ck[~is_processed(ck)])
            front_keys = np.unique(np.concatenate(cand)) if cand else np.zeros(0, np.int64)
        return np.concatenate(new_cross) if new_cross else np.zeros(0, np.int64)

    pre_keys = grid.keys.copy()  # coarse and bisection samples
    exact = True  # every tracked cell was crossed: then every node tracking evaluated is floor
    if len(seeds):
        seeds = seeds[in_range(seeds)]
        src = track(ckey(seeds))
        # optional probing rings around the surface found
        for _ in range(max(0, int(dilate))):
            if len(src) == 0:
                break
            parts = []
            for s in range(0, len(src), 1 << 16):  # chunked: 27 neighbours per cell
                ring = (cdecode(src[s:s + (1 << 16)])[:, None, :] + _OFF27[None]).reshape(-1, 3)
                ring_keys = np.unique(ckey(ring[in_range(ring)]))
                parts.append(ring_keys[~is_processed(ring_keys)])
            ring_keys = np.unique(np.concatenate(parts))
            newc = track(ring_keys)
            src = np.union1d(ring_keys, newc)
    cells = np.sort(np.concatenate(crossed)) if crossed else np.zeros(0, np.int64)
    if exact:
        # floor = nodes tracking evaluated + those coarse/bisection samples that touch a crossed cell
        pre = grid.decode(pre_keys)
        touch = np.zeros(len(pre), bool)
        if len(cells):
            for d in _OFF8:
                c = pre - d
                ok = in_range(c)
                k = ckey(c[ok])
                pos = np.minimum(np.searchsorted(cells, k), len(cells) - 1)
                touch[np.nonzero(ok)[0][cells[pos] == k]] = True
        floor = len(grid) - len(pre_keys) + int(touch.sum())
    else:
        floor = _floor_from_cells(grid, cdecode, cells)
    return grid, cells, cp, cdecode, floor


def _floor_from_cells(grid: SparseGrid, cdecode, cells: np.ndarray, chunk: int = 1 << 18) -> int:
    """Count the known real nodes that are corners of the crossed cells (chunked)."""
    mark = np.zeros(len(grid), bool)
    for s in range(0, len(cells), chunk):
        c = cdecode(cells[s:s + chunk])
        corners = (c[:, None, :] + _OFF8[None]).reshape(-1, 3)
        corners = corners[grid.real(corners)]
        pos, found = grid.find(np.unique(grid.key(corners)))
        mark[pos[found]] = True
    return int(mark.sum())


def _mesh_sparse(grid: SparseGrid, cell_idx_fn, cells: np.ndarray, cp: int, n: int, level: float,
                 brick: int, progress: _Progress, batch: int = 128):
    """Marching cubes over the bricks that hold crossed cells; unknown nodes flooded."""
    b = int(brick)
    mesher = BrickMesher(n, level, lattice=n + 2 + 2 * b)
    if len(cells) == 0:
        return mesher.finish(), 0
    nbx = -(-cp // b)
    # brick keys of the crossed cells, in chunks to bound memory
    bkeys = []
    for s in range(0, len(cells), 1 << 20):
        c = cell_idx_fn(cells[s:s + (1 << 20)]) // b
        bkeys.append(np.unique((c[:, 0] * nbx + c[:, 1]) * nbx + c[:, 2]))
    bkeys = np.unique(np.concatenate(bkeys))
    local_rows = np.stack(np.meshgrid(np.arange(b + 1), np.arange(b + 1), [0], indexing="ij"),
                          -1).reshape(-1, 3)
    hi = np.float32(level + OUTSIDE_MARGIN)
    lo = np.float32(level - OUTSIDE_MARGIN)
    for s in range(0, len(bkeys), batch):
        k = bkeys[s:s + batch]
        bc = np.empty((len(k), 3), np.int64)
        bc[:, 0], r = np.divmod(k, nbx * nbx)
        bc[:, 1], bc[:, 2] = np.divmod(r, nbx)
        origins = bc * b
        rows = (origins[:, None, :] + local_rows[None]).reshape(-1, 3)
        vals, known = grid.gather_rows(rows, b + 1)
        vals, known = vals.reshape(-1), known.reshape(-1)
        shape = (len(k), b + 1, b + 1, b + 1)
        if not known.all():
            sg = np.where(known, np.where(vals > level, 1, -1), 0).astype(np.int8)
            sg = _flood_signs(sg.reshape(shape)).reshape(-1)
            vals = np.where(known, vals, np.where(sg > 0, hi, lo)).astype(np.float32)
        mesher.add(Bricks(vals.reshape(len(k), b + 1, b + 1, b + 1), origins))
        progress(0.8 + 0.2 * min(1.0, (s + batch) / len(bkeys)))
    return mesher.finish(), len(bkeys)


# ----------------------------------------------------------------------------------------------
# dense (slab by slab) and IM-NET reference


def _dense_extract(ev: _Evaluator, n: int, level: float, brick: int, progress: _Progress,
                   keep: bool):
    b = int(brick)
    nb = -(-(n + 1) // b)
    q = nb * b + 1
    outside = np.float32(level - OUTSIDE_MARGIN)
    mesher = BrickMesher(n, level, lattice=q + b)
    occ = np.zeros((n, n, n), bool) if keep else None
    prev = None
    carry = None
    floor = 0
    t_eval = 0.0
    for bx in range(nb):
        t0 = time.perf_counter()
        px0 = bx * b
        slab = np.full((b + 1, q, q), outside, np.float32)
        j0 = 0
        if prev is not None:
            slab[0] = prev
            j0 = 1
        lo_x, hi_x = max(1, px0 + j0), min(n, px0 + b)
        for x in range(lo_x, hi_x + 1):  # one plane of N^2 points at a time
            v = ev(_grid_index(n, x, x + 1)).reshape(n, n)
            slab[x - px0, 1:n + 1, 1:n + 1] = v
            if occ is not None:
                occ[x - 1] = v > level
        prev = slab[b].copy()
        t_eval += time.perf_counter() - t0
        ins = slab > level
        cnt = np.zeros((b, q - 1, q - 1), np.int8)
        for dx, dy, dz in _OFF8:
            cnt += ins[dx:dx + b, dy:dy + q - 1, dz:dz + q - 1]
        cross = (cnt > 0) & (cnt < 8)
        del cnt
        mark = np.zeros((b + 1, q, q), bool)
        for dx, dy, dz in _OFF8:
            mark[dx:dx + b, dy:dy + q - 1, dz:dz + q - 1] |= cross
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
    t1 = time.perf_counter()
    v, f = mesher.finish()
    return v, f, floor, occ, t_eval, time.perf_counter() - t1


def imnet_frame(resolution: int, frame: int = 64) -> int:
    n = int(resolution)
    if n % frame == 0:
        return frame
    return max(d for d in range(1, min(frame, n) + 1) if n % d == 0)


def _imnet_extract(ev: _Evaluator, n: int, level: float, progress: _Progress, frame: int = 64):
    from scipy import ndimage

    fr = imnet_frame(n, frame)
    c = n // fr
    # frame points: IM-NET's (j + 0.5) / F - 0.5, i.e. padded fine index j*c + (c + 1) / 2
    jj = np.arange(fr, dtype=np.float64) * c + (c + 1) / 2.0
    fi = np.stack(np.meshgrid(jj, jj, jj, indexing="ij"), -1).reshape(-1, 3)
    fl = (ev(fi) > level).reshape(fr, fr, fr)
    flag = np.zeros((fr + 2,) * 3, np.uint8)
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
    local = np.stack(np.meshgrid(*(np.arange(c),) * 3, indexing="ij"), -1).reshape(-1, 3)
    evaluated = np.zeros((fr, fr, fr), bool)
    front = np.argwhere(queue)
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
        nbr = (front[anyin][:, None, :] + _OFF27[None]).reshape(-1, 3)
        nbr = nbr[((nbr >= 0) & (nbr < fr)).all(1)]
        if len(nbr) == 0:
            break
        nbr = np.unique(nbr, axis=0)
        ok = (flag[tuple((nbr + 1).T)] == 0) & ~evaluated[tuple(nbr.T)]
        nbr = nbr[ok]
        flag[tuple((nbr + 1).T)] = 1
        front = nbr
    return vol


# ----------------------------------------------------------------------------------------------


def extract_mesh(fn: PointFn, resolution: int, level: float = 0.0, *, method: str = "adaptive",
                 base_resolution: int = 32, chunk: int = 65536, device=None,
                 progress: Callable[[float], None] | None = None, dilate: int = 0,
                 brick: int = 16, keep_values: bool = False) -> Extraction:
    """Mesh the surface {fn > level} over the resolution^3 cell-centre grid of [-0.5, 0.5]^3.

    fn: points [M, 3] float32 on ``device`` -> logits [M] (M <= chunk).
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
    level = float(level)
    prog = _Progress(progress)
    ev = _Evaluator(fn, n, chunk, device)
    t0 = time.perf_counter()
    if method == "adaptive":
        grid, cells, cp, cdecode, floor = _adaptive_values(ev, n, level, base_resolution, dilate, prog)
        t1 = time.perf_counter()
        (v, f), _ = _mesh_sparse(grid, cdecode, cells, cp, n, level, brick, prog)
        t2 = time.perf_counter()
        seconds = {"evaluate": t1 - t0, "mesh": t2 - t1}
        kept = grid if keep_values else None
    elif method == "dense":
        v, f, floor, occ, t_eval, _ = _dense_extract(ev, n, level, brick, prog, keep_values)
        total = time.perf_counter() - t0
        seconds = {"evaluate": t_eval, "mesh": total - t_eval}
        kept = occ
    else:
        if n > 512:
            raise ValueError("method 'imnet' keeps a dense volume; use it up to resolution 512")
        vol = _imnet_extract(ev, n, level, prog)
        floor = _floor_dense(vol > level)
        t1 = time.perf_counter()
        from .meshing import marching_cubes

        v, f = marching_cubes(vol, level, padded=True, brick=brick)
        t2 = time.perf_counter()
        seconds = {"evaluate": t1 - t0, "mesh": t2 - t1}
        kept = vol if keep_values else None
        del vol
    seconds["decoder"] = ev.seconds
    prog(1.0)
    return Extraction(vertices=v, faces=f, resolution=n, queries=ev.queries, seconds=seconds,
                      peak_points=ev.peak, method=method, floor=floor, grid=kept, level=level)
