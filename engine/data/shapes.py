"""Procedural shapes with exact occupancy, batched evaluation and training-point sampling.

    shape = make_shape("chair", seed)                 # deterministic, normalised (Z up, front -Y)
    batch = ShapeBatch([shape, ...]).to("cuda")       # padded primitive lists, any categories
    d = batch.sdf(points)                             # points [B,N,3] -> [B,N], inside where < 0
    pts, occ = sample_points(batch, 2048, 2048, gen)  # uniform + near-surface training points

A shape is a composition of SDF primitives (see sdf.py). Its occupancy is exactly `sdf < 0`;
the value is a distance bound away from the surface. Normalisation: the bounding box (analytic
per primitive, grown where smooth blends bulge out of it) is centred at 0, longest side 1.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import torch

from ..extract.meshing import mesh_node_grid
from ..frame import DOMAIN_HALF, in_chunks, node_grid
from . import sdf as S

CATEGORIES = ("chair", "table", "sofa", "lamp", "car", "airplane")  # the default training and test set
EXTRA_CATEGORIES = ("primitives",)  # chosen by name only (train/evaluate --categories ...,primitives)
ALL_CATEGORIES = CATEGORIES + EXTRA_CATEGORIES
SPLIT_BASE = {"train": 0, "val": 10_000_000, "test": 20_000_000}
SPLIT_SIZE = 10_000_000


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


def _face_bulge(shape: "Shape", lo: np.ndarray, hi: np.ndarray, n: int = 40):
    """How far the solid pokes out of each face of the box [lo, hi] (raw units): smooth blends of
    primitives with coplanar faces bulge by up to k/4 beyond the primitives' own bounds."""
    batch = ShapeBatch([shape])
    u = (torch.arange(n, dtype=torch.float64) + 0.5) / n
    pts = []
    for axis in range(3):
        a, c = [i for i in range(3) if i != axis]
        for side, v in ((0, lo[axis]), (1, hi[axis])):
            p = torch.zeros(n, n, 3, dtype=torch.float64)
            p[..., axis] = v
            p[..., a] = lo[a] + (hi[a] - lo[a]) * u.view(n, 1)
            p[..., c] = lo[c] + (hi[c] - lo[c]) * u.view(1, n)
            pts.append(p.reshape(-1, 3))
    raw = torch.stack(pts).reshape(1, -1, 3)
    norm = ((raw - torch.from_numpy(shape.center).double()) * shape.scale).float()
    d = batch.sdf(norm).reshape(6, -1).amin(1).double() / shape.scale
    return (-d).clamp(min=0).numpy().reshape(3, 2)


def shape_from_builder(b: S.Builder, category: str, seed: int, subtype: str) -> Shape:
    lo, hi = b.aabb()
    shape = _shape_with_box(b, category, seed, subtype, lo, hi)
    for _ in range(2):  # grow the analytic box where blends bulge out of it
        bulge = _face_bulge(shape, lo, hi)
        if bulge.max() < 1e-5 * float((hi - lo).max()):
            break
        lo, hi = lo - bulge[:, 0], hi + bulge[:, 1]
        shape = _shape_with_box(b, category, seed, subtype, lo, hi)
    return shape


def _shape_with_box(b: S.Builder, category: str, seed: int, subtype: str, lo, hi) -> "Shape":
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


def _build(category: str, seed: int) -> tuple[S.Builder, str]:
    from .categories import BUILDERS

    if category not in BUILDERS:
        raise ValueError(f"unknown category {category!r}; use one of {ALL_CATEGORIES}")
    rng = np.random.default_rng([int(seed), ALL_CATEGORIES.index(category), 7919])
    b = S.Builder()
    return b, BUILDERS[category](rng, b)


def make_shape(category: str, seed: int) -> Shape:
    """Deterministic procedural shape of `category` for `seed` (normalised, Z up, front -Y)."""
    b, subtype = _build(category, seed)
    return shape_from_builder(b, category, int(seed), subtype)


@functools.lru_cache(maxsize=1 << 16)
def shape_subtype(category: str, seed: int) -> str:
    """make_shape(category, seed).subtype, without normalising (cheap: for choosing seeds by family)."""
    return _build(category, seed)[1]


def make_shapes(categories, seeds) -> list[Shape]:
    """make_shape for pairs (a category name for all, or one per seed)."""
    if isinstance(categories, str):
        categories = [categories] * len(seeds)
    return [make_shape(c, s) for c, s in zip(categories, seeds)]


class ShapeBatch:
    """A stack of shapes (any categories). Primitives of all shapes are flattened per kind (no
    padding), each tagged with its shape and its (shape, group) id; `.sdf` evaluates them all."""

    def __init__(self, shapes: list[Shape]):
        if not shapes:
            raise ValueError("ShapeBatch needs at least one shape")
        self.shapes = list(shapes)
        self.categories = [s.category for s in shapes]
        B = len(shapes)
        G = max(len(s.group_k) for s in shapes)
        group_k = np.full((B, G), 1e-6, np.float32)
        for i, s in enumerate(shapes):
            group_k[i, : len(s.group_k)] = np.maximum(s.group_k, 1e-6)
        self.kinds = []
        cols = {name: [] for name in ("bidx", "gid", "op", "mat", "part", "k")}
        for k in range(S.NUM_KINDS):
            sel = [(i, np.nonzero(s.kind == k)[0]) for i, s in enumerate(shapes)]
            sel = [(i, ix) for i, ix in sel if len(ix)]
            if not sel:
                continue
            rot = np.concatenate([shapes[i].rot[ix] for i, ix in sel])
            pos = np.concatenate([shapes[i].pos[ix] for i, ix in sel])
            prm = np.concatenate([shapes[i].prm[ix] for i, ix in sel])
            bidx = np.concatenate([np.full(len(ix), i) for i, ix in sel])
            grp = np.concatenate([shapes[i].group[ix] for i, ix in sel])
            self.kinds.append([k, torch.from_numpy(bidx), torch.from_numpy(rot), torch.from_numpy(pos),
                               torch.from_numpy(prm)])
            cols["bidx"].append(bidx)
            cols["gid"].append(bidx * G + grp)
            cols["op"].append(np.concatenate([shapes[i].op[ix] for i, ix in sel]))
            cols["mat"].append(np.concatenate([shapes[i].mat[ix] for i, ix in sel]))
            cols["part"].append(np.concatenate(list(ix for _, ix in sel)))
            cols["k"].append(group_k[bidx, grp])
        cat = {name: torch.from_numpy(np.concatenate(v)) for name, v in cols.items()}
        self.bidx, self.gid, self.op, self.mat, self.part, self.slot_k = (
            cat["bidx"], cat["gid"], cat["op"], cat["mat"], cat["part"], cat["k"])
        self.group_k = torch.from_numpy(group_k.reshape(-1))
        self.num_groups = G
        self.has_sub = bool((self.op < 0).any())
        self.center = torch.from_numpy(np.stack([s.center for s in shapes]))
        self.scale = torch.tensor([s.scale for s in shapes], dtype=torch.float32)
        self.bounds = torch.from_numpy(np.stack([s.bounds for s in shapes]))
        self.num_primitives = int(self.bidx.shape[0])

    def __len__(self) -> int:
        return len(self.shapes)

    @property
    def device(self) -> torch.device:
        return self.scale.device

    def to(self, device) -> "ShapeBatch":
        out = object.__new__(ShapeBatch)
        out.__dict__.update(self.__dict__)
        out.kinds = [[k] + [t.to(device) for t in rest] for k, *rest in self.kinds]
        for name in ("bidx", "gid", "op", "mat", "part", "slot_k", "group_k", "center", "scale", "bounds"):
            setattr(out, name, getattr(self, name).to(device))
        return out

    def _primitive_distances(self, p: torch.Tensor) -> torch.Tensor:
        """p [B,n,3] raw coordinates -> distances [T,n] of all T primitives."""
        ds = []
        pt = p.transpose(1, 2)  # [B,3,n]
        for k, bidx, rot, pos, prm in self.kinds:
            # local = R^T (p - t), component-major [T,3,n] so x, y, z are contiguous rows
            q = torch.baddbmm(-(rot.transpose(1, 2) @ pos.unsqueeze(-1)), rot.transpose(1, 2), pt[bidx])
            ds.append(S.SDF_FUNCS[k](q[:, 0], q[:, 1], q[:, 2], prm.unsqueeze(1)))
        return torch.cat(ds, 0)

    def sdf(self, points: torch.Tensor, return_material: bool = False, chunk_elems: int | None = None):
        """points [B,N,3] normalised -> sdf [B,N] (with return_material also the material id [B,N]
        and the shape-local index [B,N] of the nearest union primitive)."""
        B, N, _ = points.shape
        if chunk_elems is None:
            chunk_elems = (1 << 26) if points.is_cuda else (1 << 18)
        n = max(256, chunk_elems // max(1, self.num_primitives))
        p_all = points.float() / self.scale.view(B, 1, 1) + self.center.view(B, 1, 3)
        outs, mats, parts = [], [], []
        for a in range(0, N, n):
            d = self._primitive_distances(p_all[:, a : a + n])
            outs.append(S.combine(d, self.gid, self.op, self.slot_k, self.group_k, self.has_sub,
                                  B, self.num_groups))
            if return_material:
                du = torch.where(self.op.unsqueeze(-1) > 0, d, S.BIG) if self.has_sub else d
                idx = self.bidx.unsqueeze(-1).expand_as(du)
                m = torch.full((B, du.shape[1]), S.BIG, device=d.device).scatter_reduce(
                    0, idx, du, reduce="amin", include_self=True)
                ids = torch.arange(du.shape[0], device=d.device).unsqueeze(-1).expand_as(du)
                win = torch.where(du <= m.gather(0, idx), ids, -1)
                best = torch.full_like(m, -1, dtype=torch.long).scatter_reduce(
                    0, idx, win, reduce="amax", include_self=True).clamp(min=0)
                mats.append(self.mat[best])
                parts.append(self.part[best])
        out = torch.cat(outs, 1) * self.scale.view(B, 1)
        if return_material:
            return out, torch.cat(mats, 1), torch.cat(parts, 1)
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
        parts.append(_rand((B, n_uniform, 3), generator, device) * (2 * DOMAIN_HALF) - DOMAIN_HALF)
    if n_near_surface:
        p = surface_points(batch, n_near_surface, generator)
        sig = torch.tensor(sigmas, dtype=torch.float32, device=device)
        choice = (_rand((B, n_near_surface), generator, device) * len(sigmas)).long().clamp(max=len(sigmas) - 1)
        p = p + _randn((B, n_near_surface, 3), generator, device) * sig[choice].unsqueeze(-1)
        parts.append(p.clamp(-DOMAIN_HALF, DOMAIN_HALF))
    points = torch.cat(parts, 1)
    return points, batch.sdf(points) < 0


def sdf_grid(sdf_fn, resolution: int, device="cpu", half: float = DOMAIN_HALF) -> np.ndarray:
    """Evaluate a single-shape sdf_fn (points [1,N,3] -> [1,N]) on a resolution^3 node grid
    over [-half, half]^3, indexed [x, y, z]."""
    grid = node_grid(resolution, half, device)[None]
    return in_chunks(sdf_fn, grid, 1 << 17, dim=1).reshape(resolution, resolution, resolution).cpu().numpy()


def shape_mesh(shape, resolution: int = 128, device="cpu"):
    """Marching-cubes mesh of the exact SDF over [-0.55,0.55]^3 -> (vertices float32 [V,3],
    faces int64 [F,3], outward winding). `shape` is a Shape or a single-shape batch-like object."""
    batch = ShapeBatch([shape]).to(device) if isinstance(shape, Shape) else shape
    with torch.no_grad():
        vol = sdf_grid(batch.sdf, resolution, device)
    return mesh_node_grid(-vol, 0.0, DOMAIN_HALF)


__all__ = ["CATEGORIES", "EXTRA_CATEGORIES", "ALL_CATEGORIES", "Shape", "ShapeBatch", "make_shape", "make_shapes",
           "split_seeds", "shape_subtype", "sample_points", "surface_points", "shape_mesh", "sdf_grid",
           "sdf_and_gradient"]
