"""The model against held-out procedural shapes, next to the two baselines (baselines.py).

For every test shape (the first seeds of the test split) one view is rendered and prepared like a
user's picture; metrics (metrics.py) follow docs/CONVENTIONS.md. With `families` (data/families.py)
the test shapes are those families' only, and the baselines know only the other training shapes.
"""

from __future__ import annotations

import sys
import time
from typing import Sequence

import torch

from ..camera import ImageCamera, silhouette_agreement, view_angle_error
from ..errors import InputError
from ..frame import in_chunks
from . import metrics as M
from .baselines import Baselines


def held_out_views(source, split: str, per_category: int, families: dict | None = None):
    """(category, seed, shape, ShapeBatch, image, camera vector) for the first `per_category` shapes
    of each of the source's categories in `split`, one rendered view each with its true camera. The
    views depend only on the split, the categories and `per_category` (not on what the source drew
    before, such as the baselines).
    `families` ({category: (family, ...)}): the first shapes of those families only, in the
    categories that have some."""
    from ..data import shapes as procedural
    from ..data.families import FamilyFilter

    cats, idx = source.pick(per_category * len(source.categories), split, first=0)
    if families is not None:
        pairs = [(c, i) for c, i in zip(cats, idx) if c in families]
        cats = [c for c, _ in pairs]
        idx = FamilyFilter(families, only=True).apply(cats, [i for _, i in pairs], split, consecutive=True)
    source.generator.manual_seed(2024)
    source.cpu_generator.manual_seed(2025)  # cameras and colours
    for cat, i in zip(cats, idx):
        seed = procedural.SPLIT_BASE[split] + i
        shape = procedural.make_shape(cat, seed)
        batch = procedural.ShapeBatch([shape]).to(source.device)
        images, cameras = source.views_with_cameras(batch)
        yield cat, seed, shape, batch, images[0, 0], cameras[0, 0]


def evaluate(model: str = "", categories: Sequence[str] = (), shapes: int = 20, baseline_shapes: int = 100,
             mesh_resolution: int = 128, iou_points: int = M.IOU_POINTS, surface_samples: int = M.SURFACE_SAMPLES,
             baselines: bool = True, device: str = "auto", command: str = "", families: dict | None = None,
             silhouette: int = 0, camera: str = "head") -> dict:
    """The report: per-category and overall metrics of the model (and of the baselines) on
    `shapes` test shapes per category (default: the model's procedural categories). `families`
    ({category: (family, ...)}, e.g. data.families.HELD_OUT_FAMILIES): only those families' test
    shapes, in the categories that have some; the baselines draw on the other training shapes.
    `silhouette` > 0: carve what the picture shows as background (local models; IMDecNet.point_fn).
    `camera` (local models): "head" places the points with the camera head's camera, "fitted" with
    the camera fitted to the global stream's mesh (fitted_camera), "true" with the renderer's own
    (a diagnostic: what a perfect camera head would give)."""
    from ..checkpoint import load_model
    from ..data import shapes as procedural
    from ..data.samples import SampleSource
    from ..device import pick_device

    device = pick_device(device)
    net, meta = load_model(model, device)
    cats = list(categories) or [c for c in meta["categories"] if c in procedural.ALL_CATEGORIES]
    if not cats:
        raise InputError("the model has no procedural categories to evaluate; name them with --categories")
    if families is not None:
        cats = [c for c in cats if c in families]
        if not cats:
            raise InputError(f"no held-out families in these categories; they are {', '.join(families)}")
    t0 = time.time()
    source = SampleSource.create(categories=cats, image_size=net.config["image_size"], device=device, seed=777,
                                 held_out=families)
    reference = Baselines(source, baseline_shapes, device) if baselines else None
    points = M.iou_points(iou_points).to(device)
    true_meshes = TrueMeshes(mesh_resolution, device)
    rows = {"imdec": [], "mean_shape": [], "retrieval": []}

    total = shapes * len(cats)
    for k, (cat, seed, shape, batch, image, true_camera) in enumerate(held_out_views(source, "test", shapes, families)):
        case = Case(cat, seed, batch.occupancy(points[None])[0], true_meshes.get(cat, seed, shape), surface_samples)
        placed = placed_camera(net, image, camera, true_camera)
        row = case.score(*predict(net, image, points, mesh_resolution, device, silhouette, placed))
        if net.local is not None:
            row.update(camera_scores(net, image, true_camera, points[case.truth]))
        rows["imdec"].append(row)
        if reference is not None:
            rows["mean_shape"].append(case.score(*reference.mean_shape(cat, points)))
            r_cat, r_seed = reference.retrieve(image)
            r_shape = procedural.ShapeBatch([procedural.make_shape(r_cat, r_seed)]).to(device)
            rows["retrieval"].append(case.score(r_shape.occupancy(points[None])[0], true_meshes.get(r_cat, r_seed, r_shape),
                                                retrieved=f"{r_cat}:{r_seed}"))
        print(f"\revaluating: {k + 1}/{total} shapes", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)

    return {
        "model": meta["name"], "split": "test", "shapes_per_category": shapes,
        **({"families": {c: list(families[c]) for c in cats}} if families is not None else {}),
        "mesh_resolution": mesh_resolution, "iou_points": iou_points, "silhouette": silhouette, "camera": camera,
        "surface_samples": surface_samples, "baseline_training_shapes": baseline_shapes,
        "command": command or "engine.evaluation.evaluate", "seconds": round(time.time() - t0, 1),
        "date": time.strftime("%Y-%m-%d"),
        "results": {name: M.summarize(r) for name, r in rows.items() if r},
        **({"camera_head": camera_head_errors(rows["imdec"])} if net.local is not None else {}),
        "per_shape": per_shape(rows["imdec"]),
    }


def camera_scores(net, image: torch.Tensor, true_camera: torch.Tensor, inside: torch.Tensor) -> dict:
    """The camera head's camera for one test view against the true one: the view error in degrees,
    and how well it places the shape (silhouette_agreement of its inside points `inside` [N, 3]),
    which a view the shape looks the same from does not lower."""
    with torch.inference_mode():
        head = net.camera_head.camera(net.camera_outputs(image[None]))
    true = ImageCamera.from_vector(true_camera[None].to(image.device))
    return {"camera_error_deg": float(view_angle_error(head, true)[0]),
            "camera_silhouette_iou": silhouette_agreement(inside, head, true)}


def camera_head_errors(rows: list[dict]) -> dict:
    """A local model's camera head on the test views, per category and over all shapes (whichever
    camera placed the points): the median view error in degrees and the median silhouette
    agreement with the true camera."""
    import numpy as np

    def medians(key: str) -> dict:
        groups: dict[str, list[float]] = {}
        for r in rows:
            groups.setdefault(r["category"], []).append(r[key])
        table = {cat: float(np.median(v)) for cat, v in sorted(groups.items())}
        table["overall"] = float(np.median([r[key] for r in rows]))
        return table

    return {"median_view_error_deg": medians("camera_error_deg"),
            "median_silhouette_iou": medians("camera_silhouette_iou")}


def per_shape(rows: list[dict]) -> list[dict]:
    """The model's score on each test shape, so that two reports on the same shapes can be
    compared shape by shape (tools/compare_reports.py)."""
    keys = ("iou", "fscore@0.01", "chamfer_l1", "pieces", "camera_error_deg", "camera_silhouette_iou")
    return [{"category": r["category"], "seed": r["seed"], **{k: round(float(r[k]), 4) for k in keys if k in r}}
            for r in rows]


class TrueMeshes:
    """Meshes of the exact shapes at the evaluation's resolution, each made once."""

    def __init__(self, resolution: int, device):
        self.resolution, self.device = resolution, device
        self.meshes: dict[tuple[str, int], tuple] = {}

    def get(self, category: str, seed: int, shape) -> tuple:
        from ..data import shapes as procedural

        if (category, seed) not in self.meshes:
            self.meshes[category, seed] = procedural.shape_mesh(shape, self.resolution, device=self.device)
        return self.meshes[category, seed]


class Case:
    """One test shape: its true occupancy at the IoU points and its true mesh."""

    def __init__(self, category: str, seed: int, truth: torch.Tensor, mesh: tuple, surface_samples: int):
        self.category, self.seed, self.truth, self.mesh = category, seed, truth, mesh
        self.surface_samples = surface_samples

    def score(self, occupancy: torch.Tensor, mesh: tuple, **extra) -> dict:
        """The metrics row of a method's occupancy and mesh for this shape."""
        row = {"category": self.category, "seed": self.seed, **extra, "iou": M.iou(occupancy, self.truth)}
        row.update(M.surface_metrics(mesh, self.mesh, self.surface_samples))
        row.update(pieces=M.mesh_pieces(*mesh), true_pieces=M.mesh_pieces(*self.mesh))
        return row


def fitted_camera(net, image: torch.Tensor):
    """The camera that fits the global stream's coarse (64^3) mesh to the image's mask
    (engine.colour.camera_fit): for a local model, in place of its camera head's."""
    from ..colour import fit_camera
    from ..extract import extract_mesh

    coarse = extract_mesh(net.point_fn(image[None], global_only=True), 64, 0.0, device=image.device)
    if len(coarse.faces) == 0:
        return None
    return fit_camera(coarse.vertices, image[3].cpu())[0].to(image.device)


def placed_camera(net, image: torch.Tensor, camera: str, true_camera: torch.Tensor):
    """The ImageCamera that places a local model's points for `camera` ("head": None, the head's
    own; "fitted": see fitted_camera; "true": the renderer's, `true_camera` [7]); None for a
    global-only model."""
    if net.local is None:
        return None
    if camera == "true":
        return ImageCamera.from_vector(true_camera[None].to(image.device))
    if camera == "fitted":
        with torch.inference_mode():
            return fitted_camera(net, image)
    return None


def predict(net, image: torch.Tensor, points: torch.Tensor, resolution: int, device, silhouette: int = 0,
            camera=None) -> tuple:
    """The model's occupancy at `points` and its mesh at `resolution`, from one image (`silhouette`:
    see IMDecNet.point_fn; `camera`: the ImageCamera that places a local model's points, None: its
    head's, see placed_camera)."""
    from ..extract import extract_mesh

    with torch.inference_mode():
        fn = net.point_fn(image[None], silhouette=silhouette, camera=camera)
        occupancy = in_chunks(fn, points) > 0
        extraction = extract_mesh(fn, resolution, 0.0, device=device)
    return occupancy, (extraction.vertices, extraction.faces)


def store_report(model: str, report: dict) -> None:
    """Write the report into the model's checkpoint as its `metrics` (in place, same precision)."""
    from ..checkpoint import build_model, read_checkpoint, resolve_model, save_checkpoint

    path = resolve_model(model)
    payload = read_checkpoint(path)
    half = any(v.dtype == torch.float16 for v in payload["state_dict"].values())
    save_checkpoint(path, build_model(payload, path), categories=payload["categories"], metrics=report,
                    trained=payload.get("trained"), half=half)


def format_table(report: dict) -> str:
    """A Markdown table: one row per category and method."""
    lines = ["| category | method | IoU | Chamfer-L1 | F@1% | F@2% | normal cons. | pieces (truth) |",
             "|---|---|---|---|---|---|---|---|"]
    results = report["results"]
    for cat in results["imdec"]:
        for method, table in results.items():
            r = table.get(cat)
            if r:
                pieces = f"{r['pieces']:.1f} ({r['true_pieces']:.1f})" if "pieces" in r else "-"
                lines.append(f"| {cat} | {method} | {r['iou']:.3f} | {r['chamfer_l1']:.4f} | {r['fscore@0.01']:.3f} "
                             f"| {r['fscore@0.02']:.3f} | {r['normal_consistency']:.3f} | {pieces} |")
    if "camera_head" in report:
        head = report["camera_head"]
        lines.append("\ncamera head, median view error: " +
                     ", ".join(f"{c} {e:.0f} deg" for c, e in head["median_view_error_deg"].items()))
        if "median_silhouette_iou" in head:
            lines.append("camera head, median silhouette agreement with the true camera: " +
                         ", ".join(f"{c} {e:.2f}" for c, e in head["median_silhouette_iou"].items()))
    return "\n".join(lines)
