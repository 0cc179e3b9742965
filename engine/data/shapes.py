"""Procedural shapes with exact occupancy, batched evaluation and training-point sampling.

    shape = make_shape("chair", seed)                 # deterministic, normalised (Z up, front -Y)
    batch = ShapeBatch([shape, ...]).to("cuda")       # padded primitive lists, any categories
    d = batch.sdf(points)                             # points [B,N,3] -> [B,N], inside where < 0
    pts, occ = sample_points(batch, 2048, 2048, gen)  # uniform + near-surface training points

A shape is a composition of SDF primitives (see sdf.py). Its occupancy is exactly `sdf < 0`;
the value is a distance bound away from the surface. Normalisation: the bounding box (computed
analytically from the primitives) is centred at 0 and its longest side scaled to 1.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from . import sdf as S

CATEGORIES = ("chair", "table", "sofa", "lamp", "car", "airplane")
SPLIT_BASE = {"train": 0, "val": 10_000_000, "test": 20_000_000}
SPLIT_SIZE = 10_000_000
DOMAIN = 0.55  # sampling / meshing cube half side


def split_seeds(split: str, count: int, start: int = 0) -> list[int]:
    """Seeds of a split; the splits draw from disjoint ranges (train 0.., val 1e7.., test 2e7..)."""
    if split not in SPLIT_BASE:
        raise ValueError(f"unknown split {split!r}; use one of {sorted(SPLIT_BASE)}")
    if start < 0 or start + count > SPLIT_SIZE:
        raise ValueError(f"a split holds at most {SPLIT_SIZE} seeds")
    base = SPLIT_BASE[split] + start
    return list(range(base, base + count))


@dataclasses.dataclass
class Shape:
    """One procedural shape: primitive arrays (raw units) plus its normalisation."""

    category: str
    seed: int
    subtype: str
    kind: np.ndarray      # int64 [P]
    group: np.ndarray     # int64 [P]
    op: np.ndarray        # int64 [P] +1 union, -1 subtract
    mat: np.ndarray       # int64 [P] material id
    rot: np.ndarray       # float32 [P,3,3] local -> world
    pos: np.ndarray       # float32 [P,3]
    prm: np.ndarray       # float32 [P,K]
    group_k: np.ndarray   # float32 [G] smooth-min width per group
    center: np.ndarray    # float32 [3] raw bbox centre
    scale: float          # 1 / longest raw bbox side
    extent: np.ndarray    # float32 [3] normalised bbox size (longest = 1)

    @property
    def num_primitives(self) -> int:
        return len(self.kind)

    @property
    def bounds(self) -> np.ndarray:
        """Normalised bounding box [2,3] (centred at 0)."""
        return np.stack([-self.extent / 2, self.extent / 2]).astype(np.float32)

    def sdf(self, points: torch.Tensor) -> torch.Tensor:
        """points [N,3] (normalised frame) -> sdf [N]."""
        return ShapeBatch([self]).to(points.device).sdf(points[None])[0]


def shape_from_builder(b: S.Builder, category: str, seed: int, subtype: str) -> Shape:
    lo, hi = b.aabb()
    size = hi - lo
    scale = 1.0 / float(size.max())
    return Shape(
        category=category, seed=seed, subtype=subtype,
        kind=np.asarray(b.kind, np.int64), group=np.asarray(b.grp, np.int64),
        op=np.asarray(b.op, np.int64), mat=np.asarray(b.mat, np.int64),
        rot=np.asarray(b.rot, np.float32).reshape(-1, 3, 3), pos=np.asarray(b.pos, np.float32).reshape(-1, 3),
        prm=np.asarray(b.prm, np.float32).reshape(-1, S.K), group_k=np.asarray(b.group_k, np.float32),
        center=((lo + hi) / 2).astype(np.float32), scale=scale, extent=(size * scale).astype(np.float32),
    )


def make_shape(category: str, seed: int) -> Shape:
    """Deterministic procedural shape of `category` for `seed` (normalised, Z up, front -Y)."""
    from .categories import BUILDERS

    if category not in BUILDERS:
        raise ValueError(f"unknown category {category!r}; use one of {CATEGORIES}")
    rng = np.random.default_rng([int(seed), CATEGORIES.index(category), 7919])
    b = S.Builder()
    subtype = BUILDERS[category](rng, b)
    return shape_from_builder(b, category, int(seed), subtype)


def make_shapes(categories, seeds) -> list[Shape]:
    """make_shape for pairs (a category name for all, or one per seed)."""
    if isinstance(categories, str):
        categories = [categories] * len(seeds)
    return [make_shape(c, s) for c, s in zip(categories, seeds)]


class ShapeBatch:
    """A stack of shapes with padded per-kind primitive lists; `.sdf` evaluates all at once."""

    def __init__(self, shapes: list[Shape]):
        if not shapes:
            raise ValueError("ShapeBatch needs at least one shape")
        self.shapes = list(shapes)
        B = len(shapes)
        self.categories = [s.category for s in shapes]
        kinds = []  # (kind, rot, pos, prm, valid, slot order in the combined list)
        groups, ops, mats, slot_k = [], [], [], []
        G = max(len(s.group_k) for s in shapes)
        group_k = np.full((B, G), 1e-6, np.float32)
        for i, s in enumerate(shapes):
            group_k[i, : len(s.group_k)] = np.maximum(s.group_k, 1e-6)
        for k in range(S.NUM_KINDS):
            idx = [np.nonzero(s.kind == k)[0] for s in shapes]
            M = max(len(x) for x in idx)
            if M == 0:
                continue
            rot = np.tile(np.eye(3, dtype=np.float32), (B, M, 1, 1))
            pos = np.zeros((B, M, 3), np.float32)
            prm = np.ones((B, M, S.K), np.float32)
            valid = np.zeros((B, M), bool)
            grp = np.zeros((B, M), np.int64)
            op = np.ones((B, M), np.int64)
            mat = np.zeros((B, M), np.int64)
            for i, (s, ix) in enumerate(zip(shapes, idx)):
                n = len(ix)
                rot[i, :n], pos[i, :n], prm[i, :n] = s.rot[ix], s.pos[ix], s.prm[ix]
                valid[i, :n] = True
                grp[i, :n], op[i, :n], mat[i, :n] = s.group[ix], s.op[ix], s.mat[ix]
            kinds.append([k, torch.from_numpy(rot), torch.from_numpy(pos), torch.from_numpy(prm),
                          torch.from_numpy(valid)])
            groups.append(grp)
            ops.append(op)
            mats.append(mat)
            slot_k.append(np.take_along_axis(group_k, grp, axis=1))
        self.kinds = kinds
        self.group = torch.from_numpy(np.concatenate(groups, 1))
        self.op = torch.from_numpy(np.concatenate(ops, 1))
        self.mat = torch.from_numpy(np.concatenate(mats, 1))
        self.slot_k = torch.from_numpy(np.concatenate(slot_k, 1))
        self.group_k = torch.from_numpy(group_k)
        self.has_sub = bool((self.op < 0).any())
        self.center = torch.from_numpy(np.stack([s.center for s in shapes]))
        self.scale = torch.tensor([s.scale for s in shapes], dtype=torch.float32)
        self.bounds = torch.from_numpy(np.stack([s.bounds for s in shapes]))
        self.num_slots = self.group.shape[1]

    def __len__(self) -> int:
        return len(self.shapes)

    @property
    def device(self) -> torch.device:
        return self.scale.device

    def to(self, device) -> "ShapeBatch":
        out = object.__new__(ShapeBatch)
        out.__dict__.update(self.__dict__)
        out.kinds = [[k] + [t.to(device) for t in rest] for k, *rest in self.kinds]
        for name in ("group", "op", "mat", "slot_k", "group_k", "center", "scale", "bounds"):
            setattr(out, name, getattr(self, name).to(device))
        return out

    def _primitive_distances(self, p: torch.Tensor) -> torch.Tensor:
        ds = []
        for k, rot, pos, prm, valid in self.kinds:
            # local = R^T (p - t), as row vectors: p @ R - t @ R
            q = p.unsqueeze(1) @ rot - (pos.unsqueeze(2) @ rot)
            d = S.SDF_FUNCS[k](q, prm.unsqueeze(2))
            ds.append(torch.where(valid.unsqueeze(-1), d, torch.full_like(d, S.BIG)))
        return torch.cat(ds, 1)

    def sdf(self, points: torch.Tensor, return_material: bool = False, chunk_elems: int | None = None):
        """points [B,N,3] normalised -> sdf [B,N] (and, with return_material, material id [B,N]
        and slot id [B,N] of the nearest union primitive)."""
        B, N, _ = points.shape
        if chunk_elems is None:
            chunk_elems = (1 << 26) if points.is_cuda else (1 << 19)
        n = max(256, chunk_elems // max(1, B * self.num_slots))
        p_all = points.float() / self.scale.view(B, 1, 1) + self.center.view(B, 1, 3)
        outs, mats, slots = [], [], []
        for a in range(0, N, n):
            d = self._primitive_distances(p_all[:, a : a + n])
            outs.append(S.combine(d, self.group, self.op, self.slot_k, self.group_k, self.has_sub))
            if return_material:
                du = torch.where(self.op.unsqueeze(-1) > 0, d, torch.full_like(d, S.BIG)) if self.has_sub else d
                slot = du.argmin(dim=1)
                slots.append(slot)
                mats.append(self.mat.gather(1, slot))
        out = torch.cat(outs, 1) * self.scale.view(B, 1)
        if return_material:
            return out, torch.cat(mats, 1), torch.cat(slots, 1)
        return out

    def occupancy(self, points: torch.Tensor) -> torch.Tensor:
        """points [B,N,3] -> bool [B,N], True inside."""
        return self.sdf(points) < 0

    @classmethod
    def make(cls, categories, seeds) -> "ShapeBatch":
        return cls(make_shapes(categories, seeds))


# ----------------------------------------------------------------------------------------------
# sampling


_TETRA = torch.tensor([[1, -1, -1], [-1, -1, 1], [-1, 1, -1], [1, 1, 1]], dtype=torch.float32)


def sdf_and_gradient(sdf_fn, points: torch.Tensor, eps: float = 1e-3):
    """Tetrahedral finite differences: points [B,N,3] -> (sdf [B,N], gradient [B,N,3])."""
    B, N, _ = points.shape
    offs = _TETRA.to(points.device) * eps
    q = (points.unsqueeze(2) + offs).reshape(B, N * 4, 3)
    v = sdf_fn(q).reshape(B, N, 4)
    grad = (v.unsqueeze(-1) * offs).sum(2) / (4 * eps * eps)
    return v.mean(-1), grad


def _bounds_of(batch, B, device):
    b = getattr(batch, "bounds", None)
    if b is None:
        return torch.tensor([[-0.5] * 3, [0.5] * 3], device=device).expand(B, 2, 3)
    return b.to(device)


def _rand(shape, generator, device):
    gdev = generator.device if generator is not None else torch.device("cpu")
    return torch.rand(shape, generator=generator, device=gdev).to(device)


def _randn(shape, generator, device):
    gdev = generator.device if generator is not None else torch.device("cpu")
    return torch.randn(shape, generator=generator, device=gdev).to(device)


def surface_points(batch, n: int, generator: torch.Generator | None = None, candidates: int = 4,
                   iterations: int = 3) -> torch.Tensor:
    """Points on (or within ~1e-3 of) the surface [B,n,3]: the `n` of `candidates*n` uniform points
    in the bounding box (+3% margin) closest to the surface, each moved `iterations` times by its
    SDF value along the unit gradient (sphere-tracing style: never overshoots a distance bound)."""
    B = len(batch)
    device = batch.device
    lo, hi = _bounds_of(batch, B, device).unbind(1)
    lo, hi = lo - 0.03, hi + 0.03
    cand = lo.unsqueeze(1) + (hi - lo).unsqueeze(1) * _rand((B, candidates * n, 3), generator, device)
    d = batch.sdf(cand)
    idx = d.abs().topk(n, dim=1, largest=False).indices
    p = cand.gather(1, idx.unsqueeze(-1).expand(B, n, 3))
    d = d.gather(1, idx)
    for it in range(iterations):
        dd, g = sdf_and_gradient(batch.sdf, p)
        d = dd if it > 0 else d
        p = p - d.unsqueeze(-1) * torch.nn.functional.normalize(g, dim=-1)
    return p


def sample_points(batch, n_uniform: int, n_near_surface: int, generator: torch.Generator | None = None,
                  sigmas=(0.01, 0.03)):
    """Training points and labels for a batch (ShapeBatch or any object with .sdf, len, .device).

    Mix: `n_uniform` points uniform in [-0.55,0.55]^3 first, then `n_near_surface` surface points
    (see `surface_points`) jittered by N(0, sigma^2 I), sigma picked per point from `sigmas`
    (default half 0.01, half 0.03), clamped to the cube. Returns (points [B,N,3], occupancy bool [B,N])."""
    B = len(batch)
    device = batch.device
    parts = []
    if n_uniform:
        parts.append(_rand((B, n_uniform, 3), generator, device) * (2 * DOMAIN) - DOMAIN)
    if n_near_surface:
        p = surface_points(batch, n_near_surface, generator)
        sig = torch.tensor(sigmas, dtype=torch.float32, device=device)
        choice = (_rand((B, n_near_surface), generator, device) * len(sigmas)).long().clamp(max=len(sigmas) - 1)
        p = p + _randn((B, n_near_surface, 3), generator, device) * sig[choice].unsqueeze(-1)
        parts.append(p.clamp(-DOMAIN, DOMAIN))
    points = torch.cat(parts, 1)
    return points, batch.sdf(points) < 0


def sdf_grid(sdf_fn, resolution: int, device="cpu", half: float = DOMAIN, chunk: int = 1 << 17) -> np.ndarray:
    """Evaluate a single-shape sdf_fn (points [1,N,3] -> [1,N]) on a resolution^3 node grid
    over [-half, half]^3, indexed [x, y, z]."""
    axis = torch.linspace(-half, half, resolution, device=device)
    grid = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(1, -1, 3)
    vals = [sdf_fn(grid[:, a : a + chunk]) for a in range(0, grid.shape[1], chunk)]
    return torch.cat(vals, 1).reshape(resolution, resolution, resolution).cpu().numpy()


def shape_mesh(shape, resolution: int = 128, device="cpu"):
    """Marching-cubes mesh of the exact SDF over [-0.55,0.55]^3 -> (vertices float32 [V,3],
    faces int64 [F,3], outward winding). `shape` is a Shape or a single-shape batch-like object."""
    from skimage.measure import marching_cubes

    batch = ShapeBatch([shape]).to(device) if isinstance(shape, Shape) else shape
    with torch.no_grad():
        vol = sdf_grid(batch.sdf, resolution, device)
    if vol.min() >= 0 or vol.max() <= 0:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64)
    step = 2 * DOMAIN / (resolution - 1)
    verts, faces, _, _ = marching_cubes(-vol, 0.0, spacing=(step, step, step))
    return (verts - DOMAIN).astype(np.float32), faces[:, ::-1].astype(np.int64).copy()


def mesh_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    """Signed volume of a closed triangle mesh (positive for outward winding)."""
    v = vertices.astype(np.float64)[faces]
    return float(np.einsum("ij,ij->i", v[:, 0], np.cross(v[:, 1], v[:, 2])).sum() / 6.0)


__all__ = ["CATEGORIES", "Shape", "ShapeBatch", "make_shape", "make_shapes", "split_seeds",
           "sample_points", "surface_points", "shape_mesh", "sdf_grid", "mesh_volume", "sdf_and_gradient"]
_ = math
