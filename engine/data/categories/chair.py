"""Chairs: four-leg, sled, swivel (office chairs: five-star base on casters) and pedestal bases;
solid, slatted, ladder, curved and padded backs; optional arms and seat cushion; bar stools (tall,
on four legs or a pedestal, with a foot ring and a low back or none). Seat opening towards -Y."""

from __future__ import annotations

import math

import numpy as np

from ..sdf import rot_x, rot_z
from .common import U, chance, leg, pick, variant_rng


def build(rng, b) -> str:
    base = pick(rng, ["four_legs", "sled", "swivel", "pedestal"], [0.5, 0.15, 0.2, 0.15])
    back = pick(rng, ["solid", "slatted", "ladder", "curved", "padded"],
                [0.25, 0.2, 0.15, 0.2, 0.2] if base != "swivel" else [0.2, 0, 0, 0.2, 0.6])
    arms = chance(rng, 0.55 if base == "swivel" else 0.3)
    cushion = chance(rng, 0.35) and back != "padded"
    padded = back == "padded" or base == "swivel"
    extra = variant_rng(rng)
    stool = base in ("four_legs", "pedestal") and chance(extra, 0.2)
    if stool:
        back = pick(extra, ["none", "solid", "slatted", "curved"], [0.45, 0.2, 0.15, 0.2])
        arms = cushion = False
        round_seat = chance(extra, 0.6)

    W = U(rng, 0.42, 0.58)         # seat width (x)
    D = U(rng, 0.40, 0.52)         # seat depth (y)
    H = U(rng, 0.40, 0.48)         # seat top height
    if stool:
        W = D = U(extra, 0.34, 0.44)
        H = U(extra, 0.62, 0.8)
    st = U(rng, 0.05, 0.09) if padded else U(rng, 0.025, 0.06)
    fw = U(rng, 0.012, 0.022)      # frame / leg half size
    frame = 1

    # --- seat ---------------------------------------------------------------------------
    b.group(U(rng, 0.01, 0.025))
    seat_round = st * (0.45 if padded else U(rng, 0.1, 0.35))
    if stool and round_seat:
        b.cylinder([0, 0, H - st / 2], [0, 0, 1], W / 2, st / 2, round=seat_round)
    elif base in ("swivel", "pedestal") and chance(rng, 0.4):  # round-fronted seat
        b.box([0, 0.04 * D, H - st / 2], [W / 2, D * 0.46, st / 2], round=seat_round)
        b.cylinder([0, -0.08 * D, H - st / 2], [0, 0, 1], W / 2, st / 2, round=seat_round)
    else:
        b.box([0, 0, H - st / 2], [W / 2, D / 2, st / 2], round=seat_round)
    top = H
    if cushion:
        ct = U(rng, 0.04, 0.08)
        b.group(0.0)
        b.box([0, -0.01, H + ct / 2 - 0.005], [W / 2 - 0.015, D / 2 - 0.02, ct / 2], round=ct * 0.45)
        top = H + ct - 0.005
        b.group(U(rng, 0.01, 0.02))

    # --- back ---------------------------------------------------------------------------
    bh = U(rng, 0.32, 0.6) if back != "padded" else U(rng, 0.4, 0.7)
    if stool:
        bh = U(extra, 0.12, 0.28)
    tilt = math.radians(U(rng, 0, 15))
    R = rot_x(-tilt)               # top leans towards +Y
    up = R @ np.array([0, 0, 1.0])
    bt = U(rng, 0.02, 0.05)
    y0 = D / 2 - bt / 2
    base_pt = np.array([0, y0, H - 0.01])

    def along(h, x=0.0, dy=0.0):
        return base_pt + np.array([x, dy, 0]) + up * h

    bw = W / 2 * U(rng, 0.85, 1.0)
    if back == "none":
        pass  # a backless stool
    elif back == "solid":
        b.box(along(bh / 2), [bw, bt / 2, bh / 2], round=min(bt * 0.45, 0.02), rot=R)
    elif back in ("slatted", "ladder"):
        px = W / 2 - fw
        for s in (-1, 1):
            leg(b, along(bh, s * px), along(-0.0, s * px), "square" if chance(rng, 0.5) else "round", fw, mat=frame)
        rail = U(rng, 0.03, 0.08)
        b.box(along(bh - rail / 2), [px, bt / 2, rail / 2], round=0.008, rot=R, mat=frame)
        if back == "slatted":
            n = int(rng.integers(3, 7))
            span = 2 * px - 2 * fw
            sw = span / n * U(rng, 0.3, 0.6)
            for i in range(n):
                x = -span / 2 + span * (i + 0.5) / n
                b.box(along((bh - rail) / 2 + 0.03, x), [sw / 2, bt * 0.3, (bh - rail) / 2 - 0.03], round=0.004,
                      rot=R, mat=frame)
        else:
            n = int(rng.integers(1, 4))
            for i in range(n):
                h = bh * (0.25 + 0.5 * i / max(n, 1))
                b.box(along(h), [px, bt * 0.35, rail * 0.35], round=0.005, rot=R, mat=frame)
    elif back == "curved":
        radius = U(rng, 0.3, 0.55)
        half_angle = math.asin(min(0.97, (W / 2) / radius)) * U(rng, 0.8, 1.0)
        center = along(bh / 2) - np.array([0, radius - bt / 2, 0])
        b.arc(center, radius, bt / 2, half_angle, bh / 2, round=bt * 0.4, rot=R)
        if chance(rng, 0.5):  # wrap-around: lower rail also curved, down to the seat
            b.arc(along(0.04) - np.array([0, radius - bt / 2, 0]), radius, bt / 2, half_angle, 0.04,
                  round=bt * 0.4, rot=R)
    else:  # padded (office / lounge): thick rounded back, maybe held by a spine
        pt = U(rng, 0.05, 0.1)
        gap = U(rng, 0.0, 0.1) if base == "swivel" else 0.0
        if gap > 0.02:
            spine_lo = np.array([0, D / 2 - 0.05, H - st / 2])
            b.box(along(gap / 2 + 0.02, dy=pt / 2), [0.04, 0.012, gap / 2 + 0.04], round=0.008, rot=R, mat=frame)
            b.box((spine_lo + np.array([0, 0.05, -0.0])), [0.04, 0.04, 0.012], round=0.008, mat=frame)
        wide = bw * U(rng, 0.85, 1.05)
        b.box(along(gap + bh / 2, dy=0.0), [wide, pt / 2, bh / 2], round=pt * 0.45, rot=R)
        if chance(rng, 0.4):  # headrest
            hr = U(rng, 0.08, 0.12)
            b.box(along(gap + bh + hr / 2 + 0.04), [wide * 0.55, pt / 2, hr / 2], round=pt * 0.4, rot=R)
            b.box(along(gap + bh + 0.02), [0.03, pt / 4, 0.04], round=0.01, rot=R, mat=frame)

    # --- base ---------------------------------------------------------------------------
    zb = H - st            # underside of the seat
    if base == "four_legs":
        style = pick(rng, ["square", "round", "tapered", "turned"])
        splay = U(rng, 0.0, 0.05) if style in ("round", "tapered") else 0.0
        ins = U(rng, 0.015, 0.05)
        lx, ly = W / 2 - ins - fw, D / 2 - ins - fw
        feet = []
        for sx in (-1, 1):
            for sy in (-1, 1):
                topp = [sx * lx, sy * ly, zb + 0.01]
                foot = [sx * (lx + splay), sy * (ly + splay), 0.0]
                leg(b, topp, foot, style, fw * U(rng, 1.0, 1.3), mat=frame)
                feet.append(foot)
        if stool or chance(rng, 0.45):  # stretchers (a bar stool's foot ring)
            zs = H * U(extra, 0.3, 0.4) if stool else U(rng, 0.1, 0.22)
            k = zs / zb
            pts = {(sx, sy): np.array([sx * (lx + splay * (1 - k)), sy * (ly + splay * (1 - k)), zs])
                   for sx in (-1, 1) for sy in (-1, 1)}
            r = fw * (0.8 if stool else 0.55)
            if not stool and chance(rng, 0.5):  # H stretcher
                for sx in (-1, 1):
                    b.capsule(pts[(sx, -1)], pts[(sx, 1)], r, mat=frame)
                b.capsule((pts[(-1, -1)] + pts[(-1, 1)]) / 2, (pts[(1, -1)] + pts[(1, 1)]) / 2, r, mat=frame)
            else:
                for a, c in [((-1, -1), (1, -1)), ((-1, 1), (1, 1)), ((-1, -1), (-1, 1)), ((1, -1), (1, 1))]:
                    b.capsule(pts[a], pts[c], r, mat=frame)
        if chance(rng, 0.5):  # apron under the seat
            ah = U(rng, 0.03, 0.07)
            b.box([0, -ly, zb - ah / 2], [lx, fw * 0.5, ah / 2], round=0.004, mat=frame)
            b.box([0, ly, zb - ah / 2], [lx, fw * 0.5, ah / 2], round=0.004, mat=frame)
            for sx in (-1, 1):
                b.box([sx * lx, 0, zb - ah / 2], [fw * 0.5, ly, ah / 2], round=0.004, mat=frame)
    elif base == "sled":
        r = U(rng, 0.009, 0.015)
        xs = W / 2 - U(rng, 0.0, 0.04)
        yf, yr = -D / 2 + U(rng, 0.0, 0.05), D / 2 - U(rng, 0.0, 0.04)
        for sx in (-1, 1):
            x = sx * xs
            b.capsule([x, yf, r], [x, yr + 0.03, r], r, mat=frame)           # runner
            b.capsule([x, yf, r], [x, yf + 0.02, zb], r, mat=frame)          # front upright
            b.capsule([x, yr + 0.03, r], [x, yr - 0.02, zb], r, mat=frame)   # rear upright
            b.capsule([x, yf + 0.02, zb], [x, yr - 0.02, zb], r, mat=frame)  # under the seat
    elif base == "swivel":
        col_r = U(rng, 0.02, 0.03)
        hub_z = U(rng, 0.08, 0.12)
        b.box([0, 0, zb - 0.03], [0.1, 0.12, 0.03], round=0.01, mat=frame)    # mechanism
        b.cylinder([0, 0, (zb + hub_z) / 2], [0, 0, 1], col_r, (zb - hub_z) / 2, round=0.005, mat=frame)
        b.cylinder([0, 0, hub_z], [0, 0, 1], col_r * 1.8, 0.03, round=0.01, mat=frame)
        n = 5
        arm_len = U(rng, 0.26, 0.34)
        rot0 = U(rng, 0, 2 * math.pi)
        wr = U(rng, 0.022, 0.03)
        for i in range(n):
            a = rot0 + 2 * math.pi * i / n
            d = np.array([math.cos(a), math.sin(a), 0])
            end = d * arm_len + np.array([0, 0, 2 * wr + 0.015])
            b.roundcone([0, 0, hub_z], end, 0.03, 0.018, mat=frame)
            b.capsule(end, end - np.array([0, 0, 0.02]), 0.008, mat=frame)
            b.cylinder(end + np.array([0, 0, -0.02 - wr + 0.002]) + d * 0.015, rot_z(a) @ np.array([0, 1.0, 0]),
                       wr, 0.012, round=0.006, mat=2)
    else:  # pedestal / tulip
        base_r = U(rng, 0.18, 0.26)
        col_r = U(rng, 0.02, 0.04)
        style = pick(rng, ["disc", "tulip", "cross"])
        if style == "cross":
            for i in range(4):
                a = math.pi / 4 + i * math.pi / 2
                b.roundcone([0, 0, 0.04], [math.cos(a) * base_r, math.sin(a) * base_r, 0.015], 0.03, 0.015,
                            mat=frame)
        else:
            b.cylinder([0, 0, 0.012], [0, 0, 1], base_r, 0.012, round=0.008,
                       radius_top=base_r * (0.6 if style == "tulip" else 0.97), mat=frame)
        r1 = col_r * (2.0 if style == "tulip" else 1.0)
        b.roundcone([0, 0, max(0.03, r1)], [0, 0, zb - 0.02], r1, col_r, mat=frame)
        b.cylinder([0, 0, zb - 0.02], [0, 0, 1], col_r * 2.5, 0.02, round=0.008, mat=frame)
        if stool:  # foot ring on spokes
            ring_r, zr = U(extra, 0.13, 0.18), H * U(extra, 0.3, 0.4)
            b.torus([0, 0, zr], [0, 0, 1], ring_r, U(extra, 0.008, 0.014), mat=frame)
            for i in range(3):
                a = 2 * math.pi * i / 3
                b.capsule([0, 0, zr], [ring_r * math.cos(a), ring_r * math.sin(a), zr], 0.008, mat=frame)

    # --- arms ---------------------------------------------------------------------------
    subtype = ("bar_stool/" if stool else "") + f"{base}/{back}"
    if arms:
        subtype += "/arms"
        ah = U(rng, 0.18, 0.26)
        ar = U(rng, 0.012, 0.02)
        ax = W / 2 + (U(rng, -0.01, 0.03) if base != "swivel" else U(rng, 0.02, 0.05))
        yf, yb = -D / 2 + U(rng, 0.03, 0.08), D / 2 - 0.02
        style = pick(rng, ["post", "panel"] if base != "swivel" else ["post", "loop"])
        pad_w = U(rng, 0.025, 0.045)
        for s in (-1, 1):
            x = s * ax
            if style == "panel":
                b.box([x, 0, (zb + top + ah) / 2], [ar, D / 2 - 0.03, (top + ah - zb) / 2], round=ar * 0.8,
                      mat=0 if padded else frame)
                continue
            if style == "loop":
                b.capsule([x, yf + 0.05, zb - 0.01], [x, yf + 0.02, top + ah - 0.02], ar, mat=frame)
                b.capsule([x, yb - 0.05, zb - 0.01], [x, yb - 0.1, top + ah - 0.02], ar, mat=frame)
            else:
                b.capsule([x, yf + 0.03, zb + 0.005], [x, yf + 0.03, top + ah - 0.02], ar, mat=frame)
            b.box([x, (yf + yb) / 2, top + ah], [pad_w, (yb - yf) / 2, 0.018], round=0.015,
                  mat=0 if padded else frame)
    if cushion:
        subtype += "/cushion"
    return subtype
