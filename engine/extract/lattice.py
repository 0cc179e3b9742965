"""Index arithmetic on cubic lattices: linear keys, lattice points, cell corner offsets.

Keys are what the extraction keeps in sorted int64 arrays (known values, crossed cells, bricks);
one :class:`Lattice` per kind of index replaces hand-written ``(x * P + y) * P + z`` encodings.
"""

from __future__ import annotations

import numpy as np

__all__ = ["Lattice", "lattice_points", "lookup", "CORNERS", "FACE_CORNERS", "AXES", "NEIGHBOURS27"]

# corner offsets of a cell, corner index = 4*dx + 2*dy + dz
CORNERS = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], np.int64)
# FACE_CORNERS[axis][side]: the 4 corners (indices into CORNERS) on that face of a cell
FACE_CORNERS = [[np.nonzero(CORNERS[:, a] == s)[0] for s in (0, 1)] for a in range(3)]
# unit step along each axis
AXES = np.eye(3, dtype=np.int64)
# the 3x3x3 neighbourhood (the point itself included)
NEIGHBOURS27 = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)],
                        np.int64)


class Lattice:
    """Linear keys of the points of a cubic lattice with ``size`` points per axis, x-major:
    key = (x * size + y) * size + z, so sorting keys sorts points by x, then y, then z.

    Indices must lie in the lattice (``ravel_multi_index`` raises otherwise): filter with
    :meth:`contains` first where neighbours may fall outside."""

    __slots__ = ("size", "shape")

    def __init__(self, size: int):
        self.size = int(size)
        self.shape = (self.size,) * 3

    def key(self, index: np.ndarray) -> np.ndarray:
        """Integer indices [..., 3] -> int64 keys [...]."""
        index = np.asarray(index)
        return np.ravel_multi_index((index[..., 0], index[..., 1], index[..., 2]), self.shape)

    def index(self, keys: np.ndarray) -> np.ndarray:
        """int64 keys [M] -> indices int64 [M, 3]."""
        return np.stack(np.unravel_index(keys, self.shape), -1)

    def contains(self, index: np.ndarray) -> np.ndarray:
        """bool [...]: which indices [..., 3] lie in the lattice."""
        return ((index >= 0) & (index < self.size)).all(-1)


def lattice_points(xs: np.ndarray, ys: np.ndarray, zs: np.ndarray) -> np.ndarray:
    """All points of the product xs x ys x zs as int64 [len(xs), len(ys), len(zs), 3] (x-major)."""
    g = np.empty((len(xs), len(ys), len(zs), 3), np.int64)
    g[..., 0] = np.asarray(xs)[:, None, None]
    g[..., 1] = np.asarray(ys)[None, :, None]
    g[..., 2] = np.asarray(zs)[None, None, :]
    return g


def lookup(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Binary search of ``keys`` in ``sorted_keys``: (position int64, found bool); the position is
    only meaningful where found."""
    if len(sorted_keys) == 0:
        return np.zeros(len(keys), np.int64), np.zeros(len(keys), bool)
    pos = np.searchsorted(sorted_keys, keys)
    np.minimum(pos, len(sorted_keys) - 1, out=pos)
    return pos, sorted_keys[pos] == keys
