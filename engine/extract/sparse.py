"""Known node values kept sparse (:class:`SparseGrid`), and the signs of the nodes never evaluated
(:func:`flood_signs`)."""

from __future__ import annotations

import numpy as np

from .evaluator import PointEvaluator
from .lattice import Lattice, lookup
from .meshing import OUTSIDE_MARGIN

__all__ = ["SparseGrid", "flood_signs"]


class SparseGrid:
    """Known node values of the padded lattice of resolution N, kept sparse: sorted int64 keys
    (over :attr:`lattice`, the (N+2)^3 padded lattice) and float32 values. Only real nodes
    (1 <= p <= N) are stored; the rest is outside."""

    def __init__(self, resolution: int, level: float):
        self.n = int(resolution)
        self.level = float(level)
        self.lattice = Lattice(self.n + 2)
        self.keys = np.empty(0, np.int64)
        self.values = np.empty(0, np.float32)

    def __len__(self) -> int:
        return len(self.keys)

    def real(self, idx: np.ndarray) -> np.ndarray:
        return ((idx >= 1) & (idx <= self.n)).all(-1)

    def find(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return lookup(self.keys, keys)

    def insert(self, keys: np.ndarray, values: np.ndarray) -> None:
        """Insert keys that are not present yet (unique)."""
        order = np.argsort(keys, kind="stable")
        keys, values = keys[order], np.asarray(values, np.float32)[order]
        pos = np.searchsorted(self.keys, keys)
        self.keys = np.insert(self.keys, pos, keys)
        self.values = np.insert(self.values, pos, values)

    def fetch(self, idx: np.ndarray, ev: PointEvaluator) -> np.ndarray:
        """Values at padded indices [M, 3], evaluating the real nodes not known yet (once each)."""
        out = np.full(len(idx), np.float32(self.level - OUTSIDE_MARGIN))
        real = self.real(idx)
        if real.any():
            # unique sorted keys: fewer and sorted needles make the binary searches fast
            k, inv = np.unique(self.lattice.key(idx[real]), return_inverse=True)
            pos, found = self.find(k)
            # the known values where found; the rest is filled in from the evaluation below
            values = self.values[pos] if len(self.keys) else np.empty(len(k), np.float32)
            if not found.all():
                miss = k[~found]
                evaluated = ev(self.lattice.index(miss))
                values[~found] = evaluated
                self.insert(miss, evaluated)
            out[real] = values[inv.reshape(-1)]
        return out

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
        # each row's real nodes z in [z_lo, z_hi): the run must not spill into the next row
        z0 = starts[:, 2]
        z_lo, z_hi = np.maximum(z0, 1), np.minimum(z0 + length, self.n + 1)
        rows = np.nonzero(rowreal & (z_hi > z_lo))[0]
        row_node0 = starts[rows].copy()
        row_node0[:, 2] = 0
        k0 = self.lattice.key(row_node0)  # key of node z = 0 of each row
        a = np.searchsorted(self.keys, k0 + z_lo[rows])
        cnt = np.searchsorted(self.keys, k0 + z_hi[rows]) - a
        tot = int(cnt.sum())
        if tot:
            row = np.repeat(np.arange(len(rows)), cnt)
            first = np.repeat(a - np.concatenate([[0], np.cumsum(cnt)[:-1]]), cnt)
            pos = first + np.arange(tot)
            off = self.keys[pos] - k0[row] - z0[rows][row]
            out[rows[row], off] = self.values[pos]
            known[rows[row], off] = True
        return out, known

    def occupancy(self) -> np.ndarray:
        """Dense bool [N, N, N]: known signs, unknown nodes flooded from their known neighbours."""
        n, p = self.n, self.lattice.size
        s = np.zeros((p, p, p), np.int8)
        s[0], s[-1], s[:, 0], s[:, -1], s[:, :, 0], s[:, :, -1] = (-1,) * 6
        idx = self.lattice.index(self.keys)
        s[tuple(idx.T)] = np.where(self.values > self.level, 1, -1)
        s = flood_signs(s)
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


def flood_signs(s: np.ndarray) -> np.ndarray:
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
