"""What the machine measures: the process's peak resident memory and its matrix-multiply peak."""

from __future__ import annotations

import sys
import time

import torch


def reset_peak_rss() -> None:
    """Linux: restart the process's resident-memory high-water mark (VmHWM); elsewhere a no-op."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    """The process's resident-memory high-water mark in MiB: since the last reset_peak_rss on
    Linux, since the start elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2 ** 20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB elsewhere


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
