"""A reconstruction request: its defaults, limits, checks and JSON form, and the events the worker
answers with. Torch-free: the add-on's interface imports it."""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from dataclasses import dataclass
from typing import Any

from .errors import InputError

MIN_RESOLUTION = 32
MAX_RESOLUTION = 1024
DEFAULT_RESOLUTION = 128
DEFAULT_THRESHOLD = 0.5  # a surface at occupancy probability 0.5; the limits are 0 and 1, both excluded
DEFAULT_PREVIEW = 64     # the add-on's quick-preview resolution
# (device, label, what it means): the command line's choices and the add-on's menu
DEVICE_CHOICES = (
    ("auto", "Auto", "A CUDA GPU when there is one, else the CPU"),
    ("cpu", "CPU", "Always the CPU"),
    ("cuda", "CUDA", "An NVIDIA GPU through CUDA (fails when there is none)"),
)
DEVICES = tuple(name for name, _, _ in DEVICE_CHOICES)
DEFAULT_DEVICE = DEVICES[0]


class Event:
    """The `event` of each JSON line the worker prints (see engine/worker.py)."""

    STARTED = "started"
    PROGRESS = "progress"
    PREVIEW = "preview"
    DONE = "done"
    ERROR = "error"
    EXIT = "exit"  # not printed: added by the add-on's WorkerJob when the worker process ends before the job does


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class ReconstructionRequest:
    """One picture to reconstruct and how. `image` is a path (for the worker a .npy pixel array may be
    one); in this process it may also be a PIL image or an array [H, W, C], rows top to bottom."""

    image: Any = ""
    image_name: str | None = None  # what messages call the image
    output: str | None = None      # the worker's result file (.npz)
    model: str = ""                # "" the default model, a bundled model's name, or a checkpoint path
    resolution: int = DEFAULT_RESOLUTION
    threshold: float = DEFAULT_THRESHOLD
    device: str = DEFAULT_DEVICE
    threads: int = 0               # CPU threads for PyTorch, 0 = leave as it is (all cores)
    preview: int = 0               # the worker's coarse mesh first, at this resolution; 0 = none
    colour: bool = True            # vertex colours from the picture; False: clay

    def validate(self) -> None:
        """InputError with one line that says what is wrong and what to do."""
        if not _is_int(self.resolution) or not MIN_RESOLUTION <= self.resolution <= MAX_RESOLUTION:
            raise InputError(f"resolution {self.resolution} is outside {MIN_RESOLUTION}..{MAX_RESOLUTION}; "
                             "64 previews quickly, 128-256 is detailed")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, numbers.Real) \
                or not 0.0 < self.threshold < 1.0:
            raise InputError(f"threshold {self.threshold} must lie strictly between 0 and 1 "
                             f"({DEFAULT_THRESHOLD} is the default)")
        if str(self.device).lower() not in DEVICES:
            raise InputError(f"device '{self.device}' is not one of {', '.join(DEVICES)}")
        if not _is_int(self.preview) or not (self.preview == 0 or MIN_RESOLUTION <= self.preview <= MAX_RESOLUTION):
            raise InputError(f"preview resolution {self.preview} is outside {MIN_RESOLUTION}..{MAX_RESOLUTION} "
                             "(0: no preview)")
        if not isinstance(self.colour, bool):
            raise InputError(f"colour {self.colour!r} must be true or false")
        if not _is_int(self.threads):
            raise InputError(f"threads {self.threads!r} must be a whole number (0: all cores)")

    @property
    def level(self) -> float:
        """The threshold as the decoder's logit: the surface is where log(p / (1 - p)) = level."""
        return math.log(self.threshold / (1.0 - self.threshold))

    def to_json(self) -> dict:
        if not isinstance(self.image, (str, os.PathLike)):
            raise TypeError("only a request whose image is a file path has a JSON form")
        return {**dataclasses.asdict(self), "image": os.fspath(self.image)}

    @classmethod
    def from_json(cls, data: dict) -> ReconstructionRequest:
        """The request from its JSON object; missing or null keys take the defaults, unknown keys are
        ignored. Not validated: call validate()."""
        if not isinstance(data, dict):
            raise InputError("a reconstruction request must be a JSON object")
        values = {}
        for field in dataclasses.fields(cls):
            value = data.get(field.name)
            if value is None:
                continue
            convert = _JSON_TYPES.get(field.name, str)
            try:
                values[field.name] = convert(value)
            except (TypeError, ValueError):
                kind = _JSON_KINDS[convert]
                raise InputError(f"the request's '{field.name}' must be {kind}, not {value!r}") from None
        return cls(**values)


def _json_bool(value) -> bool:
    if not isinstance(value, bool):
        raise TypeError("not a boolean")
    return value


_JSON_TYPES = {"resolution": int, "threshold": float, "threads": int, "preview": int, "colour": _json_bool}
_JSON_KINDS = {int: "a whole number", float: "a number", str: "a string", _json_bool: "true or false"}
