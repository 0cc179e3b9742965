"""How well the mesh's vertex colours reproduce the picture (engine.colour).

For test shapes seen by product-shot cameras (elevation 10..40 degrees), the model's mesh is
coloured twice: through the camera fitted to the mask (what users get) and through the true
camera. Each coloured mesh is rendered flat (no shading) and compared with the picture inside the
object's mask: mean absolute colour error (RGB, 0..1) and PSNR. "fitted, seen by the true camera"
renders the fitted-camera colouring from the true camera: colours that sit on the wrong part show
there. Also: the camera fit's view-angle error and the distance between the mesh's area-weighted
mean colour and the object's mean colour in the picture.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Sequence

import numpy as np
import torch

from ..camera import ImageCamera, prepared_camera, view_angle_error
from ..colour import colour_mesh, fit_camera, mean_colour
from ..colour.picture import filled_colours
from ..colour.raster import render_colours
from .metrics import summarize

PRODUCT_ELEVATION = (10.0, 40.0)
COMPARE_SIZE = 128      # the flat renders and the picture are compared at this size
PICTURE_SIZE = 256      # the prepared picture the colours come from
RENDER_SIZE = 320       # the test picture as rendered, before the crop
COLOUR_METRICS = ("camera_error_deg", "silhouette_iou", "mae_fitted", "psnr_fitted", "mae_true", "psnr_true",
                  "mae_fitted_seen_true", "psnr_fitted_seen_true", "mean_colour_distance", "colour_spread",
                  "colour_seconds")


def area_weights(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """[V] a third of the area of each face around each vertex."""
    tri = vertices[faces].astype(np.float64)
    area = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    return np.bincount(faces.ravel(), weights=np.repeat(area / 3, 3), minlength=len(vertices))


def compare(rendered: np.ndarray, covered: np.ndarray, picture: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(mean absolute error, PSNR in dB) of a flat render against the picture's straight colours,
    over the mask's pixels that the mesh covers."""
    inside = mask & covered
    if not inside.any():
        return 1.0, 0.0
    diff = rendered[inside] - picture[inside]
    mse = float((diff ** 2).mean())
    return float(np.abs(diff).mean()), 10 * math.log10(1.0 / max(mse, 1e-10))


def colour_row(vertices, faces, model_input, picture, true_camera: ImageCamera) -> dict:
    """The colour metrics of one coloured reconstruction (model_input [4, S, S] and picture
    [4, P, P]: the same view prepared at two sizes)."""
    t0 = time.perf_counter()
    fitted, silhouette = fit_camera(vertices, model_input[3])
    colours = colour_mesh(vertices, faces, picture, fitted)
    seconds = time.perf_counter() - t0
    small = torch.nn.functional.interpolate(picture[None], size=(COMPARE_SIZE,) * 2, mode="area")[0]
    straight = filled_colours(small).permute(1, 2, 0).numpy()
    mask = small[3].numpy() > 0.5
    true_colours = colour_mesh(vertices, faces, picture, true_camera)
    row = {"camera_error_deg": float(view_angle_error(fitted, true_camera)[0]), "silhouette_iou": silhouette,
           "colour_seconds": seconds}
    for name, coloured, seen_by in (("fitted", colours, fitted), ("true", true_colours, true_camera),
                                    ("fitted_seen_true", colours, true_camera)):
        row[f"mae_{name}"], row[f"psnr_{name}"] = compare(*render_colours(vertices, faces, coloured, seen_by,
                                                                          COMPARE_SIZE), straight, mask)
    weights = area_weights(vertices, faces)
    mesh_mean = (colours * weights[:, None]).sum(0) / weights.sum()
    row["mean_colour_distance"] = float(np.linalg.norm(mesh_mean - mean_colour(picture)))
    row["colour_spread"] = float(colours.std(0).mean())
    return row


def evaluate_colours(model: str = "", categories: Sequence[str] = (), shapes: int = 5, resolution: int = 128,
                     device: str = "cpu", command: str = "") -> dict:
    """The report: colour metrics per category and overall on the first `shapes` test shapes of
    each category, one product-shot view each."""
    from ..checkpoint import load_model
    from ..data import shapes as procedural
    from ..data.render import bounding_radius, random_cameras, render
    from ..device import pick_device
    from ..extract import extract_mesh
    from ..images import prepare_batch

    device = pick_device(device)
    net, meta = load_model(model, device)
    cats = list(categories) or [c for c in meta["categories"] if c in procedural.ALL_CATEGORIES]
    generator = torch.Generator().manual_seed(2026)
    rows, t0 = [], time.time()
    for k in range(shapes * len(cats)):
        cat, i = cats[k % len(cats)], k // len(cats)
        batch = procedural.ShapeBatch([procedural.make_shape(cat, procedural.SPLIT_BASE["test"] + i)])
        cameras = random_cameras(1, generator, elevation=PRODUCT_ELEVATION, radius=bounding_radius(batch))
        rgba = render(batch, cameras, size=RENDER_SIZE, generator=generator, supersample=2)
        model_input, crops = prepare_batch(rgba, net.config["image_size"], return_crops=True)
        picture = prepare_batch(rgba, PICTURE_SIZE)[0]
        with torch.inference_mode():
            mesh = extract_mesh(net.point_fn(model_input.to(device)), resolution, 0.0, device=device)
        if len(mesh.faces) == 0:
            continue
        row = colour_row(mesh.vertices, mesh.faces, model_input[0], picture, prepared_camera(cameras, crops))
        rows.append({"category": cat, "seed": procedural.SPLIT_BASE["test"] + i, **row})
        print(f"\rcolours: {k + 1}/{shapes * len(cats)} shapes", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return {"model": meta["name"], "split": "test", "shapes_per_category": shapes, "mesh_resolution": resolution,
            "elevation": list(PRODUCT_ELEVATION), "command": command or "engine.evaluation.evaluate_colours",
            "seconds": round(time.time() - t0, 1), "date": time.strftime("%Y-%m-%d"),
            "results": with_median_camera_error(summarize(rows, metrics=COLOUR_METRICS), rows), "rows": rows}


def with_median_camera_error(table: dict, rows: list[dict]) -> dict:
    """The table with each category's median camera error added (a few flips of symmetric shapes
    dominate the mean)."""
    for cat, r in table.items():
        errors = [row["camera_error_deg"] for row in rows if cat in ("overall", row["category"])]
        r["camera_error_median"] = float(np.median(errors))
    return table


def format_colour_table(report: dict) -> str:
    """A Markdown table: one row per category."""
    lines = ["| category | camera error (median deg) | silhouette IoU | MAE fitted | PSNR fitted | MAE true | PSNR true "
             "| MAE fitted, true view | PSNR fitted, true view | mean colour distance | spread | seconds |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for cat, r in report["results"].items():
        lines.append(f"| {cat} | {r['camera_error_median']:.1f} | {r['silhouette_iou']:.3f} | {r['mae_fitted']:.3f} "
                     f"| {r['psnr_fitted']:.1f} | {r['mae_true']:.3f} | {r['psnr_true']:.1f} "
                     f"| {r['mae_fitted_seen_true']:.3f} | {r['psnr_fitted_seen_true']:.1f} "
                     f"| {r['mean_colour_distance']:.3f} | {r['colour_spread']:.3f} | {r['colour_seconds']:.3f} |")
    return "\n".join(lines)
