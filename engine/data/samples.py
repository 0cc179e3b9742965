"""Training samples (prepared images, points, occupancy) from procedural shapes or the user's meshes.

Both sources give batch-like objects with `.sdf(points)`; from there sampling, rendering and image
preparation are the same, and the images go through `engine.images.prepare_batch` exactly as a
user's picture does.
"""

from __future__ import annotations

import sys

import torch

from ..errors import InputError
from ..images import prepare_batch
from . import shapes as procedural

RENDER_SIZE = 160          # rendered larger than the encoder input: the crop to the object then downsamples
POOL_CHUNK = 16            # shapes drawn, rendered and sampled at once when a pool is built
NEAR_SURFACE_SHARE = 0.5   # the rest of the points are uniform in [-0.55, 0.55]^3


def source_seed(seed: int, rank: int = 0) -> int:
    """The SampleSource seed of `train --seed seed` on process `rank` (ranks draw different data)."""
    return seed * 1000 + rank


class SampleSource:
    """Draws shapes of the training split and turns them into samples on one device."""

    def __init__(self, categories: list[str], image_size: int, device: torch.device, seed: int, meshes=None):
        self.categories = list(categories)
        self.image_size = image_size
        self.device = torch.device(device)
        self.meshes = meshes  # a MeshFolderDataset, or None for procedural shapes
        self.mesh_index = mesh_split_index(meshes, self.categories) if meshes is not None else {}
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.cpu_generator = torch.Generator().manual_seed(seed + 1)

    @classmethod
    def create(cls, categories=None, meshes: str = "", up: str = "z", image_size: int = 128,
               device="cpu", seed: int = 0) -> "SampleSource":
        from ..errors import InputError

        if meshes:
            from .meshes import MeshFolderDataset

            try:
                folder = MeshFolderDataset(meshes, up=up)
            except ValueError as exc:
                raise InputError(str(exc)) from None
            chosen = list(categories or folder.categories)
            missing = [c for c in chosen if c not in folder.categories]
            if missing:
                raise InputError(f"no meshes for {', '.join(missing)} under {meshes}; found {', '.join(folder.categories)}")
            return cls(chosen, image_size, device, seed, meshes=folder)
        categories = list(categories or procedural.CATEGORIES)
        unknown = [c for c in categories if c not in procedural.CATEGORIES]
        if unknown:
            raise InputError(f"unknown categories {unknown}; procedural ones are {', '.join(procedural.CATEGORIES)}")
        return cls(categories, image_size, device, seed)

    def describe(self) -> str:
        if self.meshes is not None:
            return f"meshes from {self.meshes.root} ({', '.join(self.categories)})"
        return f"procedural shapes, train seeds ({', '.join(self.categories)})"

    def get_state(self) -> dict:
        return {"generator": self.generator.get_state(), "cpu_generator": self.cpu_generator.get_state()}

    def set_state(self, state: dict) -> None:
        self.generator.set_state(state["generator"].to(self.generator.get_state().device))
        self.cpu_generator.set_state(state["cpu_generator"])

    # -- shapes ---------------------------------------------------------------------------
    def pick(self, count: int, split: str, first: int | None = None) -> tuple[list[str], list[int]]:
        """`count` (category, index) pairs: balanced over categories, random or the first ones."""
        cats = [self.categories[i % len(self.categories)] for i in range(count)]
        if first is not None:
            idx = [first + i // len(self.categories) for i in range(count)]
        else:
            idx = torch.randint(0, 1 << 30, (count,), generator=self.cpu_generator).tolist()
        return cats, idx

    def shape_batch(self, cats: list[str], idx: list[int], split: str):
        if self.meshes is not None:
            picks = [self.mesh_index[(split, c)] for c in cats]
            return self.meshes.batch([p[i % len(p)] for p, i in zip(picks, idx)]).to(self.device)
        span = procedural.SPLIT_SIZE
        seeds = [procedural.SPLIT_BASE[split] + i % span for i in idx]
        return procedural.ShapeBatch.make(cats, seeds).to(self.device)

    # -- samples --------------------------------------------------------------------------
    def render_views(self, batch, views: int = 1) -> torch.Tensor:
        """Prepared encoder inputs [B, views, 4, S, S] from random viewpoints."""
        from .render import bounding_radius, random_cameras, render

        out = []
        radius = bounding_radius(batch)  # frame the whole shape, square tables included
        for _ in range(views):
            cams = random_cameras(len(batch), generator=self.cpu_generator, radius=radius, device=self.device)
            rgba = render(batch, cams, size=RENDER_SIZE, generator=self.cpu_generator)
            out.append(prepare_batch(rgba, self.image_size))
        return torch.stack(out, 1)

    def points(self, batch, count: int):
        near = int(count * NEAR_SURFACE_SHARE)
        return procedural.sample_points(batch, count - near, near, generator=self.generator)

    def fresh_batch(self, size: int, points: int, split: str = "train") -> dict:
        cats, idx = self.pick(size, split)
        batch = self.shape_batch(cats, idx, split)
        pts, occ = self.points(batch, points)
        return {"images": self.render_views(batch)[:, 0], "points": pts, "occupancy": occ}

    def validation_set(self, per_category: int, points: int = 20000, near_surface: bool = False) -> dict:
        """Fixed validation shapes (first seeds of the val split), one view, uniform points (or,
        with near_surface, mixed like training points)."""
        state = self.get_state()
        self.generator.manual_seed(12345)
        cats, idx = self.pick(per_category * len(self.categories), "val", first=0)
        batch = self.shape_batch(cats, idx, "val")
        if near_surface:
            pts, occ = self.points(batch, points)
        else:
            pts, occ = procedural.sample_points(batch, points, 0, generator=self.generator)
        images = self.render_views(batch)[:, 0]
        self.set_state(state)
        return {"images": images, "points": pts, "occupancy": occ, "categories": cats}

    def build_pool(self, per_category: int, views: int, points: int, progress: bool = True) -> "Pool":
        """Render and sample a fixed set of training shapes once (the affordable way on a CPU).
        Shapes are drawn POOL_CHUNK at a time, so a smaller pool of the same seed, views and points
        holds the same first shapes as long as its size is a multiple of POOL_CHUNK."""
        total = per_category * len(self.categories)
        images, pts, occ, categories = [], [], [], []
        for start in range(0, total, POOL_CHUNK):
            cats, idx = self.pick(min(POOL_CHUNK, total - start), "train")
            categories.extend(cats)
            batch = self.shape_batch(cats, idx, "train")
            images.append((self.render_views(batch, views) * 255).round().to(torch.uint8))
            p, o = self.points(batch, points)
            pts.append(p.half())
            occ.append(o)
            if progress:
                print(f"\rbuilding the sample pool: {min(start + POOL_CHUNK, total)}/{total} shapes", end="",
                      file=sys.stderr, flush=True)
        if progress:
            print(file=sys.stderr)
        return Pool(torch.cat(images), torch.cat(pts), torch.cat(occ), self.generator, categories)


def mesh_split_index(folder, categories: list[str]) -> dict:
    """(split, category) -> mesh indices; a small folder whose split has none of a category
    falls back to all of that category's meshes."""
    index = {}
    for split in ("train", "val", "test"):
        in_split = set(folder.split_indices(split))
        for c in categories:
            of_category = [i for i, item in enumerate(folder.items) if item.category == c]
            index[(split, c)] = [i for i in of_category if i in in_split] or of_category
    return index


class Pool:
    """Pre-rendered samples: a step picks shapes, one of their views and a subset of their points."""

    def __init__(self, images: torch.Tensor, points: torch.Tensor, occupancy: torch.Tensor, generator,
                 categories: list[str] | None = None):
        self.images, self.points, self.occupancy = images, points, occupancy
        self.generator = generator
        self.categories = categories  # per shape, when built here (saved pools do not keep them)

    def __len__(self) -> int:
        return len(self.images)

    def save(self, path) -> None:
        torch.save({"images": self.images.cpu(), "points": self.points.cpu(), "occupancy": self.occupancy.cpu()}, path)

    @classmethod
    def load(cls, paths, generator, device) -> "Pool":
        """One pool from one or several saved pools (the same views and points per shape)."""
        parts = [torch.load(path, map_location=device, weights_only=True) for path in paths]
        for path, part in zip(paths[1:], parts[1:]):
            for key in ("images", "points"):
                if part[key].shape[1:] != parts[0][key].shape[1:]:
                    raise InputError(f"pool {path} does not match {paths[0]}: {key} per shape "
                                     f"{tuple(part[key].shape[1:])} against {tuple(parts[0][key].shape[1:])}")
        joined = {key: torch.cat([part[key] for part in parts]) for key in ("images", "points", "occupancy")}
        return cls(joined["images"], joined["points"], joined["occupancy"], generator)

    def sample(self, size: int, points: int) -> dict:
        dev = self.images.device
        g = self.generator
        shape = torch.randint(0, len(self), (size,), generator=g, device=g.device).to(dev)
        view = torch.randint(0, self.images.shape[1], (size,), generator=g, device=g.device).to(dev)
        pick = torch.randint(0, self.points.shape[1], (size, points), generator=g, device=g.device).to(dev)
        images = self.images[shape, view].float() / 255
        # brightness jitter, so the network cannot key on a pooled image's exact colours
        gain = 0.7 + 0.6 * torch.rand(size, 1, 1, 1, generator=g, device=g.device).to(dev)
        images[:, :3] = torch.minimum(images[:, :3] * gain, images[:, 3:])
        pts = self.points[shape].gather(1, pick.unsqueeze(-1).expand(-1, -1, 3)).float()
        occ = self.occupancy[shape].gather(1, pick)
        return {"images": images, "points": pts, "occupancy": occ, "shape": shape}
