"""Image to mesh at 64..512 on a model, next to the references: `bench(...)` returns the report.

For each image and resolution: the full image-to-mesh run (seconds per stage, colouring included
and what it adds to the rest, decoder queries, the floor, peak memory, decoder throughput as a
share of this machine's measured matmul peak), then the dense reference (where it fits) and the
IM-NET-style reference (64^3 frame + full boundary cells) on the same latent, each with its time
ratio to ours and its occupancy IoU against ours.
"""

from __future__ import annotations

import glob
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ..errors import InputError
from ..model import point_feature_width
from .machine import matmul_peak_gflops, peak_rss_mb, reset_peak_rss

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"


def decoder_flops_per_query(config: dict) -> int:
    """Multiply-adds x 2 per point once the per-image parts are precomputed: the global decoder
    (its z part of the first layer once per shape) and, for a local model, the local stream (the
    first layer's part on the feature map applied to the map once, so one bilinear sample of
    that projected map per point; the picture's channels are sampled and multiplied per point)."""
    own = point_feature_width(config["point_frequencies"])
    widths = [own] + list(config["decoder_hidden"]) + [1]
    flops = 2 * sum(a * b for a, b in zip(widths[:-1], widths[1:]))
    if config.get("local_features", 0) > 0:
        local = [own + 1 + config["image_channels"]] + list(config["local_hidden"]) + [1]
        bilinear = 2 * 4 * (config["local_hidden"][0] + config["image_channels"])
        flops += 2 * sum(a * b for a, b in zip(local[:-1], local[1:])) + bilinear
    return flops


def bench(model: str = "", images: Sequence[str] | None = None, resolutions: Sequence[int] = (64, 128, 256, 512),
          references: Sequence[str] = ("dense", "imnet"), dense_max: int = 256, iou_max: int = 256,
          device: str = "auto", int8: bool = False, repeat: int = 1) -> dict:
    """The report: one row per (resolution, image) and a summary per resolution. `images`
    default to docs/samples/*.png; `repeat` runs of ours per case, the fastest kept."""
    from ..checkpoint import resolve_model
    from ..device import machine_description, pick_device
    from ..reconstruct import cached_model, reconstruct

    torch_device = pick_device(device)
    images = list(images) if images else sorted(glob.glob(str(SAMPLES / "*.png")))
    if not images:
        raise InputError(f"no images to benchmark; give --images or put PNGs in {SAMPLES}")
    resolve_model(model)
    net, meta = cached_model(model, torch_device)
    flops = decoder_flops_per_query(net.config)
    peak = matmul_peak_gflops(torch_device)
    reconstruct(images[0], model=model, resolution=64, device=device)  # warm-up

    case = Case(model, net, device, torch_device, list(references), dense_max, iou_max, flops, peak)
    rows = []
    for n in resolutions:
        for image in images:
            rows.append(case.measure(image, n, repeat, int8))
    return {
        "date": time.strftime("%Y-%m-%d"), "machine": machine_description(torch_device), "device": str(torch_device),
        "torch": torch.__version__, "model": meta["name"], "images": [Path(i).name for i in images],
        "matmul_peak_gflops": round(peak, 1), "decoder_flops_per_query": flops,
        "rows": rows, "summary": summarize(rows),
    }


class Case:
    """Measures one (image, resolution): ours end to end, then the references on the same latent."""

    def __init__(self, model: str, net, device: str, torch_device: torch.device, references: list[str],
                 dense_max: int, iou_max: int, flops: int, peak: float):
        self.model, self.net, self.device, self.torch_device = model, net, device, torch_device
        self.references, self.dense_max, self.iou_max = references, dense_max, iou_max
        self.flops, self.peak = flops, peak

    def fastest_run(self, image: str, n: int, repeat: int):
        """(result, peak RSS MiB, CUDA peak MiB or None) of the fastest of `repeat` runs of ours."""
        from ..reconstruct import reconstruct

        cuda = self.torch_device.type == "cuda"
        best = None
        for _ in range(max(1, repeat)):
            reset_peak_rss()
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            result = reconstruct(image, model=self.model, resolution=n, device=self.device)
            if best is None or result.seconds["total"] < best[0].seconds["total"]:
                best = (result, peak_rss_mb(), torch.cuda.max_memory_allocated() / 2 ** 20 if cuda else None)
        return best

    def measure(self, image: str, n: int, repeat: int, int8: bool) -> dict:
        from ..images import prepare_image
        from .extraction import compare_methods

        result, rss, cuda_mb = self.fastest_run(image, n, repeat)
        with torch.inference_mode():
            prepared = prepare_image(image, self.net.config["image_size"]).to(self.torch_device)
            compared = compare_methods(self.net.point_fn(prepared), [n], methods=["adaptive"] + self.references,
                                       device=self.torch_device, dense_max=self.dense_max, iou_max=self.iou_max)
        ours = next(r for r in compared if r["method"] == "adaptive")
        decoder_s = ours["seconds"].get("decoder") or result.seconds["extract"]
        row = {
            "resolution": n, "image": Path(image).name, "vertices": len(result.vertices),
            "faces": len(result.faces), "seconds": {k: round(v, 4) for k, v in result.seconds.items()},
            "decoder_queries": result.decoder_queries, "floor": ours["floor"],
            "queries_over_floor": round(result.decoder_queries / ours["floor"], 3) if ours["floor"] else None,
            "peak_rss_mb": round(rss, 1), "cuda_peak_mb": cuda_mb,
            "decoder_gflops": round(ours["queries"] * self.flops / max(decoder_s, 1e-9) / 1e9, 2),
            "iou_vs_dense": ours.get("iou_vs_dense"),
            "references": {r["method"]: reference_entry(r, ours) for r in compared if r["method"] != "adaptive"},
        }
        row["share_of_matmul_peak"] = round(row["decoder_gflops"] / self.peak, 3)
        if int8 and self.torch_device.type == "cpu":
            row["int8"] = int8_comparison(self.net, prepared, n, ours, self.iou_max)
        print(f"bench: {n}^3 {row['image']}: {result.seconds['total']:.3f} s", file=sys.stderr, flush=True)
        return row


def reference_entry(ref: dict, ours: dict) -> dict | None:
    """A reference method's figures beside ours (None where it was skipped)."""
    if ref.get("skipped"):
        return None
    return {"queries": ref["queries"], "seconds": round(ref["seconds"]["total"], 4),
            "time_ratio": round(ref["seconds"]["total"] / ours["seconds"]["total"], 2),
            "iou_vs_ours": None if ref["iou_vs_adaptive"] is None else round(ref["iou_vs_adaptive"], 5)}


def int8_comparison(net, prepared: torch.Tensor, n: int, ours: dict, iou_max: int) -> dict:
    """Adaptive extraction with int8 decoder weights against ours (float32): time and IoU."""
    from ..evaluation.metrics import iou
    from ..extract import extract_mesh

    keep = n <= iou_max
    with torch.inference_mode():
        t = time.perf_counter()
        q = extract_mesh(net.point_fn(prepared, int8=True), n, keep_values=keep)
        seconds = time.perf_counter() - t
        f = extract_mesh(net.point_fn(prepared), n, keep_values=True) if keep else None
    return {"seconds": round(seconds, 4), "time_ratio": round(seconds / ours["seconds"]["total"], 3),
            "iou_vs_ours": round(iou(q.occupancy(), f.occupancy()), 5) if keep else None}


def _mean(values: list) -> float | None:
    return float(np.mean(values)) if values else None


def summarize(rows: list[dict]) -> list[dict]:
    """Per resolution: means over the images (peak RSS: the largest; IoUs: the smallest)."""
    out = []
    for n in sorted({r["resolution"] for r in rows}):
        rs = [r for r in rows if r["resolution"] == n]
        entry = {
            "resolution": n,
            "total_s": _mean([r["seconds"]["total"] for r in rs]),
            "stages_s": {k: _mean([r["seconds"].get(k, 0.0) for r in rs]) for k in ("load", "encode", "extract", "mesh", "colour")},
            # what colouring adds to image to mesh without it, as a share (each image's own ratio)
            "colour_share": _mean([r["seconds"].get("colour", 0.0) / (r["seconds"]["total"] - r["seconds"].get("colour", 0.0))
                                   for r in rs]),
            "queries": _mean([r["decoder_queries"] for r in rs]),
            "floor": _mean([r["floor"] for r in rs if r["floor"]]),
            "queries_over_floor": _mean([r["queries_over_floor"] for r in rs if r["queries_over_floor"]]),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in rs),
            "share_of_matmul_peak": _mean([r["share_of_matmul_peak"] for r in rs]),
            "min_iou_vs_dense": min((r["iou_vs_dense"] for r in rs if r["iou_vs_dense"] is not None), default=None),
        }
        int8 = [r["int8"] for r in rs if r.get("int8")]
        if int8:
            entry["int8"] = {"time_ratio": _mean([q["time_ratio"] for q in int8]),
                             "min_iou_vs_ours": min((q["iou_vs_ours"] for q in int8 if q["iou_vs_ours"] is not None), default=None)}
        for ref in ("dense", "imnet"):
            got = [r["references"].get(ref) for r in rs if r["references"].get(ref)]
            if got:
                entry[ref] = {"queries": _mean([g["queries"] for g in got]), "seconds": _mean([g["seconds"] for g in got]),
                              "time_ratio": _mean([g["time_ratio"] for g in got]),
                              "min_iou_vs_ours": min((g["iou_vs_ours"] for g in got if g["iou_vs_ours"] is not None), default=None)}
        out.append(entry)
    return out


def format_table(report: dict) -> str:
    """A Markdown table: one row per resolution."""
    fmt = lambda v, spec=".3f": "-" if v is None else format(v, spec)  # noqa: E731
    with_int8 = any("int8" in s for s in report["summary"])
    lines = [f"imdec bench, {report['date']}, {report['machine']} ({report['device']}), model {report['model']}, "
             f"{len(report['images'])} images; matmul peak {report['matmul_peak_gflops']} GFLOPS",
             "", "| res | image to mesh (s) | encode | extract | mesh | colour (+%) | queries | floor | q/floor | peak RSS MB "
             "| % of peak | dense s (x ours, IoU) | IM-NET s (x ours, IoU) |" + (" int8 decoder |" if with_int8 else ""),
             "|" + "---|" * (13 + with_int8)]
    for s in report["summary"]:
        refs = []
        for ref in ("dense", "imnet"):
            r = s.get(ref)
            refs.append("-" if not r else f"{r['seconds']:.2f} ({r['time_ratio']:.1f}x, {fmt(r['min_iou_vs_ours'], '.4f')})")
        if "int8" in s:
            refs.append(f"{s['int8']['time_ratio']:.2f}x time, IoU {fmt(s['int8']['min_iou_vs_ours'], '.4f')}")
        lines.append(f"| {s['resolution']} | {s['total_s']:.3f} | {s['stages_s']['encode']:.3f} | {s['stages_s']['extract']:.3f} "
                     f"| {s['stages_s']['mesh']:.3f} | {s['stages_s']['colour']:.3f} (+{100 * s['colour_share']:.0f}%) | {s['queries']:.0f} | {fmt(s['floor'], '.0f')} | {fmt(s['queries_over_floor'], '.2f')} "
                     f"| {s['peak_rss_mb']:.0f} | {100 * s['share_of_matmul_peak']:.0f}% | " + " | ".join(refs) + " |")
    return "\n".join(lines)
