"""How well imdec separates an object from an opaque picture's background, measured.

Renders held-out (test-split) procedural shapes from product-shot cameras (elevation 10 to 40
degrees), composites them over opaque backgrounds of several kinds, and runs the engine's own
separation (`engine.images.object_rgba`) on the result. For each kind: the mask IoU against the
render's true alpha where the engine accepts the picture, how often it refuses, and how many
accepted pictures got a poor mask (IoU < 0.8: a wrong success). Pictures that show no object (a
UV test grid, noise, a blank picture) must all be refused.

    python tools/background_check.py [--shapes 8] [--size 256] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.data import shapes as procedural  # noqa: E402
from engine.data.render import bounding_radius, random_cameras, render  # noqa: E402
from engine.errors import InputError  # noqa: E402
from engine.evaluation.metrics import iou  # noqa: E402
from engine.images import object_rgba  # noqa: E402

KINDS = ("plain", "gradient", "shadow", "white-on-light", "paper", "noisy")
POOR_IOU = 0.8


def renders(count: int, size: int, seed: int) -> list[np.ndarray]:
    """Straight RGBA [H, W, 4] renders of `count` test shapes per category."""
    generator = torch.Generator().manual_seed(seed)
    cats = [c for c in procedural.CATEGORIES for _ in range(count)]
    seeds = [s for _ in procedural.CATEGORIES for s in procedural.split_seeds("test", count)]
    out = []
    for start in range(0, len(cats), 12):
        batch = procedural.ShapeBatch.make(cats[start:start + 12], seeds[start:start + 12])
        # product-shot cameras: 10 to 40 degrees above, ordinary lenses
        cameras = random_cameras(len(batch), generator, elevation=(10.0, 40.0), fov=(30.0, 50.0), fill=(0.6, 0.85),
                                 radius=bounding_radius(batch))
        images = render(batch, cameras, size=size,
                        generator=torch.Generator().manual_seed(seed + start), supersample=2)
        out += [img.permute(1, 2, 0).clamp(0, 1).numpy() for img in images]
    return out


def _plane(h: int, w: int, top: np.ndarray, bottom: np.ndarray, angle: float) -> np.ndarray:
    """A linear colour ramp from `top` to `bottom` along a direction `angle` off vertical."""
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    s = (yy * math.cos(angle) + xx * math.sin(angle))
    s = (s - s.min()) / max(1e-6, np.ptp(s))
    return top + (bottom - top) * s[..., None]


def _soft_shadow(alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Darkening factor [H, W] of a soft contact shadow under the object (1 = none)."""
    from scipy import ndimage

    h, w = alpha.shape
    rows, cols = np.nonzero(alpha > 0.5)
    if len(rows) == 0:
        return np.ones((h, w))
    bottom, left, right = rows.max(), cols.min(), cols.max()
    yy, xx = np.mgrid[0:h, 0:w]
    cx, rx = (left + right) / 2, max(4.0, 0.6 * (right - left))
    ry = max(3.0, 0.12 * (rows.max() - rows.min()))
    ellipse = (((xx - cx) / rx) ** 2 + ((yy - bottom) / ry) ** 2) < 1.0
    blur = ndimage.gaussian_filter(ellipse.astype(float), sigma=max(2.0, ry / 2))
    return 1.0 - rng.uniform(0.25, 0.5) * blur / max(blur.max(), 1e-6)


def _paper(h: int, w: int, base: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A low-contrast textured backdrop (paper or fabric grain)."""
    from scipy import ndimage

    grain = ndimage.gaussian_filter(rng.standard_normal((h, w)), 1.5)
    grain = grain / max(grain.std(), 1e-6) * 0.02
    return np.clip(base + grain[..., None], 0, 1)


def composite(rgba: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """The object over an opaque background of `kind`, RGB [H, W, 3]."""
    h, w = rgba.shape[:2]
    obj, alpha = rgba[..., :3], rgba[..., 3:]
    light = rng.uniform(0.8, 0.97, 3) * np.array([1, 1, 1]) if rng.random() < 0.7 else rng.uniform(0.05, 0.95, 3)
    if kind == "plain":
        bg = np.broadcast_to(light, (h, w, 3))
    elif kind == "gradient":
        bg = _plane(h, w, rng.uniform(0.55, 1.0, 3), rng.uniform(0.2, 0.7, 3), rng.uniform(-0.6, 0.6))
    elif kind == "shadow":
        bg = np.broadcast_to(rng.uniform(0.85, 0.97) * np.ones(3), (h, w, 3)) * _soft_shadow(alpha[..., 0], rng)[..., None]
    elif kind == "white-on-light":
        grey = obj.mean(-1, keepdims=True)
        obj = 0.78 + 0.2 * grey  # a white object, shaded
        bg = np.broadcast_to(rng.uniform(0.9, 0.98) * np.ones(3), (h, w, 3))
    elif kind == "paper":
        bg = _paper(h, w, np.broadcast_to(light, (h, w, 3)), rng)
    elif kind == "noisy":
        bg = np.broadcast_to(light, (h, w, 3))
    else:
        raise ValueError(kind)
    out = obj * alpha + bg * (1 - alpha)
    if kind == "noisy":  # sensor noise over the whole picture
        out = out + rng.normal(0, 0.03, out.shape)
    return np.clip(out, 0, 1).astype(np.float32)


def no_object_pictures(size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Pictures with no object, which must be refused."""
    yy, xx = np.mgrid[0:size, 0:size]
    cell = size // 8
    checker = ((yy // cell + xx // cell) % 2).astype(np.float32)
    hue = np.stack([(xx // cell) / 8, (yy // cell) / 8, 1 - (xx // cell) / 8], -1)
    uv_grid = np.clip(0.35 + 0.5 * checker[..., None] * hue + 0.15 * ((xx % cell < 2) | (yy % cell < 2))[..., None], 0, 1)
    return {"uv test grid": uv_grid.astype(np.float32),
            "noise": rng.random((size, size, 3)).astype(np.float32),
            "blank": np.full((size, size, 3), 0.9, np.float32),
            "gradient only": _plane(size, size, np.array([0.9, 0.9, 0.95]), np.array([0.4, 0.45, 0.5]), 0.3).astype(np.float32)}


def measure(images: list[np.ndarray], seed: int) -> dict:
    rng = np.random.default_rng(seed)
    report = {}
    for kind in KINDS:
        ious, refused = [], []
        for rgba in images:
            picture = composite(rgba, kind, rng)
            try:
                mask = object_rgba(picture)[..., 3] > 0.5
            except InputError as exc:
                refused.append(str(exc))
                continue
            ious.append(iou(mask, rgba[..., 3] > 0.5))
        report[kind] = {"pictures": len(images), "refused": len(refused), "mean_iou": float(np.mean(ious)) if ious else None,
                        "poor": int(sum(i < POOR_IOU for i in ious)), "refusals": refused[:3]}
    report["no object"] = {}
    for name, picture in no_object_pictures(images[0].shape[0], rng).items():
        try:
            object_rgba(picture)
            report["no object"][name] = "accepted"
        except InputError as exc:
            report["no object"][name] = f"refused: {exc}"
    return report


def format_report(report: dict) -> str:
    lines = ["| background | pictures | mask IoU (accepted) | refused | poor masks accepted (IoU < 0.8) |",
             "|---|---|---|---|---|"]
    for kind in KINDS:
        r = report[kind]
        iou = "-" if r["mean_iou"] is None else f"{r['mean_iou']:.3f}"
        lines.append(f"| {kind} | {r['pictures']} | {iou} | {r['refused']} | {r['poor']} |")
    lines.append("")
    lines += [f"- {name}: {verdict}" for name, verdict in report["no object"].items()]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    ap.add_argument("--shapes", type=int, default=8, help="test shapes per category")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--json", default="", help="also write the report to this file")
    args = ap.parse_args()
    report = measure(renders(args.shapes, args.size, args.seed), args.seed)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    print(format_report(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
