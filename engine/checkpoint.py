"""Checkpoint files: save, find by name or path, and load safely (no code is ever executed).

Format (see CONVENTIONS.md): a dict of plain values and tensors written with torch.save and read
with torch.load(weights_only=True).
"""

from __future__ import annotations

import datetime
import os
import zipfile
from pathlib import Path

import torch

from .device import machine_description
from .errors import InputError, first_line
from .files import atomic_write
from .model import IMDecNet, stored_config

FORMAT = "imdec-checkpoint"
VERSION = 1
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_MODEL = "imdec-6cat"
SUFFIX = ".pt"
REQUIRED_KEYS = ("format", "version", "config", "categories", "state_dict")


def list_models() -> list[str]:
    """Names of the bundled models (files in engine/weights/)."""
    if not WEIGHTS_DIR.is_dir():
        return []
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*" + SUFFIX))


def resolve_model(name_or_path: str | os.PathLike | None) -> Path:
    """A bundled model's name, or a path to a checkpoint file; empty means the default model."""
    name = str(name_or_path or "").strip() or DEFAULT_MODEL
    path = Path(name).expanduser()
    if path.suffix == SUFFIX or os.sep in name or path.exists():
        if not path.is_file():
            raise InputError(f"model file {path} does not exist; give a checkpoint path or one of: {', '.join(list_models()) or 'no bundled models'}")
        return path
    bundled = WEIGHTS_DIR / (name + SUFFIX)
    if not bundled.is_file():
        raise InputError(f"no model named '{name}'; bundled models: {', '.join(list_models()) or 'none'} (or give a checkpoint file path)")
    return bundled


def save_checkpoint(path: str | os.PathLike, model: IMDecNet, *, categories: list[str], metrics: dict | None = None,
                    trained: dict | None = None, half: bool = False, extra: dict | None = None) -> Path:
    """Write atomically: a crash mid-write never leaves a broken file under the final name."""
    state = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
             for k, v in model.state_dict().items()}
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": dict(model.config),
        "categories": list(categories),
        "state_dict": state,
        "metrics": metrics or {},
        "trained": {"date": datetime.date.today().isoformat(), "hardware": machine_description(), **(trained or {})},
    }
    if extra:
        payload.update(extra)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as tmp:
        torch.save(payload, tmp)
    return path


def read_checkpoint(path: str | os.PathLike) -> dict:
    """The checkpoint's dict, validated; InputError with a one-line reason if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"model file {path} does not exist")
    if not zipfile.is_zipfile(path):
        raise InputError(f"model file {path} is corrupt or not an imdec checkpoint (not a complete PyTorch archive)")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated archives, foreign pickles with code (refused by weights_only)
        reason = first_line(exc, 120)
        raise InputError(f"model file {path} cannot be read safely ({reason}); use an imdec checkpoint") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(f"model file {path} is not an imdec checkpoint (missing format '{FORMAT}')")
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise InputError(f"model file {path} is incomplete (missing {', '.join(missing)})")
    if int(payload["version"]) > VERSION:
        raise InputError(f"model file {path} has checkpoint version {payload['version']}; this imdec reads up to {VERSION}, please update")
    return payload


def float_state(payload: dict) -> dict:
    """The checkpoint's tensors, floating-point ones in float32 (bundled weights are stored half)."""
    return {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}


def build_model(payload: dict, path: str | os.PathLike = "checkpoint") -> IMDecNet:
    try:
        model = IMDecNet(stored_config(payload["config"]))
        model.load_state_dict(float_state(payload), strict=True)
    except (ValueError, RuntimeError, TypeError, KeyError, AttributeError) as exc:
        raise InputError(f"model file {path} does not match the imdec network ({first_line(exc, 120)})") from None
    return model.eval()


def load_model(name_or_path: str | os.PathLike | None, device: str | torch.device = "cpu") -> tuple[IMDecNet, dict]:
    """(network in eval mode on device, checkpoint metadata without the weights)."""
    path = resolve_model(name_or_path)
    payload = read_checkpoint(path)
    model = build_model(payload, path).to(device)
    meta = {k: v for k, v in payload.items() if k != "state_dict"}
    meta["path"] = str(path)
    meta["name"] = path.stem
    return model, meta


