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
from .images import object_picture, prepare_batch
from .model_files import resolve_model
from .request import DEFAULT_DEVICE, DEFAULT_RESOLUTION, DEFAULT_THRESHOLD, ReconstructionRequest

Progress = Callable[[str, float], None]
COLOUR_PICTURE_MIN, COLOUR_PICTURE_MAX = 256, 512  # side of the prepared picture the colours come from


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
    colours: np.ndarray | None = None  # float32 [V, 3] sRGB in 0..1 from the picture; None: clay

    def to_json(self) -> dict:
        return {
            "image": self.image, "output": self.output, "model": self.model, "device": self.device,
            "resolution": self.resolution, "threshold": self.threshold,
            "vertices": int(len(self.vertices)), "faces": int(len(self.faces)), "colour": self.colours is not None,
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
                method: str = "adaptive", image_name: str | None = None, colour: bool = True) -> Reconstruction:
    """Reconstruct one image (a path, a PIL image or an array [H, W, C] with rows top to bottom);
    `colour`: vertex colours from the picture (False: clay)."""
    request = ReconstructionRequest(image=image, image_name=image_name, model=model or "", resolution=resolution,
                                    threshold=threshold, device=device, colour=colour)
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
    picture = object_picture(image, name=name)
    images = prepare_batch(picture, net.config["image_size"]).to(dev)
    t1 = time.perf_counter()
    report("encode", 0.1)
    with torch.inference_mode():
        decode = net.point_fn(images, torch.float16 if dev.type == "cuda" else None)  # runs the encoder
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        result = extract_mesh(decode, request.resolution, request.level, method=method, device=dev,
                              progress=lambda f: report("extract", 0.15 + 0.75 * f))
    if len(result.faces) == 0:  # extract returns an empty field's empty mesh; as a result it is a failure
        raise InputError(f"{name}: the reconstruction is empty (no surface at threshold {request.threshold:g}); "
                         f"lower the threshold (default {DEFAULT_THRESHOLD}) or use a larger picture of the object")
    t3 = time.perf_counter()
    colours = None
    if request.colour:
        report("colour", 0.9)
        colours = picture_colours(result.vertices, result.faces, picture, images[0, 3].cpu(), request.resolution)
    t4 = time.perf_counter()
    report("done", 1.0)
    seconds = {"load": t1 - t0, "encode": t2 - t1, "extract": result.seconds.get("evaluate", 0.0),
               "mesh": result.seconds.get("mesh", 0.0), "colour": t4 - t3}
    seconds["total"] = t4 - t0
    return Reconstruction(vertices=result.vertices, faces=result.faces, image=name, model=meta["name"],
                          resolution=request.resolution, threshold=request.threshold, device=str(dev),
                          decoder_queries=result.queries, seconds=seconds, colours=colours)


def picture_colours(vertices, faces, picture: torch.Tensor, mask: torch.Tensor, resolution: int) -> np.ndarray:
    """The mesh's vertex colours from the picture (straight RGBA [1, 4, H, W]), through the camera
    that fits the mesh's outline to the prepared mask [S, S]. The colours come from the same crop
    as the encoder's input at a size that keeps up with the mesh's detail."""
    from .colour import colour_mesh, fit_camera

    camera, _ = fit_camera(vertices, mask)
    size = int(min(COLOUR_PICTURE_MAX, max(COLOUR_PICTURE_MIN, 2 * resolution)))
    return colour_mesh(vertices, faces, prepare_batch(picture, size)[0], camera)
