"""Which checkpoint file a model argument means: the bundled models in engine/weights/, and the one
rule that tells a model's name from a file path. Torch-free: the add-on's panel lists the models."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import InputError
from .files import require_file

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_MODEL = "imdec-6cat"
SUFFIX = ".pt"


def list_models() -> list[str]:
    """Names of the bundled models (the checkpoint files in engine/weights/)."""
    if not WEIGHTS_DIR.is_dir():
        return []
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*" + SUFFIX) if p.is_file())


def is_model_path(name_or_path: str | os.PathLike) -> bool:
    """A checkpoint path rather than a bundled model's name: it ends in .pt, holds a folder separator
    (/ anywhere, or the system's own), or names an existing file (a broken link too)."""
    text = os.fspath(name_or_path).strip()
    return (text.lower().endswith(SUFFIX) or "/" in text or os.sep in text
            or os.path.lexists(Path(text).expanduser()))


def resolve_model(name_or_path: str | os.PathLike | None) -> Path:
    """The checkpoint file of a bundled model's name or of a path; empty means the default model."""
    name = str(name_or_path or "").strip() or DEFAULT_MODEL
    if is_model_path(name):
        return require_file(Path(name).expanduser(), "model file", "a checkpoint file",
                            f"; give a checkpoint path or one of: {', '.join(list_models()) or 'no bundled models'}")
    bundled = WEIGHTS_DIR / (name + SUFFIX)
    if not bundled.is_file():
        raise InputError(f"no model named '{name}'; bundled models: {', '.join(list_models()) or 'none'} "
                         "(or give a checkpoint file path)")
    return bundled
