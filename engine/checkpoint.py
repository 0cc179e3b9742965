"""Checkpoint files: save, and load safely (no code is ever executed). Which file a model's name or
path means is engine.model_files (re-exported here).

Format (see docs/CONVENTIONS.md): a dict of plain values and tensors written with torch.save and read
with torch.load(weights_only=True).
"""

from __future__ import annotations

import datetime
import os
import pickle
import re
import textwrap
import zipfile
from pathlib import Path

import torch

from .device import machine_description
from .errors import InputError, first_line
from .files import atomic_write, require_file
from .model import IMDecNet, stored_config
from .model_files import DEFAULT_MODEL, SUFFIX, WEIGHTS_DIR, list_models, resolve_model  # noqa: F401 (re-exported)

FORMAT = "imdec-checkpoint"
VERSION = 1
REQUIRED_KEYS = ("format", "version", "config", "categories", "state_dict")
# zip bombs, refused from the sizes an archive declares before torch inflates anything: an imdec
# checkpoint with its training state inflates to a few hundred MB, and torch stores members
# uncompressed (deflated weights would shrink ~1.1x; deflated zeros ~1000x)
MAX_CHECKPOINT_BYTES = 1 << 30
MAX_INFLATION = 100
INFLATION_CHECKED_FROM = 1 << 20  # members smaller than this cannot hurt, however well they compress


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
    path = require_file(path, "model file", "a checkpoint file")
    check_archive_sizes(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated archives, foreign pickles with code (refused by weights_only)
        raise unreadable(path, exc) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise InputError(f"model file {path} is not an imdec checkpoint (missing format '{FORMAT}')")
    missing = [k for k in REQUIRED_KEYS if k not in payload]
    if missing:
        raise InputError(f"model file {path} is incomplete (missing {', '.join(missing)})")
    if int(payload["version"]) > VERSION:
        raise InputError(f"model file {path} has checkpoint version {payload['version']}; this imdec reads up to {VERSION}, please update")
    check_finite(payload["state_dict"], path)
    return payload


def check_archive_sizes(path: Path) -> None:
    """InputError unless `path` is a zip archive whose declared sizes are those of a checkpoint."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise InputError(f"model file {path} is corrupt or not an imdec checkpoint "
                         "(not a complete PyTorch archive)") from None
    for member in members:
        if member.file_size > max(INFLATION_CHECKED_FROM, MAX_INFLATION * member.compress_size):
            raise InputError(f"model file {path} is a zip bomb: its {member.filename} would inflate from "
                             f"{byte_size(member.compress_size)} to {byte_size(member.file_size)}; "
                             "use an imdec checkpoint")
    total = sum(member.file_size for member in members)
    if total > MAX_CHECKPOINT_BYTES:
        raise InputError(f"model file {path} would inflate to {byte_size(total)}, more than an imdec checkpoint "
                         f"holds (at most {byte_size(MAX_CHECKPOINT_BYTES)}); use an imdec checkpoint")


def byte_size(count: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def unreadable(path: Path, exc: Exception) -> InputError:
    """Why torch.load failed, in one line, without torch's advice to load the file unsafely."""
    text = str(exc)
    if not isinstance(exc, pickle.UnpicklingError):  # weights_only refusals are UnpicklingErrors
        return InputError(f"model file {path} is corrupt or not an imdec checkpoint ({short(first_line(exc))})")
    refused = re.search(r"GLOBAL ([\w.]+)", text)
    if refused:
        return InputError(f"model file {path} holds Python code or objects ({refused.group(1)}) that imdec "
                          "refuses to run; use an imdec checkpoint, which holds only tensors and plain values")
    detail = short(text.partition("WeightsUnpickler error:")[2].split("Check the documentation")[0])
    return InputError(f"model file {path} is damaged or holds Python objects that imdec does not load"
                      f"{f' ({detail})' if detail else ''}; use an imdec checkpoint")


def short(text: str, width: int = 120) -> str:
    """`text` on one line, cut at a word boundary."""
    return textwrap.shorten(text, width, placeholder="...")


def check_finite(state_dict, path: Path) -> None:
    """InputError naming the first tensor with NaN or infinite values (training gone wrong)."""
    for name, value in (state_dict.items() if isinstance(state_dict, dict) else ()):
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(value.isfinite().all()):
            raise InputError(f"model file {path} is damaged: its tensor {name} is not finite (NaN or infinity); "
                             "use another checkpoint or retrain")


def float_state(payload: dict) -> dict:
    """The checkpoint's tensors, floating-point ones in float32 (bundled weights are stored half)."""
    return {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}


def build_model(payload: dict, path: str | os.PathLike = "checkpoint") -> IMDecNet:
    try:
        model = IMDecNet(stored_config(payload["config"]))
        model.load_state_dict(float_state(payload), strict=True)
    except (ValueError, RuntimeError, TypeError, KeyError, AttributeError) as exc:
        raise InputError(f"model file {path} does not match the imdec network ({short(first_line(exc))})") from None
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


