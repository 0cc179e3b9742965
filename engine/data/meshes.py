"""Users' meshes as training shapes: normalise, inside/outside by generalized winding number, a
grid SDF sampled by trilinear interpolation, and a folder dataset with an .npz cache.

    v, f = load_mesh("chair.obj", up="y")        # normalised: Z up, front -Y, longest side 1
    grid = mesh_sdf_grid(v, f, resolution=64)     # [R,R,R] signed distances on nodes over +-0.55
    batch = GridSDFBatch([grid, ...])             # .sdf / .occupancy like a ShapeBatch
    ds = MeshFolderDataset("root")                # root/<category>/*.{obj,ply,off,glb}

Axis conventions (`up`):
  "z"    the file is already in Blender's frame (Z up, front -Y): no change.
  "y"    Y up, front +Z (glTF, ShapeNet OBJ): (x, y, z) -> (x, -z, y), a +90 deg turn about X.
  "auto" "y" for .glb (glTF is Y up by specification), "z" otherwise.

Inside/outside: the generalized winding number w(p) = sum of signed solid angles / 4 pi
(Jacobson et al. 2013); inside where |w| > 0.5, which stays robust for meshes with holes, and
for consistently flipped ones. The unsigned distance is exact to the triangles near the surface
(candidate triangles from a k-d tree of surface samples) and approximate further away.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..files import atomic_write
from ..frame import DOMAIN_HALF
from .meshio_read import MESH_SUFFIXES, read_mesh

UP_CHOICES = ("auto", "z", "y")


def convert_up(vertices: np.ndarray, up: str) -> np.ndarray:
    """Vertices from a source frame to Blender's (Z up, front -Y); see the module doc."""
    if up == "z":
        return vertices
    if up == "y":
        v = np.asarray(vertices)
        return np.stack([v[:, 0], -v[:, 2], v[:, 1]], 1).astype(v.dtype)
    raise ValueError(f"unknown up axis {up!r}; use 'z' or 'y'")


def normalize_mesh(vertices: np.ndarray):
    """Centre on the bounding-box centre and scale the longest side to 1 -> (vertices, centre, scale)."""
    v = np.asarray(vertices, np.float64)
    lo, hi = v.min(0), v.max(0)
    size = float((hi - lo).max())
    if not size > 0:
        raise ValueError("the mesh is flat or empty (zero-size bounding box)")
    center = (lo + hi) / 2
    return ((v - center) / size).astype(np.float32), center, 1.0 / size


def load_mesh(path, up: str = "auto"):
    """Read and normalise a mesh file -> (vertices float32 [V,3], faces int64 [F,3])."""
    v, f = read_mesh(path)
    if up == "auto":
        up = "y" if str(path).lower().endswith(".glb") else "z"
    v, _, _ = normalize_mesh(convert_up(v, up))
    return v, f


# ----------------------------------------------------------------------------------------------
def _wn_exact(tri: torch.Tensor, pts: torch.Tensor, chunk_elems: int) -> torch.Tensor:
    """Sum over triangles [F,3,3] of atan2(det, den) (van Oosterom-Strackee) for points [N,3]."""
    Fn, N = tri.shape[0], pts.shape[0]
    out = torch.zeros(N, dtype=torch.float64, device=pts.device)
    if Fn == 0 or N == 0:
        return out
    ft = max(1, min(Fn, chunk_elems // 16))
    n = max(1, chunk_elems // ft)
    for fa in range(0, Fn, ft):
        t = tri[fa : fa + ft]
        for a in range(0, N, n):
            p = pts[a : a + n].unsqueeze(1)                     # [n,1,3]
            A, B, C = t[:, 0] - p, t[:, 1] - p, t[:, 2] - p      # [n,f,3]
            la, lb, lc = A.norm(dim=-1), B.norm(dim=-1), C.norm(dim=-1)
            det = (A * torch.cross(B, C, dim=-1)).sum(-1)
            den = la * lb * lc + (A * B).sum(-1) * lc + (B * C).sum(-1) * la + (C * A).sum(-1) * lb
            out[a : a + n] += torch.atan2(det, den).sum(1).double()
    return out


def winding_number(vertices, faces, points, chunk_elems: int | None = None, clusters: int = 16,
                   beta: float = 2.0, exact_pairs: float = 2e7) -> torch.Tensor:
    """Generalized winding number of points [N,3] w.r.t. a triangle soup (torch, on the device
    of `points`). Small problems are exact; larger ones use a Barill et al. (2018) style far field:
    triangles are clustered in a `clusters`^3 grid, clusters farther than `beta` x their radius
    from a query cell count as one dipole, nearer ones exactly."""
    pts = torch.as_tensor(points, dtype=torch.float32)
    dev = pts.device
    if chunk_elems is None:
        chunk_elems = (1 << 24) if pts.is_cuda else (1 << 18)
    tri = torch.as_tensor(np.asarray(vertices)[np.asarray(faces)], dtype=torch.float32, device=dev)  # [F,3,3]
    Fn, N = tri.shape[0], pts.shape[0]
    if Fn * N <= exact_pairs:
        return (_wn_exact(tri, pts, chunk_elems) / (2 * math.pi)).float()
    G = clusters
    lo = torch.minimum(tri.reshape(-1, 3).amin(0), pts.amin(0)) - 1e-4
    hi = torch.maximum(tri.reshape(-1, 3).amax(0), pts.amax(0)) + 1e-4
    size = (hi - lo) / G

    def cell_of(x):
        c = ((x - lo) / size).floor().long().clamp(0, G - 1)
        return (c[:, 0] * G + c[:, 1]) * G + c[:, 2]

    cent = tri.mean(1)
    avec = 0.5 * torch.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0], dim=-1)
    area = avec.norm(dim=-1) + 1e-12
    tcell = cell_of(cent)
    used, tcl = torch.unique(tcell, return_inverse=True)  # clusters in use
    M = used.shape[0]
    D = torch.zeros(M, 3, device=dev).index_add_(0, tcl, avec)
    W = torch.zeros(M, device=dev).index_add_(0, tcl, area)
    X = torch.zeros(M, 3, device=dev).index_add_(0, tcl, cent * area.unsqueeze(-1)) / W.unsqueeze(-1)
    rad = (tri - X[tcl].unsqueeze(1)).norm(dim=-1).amax(1)
    R = torch.zeros(M, device=dev).scatter_reduce(0, tcl, rad, reduce="amax", include_self=True)
    order = torch.argsort(tcl)
    tri_sorted, tcl_sorted = tri[order], tcl[order]

    qcell = cell_of(pts)
    qorder = torch.argsort(qcell)
    qcells, qcount = torch.unique_consecutive(qcell[qorder], return_counts=True)
    out = torch.zeros(N, dtype=torch.float64, device=dev)
    start = 0
    gi = torch.stack([qcells // (G * G), (qcells // G) % G, qcells % G], 1).float()
    boxes_lo = lo + gi * size
    for j, cnt in enumerate(qcount.tolist()):
        ids = qorder[start : start + cnt]
        start += cnt
        p = pts[ids]
        blo, bhi = boxes_lo[j], boxes_lo[j] + size
        dist = (X - torch.minimum(torch.maximum(X, blo), bhi)).norm(dim=-1)
        near = dist < beta * R + 1e-6
        sel = near[tcl_sorted]
        acc = _wn_exact(tri_sorted[sel], p, chunk_elems)
        far = ~near
        if bool(far.any()):
            dx = X[far].unsqueeze(0) - p.unsqueeze(1)               # [n,m,3]
            r3 = dx.norm(dim=-1).clamp(min=1e-9) ** 3
            acc += (0.5 * ((dx * D[far]).sum(-1) / r3).sum(1)).double()  # atan2 units: Omega / 2
        out[ids] = acc
    return (out / (2 * math.pi)).float()


def point_triangle_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """Exact distances between points p [...,3] and triangles (a,b,c) [...,3] (Ericson's regions)."""
    ab, ac, ap = b - a, c - a, p - a
    d1, d2 = (ab * ap).sum(-1), (ac * ap).sum(-1)
    bp = p - b
    d3, d4 = (ab * bp).sum(-1), (ac * bp).sum(-1)
    cp = p - c
    d5, d6 = (ab * cp).sum(-1), (ac * cp).sum(-1)
    va = d3 * d6 - d5 * d4
    vb = d5 * d2 - d1 * d6
    vc = d1 * d4 - d3 * d2
    eps = 1e-30
    # default: inside the face
    denom = 1.0 / np.maximum(va + vb + vc, eps)
    v = vb * denom
    w = vc * denom
    q = a + ab * v[..., None] + ac * w[..., None]
    conds = [
        (d1 <= 0) & (d2 <= 0), (d3 >= 0) & (d4 <= d3), (d6 >= 0) & (d5 <= d6),
        (vc <= 0) & (d1 >= 0) & (d3 <= 0), (vb <= 0) & (d2 >= 0) & (d6 <= 0),
        (va <= 0) & ((d4 - d3) >= 0) & ((d5 - d6) >= 0),
    ]
    t_ab = d1 / np.where(np.abs(d1 - d3) > eps, d1 - d3, eps)
    t_ac = d2 / np.where(np.abs(d2 - d6) > eps, d2 - d6, eps)
    t_bc = (d4 - d3) / np.where(np.abs((d4 - d3) + (d5 - d6)) > eps, (d4 - d3) + (d5 - d6), eps)
    cands = [a, b, c, a + ab * t_ab[..., None], a + ac * t_ac[..., None], b + (c - b) * t_bc[..., None]]
    # apply in reverse priority so the first matching region wins
    for cond, cand in reversed(list(zip(conds, cands))):
        q = np.where(cond[..., None], cand, q)
    return np.linalg.norm(p - q, axis=-1)


def _surface_samples(v, f, n, rng):
    tri = v[f]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    prob = area / area.sum() if area.sum() > 0 else np.full(len(f), 1 / len(f))
    idx = rng.choice(len(f), size=n, p=prob)
    r1, r2 = rng.random(n), rng.random(n)
    s = np.sqrt(r1)
    bary = np.stack([1 - s, s * (1 - r2), s * r2], 1)
    pts = (tri[idx] * bary[:, :, None]).sum(1)
    # plus the triangle centroids so every triangle has a sample
    return np.concatenate([pts, tri.mean(1)]), np.concatenate([idx, np.arange(len(f))])


def mesh_sdf_grid(vertices, faces, resolution: int = 64, device="cpu", k: int = 8) -> np.ndarray:
    """Signed distance on a resolution^3 node grid over [-0.55,0.55]^3 (indexed [x,y,z]),
    negative inside (|winding number| > 0.5). Vertices should be normalised already."""
    from scipy.spatial import cKDTree

    v = np.asarray(vertices, np.float64)
    f = np.asarray(faces, np.int64)
    R = int(resolution)
    h = 2 * DOMAIN_HALF / (R - 1)
    axis = np.linspace(-DOMAIN_HALF, DOMAIN_HALF, R)
    nodes = np.stack(np.meshgrid(axis, axis, axis, indexing="ij"), -1).reshape(-1, 3)
    rng = np.random.default_rng(0)
    tri = v[f]
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1).sum()
    n_samples = int(np.clip(area / (h / 3) ** 2, 20_000, 400_000))
    samples, owner = _surface_samples(v, f, n_samples, rng)
    tree = cKDTree(samples)
    udf, _ = tree.query(nodes, k=1)
    # exact distances near the surface: triangles owning the k nearest samples
    near = np.nonzero(udf < 3 * h)[0]
    if len(near):
        _, nn = tree.query(nodes[near], k=min(k, len(samples)))
        cand = owner[nn.reshape(len(near), -1)]
        best = np.full(len(near), np.inf)
        for j in range(cand.shape[1]):
            t = tri[cand[:, j]]
            best = np.minimum(best, point_triangle_distance(nodes[near], t[:, 0], t[:, 1], t[:, 2]))
        udf[near] = np.minimum(udf[near], best)
    # winding numbers: exact on a coarse grid and near the surface, interpolated elsewhere
    Rc = max(9, (R + 1) // 2)
    hc = 2 * DOMAIN_HALF / (Rc - 1)
    caxis = np.linspace(-DOMAIN_HALF, DOMAIN_HALF, Rc)
    cnodes = np.stack(np.meshgrid(caxis, caxis, caxis, indexing="ij"), -1).reshape(-1, 3)
    wc = winding_number(v, f, torch.as_tensor(cnodes, dtype=torch.float32, device=device)).cpu()
    vol = wc.reshape(Rc, Rc, Rc).permute(2, 1, 0)[None, None]  # [1,1,z,y,x] for grid_sample
    g = torch.as_tensor(nodes / DOMAIN_HALF, dtype=torch.float32).view(1, -1, 1, 1, 3)
    w = F.grid_sample(vol, g, mode="bilinear", align_corners=True).view(-1).numpy()
    band = np.nonzero(udf < 1.5 * hc)[0]
    if len(band):
        w[band] = winding_number(v, f, torch.as_tensor(nodes[band], dtype=torch.float32, device=device)).cpu().numpy()
    sdf = np.where(np.abs(w) > 0.5, -udf, udf)
    return sdf.reshape(R, R, R).astype(np.float32)


# ----------------------------------------------------------------------------------------------
class GridSDFBatch:
    """Shapes given as SDF grids on nodes over [-0.55,0.55]^3 ([R,R,R] each, indexed [x,y,z]).
    `.sdf` interpolates trilinearly (outside the cube: value at the clamped point + the distance
    to the cube). Same interface as ShapeBatch: sdf, occupancy, bounds, to, len, device."""

    def __init__(self, grids, bounds=None, categories=None):
        grids = [torch.as_tensor(np.asarray(g), dtype=torch.float32) for g in grids]
        if not grids:
            raise ValueError("GridSDFBatch needs at least one grid")
        self.volume = torch.stack([g.permute(2, 1, 0) for g in grids]).unsqueeze(1)  # [B,1,z,y,x]
        B = len(grids)
        if bounds is None:
            bounds = torch.tensor([[-0.5] * 3, [0.5] * 3]).expand(B, 2, 3).clone()
        self.bounds = torch.as_tensor(np.asarray(bounds), dtype=torch.float32).reshape(B, 2, 3)
        self.categories = list(categories) if categories is not None else [None] * B

    def __len__(self):
        return self.volume.shape[0]

    @property
    def device(self):
        return self.volume.device

    def to(self, device) -> "GridSDFBatch":
        out = object.__new__(GridSDFBatch)
        out.__dict__.update(self.__dict__)
        out.volume = self.volume.to(device)
        out.bounds = self.bounds.to(device)
        return out

    def sdf(self, points: torch.Tensor) -> torch.Tensor:
        B, N, _ = points.shape
        p = points.float()
        c = p.clamp(-DOMAIN_HALF, DOMAIN_HALF)
        g = (c / DOMAIN_HALF).view(B, N, 1, 1, 3)
        d = F.grid_sample(self.volume, g, mode="bilinear", align_corners=True).view(B, N)
        return d + (p - c).norm(dim=-1)

    def occupancy(self, points: torch.Tensor) -> torch.Tensor:
        return self.sdf(points) < 0


def grid_batch_from_meshes(meshes, resolution: int = 64, device="cpu") -> GridSDFBatch:
    """GridSDFBatch from normalised (vertices, faces) pairs."""
    grids, bounds = [], []
    for v, f in meshes:
        grids.append(mesh_sdf_grid(v, f, resolution, device))
        bounds.append(np.stack([np.asarray(v).min(0), np.asarray(v).max(0)]))
    return GridSDFBatch(grids, np.stack(bounds))


# ----------------------------------------------------------------------------------------------
@dataclass
class MeshItem:
    path: Path
    category: str

    @property
    def name(self) -> str:
        return f"{self.category}/{self.path.name}"


class MeshFolderDataset:
    """Meshes under root/<category>/*.{obj,ply,off,glb} as grid-SDF shapes.

    Grids are computed once (`resolution`^3, winding numbers) and cached as .npz files in
    `cache_dir` (default root/.imdec_cache), keyed by file path, size, mtime, resolution and up
    axis. `split_indices(split)` gives a deterministic train/val/test split by file name hash
    (80/10/10). `batch(indices)` returns a GridSDFBatch usable like a ShapeBatch."""

    def __init__(self, root, cache_dir=None, resolution: int = 64, up: str = "auto", device="cpu"):
        self.root = Path(root)
        if not self.root.is_dir():
            raise ValueError(f"mesh folder {self.root} does not exist")
        if up not in UP_CHOICES:
            raise ValueError(f"unknown up axis {up!r}; use one of {UP_CHOICES}")
        self.cache_dir = Path(cache_dir) if cache_dir else self.root / ".imdec_cache"
        self.resolution = int(resolution)
        self.up = up
        self.device = device
        self.items: list[MeshItem] = []
        for cdir in sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for f in sorted(cdir.iterdir()):
                if f.is_file() and f.suffix.lower() in MESH_SUFFIXES:
                    self.items.append(MeshItem(f, cdir.name))
        if not self.items:
            raise ValueError(f"no meshes found under {self.root}/<category>/*.{{obj,ply,off,glb}}")
        self.categories = sorted({it.category for it in self.items})

    def __len__(self) -> int:
        return len(self.items)

    def _cache_path(self, item: MeshItem) -> Path:
        st = item.path.stat()
        key = f"{item.path.resolve()}|{st.st_size}|{st.st_mtime_ns}|{self.resolution}|{self.up}|v1"
        digest = hashlib.sha1(key.encode()).hexdigest()[:16]
        return self.cache_dir / item.category / f"{item.path.stem}-{digest}.npz"

    def load(self, i: int) -> dict:
        """{'grid': [R,R,R] float32, 'bounds': [2,3], 'category': str, 'name': str} (cached)."""
        item = self.items[i]
        cache = self._cache_path(item)
        if cache.exists():
            with np.load(cache) as z:
                return {"grid": z["grid"], "bounds": z["bounds"], "category": item.category, "name": item.name}
        v, f = load_mesh(item.path, self.up)
        grid = mesh_sdf_grid(v, f, self.resolution, self.device)
        bounds = np.stack([v.min(0), v.max(0)]).astype(np.float32)
        cache.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(cache) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, grid=grid, bounds=bounds)
        return {"grid": grid, "bounds": bounds, "category": item.category, "name": item.name}

    __getitem__ = load

    def split_indices(self, split: str) -> list[int]:
        bucket = {"test": (0,), "val": (1,), "train": tuple(range(2, 10))}
        if split not in bucket:
            raise ValueError(f"unknown split {split!r}; use train, val or test")
        out = []
        for i, it in enumerate(self.items):
            h = int(hashlib.sha1(it.name.encode()).hexdigest(), 16) % 10
            if h in bucket[split]:
                out.append(i)
        return out

    def batch(self, indices) -> GridSDFBatch:
        rows = [self.load(i) for i in indices]
        return GridSDFBatch([r["grid"] for r in rows], np.stack([r["bounds"] for r in rows]),
                            [r["category"] for r in rows])
