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
from .families import FamilyFilter, describe as describe_families

RENDER_SIZE = 160          # rendered larger than the encoder input: the crop to the object then downsamples
POOL_CHUNK = 16            # shapes drawn, rendered and sampled at once when a pool is built
NEAR_SURFACE_SHARE = 0.5   # the rest of the points are uniform in [-0.55, 0.55]^3
SURFACE_SIGMAS = (0.01, 0.03)  # the near-surface points' distances from the surface (standard deviations)


def source_seed(seed: int, rank: int = 0) -> int:
    """The SampleSource seed of `train --seed seed` on process `rank` (ranks draw different data)."""
    return seed * 1000 + rank


class SampleSource:
    """Draws shapes of the training split and turns them into samples on one device. `held_out`:
    {category: (family, ...)} sub-type families never drawn from the train and val splits."""

    def __init__(self, categories: list[str], image_size: int, device: torch.device, seed: int, meshes=None,
                 near_surface: float = NEAR_SURFACE_SHARE, sigmas: tuple[float, ...] = SURFACE_SIGMAS,
                 held_out: dict | None = None):
        if held_out and meshes is not None:
            raise InputError("held-out families are procedural subtypes; they do not apply to meshes")
        self.categories = list(categories)
        self.family_filter = FamilyFilter(held_out, only=False) if held_out else None
        self.near_surface, self.sigmas = float(near_surface), tuple(sigmas)
        self.image_size = image_size
        self.device = torch.device(device)
        self.meshes = meshes  # a MeshFolderDataset, or None for procedural shapes
        self.mesh_index = mesh_split_index(meshes, self.categories) if meshes is not None else {}
        self.generator = torch.Generator(device=self.device).manual_seed(seed)
        self.cpu_generator = torch.Generator().manual_seed(seed + 1)

    @classmethod
    def create(cls, categories=None, meshes: str = "", up: str = "z", image_size: int = 128,
               device="cpu", seed: int = 0, **sampling) -> "SampleSource":
        """Procedural shapes of `categories`, or the meshes under `meshes`; `sampling`: the
        near_surface share and sigmas of the training points, and the held_out families."""
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
            return cls(chosen, image_size, device, seed, meshes=folder, **sampling)
        categories = list(categories or procedural.CATEGORIES)
        unknown = [c for c in categories if c not in procedural.ALL_CATEGORIES]
        if unknown:
            raise InputError(f"unknown categories {unknown}; procedural ones are "
                             f"{', '.join(procedural.ALL_CATEGORIES)}")
        return cls(categories, image_size, device, seed, **sampling)

    def describe(self) -> str:
        if self.meshes is not None:
            return f"meshes from {self.meshes.root} ({', '.join(self.categories)})"
        held_out = ""
        if self.family_filter:
            table = {c: f for c, f in self.family_filter.table.items() if c in self.categories}
            held_out = f" without the families {describe_families(table)}" if table else ""
        return f"procedural shapes, train seeds ({', '.join(self.categories)}){held_out}"

    def get_state(self) -> dict:
        return {"generator": self.generator.get_state(), "cpu_generator": self.cpu_generator.get_state()}

    def set_state(self, state: dict) -> None:
        self.generator.set_state(state["generator"].to(self.generator.get_state().device))
        self.cpu_generator.set_state(state["cpu_generator"])

    # -- shapes ---------------------------------------------------------------------------
    def pick(self, count: int, split: str, first: int | None = None) -> tuple[list[str], list[int]]:
        """`count` (category, index) pairs: balanced over categories, random or the first ones
        (of the admitted ones, when families are held out of `split`)."""
        cats = [self.categories[i % len(self.categories)] for i in range(count)]
        if first is not None:
            idx = [first + i // len(self.categories) for i in range(count)]
        else:
            idx = torch.randint(0, 1 << 30, (count,), generator=self.cpu_generator).tolist()
        if self.family_filter is not None and split != "test":
            idx = self.family_filter.apply(cats, idx, split, consecutive=first is not None)
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
        return self.views_with_cameras(batch, views)[0]

    def views_with_cameras(self, batch, views: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
        """(prepared encoder inputs [B, views, 4, S, S] from random viewpoints, the camera of each
        prepared image as an ImageCamera vector [B, views, 7])."""
        from ..camera import prepared_camera
        from .render import bounding_radius, random_cameras, render

        images, cameras = [], []
        radius = bounding_radius(batch)  # frame the whole shape, square tables included
        for _ in range(views):
            cams = random_cameras(len(batch), generator=self.cpu_generator, radius=radius, device=self.device)
            rgba = render(batch, cams, size=RENDER_SIZE, generator=self.cpu_generator)
            prepared, crops = prepare_batch(rgba, self.image_size, return_crops=True)
            images.append(prepared)
            cameras.append(prepared_camera(cams, crops).to_vector())
        return torch.stack(images, 1), torch.stack(cameras, 1)

    def points(self, batch, count: int):
        near = int(count * self.near_surface)
        return procedural.sample_points(batch, count - near, near, generator=self.generator, sigmas=self.sigmas)

    def fresh_batch(self, size: int, points: int, split: str = "train") -> dict:
        cats, idx = self.pick(size, split)
        batch = self.shape_batch(cats, idx, split)
        pts, occ = self.points(batch, points)
        images, cameras = self.views_with_cameras(batch)
        return {"images": images[:, 0], "camera": cameras[:, 0], "points": pts, "occupancy": occ}

    def validation_set(self, per_category: int, points: int = 20000, near_surface: bool = False) -> dict:
        """Fixed validation shapes (first seeds of the val split), one view, uniform points (or,
        with near_surface, mixed like training points): the same for every run, whatever its seed,
        so that runs and the pieces of a recipe compare on one set."""
        state = self.get_state()
        self.generator.manual_seed(12345)
        self.cpu_generator.manual_seed(12345)  # the views' cameras and renders
        cats, idx = self.pick(per_category * len(self.categories), "val", first=0)
        batch = self.shape_batch(cats, idx, "val")
        if near_surface:
            pts, occ = self.points(batch, points)
        else:
            pts, occ = procedural.sample_points(batch, points, 0, generator=self.generator)
        images, cameras = self.views_with_cameras(batch)
        self.set_state(state)
        return {"images": images[:, 0], "camera": cameras[:, 0], "points": pts, "occupancy": occ, "categories": cats}

    def stored_samples(self, count: int, views: int, points: int) -> dict:
        """`count` new training shapes in the compact form pools keep: images uint8 [count, views,
        4, S, S], their cameras [count, views, 7], points float16 [count, points, 3] (uniform ones
        first, then near-surface ones), occupancy bool and the categories."""
        cats, idx = self.pick(count, "train")
        batch = self.shape_batch(cats, idx, "train")
        rendered, cameras = self.views_with_cameras(batch, views)
        pts, occ = self.points(batch, points)
        return {"images": (rendered * 255).round().to(torch.uint8), "cameras": cameras,
                "points": pts.half(), "occupancy": occ, "categories": cats}

    def build_pool(self, per_category: int, views: int, points: int, progress: bool = True) -> "Pool":
        """Render and sample a fixed set of training shapes once (the affordable way on a CPU).
        Shapes are drawn POOL_CHUNK at a time, so a smaller pool of the same seed, views and points
        holds the same first shapes as long as its size is a multiple of POOL_CHUNK."""
        total = per_category * len(self.categories)
        images, cameras, pts, occ, categories = [], [], [], [], []
        for start in range(0, total, POOL_CHUNK):
            sample = self.stored_samples(min(POOL_CHUNK, total - start), views, points)
            categories.extend(sample["categories"])
            images.append(sample["images"])
            cameras.append(sample["cameras"])
            pts.append(sample["points"])
            occ.append(sample["occupancy"])
            if progress:
                print(f"\rbuilding the sample pool: {min(start + POOL_CHUNK, total)}/{total} shapes", end="",
                      file=sys.stderr, flush=True)
        if progress:
            print(file=sys.stderr)
        return Pool(torch.cat(images), torch.cat(pts), torch.cat(occ), self.generator, categories,
                    cameras=torch.cat(cameras), near_surface=self.near_surface)


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
                 categories: list[str] | None = None, cameras: torch.Tensor | None = None,
                 near_surface: float = NEAR_SURFACE_SHARE):
        self.images, self.points, self.occupancy = images, points, occupancy
        self.cameras = cameras  # [N, views, 7] ImageCamera vectors (pools saved before cameras have none)
        self.near_surface = near_surface  # share of each shape's stored points that lie near the surface (last)
        self.generator = generator
        self.categories = categories  # per shape, when built here (saved pools do not keep them)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def has_cameras(self) -> bool:
        """Whether samples come with their cameras (which a local model needs)."""
        return self.cameras is not None

    def save(self, path) -> None:
        saved = {"images": self.images.cpu(), "points": self.points.cpu(), "occupancy": self.occupancy.cpu()}
        if self.cameras is not None:
            saved["cameras"] = self.cameras.cpu()
        saved["near_surface"] = self.near_surface
        torch.save(saved, path)

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
        cameras = torch.cat([part["cameras"] for part in parts]) if all("cameras" in p for p in parts) else None
        shares = {float(part.get("near_surface", NEAR_SURFACE_SHARE)) for part in parts}  # older pools: the default
        if len(shares) > 1:
            raise InputError(f"pools {', '.join(map(str, paths))} mix near-surface shares {sorted(shares)}")
        return cls(joined["images"], joined["points"], joined["occupancy"], generator, cameras=cameras,
                   near_surface=shares.pop())

    def point_picks(self, size: int, points: int, near_surface: float | None) -> torch.Tensor:
        """Indices [size, points] of stored points: uniformly over all of them, or `near_surface`
        of them among the near-surface points (stored after the uniform ones) and the rest among
        the uniform ones."""
        g, stored = self.generator, self.points.shape[1]
        near_stored = int(stored * self.near_surface)
        if near_surface is None or near_surface == self.near_surface or near_stored in (0, stored):
            return torch.randint(0, stored, (size, points), generator=g, device=g.device)
        near = int(points * near_surface)
        uniform = torch.randint(0, stored - near_stored, (size, points - near), generator=g, device=g.device)
        close = torch.randint(stored - near_stored, stored, (size, near), generator=g, device=g.device)
        return torch.cat([uniform, close], 1)

    def sample(self, size: int, points: int, near_surface: float | None = None) -> dict:
        dev = self.images.device
        g = self.generator
        shape = torch.randint(0, len(self), (size,), generator=g, device=g.device).to(dev)
        view = torch.randint(0, self.images.shape[1], (size,), generator=g, device=g.device).to(dev)
        pick = self.point_picks(size, points, near_surface).to(dev)
        images = self.images[shape, view].float() / 255
        # brightness jitter, so the network cannot key on a pooled image's exact colours
        gain = 0.7 + 0.6 * torch.rand(size, 1, 1, 1, generator=g, device=g.device).to(dev)
        images[:, :3] = torch.minimum(images[:, :3] * gain, images[:, 3:])
        pts = self.points[shape].gather(1, pick.unsqueeze(-1).expand(-1, -1, 3)).float()
        occ = self.occupancy[shape].gather(1, pick)
        sample = {"images": images, "points": pts, "occupancy": occ, "shape": shape}
        if self.cameras is not None:
            sample["camera"] = self.cameras[shape, view].float()
        return sample


class ReplayPool(Pool):
    """Fresh shapes, each kept for a while: every draw first adds `fresh` new shapes (one view,
    `points` stored points each) in place of the oldest of the `capacity` held, then picks its
    batch among all held. With batch B, a shape is drawn about B / fresh times, each time with
    other points and another brightness, so a step costs the rendering of `fresh` shapes instead
    of B while the data keeps renewing itself (the whole pool every capacity / fresh steps)."""

    def __init__(self, source, capacity: int, fresh: int, points: int):
        if capacity < 1 or fresh < 1:
            raise InputError(f"a replay pool needs room for at least one shape and one new shape a step "
                             f"(got {capacity} and {fresh})")
        super().__init__(None, None, None, source.generator, cameras=None, near_surface=source.near_surface)
        self.source, self.capacity, self.fresh, self.stored_points = source, capacity, min(fresh, capacity), points
        self.held = 0     # slots filled so far
        self.cursor = 0   # the next slot to write: the oldest once the pool is full
        self.added = 0    # shapes rendered in all

    def __len__(self) -> int:
        return self.held

    @property
    def has_cameras(self) -> bool:
        return True  # its storage, cameras included, is allocated at the first draw

    def add(self, count: int) -> None:
        new = self.source.stored_samples(count, 1, self.stored_points)
        held = ("images", "cameras", "points", "occupancy")
        if self.images is None:  # storage allocated once, at the size of the first samples
            for name in held:
                setattr(self, name, new[name].new_empty((self.capacity, *new[name].shape[1:])))
        device = self.images.device
        slots = ((self.cursor + torch.arange(count)) % self.capacity).to(device)
        for name in held:
            getattr(self, name)[slots] = new[name].to(device)
        self.cursor = (self.cursor + count) % self.capacity
        self.held = min(self.capacity, self.held + count)
        self.added += count

    def sample(self, size: int, points: int, near_surface: float | None = None) -> dict:
        # the first batch is all new shapes, so that no step draws one shape many times over
        self.add(min(self.capacity, max(self.fresh, size - self.held)))
        return super().sample(size, points, near_surface)
