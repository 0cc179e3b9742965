"""Limits of a reconstruction request, checked without importing torch (the add-on's UI uses it)."""

from __future__ import annotations

from .errors import InputError

MIN_RESOLUTION = 32
MAX_RESOLUTION = 1024
DEVICES = ("auto", "cpu", "cuda")


def validate_request(resolution: int = 128, threshold: float = 0.5, device: str = "auto") -> None:
    if isinstance(resolution, bool) or not isinstance(resolution, int) or not MIN_RESOLUTION <= resolution <= MAX_RESOLUTION:
        raise InputError(f"resolution {resolution} is outside {MIN_RESOLUTION}..{MAX_RESOLUTION}; 64 previews quickly, 128-256 is detailed")
    if not 0.0 < float(threshold) < 1.0:
        raise InputError(f"threshold {threshold} must lie strictly between 0 and 1 (0.5 is the default)")
    if str(device).lower() not in DEVICES:
        raise InputError(f"device '{device}' is not one of {', '.join(DEVICES)}")
