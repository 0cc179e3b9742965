"""`python -m engine bench`: image to mesh at 64..512 on the bundled model, next to the references.

For each image and resolution: the full image-to-mesh run (seconds per stage, decoder queries, the
floor, peak memory, decoder throughput as a share of this machine's measured matmul peak), then the
dense reference (where it fits) and the IM-NET-style reference (64^3 frame + full boundary cells)
on the same latent, each with its time ratio to ours and its occupancy IoU against ours.
"""

from __future__ import annotations

import glob
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..model import point_feature_width

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"


def add_arguments(p) -> None:
    p.add_argument("--model", default="", help="bundled model name or checkpoint path")
    p.add_argument("--images", nargs="*", default=None, help=f"images (default: {SAMPLES}/*.png)")
    p.add_argument("--resolutions", default="64,128,256,512")
    p.add_argument("--references", default="dense,imnet", help="reference methods to run beside ours")
    p.add_argument("--dense-max", type=int, default=256, help="largest resolution for the dense reference")
    p.add_argument("--iou-max", type=int, default=256, help="largest resolution for IoU against ours")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--int8", action="store_true", help="also decode with int8 weights (CPU) and compare with ours")
    p.add_argument("--repeat", type=int, default=1, help="runs of ours per case (the fastest is kept)")
    p.add_argument("--out", default="", help="also write the report to this JSON file")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def reset_peak_rss() -> None:
    """Linux: restart the process's resident-memory high-water mark (VmHWM)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def matmul_peak_gflops(device: torch.device, size: int = 2048, repeat: int = 5) -> float:
    """fp32 matrix multiply throughput of this machine, the yardstick for the decoder."""
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    best = float("inf")
    for _ in range(repeat + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        a @ b
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * size ** 3 / best / 1e9


def decoder_flops_per_query(config: dict) -> int:
    """Multiply-adds x 2 per point once the z part of the first layer is precomputed."""
    widths = [point_feature_width(config["point_frequencies"])] + list(config["decoder_hidden"]) + [1]
    return 2 * sum(a * b for a, b in zip(widths[:-1], widths[1:]))


def run(args) -> int:
    from .extraction import compare_methods
    from ..checkpoint import resolve_model
    from ..images import prepare_image
    from ..device import machine_description, pick_device
    from ..reconstruct import cached_model, reconstruct

    device = pick_device(args.device)
    images = args.images if args.images else sorted(glob.glob(str(SAMPLES / "*.png")))
    if not images:
        raise InputError(f"no images to benchmark; give --images or put PNGs in {SAMPLES}")
    resolutions = [int(r) for r in args.resolutions.split(",") if r]
    references = [m for m in args.references.split(",") if m]
    resolve_model(args.model)
    net, meta = cached_model(args.model, device)
    flops = decoder_flops_per_query(net.config)
    peak = matmul_peak_gflops(device)
    reconstruct(images[0], model=args.model, resolution=64, device=args.device)  # warm-up

    rows = []
    for n in resolutions:
        for image in images:
            best = None
            for _ in range(max(1, args.repeat)):
                reset_peak_rss()
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats()
                result = reconstruct(image, model=args.model, resolution=n, device=args.device)
                if best is None or result.seconds["total"] < best[0].seconds["total"]:
                    best = (result, peak_rss_mb(),
                            torch.cuda.max_memory_allocated() / 2 ** 20 if device.type == "cuda" else None)
            result, rss, cuda_mb = best
            with torch.inference_mode():
                z = net.encoder(prepare_image(image, net.config["image_size"]).to(device))[0]
                fn = net.decoder.point_fn(z)
                compared = compare_methods(fn, [n], methods=["adaptive"] + references, device=device,
                                           dense_max=args.dense_max, iou_max=args.iou_max)
            ours_cmp = next(r for r in compared if r["method"] == "adaptive")
            decoder_s = ours_cmp["seconds"].get("decoder") or result.seconds["extract"]
            row = {
                "resolution": n, "image": Path(image).name, "vertices": len(result.vertices),
                "faces": len(result.faces), "seconds": {k: round(v, 4) for k, v in result.seconds.items()},
                "decoder_queries": result.decoder_queries, "floor": ours_cmp["floor"],
                "queries_over_floor": round(result.decoder_queries / ours_cmp["floor"], 3) if ours_cmp["floor"] else None,
                "peak_rss_mb": round(rss, 1), "cuda_peak_mb": cuda_mb,
                "decoder_gflops": round(ours_cmp["queries"] * flops / max(decoder_s, 1e-9) / 1e9, 2),
                "iou_vs_dense": ours_cmp.get("iou_vs_dense"),
                "references": {},
            }
            row["share_of_matmul_peak"] = round(row["decoder_gflops"] / peak, 3)
            for ref in compared:
                if ref["method"] == "adaptive":
                    continue
                if ref.get("skipped"):
                    row["references"][ref["method"]] = None
                    continue
                row["references"][ref["method"]] = {
                    "queries": ref["queries"], "seconds": round(ref["seconds"]["total"], 4),
                    "time_ratio": round(ref["seconds"]["total"] / ours_cmp["seconds"]["total"], 2),
                    "iou_vs_ours": None if ref["iou_vs_adaptive"] is None else round(ref["iou_vs_adaptive"], 5),
                }
            if args.int8 and device.type == "cpu":
                row["int8"] = int8_comparison(net, z, n, ours_cmp, args.iou_max)
            rows.append(row)
            print(f"bench: {n}^3 {Path(image).name}: {result.seconds['total']:.3f} s", file=sys.stderr, flush=True)

    report = {
        "date": time.strftime("%Y-%m-%d"), "machine": machine_description(device), "device": str(device),
        "torch": torch.__version__, "model": meta["name"], "images": [Path(i).name for i in images],
        "matmul_peak_gflops": round(peak, 1), "decoder_flops_per_query": flops,
        "rows": rows, "summary": summarize(rows),
    }
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1))
    print(json.dumps(report) if args.json else format_table(report))
    return 0


def int8_comparison(net, z, n: int, ours: dict, iou_max: int) -> dict:
    """Adaptive extraction with int8 decoder weights against ours (float32): time and IoU."""
    from ..extract import extract_mesh
    from ..evaluation.metrics import iou

    keep = n <= iou_max
    with torch.inference_mode():
        t = time.perf_counter()
        q = extract_mesh(net.decoder.point_fn(z, int8=True), n, keep_values=keep)
        seconds = time.perf_counter() - t
        f = extract_mesh(net.decoder.point_fn(z), n, keep_values=True) if keep else None
    return {"seconds": round(seconds, 4), "time_ratio": round(seconds / ours["seconds"]["total"], 3),
            "iou_vs_ours": round(iou(q.occupancy(), f.occupancy()), 5) if keep else None}


def summarize(rows: list[dict]) -> list[dict]:
    out = []
    for n in sorted({r["resolution"] for r in rows}):
        rs = [r for r in rows if r["resolution"] == n]
        mean = lambda xs: float(np.mean(xs)) if xs else None  # noqa: E731
        entry = {
            "resolution": n,
            "total_s": mean([r["seconds"]["total"] for r in rs]),
            "stages_s": {k: mean([r["seconds"][k] for r in rs]) for k in ("load", "encode", "extract", "mesh")},
            "queries": mean([r["decoder_queries"] for r in rs]),
            "floor": mean([r["floor"] for r in rs if r["floor"]]),
            "queries_over_floor": mean([r["queries_over_floor"] for r in rs if r["queries_over_floor"]]),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in rs),
            "share_of_matmul_peak": mean([r["share_of_matmul_peak"] for r in rs]),
            "min_iou_vs_dense": min((r["iou_vs_dense"] for r in rs if r["iou_vs_dense"] is not None), default=None),
        }
        int8 = [r["int8"] for r in rs if r.get("int8")]
        if int8:
            entry["int8"] = {"time_ratio": mean([q["time_ratio"] for q in int8]),
                             "min_iou_vs_ours": min((q["iou_vs_ours"] for q in int8 if q["iou_vs_ours"] is not None), default=None)}
        for ref in ("dense", "imnet"):
            got = [r["references"].get(ref) for r in rs if r["references"].get(ref)]
            if got:
                entry[ref] = {"queries": mean([g["queries"] for g in got]), "seconds": mean([g["seconds"] for g in got]),
                              "time_ratio": mean([g["time_ratio"] for g in got]),
                              "min_iou_vs_ours": min((g["iou_vs_ours"] for g in got if g["iou_vs_ours"] is not None), default=None)}
        out.append(entry)
    return out


def format_table(report: dict) -> str:
    fmt = lambda v, spec=".3f": "-" if v is None else format(v, spec)  # noqa: E731
    lines = [f"imdec bench, {report['date']}, {report['machine']} ({report['device']}), model {report['model']}, "
             f"{len(report['images'])} images; matmul peak {report['matmul_peak_gflops']} GFLOPS",
             "", "| res | image to mesh (s) | encode | extract | mesh | queries | floor | q/floor | peak RSS MB "
             "| % of peak | dense s (x ours, IoU) | IM-NET s (x ours, IoU) |" + (" int8 decoder |" if any("int8" in s for s in report["summary"]) else ""),
             "|" + "---|" * (12 + any("int8" in s for s in report["summary"]))]
    for s in report["summary"]:
        refs = []
        for ref in ("dense", "imnet"):
            r = s.get(ref)
            refs.append("-" if not r else f"{r['seconds']:.2f} ({r['time_ratio']:.1f}x, {fmt(r['min_iou_vs_ours'], '.4f')})")
        if "int8" in s:
            refs.append(f"{s['int8']['time_ratio']:.2f}x time, IoU {fmt(s['int8']['min_iou_vs_ours'], '.4f')}")
        lines.append(f"| {s['resolution']} | {s['total_s']:.3f} | {s['stages_s']['encode']:.3f} | {s['stages_s']['extract']:.3f} "
                     f"| {s['stages_s']['mesh']:.3f} | {s['queries']:.0f} | {fmt(s['floor'], '.0f')} | {fmt(s['queries_over_floor'], '.2f')} "
                     f"| {s['peak_rss_mb']:.0f} | {100 * s['share_of_matmul_peak']:.0f}% | " + " | ".join(refs) + " |")
    return "\n".join(lines)
