"""Image -> mesh: the pipeline the command line, the Blender add-on and the benchmarks share."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .checkpoint import load_model, resolve_model
from .device import pick_device
from .images import prepare_image
from .request import validate_request

Progress = Callable[[str, float], None]
CPU_CHUNK = 65536      # points per decoder call: fits the caches, bounds memory
GPU_CHUNK = 1 << 20    # a GPU needs large batches to be busy


@dataclass
class Reconstruction:
    vertices: np.ndarray            # float32 [V, 3], normalised frame (Z up, front -Y)
    faces: np.ndarray               # int32 [F, 3], outward facing
    image: str
    model: str
    resolution: int
    threshold: float
    device: str
    decoder_queries: int
    seconds: dict = field(default_factory=dict)
    output: str | None = None

    def to_json(self) -> dict:
        return {
            "image": self.image, "output": self.output, "model": self.model, "device": self.device,
            "resolution": self.resolution, "threshold": self.threshold,
            "vertices": int(len(self.vertices)), "faces": int(len(self.faces)),
            "decoder_queries": int(self.decoder_queries),
            "seconds": {k: round(v, 4) for k, v in self.seconds.items()},
        }


_MODEL_CACHE: dict = {}


def cached_model(name_or_path: str | None, device: torch.device):
    """Load a model once per (file, modification time, device); later calls reuse it."""
    path = resolve_model(name_or_path)
    key = (str(path.resolve()), path.stat().st_mtime_ns, str(device))
    if key not in _MODEL_CACHE:
        _MODEL_CACHE.clear()  # keep one model resident
        _MODEL_CACHE[key] = load_model(path, device)
    return _MODEL_CACHE[key]


def reconstruct(image, *, model: str | None = None, resolution: int = 128, threshold: float = 0.5,
                device: str = "auto", progress: Progress | None = None, method: str = "adaptive",
                image_name: str | None = None) -> Reconstruction:
    """Reconstruct one image (a path, a PIL image or an array [H, W, C] with rows top to bottom)."""
    from .extract import extract_mesh

    report = progress or (lambda stage, fraction: None)
    validate_request(resolution, threshold, device)
    t0 = time.perf_counter()
    dev = pick_device(device)
    report("load", 0.0)
    net, meta = cached_model(model, dev)
    name = image_name or (str(image) if isinstance(image, (str, os.PathLike)) else "image")
    images = prepare_image(image, net.config["image_size"], name=name).to(dev)
    t1 = time.perf_counter()
    report("encode", 0.1)
    with torch.inference_mode():
        z = net.encoder(images)[0]
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        level = math.log(threshold / (1.0 - threshold))
        decode = net.decoder.point_fn(z, torch.float16 if dev.type == "cuda" else None)
        result = extract_mesh(decode, resolution, level, method=method, device=dev, chunk=GPU_CHUNK if dev.type == "cuda" else CPU_CHUNK,
                              progress=lambda f: report("extract", 0.15 + 0.8 * f))
    t3 = time.perf_counter()
    report("done", 1.0)
    seconds = {"load": t1 - t0, "encode": t2 - t1, "extract": result.seconds.get("evaluate", 0.0),
               "mesh": result.seconds.get("mesh", 0.0)}
    seconds["total"] = t3 - t0
    return Reconstruction(vertices=result.vertices, faces=result.faces, image=name, model=meta["name"],
                          resolution=resolution, threshold=threshold, device=str(dev),
                          decoder_queries=result.queries, seconds=seconds)
