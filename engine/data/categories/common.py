"""Small helpers shared by the category builders."""

from __future__ import annotations

import numpy as np


def U(rng: np.random.Generator, a: float, b: float) -> float:
    return float(rng.uniform(a, b))


def pick(rng: np.random.Generator, options, weights=None):
    options = list(options)
    if weights is None:
        return options[int(rng.integers(len(options)))]
    w = np.asarray(weights, np.float64)
    return options[int(rng.choice(len(options), p=w / w.sum()))]


def chance(rng: np.random.Generator, p: float) -> bool:
    return bool(rng.random() < p)


def leg(b, top, bottom, style: str, size: float, **kw):
    """A leg from `top` to `bottom` (world points): 'square', 'round', 'tapered' or 'turned'."""
    top, bottom = np.asarray(top, float), np.asarray(bottom, float)
    if style != "square":  # round ends: lift the bottom sphere so the leg stands on `bottom`
        r_bottom = size * (0.55 if style == "tapered" else 0.6 if style == "turned" else 1.0)
        u = (top - bottom) / max(np.linalg.norm(top - bottom), 1e-9)
        bottom = bottom + u * r_bottom
    if style == "square" and abs(top[0] - bottom[0]) < 1e-6 and abs(top[1] - bottom[1]) < 1e-6:
        c = (top + bottom) / 2
        return b.box(c, [size, size, abs(top[2] - bottom[2]) / 2], round=size * 0.25, **kw)
    if style == "tapered":
        return b.roundcone(bottom, top, size * 0.55, size, **kw)
    if style == "turned":
        mid = bottom + (top - bottom) * 0.55
        b.roundcone(bottom, mid, size * 0.6, size * 1.15, **kw)
        return b.roundcone(mid, top, size * 1.15, size * 0.8, **kw)
    if style == "square":  # slanted square leg: a thin box along the segment
        from ..sdf import frame_z
        axis = top - bottom
        length = np.linalg.norm(axis)
        return b.box((top + bottom) / 2, [size, size, length / 2], round=size * 0.25, rot=frame_z(axis), **kw)
    return b.capsule(bottom, top, size, **kw)


def variant_rng(rng: np.random.Generator) -> np.random.Generator:
    """A second generator for the subtypes added after a category's shapes were fixed: drawing from
    it leaves `rng`'s stream, and so every seed that stays an old subtype, unchanged (the sample
    pictures, stored test metrics and saved pools keep matching their seeds). Call it once per shape."""
    return rng.spawn(1)[0]
