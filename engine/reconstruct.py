"""Image -> mesh: the pipeline the command line, the Blender add-on and the benchmarks share."""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .checkpoint import load_model
from .device import pick_device
from .errors import InputError
from .frame import CHUNK
from .images import prepare_image
from .model_files import resolve_model
from .request import DEFAULT_DEVICE, DEFAULT_RESOLUTION, DEFAULT_THRESHOLD, ReconstructionRequest

Progress = Callable[[str, float], None]
CPU_CHUNK = CHUNK      # points per decoder call: fits the caches, bounds memory
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


@contextlib.contextmanager
def torch_threads(count: int):
    """PyTorch's CPU threads set to `count` for the block (0: left as they are)."""
    if count <= 0:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def reconstruct(image, *, model: str | None = None, resolution: int = DEFAULT_RESOLUTION,
                threshold: float = DEFAULT_THRESHOLD, device: str = DEFAULT_DEVICE, progress: Progress | None = None,
                method: str = "adaptive", image_name: str | None = None) -> Reconstruction:
    """Reconstruct one image (a path, a PIL image or an array [H, W, C] with rows top to bottom)."""
    request = ReconstructionRequest(image=image, image_name=image_name, model=model or "", resolution=resolution,
                                    threshold=threshold, device=device)
    return reconstruct_request(request, progress=progress, method=method)


def reconstruct_request(request: ReconstructionRequest, *, progress: Progress | None = None,
                        method: str = "adaptive") -> Reconstruction:
    """Reconstruct the request's image (its `output` and `preview` are the worker's business)."""
    request.validate()
    with torch_threads(request.threads):
        return _run(request, progress or (lambda stage, fraction: None), method)


def _run(request: ReconstructionRequest, report: Progress, method: str) -> Reconstruction:
    from .extract import extract_mesh

    image = request.image
    t0 = time.perf_counter()
    dev = pick_device(request.device)
    report("load", 0.0)
    net, meta = cached_model(request.model, dev)
    name = request.image_name or (str(image) if isinstance(image, (str, os.PathLike)) else "image")
    images = prepare_image(image, net.config["image_size"], name=name).to(dev)
    t1 = time.perf_counter()
    report("encode", 0.1)
    with torch.inference_mode():
        decode = net.point_fn(images, torch.float16 if dev.type == "cuda" else None)  # runs the encoder
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        result = extract_mesh(decode, request.resolution, request.level, method=method, device=dev,
                              chunk=GPU_CHUNK if dev.type == "cuda" else CPU_CHUNK,
                              progress=lambda f: report("extract", 0.15 + 0.8 * f))
    if len(result.faces) == 0:  # extract returns an empty field's empty mesh; as a result it is a failure
        raise InputError(f"{name}: the reconstruction is empty (no surface at threshold {request.threshold:g}); "
                         f"lower the threshold (default {DEFAULT_THRESHOLD}) or use a larger picture of the object")
    t3 = time.perf_counter()
    report("done", 1.0)
    seconds = {"load": t1 - t0, "encode": t2 - t1, "extract": result.seconds.get("evaluate", 0.0),
               "mesh": result.seconds.get("mesh", 0.0)}
    seconds["total"] = t3 - t0
    return Reconstruction(vertices=result.vertices, faces=result.faces, image=name, model=meta["name"],
                          resolution=request.resolution, threshold=request.threshold, device=str(dev),
                          decoder_queries=result.queries, seconds=seconds)
