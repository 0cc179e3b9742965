"""Cars: sedan, hatchback, SUV, sports car, van and pickup. Side-profile polygons for the body and
the cabin (blended), wheel arches cut out, four wheels (tyre, rim, hub), windows, lights, grille,
mirrors, spoiler / roof rails. Nose towards -Y."""

from __future__ import annotations

import math

import numpy as np

from ..sdf import _inset_polygon, rot_x
from .common import U, chance, pick

SPECS = {  # length, width, height, wheel radius, clearance, belt (fraction of H)
    "sedan": ((4.4, 5.0), (1.75, 1.9), (1.38, 1.5), (0.30, 0.34), (0.13, 0.17), (0.58, 0.64)),
    "hatchback": ((3.7, 4.3), (1.68, 1.8), (1.42, 1.56), (0.28, 0.32), (0.13, 0.16), (0.57, 0.63)),
    "suv": ((4.3, 4.9), (1.82, 2.0), (1.62, 1.85), (0.35, 0.40), (0.2, 0.26), (0.56, 0.62)),
    "sports": ((4.1, 4.6), (1.82, 1.95), (1.1, 1.26), (0.31, 0.35), (0.1, 0.13), (0.6, 0.68)),
    "van": ((4.7, 5.4), (1.85, 2.0), (1.85, 2.15), (0.31, 0.35), (0.16, 0.2), (0.44, 0.5)),
    "pickup": ((5.0, 5.6), (1.85, 2.0), (1.75, 1.9), (0.36, 0.40), (0.22, 0.28), (0.55, 0.6)),
}


def _slab_rot(v_yz):
    """Rotation taking local z to the direction (0, vy, vz)."""
    return rot_x(math.atan2(-v_yz[0], v_yz[1]))


def build(rng, b) -> str:
    kind = pick(rng, list(SPECS), [0.25, 0.2, 0.2, 0.15, 0.1, 0.1])
    spec = SPECS[kind]
    L, W, H, wr, zb, belt_f = (U(rng, *r) for r in spec)
    belt = H * belt_f
    of, orr = U(rng, 0.16, 0.21) * L, U(rng, 0.18, 0.24) * L
    if kind == "van":
        of = U(rng, 0.13, 0.17) * L
    yf, yr = -L / 2 + of, L / 2 - orr
    hood = belt - (U(rng, 0.1, 0.18) if kind == "sports" else U(rng, 0.04, 0.12))
    if kind == "van":
        hood = belt - U(rng, 0.0, 0.08)
    nose = U(rng, 0.05, 0.15)
    belt_rear = belt + (U(rng, 0.0, 0.06) if kind in ("sedan", "sports") else 0.0)
    rr = U(rng, 0.08, 0.25)
    Hc = H - belt
    if kind == "sedan":
        ws = -L / 2 + L * U(rng, 0.30, 0.36)
        rf = ws + Hc * U(rng, 1.2, 1.7)
        rb = L / 2 - L * U(rng, 0.33, 0.4)
        cb = L / 2 - L * U(rng, 0.17, 0.23)
    elif kind == "hatchback":
        ws = -L / 2 + L * U(rng, 0.26, 0.32)
        rf = ws + Hc * U(rng, 1.1, 1.6)
        rb = L / 2 - U(rng, 0.15, 0.35)
        cb = L / 2 - 0.05
    elif kind == "suv":
        ws = -L / 2 + L * U(rng, 0.27, 0.32)
        rf = ws + Hc * U(rng, 0.9, 1.3)
        rb = L / 2 - U(rng, 0.08, 0.22)
        cb = L / 2 - 0.05
    elif kind == "sports":
        ws = -L / 2 + L * U(rng, 0.34, 0.42)
        rf = ws + Hc * U(rng, 1.8, 2.5)
        rb = rf + L * U(rng, 0.08, 0.16)
        cb = L / 2 - L * U(rng, 0.06, 0.16)
    elif kind == "van":
        ws = -L / 2 + L * U(rng, 0.1, 0.16)
        rf = ws + Hc * U(rng, 0.45, 0.8)
        rb = L / 2 - 0.06
        cb = L / 2 - 0.03
    else:  # pickup
        ws = -L / 2 + L * U(rng, 0.25, 0.3)
        rf = ws + Hc * U(rng, 0.8, 1.2)
        rb = ws + L * U(rng, 0.24, 0.3)
        cb = rb + 0.06

    # --- body + cabin (blended), wheel arches cut away ---------------------------------------
    b.group(U(rng, 0.05, 0.12))  # body and cabin blend in one group
    lower = [(-L / 2 + 0.12, zb), (L / 2 - 0.15, zb), (L / 2, zb + 0.22), (L / 2 - 0.04, belt_rear),
             (ws, belt), (-L / 2 + 0.2, hood), (-L / 2, hood - nose), (-L / 2 + 0.02, zb + 0.15)]
    b.side_polygon(lower, 0.0, W / 2, round=U(rng, 0.05, 0.12))
    hwc = W / 2 - (U(rng, 0.05, 0.1) if kind in ("van", "suv") else U(rng, 0.08, 0.16))
    cabin = [(ws - 0.05, belt - 0.05), (cb, belt_rear - 0.05), (rb, H), (rf, H)]
    b.side_polygon(cabin, 0.0, hwc, round=min(U(rng, 0.06, 0.12), rr))
    ra = min(wr + U(rng, 0.03, 0.07), hood - 0.07 - wr)
    for y in (yf, yr):
        b.cylinder([0, y, wr], [1, 0, 0], ra, W, op=-1)
    if kind == "pickup":  # open bed
        b.box([0, (cb + 0.1 + L / 2 - 0.06) / 2, belt + 0.05], [W / 2 - 0.08, (L / 2 - 0.06 - cb - 0.1) / 2, 0.38],
              op=-1)

    # --- windows ------------------------------------------------------------------------
    b.group(0.0)
    win = _inset_polygon(np.array(cabin, float) + [[0, 0.05], [0, 0.05], [0, 0], [0, 0]], 0.07)
    win[:2, 1] = np.maximum(win[:2, 1], belt + 0.04)
    b.side_polygon(win, 0.0, hwc + 0.004, round=0.004, mat=2)
    if kind != "van" or chance(rng, 0.5):
        yb = ws + (rb - ws) * U(rng, 0.45, 0.6) if kind != "pickup" else None
        if yb is not None:
            b.box([0, yb, (belt + H) / 2], [hwc + 0.008, U(rng, 0.03, 0.06), (H - belt) / 2 - 0.02], round=0.01)
    for p, q, front in ((cabin[0], cabin[3], True), (cabin[1], cabin[2], False)):  # windscreen, rear window
        v = np.array(q) - np.array(p)
        length = np.linalg.norm(v)
        n = (np.array([-v[1], v[0]]) if front else np.array([v[1], -v[0]])) / length  # outward
        c = (np.array(p) + np.array(q)) / 2 + n * 0.012
        b.box([0, c[0], c[1]], [hwc - 0.07, 0.012, length / 2 - 0.06], round=0.008, rot=_slab_rot(v), mat=2)

    # --- wheels -------------------------------------------------------------------------
    hw = U(rng, 0.09, 0.13) if kind not in ("suv", "pickup") else U(rng, 0.12, 0.16)
    tr = wr * U(rng, 0.25, 0.38)
    xw = W / 2 - hw + U(rng, -0.01, 0.03)
    rim_mat = 3 if chance(rng, 0.7) else 2
    for y in (yf, yr):
        for s in (-1, 1):
            c = np.array([s * xw, y, wr])
            b.revolved(c, [1, 0, 0], wr - tr, -hw + tr, wr - tr, hw - tr, tr, mat=2)
            b.cylinder(c, [1, 0, 0], wr - 1.7 * tr, hw - 0.025, round=0.01, mat=rim_mat)
            b.ellipsoid(c + [s * (hw - 0.03), 0, 0], [0.03, wr * 0.25, wr * 0.25], mat=1)

    # --- details ------------------------------------------------------------------------
    zl = hood - nose * 0.5 - 0.06
    for s in (-1, 1):
        b.ellipsoid([s * (W / 2 - 0.25), -L / 2 + 0.05, zl], [U(rng, 0.12, 0.2), 0.06, U(rng, 0.035, 0.06)], mat=3)
        b.box([s * (W / 2 - 0.15), L / 2 - 0.02, belt_rear - 0.12], [U(rng, 0.08, 0.18), 0.03, 0.05], round=0.02,
              mat=3)
        b.box([s * (hwc + 0.09), ws + 0.2, belt + 0.08], [0.07, 0.035, 0.045], round=0.02)  # mirror
    b.box([0, -L / 2 + 0.03, zb + (hood - zb) * 0.45], [W * U(rng, 0.15, 0.3), 0.03, U(rng, 0.05, 0.1)],
          round=0.015, mat=2)
    extra = ""
    if kind == "sports" and chance(rng, 0.5):
        zs = belt_rear + U(rng, 0.08, 0.15)
        b.box([0, L / 2 - 0.18, zs], [W / 2 - 0.12, 0.12, 0.015], round=0.01)
        for s in (-1, 1):
            b.box([s * (W / 2 - 0.35), L / 2 - 0.18, (zs + belt_rear) / 2], [0.02, 0.05, (zs - belt_rear) / 2 + 0.02],
                  round=0.01)
        extra = "/spoiler"
    if kind == "suv" and chance(rng, 0.5):
        for s in (-1, 1):
            b.box([s * (hwc - 0.12), (rf + rb) / 2, H + 0.03], [0.02, (rb - rf) / 2 - 0.05, 0.02], round=0.01, mat=1)
        extra = "/roofrails"
    return kind + extra
