"""Several processes with torchrun: rank and world size, the device of each, DDP wrapping."""

from __future__ import annotations

import os

import torch


def dist_info() -> tuple[int, int, int]:
    """(world size, rank, local rank); (1, 0, 0) without torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return world, int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))


def setup_device(choice: str) -> torch.device:
    """The device of this process; under torchrun also joins the process group (NCCL on GPUs,
    gloo on CPUs)."""
    from ..device import pick_device

    world, _, local = dist_info()
    if world > 1:
        backend = "nccl" if torch.cuda.is_available() and choice != "cpu" else "gloo"
        torch.distributed.init_process_group(backend)
        if backend == "nccl":
            torch.cuda.set_device(local)
            return torch.device("cuda", local)
        return torch.device("cpu")
    return pick_device(choice)


def wrap_for_training(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """The module to call in training steps: DDP (gradients averaged across processes) under
    torchrun, else the model itself."""
    if dist_info()[0] == 1:
        return model
    return torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def finish() -> None:
    if dist_info()[0] > 1:
        torch.distributed.destroy_process_group()
