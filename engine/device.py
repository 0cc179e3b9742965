"""Where the network runs: the device a request asks for, and a description of the machine."""

from __future__ import annotations

import os
import platform

import torch

from .errors import InputError
from .request import DEVICES


def pick_device(device: str = "auto") -> torch.device:
    """torch.device for "auto" (a CUDA GPU when there is one), "cpu" or "cuda"."""
    device = (device or "auto").lower()
    if device not in DEVICES:
        raise InputError(f"device '{device}' is not one of {', '.join(DEVICES)}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' was asked for but no CUDA GPU is available; use --device cpu or auto")
    return torch.device(device)


def bf16_supported(device: torch.device) -> bool:
    """Whether bf16 autocast is fast here: a CUDA GPU that has it, or a CPU with AVX-512 BF16 or AMX
    (on other CPUs bf16 is emulated and slower than float32)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def machine_description(device: torch.device | None = None) -> str:
    """"2x NVIDIA H200" for a GPU (all of them, or the one given), else the CPU model and threads."""
    cuda = torch.cuda.is_available() if device is None else device.type == "cuda"
    if cuda:
        if device is not None:
            return torch.cuda.get_device_name(device)
        return f"{torch.cuda.device_count()}x {torch.cuda.get_device_name(0)}"
    return f"{cpu_model()}, {torch.get_num_threads()} of {os.cpu_count()} threads"
