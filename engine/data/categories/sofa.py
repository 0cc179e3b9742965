"""Sofas: 2/3/4 seats (and armchairs), square, rolled, sloped or thin arms (or none), seat and back
cushions, plinth or legs, optional chaise (L shape) or a separate footstool in front. Seating side
towards -Y."""

from __future__ import annotations

import numpy as np

from ..sdf import rot_x
from .common import U, chance, pick, variant_rng


def build(rng, b) -> str:
    n = int(pick(rng, [1, 2, 3, 4], [0.12, 0.38, 0.4, 0.1]))
    arm = pick(rng, ["square", "rolled", "sloped", "thin", "none"], [0.3, 0.25, 0.2, 0.15, 0.1])
    chaise = n >= 2 and chance(rng, 0.25)
    sw = U(rng, 0.5, 0.68)                      # seat width per cushion
    Ls = n * sw
    aw = {"square": U(rng, 0.12, 0.25), "rolled": U(rng, 0.12, 0.22), "sloped": U(rng, 0.12, 0.2),
          "thin": U(rng, 0.05, 0.09), "none": 0.0}[arm]
    D = U(rng, 0.78, 1.0)
    H = U(rng, 0.38, 0.47)                      # seat top
    Hb = U(rng, 0.7, 0.95)                      # back top
    Ha = min(H + U(rng, 0.12, 0.27), Hb - 0.05)  # arm top
    legs = chance(rng, 0.6)
    lh = U(rng, 0.04, 0.16) if legs else 0.0
    bt = U(rng, 0.12, 0.25)                     # back frame depth
    ct = U(rng, 0.1, 0.18)                      # seat cushion thickness
    zc = H - ct                                 # top of the base
    rnd = U(rng, 0.02, 0.05)
    side = 1 if chance(rng, 0.5) else -1        # chaise side
    Lc = U(rng, 0.45, 0.8) if chaise else 0.0
    y0, y1 = -D / 2, D / 2

    # --- frame: base + back + arms, softly blended ------------------------------------------
    b.group(U(rng, 0.02, 0.05))
    b.box([0, (y0 + y1 - bt) / 2, (lh + zc) / 2], [Ls / 2, (y1 - bt - y0) / 2, (zc - lh) / 2], round=rnd)
    back_top = pick(rng, ["flat", "round"])
    b.box([0, y1 - bt / 2, (lh + Hb) / 2], [Ls / 2 + aw, bt / 2, (Hb - lh) / 2], round=min(rnd * 1.5, bt * 0.45))
    if back_top == "round":
        b.cylinder([0, y1 - bt / 2, Hb - 0.01], [1, 0, 0], bt * 0.55, Ls / 2 + aw, round=0.03)
    if chaise:
        cx = side * (Ls / 2 - sw / 2)
        b.box([cx, y0 - Lc / 2, (lh + zc) / 2], [sw / 2, Lc / 2 + 0.02, (zc - lh) / 2], round=rnd)
    for s in (-1, 1):
        if arm == "none":
            continue
        x = s * (Ls / 2 + aw / 2)
        ya = y0 - (Lc if chaise and s == side else 0.0)
        yc, hy = (ya + y1) / 2, (y1 - ya) / 2
        if arm == "square":
            b.box([x, yc, (lh + Ha) / 2], [aw / 2, hy, (Ha - lh) / 2], round=min(rnd, aw * 0.45))
        elif arm == "thin":
            b.box([x, yc, (lh + Ha) / 2], [aw / 2, hy, (Ha - lh) / 2], round=aw * 0.45)
        elif arm == "rolled":
            rr = aw * U(rng, 0.55, 0.75)
            b.box([x, yc, (lh + Ha - rr) / 2], [aw / 2, hy, (Ha - rr - lh) / 2], round=min(rnd, aw * 0.4))
            b.cylinder([x + s * (rr - aw / 2) * 0.6, yc - 0.01, Ha - rr], [0, 1, 0], rr, hy + 0.01, round=rr * 0.5)
        else:  # sloped: higher at the back
            R = rot_x(-np.arctan2(0.08, 2 * hy))
            b.box([x, yc, (lh + Ha) / 2 - 0.02], [aw / 2, hy, (Ha - lh) / 2], round=min(aw * 0.45, 0.06), rot=R)

    # --- cushions: hard union so the seams stay -------------------------------------------
    b.group(0.0)
    depth = (y1 - bt) - y0
    cr = min(ct * 0.45, U(rng, 0.03, 0.07))
    one_seat = n >= 2 and chance(rng, 0.2)
    parts = [(-Ls / 2, Ls / 2)] if one_seat else [(-Ls / 2 + i * sw, -Ls / 2 + (i + 1) * sw) for i in range(n)]
    for xa, xb in parts:
        yext = Lc if chaise and (xa + xb) / 2 * side > Ls / 2 - sw else 0.0
        b.box([(xa + xb) / 2, y0 + (depth - yext) / 2, zc + ct / 2 - 0.01],
              [(xb - xa) / 2 - 0.004, (depth + yext) / 2 - 0.005, ct / 2], round=cr)
    back_cushions = chance(rng, 0.7)
    if back_cushions:
        bct = U(rng, 0.12, 0.2)
        tilt = U(rng, 0.1, 0.3)
        R = rot_x(-tilt)
        hb = (Hb - H) * U(rng, 0.75, 1.05)
        bparts = parts if chance(rng, 0.8) else [(-Ls / 2, Ls / 2)]
        for xa, xb in bparts:
            c = np.array([(xa + xb) / 2, y1 - bt - bct / 2 + 0.02, H + hb / 2 - 0.02])
            b.box(c, [(xb - xa) / 2 - 0.006, bct / 2, hb / 2], round=min(bct * 0.45, 0.07), rot=R)
    if chance(rng, 0.25):  # throw pillows
        for s in ((-1, 1) if n > 1 else (0,)):
            c = np.array([s * (Ls / 2 - 0.2), y1 - bt - 0.25, H + 0.18])
            b.box(c, [0.16, 0.05, 0.16], round=0.05, rot=rot_x(-0.35), mat=3)

    extra = variant_rng(rng)
    footstool = not chaise and chance(extra, 0.2)
    if footstool:  # in front of the seats, about as high
        hx, hy = U(extra, 0.22, 0.4), U(extra, 0.18, 0.28)
        fx, fy = U(extra, -0.15, 0.15) * Ls, y0 - U(extra, 0.15, 0.3) - hy
        top = H - U(extra, 0.0, 0.06)
        b.box([fx, fy, (lh + top) / 2], [hx, hy, (top - lh) / 2], round=min(cr, hy * 0.4))

    # --- legs ---------------------------------------------------------------------------
    if legs:
        style = pick(rng, ["block", "peg", "tapered"])
        xl = Ls / 2 + aw - 0.06
        ys = [y0 + 0.06, y1 - 0.06]
        xs = [-xl, xl] + ([0.0] if n >= 3 else [])
        feet = [(x, y) for x in xs for y in ys]
        if chaise:
            feet.append((side * xl, y0 - Lc + 0.06))
        if footstool:
            feet += [(fx + sx * (hx - 0.05), fy + sy * (hy - 0.05)) for sx in (-1, 1) for sy in (-1, 1)]
        for x, y in feet:
            if style == "block":
                b.box([x, y, lh / 2], [0.03, 0.03, lh / 2], round=0.008, mat=1)
            elif style == "peg":
                b.cylinder([x, y, lh / 2], [0, 0, 1], 0.025, lh / 2, round=0.006, mat=1)
            else:
                b.roundcone([x, y, 0.012], [x, y, lh], 0.012, 0.025, mat=1)
    else:  # plinth: the frame goes down to the floor
        pass
    kind = f"{n}seat" if n > 1 else "armchair"
    return (f"{kind}/{arm}" + ("/chaise" if chaise else "") + ("/footstool" if footstool else "")
            + ("/legs" if legs else "/plinth"))
