"""Tables: rectangular, round, oval (racetrack) and square tops; four-leg, pedestal, trestle and
tripod bases; dining, coffee and bar heights; optional apron, stretchers and (coffee tables) a lower
shelf."""

from __future__ import annotations

import math

import numpy as np

from .common import U, chance, leg, pick, variant_rng


def build(rng, b) -> str:
    top_kind = pick(rng, ["rect", "round", "oval", "square"], [0.45, 0.25, 0.15, 0.15])
    base = pick(rng, {"rect": ["four_legs", "trestle", "pedestal2"],
                      "round": ["pedestal", "tripod", "four_legs"],
                      "oval": ["four_legs", "pedestal2", "trestle"],
                      "square": ["four_legs", "pedestal"]}[top_kind],
                {"rect": [0.6, 0.25, 0.15], "round": [0.5, 0.2, 0.3], "oval": [0.5, 0.3, 0.2],
                 "square": [0.7, 0.3]}[top_kind])
    use = pick(rng, ["dining", "coffee", "bar"], [0.6, 0.3, 0.1] if base in ("pedestal", "four_legs") else [0.7, 0.3, 0])
    H = {"dining": U(rng, 0.70, 0.78), "coffee": U(rng, 0.35, 0.5), "bar": U(rng, 0.95, 1.08)}[use]
    tt = U(rng, 0.02, 0.06)
    frame = 1
    extra = variant_rng(rng)

    # --- top ----------------------------------------------------------------------------
    b.group(U(rng, 0.005, 0.02))
    zt = H - tt / 2
    top_mat = 0
    if top_kind == "rect":
        L = U(rng, 0.9, 2.2) if use != "coffee" else U(rng, 0.8, 1.4)
        Wd = L * U(rng, 0.4, 0.65)
        b.box([0, 0, zt], [L / 2, Wd / 2, tt / 2], round=U(rng, 0.002, tt * 0.45), mat=top_mat)
    elif top_kind == "square":
        L = U(rng, 0.6, 1.1)
        Wd = L
        b.box([0, 0, zt], [L / 2, Wd / 2, tt / 2], round=U(rng, 0.002, tt * 0.45), mat=top_mat)
    elif top_kind == "round":
        L = Wd = 2 * (U(rng, 0.3, 0.65) if use != "bar" else U(rng, 0.3, 0.4))
        b.cylinder([0, 0, zt], [0, 0, 1], L / 2, tt / 2, round=U(rng, 0.002, tt * 0.45), mat=top_mat)
    else:
        L = U(rng, 1.2, 2.2)
        Wd = L * U(rng, 0.45, 0.6)
        r = Wd / 2
        b.box([0, 0, zt], [L / 2 - r, r, tt / 2], round=0.003, mat=top_mat)
        for s in (-1, 1):
            b.cylinder([s * (L / 2 - r), 0, zt], [0, 0, 1], r, tt / 2, round=U(rng, 0.002, tt * 0.45), mat=top_mat)
    zu = H - tt  # underside

    # --- base ---------------------------------------------------------------------------
    fw = U(rng, 0.018, 0.04)
    shelf = False
    if base == "four_legs":
        style = pick(rng, ["square", "round", "tapered", "turned"])
        splay = U(rng, 0.0, 0.06) if style in ("round", "tapered") and chance(rng, 0.4) else 0.0
        if top_kind in ("round",):
            rad = L / 2 * U(rng, 0.45, 0.6)
            corners = [(rad * math.cos(a), rad * math.sin(a)) for a in (np.pi / 4, 3 * np.pi / 4, 5 * np.pi / 4, 7 * np.pi / 4)]
        else:
            ins = U(rng, 0.03, 0.12)
            if top_kind == "oval":
                lx, ly = L / 2 - Wd / 2 * 0.9, Wd / 2 * 0.6
            else:
                lx, ly = L / 2 - ins - fw, Wd / 2 - ins - fw
            corners = [(sx * lx, sy * ly) for sx in (-1, 1) for sy in (-1, 1)]
        for x, y in corners:
            n = np.array([x, y]) / max(1e-6, math.hypot(x, y))
            leg(b, [x, y, zu + 0.005], [x + n[0] * splay, y + n[1] * splay, 0.0], style, fw, mat=frame)
        if chance(rng, 0.6) and top_kind != "round":  # apron
            ah = U(rng, 0.04, 0.12)
            xs = sorted({abs(c[0]) for c in corners})[0]
            ys = sorted({abs(c[1]) for c in corners})[0]
            for s in (-1, 1):
                b.box([0, s * ys, zu - ah / 2], [xs, fw * 0.4, ah / 2], round=0.004, mat=frame)
                b.box([s * xs, 0, zu - ah / 2], [fw * 0.4, ys, ah / 2], round=0.004, mat=frame)
        shelf = use == "coffee" and chance(rng, 0.45)
        if shelf:  # lower shelf
            xs = max(abs(c[0]) for c in corners)
            ys = max(abs(c[1]) for c in corners)
            b.box([0, 0, U(rng, 0.06, 0.14)], [xs, ys, 0.012], round=0.004)
        elif chance(rng, 0.3):  # stretchers
            zs = U(rng, 0.08, 0.2)
            pts = [np.array([x, y, zs]) for x, y in corners]
            for i, j in ((0, 1), (2, 3)) if chance(rng, 0.5) else ((0, 2), (1, 3)):
                b.capsule(pts[i], pts[j], fw * 0.5, mat=frame)
    elif base in ("pedestal", "pedestal2"):
        col_r = U(rng, 0.04, 0.09)
        foot = pick(rng, ["disc", "cross", "four_feet"])
        centers = [0.0] if base == "pedestal" else [-L * 0.3, L * 0.3]
        for cx in centers:
            if foot == "disc":
                fr = min(L, Wd) / 2 * U(rng, 0.45, 0.75)
                b.cylinder([cx, 0, 0.015], [0, 0, 1], fr, 0.015, round=0.01, radius_top=fr * U(rng, 0.6, 1.0),
                           mat=frame)
            else:
                fr = min(L, Wd) / 2 * U(rng, 0.6, 0.85)
                n = 4 if foot == "cross" else int(rng.integers(3, 5))
                a0 = math.pi / 4 if foot == "cross" else U(rng, 0, math.pi)
                for i in range(n):
                    a = a0 + 2 * math.pi * i / n
                    b.roundcone([cx, 0, 0.06], [cx + fr * math.cos(a), fr * math.sin(a), 0.02], 0.04, 0.02, mat=frame)
            shape = pick(rng, ["straight", "tulip", "hourglass"])
            if shape == "straight":
                b.cylinder([cx, 0, zu / 2], [0, 0, 1], col_r, zu / 2, round=0.01, mat=frame)
            elif shape == "tulip":
                b.roundcone([cx, 0, col_r * 2.2], [cx, 0, zu - 0.05], col_r * 2.2, col_r * 0.7, mat=frame)
                b.cylinder([cx, 0, zu - 0.03], [0, 0, 1], col_r * 1.5, 0.03, round=0.01, mat=frame)
            else:
                b.roundcone([cx, 0, col_r * 1.8], [cx, 0, zu / 2], col_r * 1.8, col_r * 0.7, mat=frame)
                b.roundcone([cx, 0, zu / 2], [cx, 0, zu - col_r * 1.8], col_r * 0.7, col_r * 1.8, mat=frame)
        if base == "pedestal2":
            b.box([0, 0, zu - 0.03], [L * 0.3, 0.03, 0.03], round=0.01, mat=frame)
    elif base == "trestle":
        style = pick(rng, ["slab", "aframe", "post"])
        xe = L / 2 * U(rng, 0.7, 0.85)
        fd = Wd / 2 * U(rng, 0.7, 0.9)
        for s in (-1, 1):
            x = s * xe
            if style == "slab":
                b.box([x, 0, zu / 2], [fw, fd * U(rng, 0.5, 0.9), zu / 2], round=0.008, mat=frame)
            elif style == "aframe":
                for sy in (-1, 1):
                    leg(b, [x, sy * 0.03, zu], [x, sy * fd, 0.0], "square", fw * 0.8, mat=frame)
                b.box([x, 0, zu * 0.4], [fw * 0.7, fd * 0.55, fw], round=0.005, mat=frame)
            else:
                b.box([x, 0, zu / 2], [fw * 1.2, fw * 1.6, zu / 2], round=0.008, mat=frame)
                b.box([x, 0, 0.03], [fw * 1.3, fd, 0.03], round=0.01, mat=frame)
            b.box([x, 0, zu - 0.025], [fw * 1.3, fd * 0.9, 0.025], round=0.006, mat=frame)
        if chance(rng, 0.8):
            zs = zu * U(rng, 0.3, 0.6) if style != "aframe" else zu * 0.4
            b.box([0, 0, zs], [xe, 0.025, 0.03], round=0.008, mat=frame)
        shelf = use == "coffee" and chance(extra, 0.5)
        if shelf:  # lower shelf between the trestles
            b.box([0, 0, U(extra, 0.05, 0.12)], [xe, fd * 0.6, 0.012], round=0.004)
    else:  # tripod
        rad = L / 2 * U(rng, 0.5, 0.7)
        a0 = U(rng, 0, 2 * math.pi)
        for i in range(3):
            a = a0 + 2 * math.pi * i / 3
            leg(b, [rad * 0.4 * math.cos(a), rad * 0.4 * math.sin(a), zu], [rad * math.cos(a), rad * math.sin(a), 0],
                "tapered", fw, mat=frame)
    return f"{top_kind}/{base}/{use}" + ("/shelf" if shelf else "")
