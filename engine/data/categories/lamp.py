"""Lamps: floor (straight, uplighter, arc, tripod), desk (architect arm, swing arm, table lamp with
a vase base, mushroom) and hanging (pendant, cluster) lamps; cone, drum, dome, bowl and globe shades
(open shades are revolved thick segments)."""

from __future__ import annotations

import math

import numpy as np

from ..sdf import frame_z
from .common import U, chance, pick, variant_rng


def shade(b, rng, center, axis, kind: str, radius: float, height: float, thick: float, mat=0):
    """A lamp shade around `center`, its top towards `axis`; returns the bottom-centre point."""
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    c = np.asarray(center, float)
    R = frame_z(axis)
    h = height / 2
    if kind == "cone":
        top = radius * U(rng, 0.35, 0.7)
        b.revolved(c, R, radius, -h, top, h, thick, mat=mat)
    elif kind == "drum":
        b.revolved(c, R, radius, -h, radius * U(rng, 0.9, 1.0), h, thick, mat=mat)
    elif kind == "bowl":  # opening upwards
        b.revolved(c, R, radius * 0.25, -h, radius, h, thick, mat=mat)
        b.cylinder(c - axis * h, R, radius * 0.25 + thick, thick, mat=mat)
    elif kind == "dome":
        flare = U(rng, 0.0, 0.15)
        pts = [(radius, -h), (radius * (0.93 - flare), -0.35 * h), (radius * (0.75 - flare * 0.5), 0.25 * h),
               (radius * 0.4, 0.8 * h), (radius * 0.12, h)]
        for (ra, za), (rb, zb) in zip(pts[:-1], pts[1:]):
            b.revolved(c, R, ra, za, rb, zb, thick, mat=mat)
        b.cylinder(c + axis * h, R, radius * 0.14, thick * 1.5, round=thick * 0.5, mat=mat)
    else:  # globe
        b.ellipsoid(c, [radius, radius, height / 2], R, mat=3)
        return c - axis * h
    if kind != "globe" and chance(rng, 0.6):  # visible bulb
        b.ellipsoid(c - axis * (h * 0.3), [radius * 0.25] * 2 + [radius * 0.3], R, mat=3)
    return c - axis * h


def _base(b, rng, kind, size, frame):
    if kind == "disc":
        b.cylinder([0, 0, size * 0.1], [0, 0, 1], size, size * 0.1, round=size * 0.05,
                   radius_top=size * U(rng, 0.7, 1.0), mat=frame)
        return size * 0.2
    if kind == "square":
        b.box([0, 0, size * 0.08], [size * 0.8, size * 0.8, size * 0.08], round=size * 0.04, mat=frame)
        return size * 0.16
    b.cylinder([0, 0, size * 0.2], [0, 0, 1], size * 0.8, size * 0.2, round=size * 0.08, radius_top=size * 0.5,
               mat=frame)
    return size * 0.4


def _swing_arm(b, rng, frame) -> str:
    """A desk lamp whose post carries a horizontal arm forward (-Y) to a drum or cone shade."""
    base_h = _base(b, rng, pick(rng, ["disc", "square"]), U(rng, 0.07, 0.11), frame)
    ar = U(rng, 0.007, 0.012)
    post = np.array([0, 0, U(rng, 0.3, 0.5)])
    end = post + np.array([0, -U(rng, 0.25, 0.45), U(rng, -0.05, 0.1)])
    drop = end - np.array([0, 0, U(rng, 0.03, 0.06)])
    b.capsule([0, 0, base_h], post, ar, mat=frame)
    b.ellipsoid(post, [ar * 2] * 3, mat=frame)
    b.capsule(post, end, ar, mat=frame)
    b.capsule(end, drop, ar, mat=frame)
    skind = pick(rng, ["drum", "cone"])
    sr = U(rng, 0.07, 0.12)
    sh = sr * U(rng, 0.8, 1.3)
    shade(b, rng, drop - np.array([0, 0, sh / 2]), [0, 0, 1], skind, sr, sh, 0.006)
    return f"desk/swing_arm/{skind}"


def build(rng, b) -> str:
    kind = pick(rng, ["floor", "desk", "hanging"], [0.35, 0.35, 0.3])
    frame = 1
    b.group(U(rng, 0.005, 0.015))
    if kind == "floor":
        style = pick(rng, ["straight", "uplighter", "arc", "tripod"], [0.35, 0.2, 0.25, 0.2])
        Hf = U(rng, 1.3, 1.8)
        th = 0.009 * Hf
        pr = U(rng, 0.008, 0.015) * Hf / 1.5
        if style == "tripod":
            zt = Hf * U(rng, 0.55, 0.7)
            rad = U(rng, 0.25, 0.4)
            a0 = U(rng, 0, 2 * math.pi)
            for i in range(3):
                a = a0 + 2 * math.pi * i / 3
                b.capsule([rad * math.cos(a), rad * math.sin(a), pr], [0, 0, zt], pr, mat=frame)
            skind = pick(rng, ["drum", "cone"])
            sr, sh = U(rng, 0.2, 0.3), U(rng, 0.22, 0.35)
            tilt = np.array([0, -math.sin(0.5), math.cos(0.5)]) if chance(rng, 0.5) else np.array([0, 0, 1.0])
            if chance(rng, 0.5):  # spotlight pointing forward
                b.capsule([0, 0, zt], [0, -0.1, zt + 0.1], pr, mat=frame)
                b.cylinder([0, -0.2, zt + 0.15], [0, -1, 0.3], sr * 0.7, sh * 0.5, round=0.01, radius_top=sr * 0.55)
                return f"floor/{style}/spot"
            b.capsule([0, 0, zt], [0, 0, zt + 0.1], pr, mat=frame)
            shade(b, rng, np.array([0, 0, zt + 0.1 + sh * 0.3]), tilt, skind, sr, sh, th)
            return f"floor/{style}/{skind}"
        base_h = _base(b, rng, pick(rng, ["disc", "square", "dome"]), U(rng, 0.13, 0.2), frame)
        if style == "arc":
            reach = U(rng, 0.6, 1.1)
            zt = Hf
            zs = Hf * U(rng, 0.35, 0.55)
            b.capsule([0, 0, base_h], [0, 0, zs], pr, mat=frame)
            n = 6
            prev = np.array([0, 0, zs])
            for i in range(1, n + 1):
                a = math.pi / 2 * i / n
                p = np.array([0, -reach * (1 - math.cos(a)), zs + (zt - zs) * math.sin(a)])
                if i == n:
                    p = np.array([0, -reach, zt - 0.02])
                b.capsule(prev, p, pr, mat=frame)
                prev = p
            end = np.array([0, -reach - 0.05, zt - 0.12])
            b.capsule(prev, end, pr, mat=frame)
            skind = pick(rng, ["dome", "cone", "globe"])
            sr = U(rng, 0.15, 0.25)
            sh = sr * (U(rng, 0.8, 1.2) if skind != "globe" else U(rng, 1.7, 2.1))
            shade(b, rng, end - np.array([0, 0, sh / 2 - 0.01]), [0, 0, 1], skind, sr, sh, th)
            return f"floor/{style}/{skind}"
        zt = Hf
        if style == "uplighter":
            b.capsule([0, 0, base_h], [0, 0, zt - 0.1], pr, mat=frame)
            sr = U(rng, 0.15, 0.25)
            shade(b, rng, np.array([0, 0, zt - 0.05]), [0, 0, 1], "bowl", sr, U(rng, 0.08, 0.14), th)
            return f"floor/{style}/bowl"
        skind = pick(rng, ["drum", "cone", "dome"])
        sr, sh = U(rng, 0.18, 0.28), U(rng, 0.25, 0.4)
        b.capsule([0, 0, base_h], [0, 0, zt - sh * 0.55], pr, mat=frame)
        if chance(rng, 0.5):  # knob / joint
            b.ellipsoid([0, 0, (base_h + zt) * 0.5], [pr * 2, pr * 2, pr * 3], mat=frame)
        shade(b, rng, np.array([0, 0, zt - sh / 2]), [0, 0, 1], skind, sr, sh, th)
        return f"floor/{style}/{skind}"

    if kind == "desk":
        style = pick(rng, ["architect", "table", "mushroom"], [0.4, 0.45, 0.15])
        if style == "architect" and chance(variant_rng(rng), 0.45):
            return _swing_arm(b, rng, frame)
        if style == "architect":
            th = 0.006
            base_h = _base(b, rng, pick(rng, ["disc", "square", "dome"]), U(rng, 0.07, 0.11), frame)
            ar = U(rng, 0.007, 0.012)
            l1, l2 = U(rng, 0.3, 0.45), U(rng, 0.3, 0.45)
            a1 = math.radians(U(rng, 55, 85))    # lower arm elevation, leaning back (+Y)
            a2 = math.radians(U(rng, -20, 25))   # upper arm elevation, reaching forward (-Y)
            j0 = np.array([0, 0, base_h + 0.02])
            j1 = j0 + l1 * np.array([0, math.cos(a1), math.sin(a1)])
            j2 = j1 + l2 * np.array([0, -math.cos(a2), math.sin(a2)])
            b.ellipsoid(j0, [ar * 2] * 3, mat=frame)
            for dx in ((-ar * 1.5, ar * 1.5) if chance(rng, 0.5) else (0.0,)):
                b.capsule(j0 + [dx, 0, 0], j1 + [dx, 0, 0], ar, mat=frame)
                b.capsule(j1 + [dx, 0, 0], j2 + [dx, 0, 0], ar, mat=frame)
            b.ellipsoid(j1, [ar * 2.2] * 3, mat=frame)
            skind = pick(rng, ["cone", "dome"])
            sr = U(rng, 0.07, 0.12)
            sh = sr * U(rng, 0.9, 1.5)
            down = math.radians(U(rng, 20, 70))
            axis = np.array([0, math.cos(down), math.sin(down)])  # shade top points back-up
            shade(b, rng, j2 - axis * sh / 2, axis, skind, sr, sh, th)
            return f"desk/{style}/{skind}"
        if style == "table":
            th = 0.006
            Hb = U(rng, 0.25, 0.45)
            body = pick(rng, ["jar", "column", "vase"])
            br = U(rng, 0.07, 0.14)
            if body == "jar":
                b.ellipsoid([0, 0, Hb / 2], [br, br, Hb / 2])
                top = Hb
            elif body == "column":
                b.cylinder([0, 0, 0.015], [0, 0, 1], br, 0.015, round=0.005, mat=frame)
                b.cylinder([0, 0, Hb / 2], [0, 0, 1], br * 0.3, Hb / 2, round=0.005)
                top = Hb
            else:
                b.roundcone([0, 0, br * 0.6], [0, 0, Hb * 0.45], br * 0.6, br, mat=0)
                b.roundcone([0, 0, Hb * 0.45], [0, 0, Hb - br * 0.3], br, br * 0.3, mat=0)
                top = Hb
            b.capsule([0, 0, top - 0.01], [0, 0, top + 0.08], 0.008, mat=frame)
            skind = pick(rng, ["drum", "cone"])
            sr, sh = U(rng, 0.14, 0.24), U(rng, 0.15, 0.25)
            shade(b, rng, np.array([0, 0, top + 0.08 + sh * 0.35]), [0, 0, 1], skind, max(sr, br * 1.3), sh, th)
            return f"desk/{style}/{skind}"
        # mushroom: a solid dome on a short stem
        Hs = U(rng, 0.2, 0.35)
        sr = U(rng, 0.12, 0.22)
        b.cylinder([0, 0, 0.02], [0, 0, 1], sr * U(rng, 0.4, 0.7), 0.02, round=0.01, mat=frame)
        b.roundcone([0, 0, 0.04], [0, 0, Hs], U(rng, 0.015, 0.04), U(rng, 0.015, 0.03), mat=frame)
        b.group(0.0)
        b.ellipsoid([0, 0, Hs], [sr, sr, sr * U(rng, 0.45, 0.7)])
        b.box([0, 0, Hs - sr * 0.35], [sr * 1.1, sr * 1.1, sr * 0.35], op=-1)  # cut the dome's lower half
        return "desk/mushroom/dome"

    # hanging
    style = pick(rng, ["pendant", "cluster"], [0.75, 0.25])
    Hc = U(rng, 0.25, 0.8)      # cord length
    b.cylinder([0, 0, Hc + 0.015], [0, 0, 1], U(rng, 0.05, 0.09), 0.015, round=0.006, mat=frame)  # canopy
    cr = U(rng, 0.004, 0.007)
    if style == "pendant":
        skind = pick(rng, ["dome", "cone", "drum", "globe"])
        sr = U(rng, 0.12, 0.3)
        sh = sr * {"drum": U(rng, 0.6, 1.0), "globe": U(rng, 1.7, 2.1)}.get(skind, U(rng, 0.6, 1.3))
        b.capsule([0, 0, 0.0], [0, 0, Hc], cr, mat=frame)
        shade(b, rng, np.array([0, 0, -sh / 2 + 0.01]), [0, 0, 1], skind, sr, sh, 0.007)
        return f"hanging/{style}/{skind}"
    n = int(rng.integers(3, 6))
    skind = pick(rng, ["globe", "dome", "cone"])
    spread = U(rng, 0.15, 0.35)
    for i in range(n):
        a = 2 * math.pi * i / n
        x, y = spread * math.cos(a), spread * math.sin(a)
        drop = Hc * U(rng, 0.5, 1.0)
        b.capsule([x, y, Hc - drop], [x * 0.2, y * 0.2, Hc], cr, mat=frame)
        sr = U(rng, 0.06, 0.12)
        sh = sr * (1.9 if skind == "globe" else 0.9)
        shade(b, rng, np.array([x, y, Hc - drop - sh / 2 + 0.005]), [0, 0, 1], skind, sr, sh, 0.006)
    return f"hanging/{style}/{skind}"
