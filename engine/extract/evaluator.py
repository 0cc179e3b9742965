"""The calls an extraction makes out: grid points to the point function (chunked, counted, timed)
and throttled progress reports."""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import torch

__all__ = ["PointFn", "PointEvaluator", "Progress"]

# points [M, 3] float32 in the normalised frame -> logits [M]
PointFn = Callable[[torch.Tensor], torch.Tensor]

# points per call of the point function. A CPU wants small calls: the decoder's activations
# (4,096 x 256 floats) then stay in the cache, and it runs twice as fast as with 65,536 points a
# call (measured on a 2-vCPU EPYC). A GPU wants large ones to be busy.
CPU_CHUNK = 4096
GPU_CHUNK = 1 << 20


def default_chunk(device: torch.device) -> int:
    return GPU_CHUNK if device.type == "cuda" else CPU_CHUNK


class PointEvaluator:
    """Sends padded-lattice indices to fn as frame points, in chunks (default: the device's);
    counts and times."""

    def __init__(self, fn: PointFn, resolution: int, chunk: int | None, device):
        self.fn = fn
        self.n = int(resolution)
        self.device = torch.device(device) if device is not None else _guess_device(fn)
        self.chunk = max(1, int(chunk or default_chunk(self.device)))
        self.queries = 0
        self.peak = 0
        self.seconds = 0.0

    def __call__(self, idx: np.ndarray) -> np.ndarray:
        """Values float32 [M] at padded indices [M, 3] (integer, or float for off-lattice points):
        index p is the frame coordinate (p - 0.5) / N - 0.5."""
        idx = np.asarray(idx)
        m = len(idx)
        out = np.empty(m, np.float32)
        for s in range(0, m, self.chunk):
            part = idx[s:s + self.chunk]
            pts = torch.from_numpy(((part.astype(np.float64) - 0.5) / self.n - 0.5).astype(np.float32))
            pts = pts.to(self.device)
            t = time.perf_counter()
            with torch.no_grad():
                y = self.fn(pts)
            y = y.detach().reshape(-1).float().cpu().numpy()
            self.seconds += time.perf_counter() - t
            if y.shape[0] != len(part):
                raise ValueError(f"point function returned {y.shape[0]} values for {len(part)} points")
            out[s:s + len(part)] = y
            self.queries += len(part)
            self.peak = max(self.peak, len(part))
        return out


def _guess_device(fn) -> torch.device:
    dev = getattr(fn, "device", None)
    if dev is not None:
        return torch.device(dev)
    if isinstance(fn, torch.nn.Module):
        for p in fn.parameters():
            return p.device
    return torch.device("cpu")


class Progress:
    """Calls cb(fraction) with a non-decreasing fraction in [0, 1], at most every 0.5%, and
    always once at 1.0."""

    def __init__(self, cb: Callable[[float], None] | None):
        self.cb = cb
        self.last = -1.0

    def __call__(self, f: float) -> None:
        if self.cb is None:
            return
        f = float(min(1.0, max(self.last, f)))
        if f - self.last >= 0.005 or (f >= 1.0 > self.last):
            self.last = f
            self.cb(f)
