"""Marching cubes for imdec: dense volumes or sparse bricks -> one closed, outward-oriented mesh.

Index convention (shared with :mod:`engine.extract`). A grid of resolution N samples the cube
[-0.5, 0.5]^3 at the cell centres x_i = -0.5 + (i + 0.5) / N, i = 0..N-1, indexed [x, y, z].
Marching cubes runs on the *padded* lattice p = i + 1, p = 0..N+1, where the layer p = 0 and
p = N+1 (and anything beyond) is "outside", so every surface is closed. A padded index p maps to
the frame coordinate (p - 0.5) / N - 0.5; vertices are clipped to [-0.5, 0.5]^3 (the surface
between the first inside sample and the outside layer is capped on the domain's boundary).

Values are logits: inside where value > level, and the vertex on a lattice edge is the linear
interpolation of the two end values at ``level`` (skimage's Lewiner marching cubes, which resolves
the ambiguous faces and cells consistently, so neighbouring bricks agree on their shared faces).

Faces are returned counter-clockwise seen from outside (normals point outwards, signed volume
> 0). skimage's ``gradient_direction='descent'`` (object > level) gives clockwise faces for our
convention, so we ask for ``'ascent'``; ``tests/test_extract.py`` checks the sign of the volume.

Bricks: a brick is a block of (B+1)^3 node values whose first node sits at padded index
``origin`` (a multiple of B in practice). Neighbouring bricks share one layer of nodes, so the
vertices on their common faces are produced twice; :class:`BrickMesher` merges them by the
lattice edge they lie on (exact, since both bricks interpolate the same two values), which keeps
the mesh watertight (Lewiner's extra vertices inside ambiguous cells lie on no edge and are kept
as they are). Memory is bounded by the bricks handed in at once plus the output mesh.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

__all__ = ["Bricks", "BrickMesher", "marching_cubes", "frame_from_index", "mesh_volume",
           "OUTSIDE_MARGIN"]

# Unknown or outside values are filled with level -/+ OUTSIDE_MARGIN ("a clipped value of the right
# sign"). It never reaches a vertex position except on the padding layer, where the vertex is
# clipped onto the domain boundary anyway.
OUTSIDE_MARGIN = 1.0


@dataclass
class Bricks:
    """A batch of bricks: ``values`` float32 [nb, B+1, B+1, B+1] and ``origins`` int [nb, 3]
    (padded index of each brick's node [0, 0, 0])."""

    values: np.ndarray
    origins: np.ndarray


def frame_from_index(index: np.ndarray, resolution: int) -> np.ndarray:
    """Padded lattice coordinates (float) -> normalised frame, clipped to [-0.5, 0.5]."""
    out = (np.asarray(index, np.float64) - 0.5) / float(resolution) - 0.5
    return np.clip(out, -0.5, 0.5).astype(np.float32)


def _mc_block(values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray] | None:
    """skimage marching cubes on one block; local index coordinates, outward faces."""
    from skimage import measure

    try:
        verts, faces, _, _ = measure.marching_cubes(values, level, gradient_direction="ascent",
                                                    allow_degenerate=False)
    except (ValueError, RuntimeError):  # no crossing in this block
        return None
    return verts, faces


class BrickMesher:
    """Accumulates marching cubes over bricks and stitches them into one mesh.

    ``add`` may be called many times with batches of bricks (any order, each brick at most
    once); ``finish`` merges the vertices shared by neighbouring bricks and returns
    (vertices float32 [V, 3] in the frame, faces int32 [F, 3])."""

    def __init__(self, resolution: int, level: float = 0.0, *, lattice: int | None = None):
        self.resolution = int(resolution)
        self.level = float(level)
        # keys index nodes of a lattice of this many points per axis (padded grid + slack)
        self.lattice = int(lattice) if lattice is not None else self.resolution + 2 + 64
        self._keys: list[np.ndarray] = []
        self._verts: list[np.ndarray] = []
        self._faces: list[np.ndarray] = []
        self._count = 0
        self._inner = 0
        self.bricks_meshed = 0

    def add(self, bricks: Bricks) -> None:
        values = np.asarray(bricks.values, np.float32)
        origins = np.asarray(bricks.origins, np.int64)
        lvl = self.level
        for k in range(values.shape[0]):
            block = values[k]
            lo, hi = block.min(), block.max()
            if not (lo <= lvl < hi):
                continue
            res = _mc_block(block, lvl)
            if res is None:
                continue
            self.bricks_meshed += 1
            verts, faces = res
            g = verts.astype(np.float64) + origins[k].astype(np.float64)
            self._keys.append(self._edge_keys(g))
            self._verts.append(frame_from_index(g, self.resolution))  # float32, final frame
            self._faces.append((faces + self._count).astype(np.int32))
            self._count += len(verts)

    def _edge_keys(self, g: np.ndarray) -> np.ndarray:
        """Identify each vertex by the lattice edge it lies on: (lower node, axis); axis 3 for a
        vertex exactly on a node. Both bricks sharing a face compute identical coordinates for the
        vertices on it (same two values, same local offsets along the face), so keys match."""
        fl = np.floor(g)
        isfrac = (g - fl) > 0
        nfrac = isfrac.sum(1)
        axis = np.where(nfrac > 0, isfrac.argmax(1), 3).astype(np.int64)
        q = self.lattice
        f = fl.astype(np.int64)
        keys = ((f[:, 0] * q + f[:, 1]) * q + f[:, 2]) * 4 + axis
        # Lewiner's extra vertex inside an ambiguous cell lies on no edge: never shared, own key
        inner = np.nonzero(nfrac > 1)[0]
        if len(inner):
            keys[inner] = -(self._inner + 1 + np.arange(len(inner)))
            self._inner += len(inner)
        return keys

    def finish(self) -> tuple[np.ndarray, np.ndarray]:
        if not self._verts:
            return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32)
        keys = np.concatenate(self._keys)
        verts = np.concatenate(self._verts)
        faces = np.concatenate(self._faces)
        self._keys, self._verts, self._faces = [], [], []
        uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        del keys, uniq
        verts = verts[first]
        faces = inverse.reshape(-1).astype(np.int32)[faces]
        del inverse
        ok = (faces[:, 0] != faces[:, 1]) & (faces[:, 1] != faces[:, 2]) & (faces[:, 0] != faces[:, 2])
        faces = faces[ok]
        used = np.zeros(len(verts), bool)
        used[faces.reshape(-1)] = True
        if not used.all():
            remap = (np.cumsum(used) - 1).astype(np.int32)
            verts = verts[used]
            faces = remap[faces]
        return verts, faces.astype(np.int32, copy=False)


def bricks_from_volume(volume: np.ndarray, level: float, brick: int = 16,
                       batch: int = 256) -> Iterable[Bricks]:
    """Split a padded dense volume into bricks of ``brick`` cells, keeping those whose values
    cross ``level``. Values beyond the volume are outside."""
    vol = np.asarray(volume, np.float32)
    shape = np.array(vol.shape)
    nb = -(-(shape - 1) // brick)  # cells per axis = shape - 1
    outside = np.float32(level - OUTSIDE_MARGIN)
    vals, origins = [], []
    for bx in range(nb[0]):
        for by in range(nb[1]):
            for bz in range(nb[2]):
                o = np.array([bx, by, bz]) * brick
                blk = vol[o[0]:o[0] + brick + 1, o[1]:o[1] + brick + 1, o[2]:o[2] + brick + 1]
                if not (blk.min() <= level < blk.max()):
                    continue
                if blk.shape != (brick + 1,) * 3:
                    full = np.full((brick + 1,) * 3, outside, np.float32)
                    full[:blk.shape[0], :blk.shape[1], :blk.shape[2]] = blk
                    blk = full
                vals.append(np.array(blk, np.float32))
                origins.append(o)
                if len(vals) >= batch:
                    yield Bricks(np.stack(vals), np.stack(origins))
                    vals, origins = [], []
    if vals:
        yield Bricks(np.stack(vals), np.stack(origins))


def marching_cubes(volume_or_bricks, level: float = 0.0, *, resolution: int | None = None,
                   padded: bool = False, brick: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Marching cubes to a closed mesh in the normalised frame.

    ``volume_or_bricks``:
      * a dense array [N, N, N] of values at the cell-centre grid (``padded=False``; one layer of
        outside is added around it), or an already padded [N+2]^3 array (``padded=True``);
      * a :class:`Bricks` batch or an iterable of them (padded-lattice origins), in which case
        ``resolution`` is required.
    Returns (vertices float32 [V, 3], faces int32 [F, 3]), faces counter-clockwise from outside.
    """
    if isinstance(volume_or_bricks, np.ndarray):
        vol = np.asarray(volume_or_bricks, np.float32)
        if not padded:
            n = vol.shape[0]
            p = np.full(tuple(s + 2 for s in vol.shape), np.float32(level - OUTSIDE_MARGIN), np.float32)
            p[1:-1, 1:-1, 1:-1] = vol
            vol = p
        else:
            n = vol.shape[0] - 2
        res = int(resolution or n)
        mesher = BrickMesher(res, level, lattice=max(vol.shape) + brick + 1)
        for b in bricks_from_volume(vol, level, brick):
            mesher.add(b)
        return mesher.finish()
    if resolution is None:
        raise ValueError("marching_cubes over bricks needs resolution=")
    batches = [volume_or_bricks] if isinstance(volume_or_bricks, Bricks) else volume_or_bricks
    mesher = BrickMesher(resolution, level)
    for b in batches:
        mesher.add(b)
    return mesher.finish()


def mesh_node_grid(values: np.ndarray, level: float, half: float) -> tuple[np.ndarray, np.ndarray]:
    """Marching cubes of values on a regular node grid over [-half, half]^3 (both ends included,
    indexed [x, y, z]), inside where the value is above `level`. The grid is padded with outside
    so the mesh is closed. Returns (vertices float32 [V, 3], faces int64 [F, 3], counter-clockwise
    from outside); empty arrays when the level is not crossed."""
    from skimage.measure import marching_cubes as skimage_marching_cubes

    values = np.asarray(values, np.float32)
    padded = np.pad(values, 1, constant_values=min(float(values.min()), level) - OUTSIDE_MARGIN)
    if not padded.max() > level:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64)
    step = 2 * half / (values.shape[0] - 1)
    verts, faces, _, _ = skimage_marching_cubes(padded, level, spacing=(step,) * 3, gradient_direction="descent")
    return (verts - half - step).astype(np.float32), np.ascontiguousarray(faces[:, ::-1], dtype=np.int64)


def mesh_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Signed volume enclosed by a mesh (> 0 when faces are counter-clockwise from outside)."""
    if len(faces) == 0:
        return 0.0
    v = np.asarray(vertices, np.float64)
    t = v[np.asarray(faces)]
    return float(np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])).sum() / 6.0)
