"""Airplanes: airliners (2 or 4 underwing engines, optional winglets / T-tail), business jets (rear
engines, T-tail), regional turboprops (high wing, two propellers), light aircraft (nose
propeller, high or low wing, fixed gear) and fighters (delta or swept wing, single or twin
canted fins). Nose towards -Y, fuselage length 1 before normalisation."""

from __future__ import annotations

import math

import numpy as np

from ..sdf import SIDE, rot_y
from .common import U, chance, pick


def _wing(b, root_le, half_span, root_chord, tip_chord, sweep, dihedral, thick, mat=0, both=True):
    """Trapezoid wing(s) from the root leading edge point; returns a function giving the leading
    edge point (world) at span position x >= 0 of the right wing."""
    t = math.tan(sweep)
    verts = [(0, 0), (half_span, half_span * t), (half_span, half_span * t + tip_chord), (0, root_chord)]
    root_le = np.asarray(root_le, float)
    sides = (1, -1) if both else (1,)
    for s in sides:
        v = [(s * x, y) for x, y in verts]
        b.polygon(v, thick, round=thick * 0.9, rot=rot_y(-s * dihedral), pos=root_le, mat=mat)

    def le(x, s=1):
        return root_le + rot_y(-s * dihedral) @ np.array([s * x, x * t, 0.0])
    return le


def _tailplane(b, root_le, half_span, root_chord, tip_chord, sweep, thick, mat=0):
    t = math.tan(sweep)
    v = [(0, 0), (half_span, half_span * t), (half_span, half_span * t + tip_chord), (0, root_chord),
         (-half_span, half_span * t + tip_chord), (-half_span, half_span * t)]
    b.polygon(v, thick, round=thick * 0.9, pos=root_le, mat=mat)


def _fin(b, y_root_le, z_root, height, root_chord, tip_chord, sweep, thick, x=0.0, cant=0.0, mat=0):
    t = math.tan(sweep)
    v = [(y_root_le, 0), (y_root_le + root_chord, 0), (y_root_le + height * t + tip_chord, height),
         (y_root_le + height * t, height)]
    R = rot_y(cant) @ SIDE
    b.polygon(v, thick, round=thick * 0.9, rot=R, pos=(x, 0, z_root), mat=mat)
    return np.array([x + math.sin(cant) * height, y_root_le + height * t, z_root + height * math.cos(cant)])


def _nacelle(b, front, radius, length, mat=1):
    c = np.asarray(front, float) + [0, length / 2, 0]
    b.cylinder(c, [0, 1, 0], radius, length / 2, round=radius * 0.35, radius_top=radius * 0.75, mat=mat)
    b.cylinder(np.asarray(front, float) + [0, 0.004, 0], [0, 1, 0], radius * 0.78, 0.006, mat=2)


def _propeller(b, hub, radius, blades, rng, mat=2):
    hub = np.asarray(hub, float)
    b.ellipsoid(hub, [radius * 0.18, radius * 0.3, radius * 0.18], mat=1)
    a0 = U(rng, 0, math.pi)
    for i in range(blades):
        R = rot_y(a0 + 2 * math.pi * i / blades)
        b.box(hub + R @ np.array([0, 0.0, radius * 0.55]), [radius * 0.07, radius * 0.025, radius * 0.45],
              round=radius * 0.02, rot=R, mat=mat)


def build(rng, b) -> str:
    kind = pick(rng, ["airliner", "bizjet", "turboprop", "light", "fighter"], [0.3, 0.15, 0.15, 0.2, 0.2])
    rf = {"airliner": U(rng, 0.045, 0.065), "bizjet": U(rng, 0.04, 0.055), "turboprop": U(rng, 0.045, 0.06),
          "light": U(rng, 0.06, 0.08), "fighter": U(rng, 0.04, 0.055)}[kind]
    ln = U(rng, 0.22, 0.3) if kind == "fighter" else U(rng, 0.09, 0.16)
    lt = U(rng, 0.25, 0.35) if kind != "fighter" else U(rng, 0.15, 0.25)
    up = 0.0 if kind == "fighter" else U(rng, 0.4, 0.8) * rf
    tip = 0.12 if kind == "fighter" else U(rng, 0.3, 0.5)
    tail_r = 0.75 if kind == "fighter" else U(rng, 0.15, 0.3)

    # --- fuselage -----------------------------------------------------------------------
    b.group(U(rng, 0.01, 0.02))
    y_a, y_b = -0.5 + ln, 0.5 - lt
    b.capsule([0, y_a, 0], [0, y_b, 0], rf)
    b.roundcone([0, -0.5 + tip * rf, -0.15 * rf if kind != "fighter" else 0.0], [0, y_a, 0], tip * rf, rf)
    b.roundcone([0, y_b, 0], [0, 0.5 - tail_r * rf, up], rf, tail_r * rf)
    z_tail = up + tail_r * rf * 0.3

    def fus_z(y):  # top of the tail cone at y (for attaching the fin)
        f = np.clip((y - y_b) / (0.5 - y_b), 0, 1)
        return up * f + rf * (1 - f) + tail_r * rf * f

    subtype = kind
    mat_eng = 1
    if kind in ("airliner", "bizjet", "turboprop", "light"):
        S = {"airliner": U(rng, 0.42, 0.55), "bizjet": U(rng, 0.36, 0.46), "turboprop": U(rng, 0.5, 0.6),
             "light": U(rng, 0.55, 0.7)}[kind]
        sweep = math.radians({"airliner": U(rng, 22, 36), "bizjet": U(rng, 18, 32)}.get(kind, U(rng, 0, 5)))
        cr = {"airliner": U(rng, 0.15, 0.22), "bizjet": U(rng, 0.14, 0.19), "turboprop": U(rng, 0.1, 0.13),
              "light": U(rng, 0.13, 0.17)}[kind]
        taper = {"airliner": U(rng, 0.25, 0.4), "bizjet": U(rng, 0.35, 0.5)}.get(kind, U(rng, 0.55, 1.0))
        high = kind == "turboprop" or (kind == "light" and chance(rng, 0.5))
        dihedral = math.radians(U(rng, 3, 7) if not high else U(rng, 0, 2))
        zw = 0.85 * rf if high else -0.55 * rf
        y_le = U(rng, -0.12, -0.02) if kind != "light" else U(rng, -0.3, -0.2)
        tw = cr * U(rng, 0.05, 0.07)
        le = _wing(b, [0, y_le, zw], S, cr, cr * taper, sweep, dihedral, tw)
        subtype += "/high" if high else "/low"
        if kind == "airliner" and chance(rng, 0.5):  # winglets
            for s in (1, -1):
                p = le(S, s)
                ct = cr * taper
                b.polygon([(p[1], 0), (p[1] + ct, 0), (p[1] + ct + 0.03, 0.05), (p[1] + ct * 0.6 + 0.03, 0.05)],
                          0.004, round=0.003, rot=SIDE, pos=(p[0], 0, p[2]))
            subtype += "/winglets"
        # engines
        if kind == "airliner":
            n_eng = 2 if chance(rng, 0.75) else 4
            rn = U(rng, 0.028, 0.042) * (1.0 if n_eng == 2 else 0.8)
            for f in ((0.33,) if n_eng == 2 else (0.27, 0.55)):
                for s in (1, -1):
                    p = le(S * f, s)
                    lnac = rn * U(rng, 3.0, 4.2)
                    front = p + [0, -lnac * 0.45, -rn - 0.01]
                    _nacelle(b, front, rn, lnac, mat=mat_eng)
                    b.box(p + [0, lnac * 0.1, -rn * 0.5 - 0.005], [0.004, lnac * 0.35, rn * 0.5 + 0.005],
                          round=0.002, mat=mat_eng)
            subtype += f"/{n_eng}eng"
        elif kind == "bizjet":
            rn = U(rng, 0.022, 0.03)
            lnac = rn * U(rng, 3.0, 4.0)
            for s in (1, -1):
                front = np.array([s * (rf + rn + 0.012), 0.5 - lt - lnac * U(rng, 0.4, 1.0), rf * 0.35])
                _nacelle(b, front, rn, lnac, mat=mat_eng)
                b.box(front + [-s * (rn + 0.006), lnac * 0.5, 0], [rn * 0.6, lnac * 0.3, 0.004], round=0.002,
                      mat=mat_eng)
        elif kind == "turboprop":
            rn = U(rng, 0.022, 0.03)
            for s in (1, -1):
                p = le(S * U(rng, 0.28, 0.36), s)
                lnac = rn * U(rng, 4, 5.5)
                front = p + [0, -lnac * 0.35, -rn * 0.2]
                b.cylinder(front + [0, lnac / 2, 0], [0, 1, 0], rn, lnac / 2, round=rn * 0.4, radius_top=rn * 0.6,
                           mat=mat_eng)
                _propeller(b, front + [0, -rn * 0.3, 0], U(rng, 0.06, 0.085), int(rng.integers(3, 6)), rng)
        else:  # light: nose propeller, maybe fixed gear
            _propeller(b, [0, -0.5 - 0.01, -0.1 * rf], U(rng, 0.1, 0.14), int(rng.integers(2, 4)), rng)
            b.ellipsoid([0, y_le + cr * 0.2, rf * 0.75], [rf * 0.8, cr * 0.9, rf * 0.6], mat=2)  # cabin glass
            if chance(rng, 0.6):
                wrad = rf * 0.45
                for s in (1, -1):
                    w = np.array([s * rf * 2.2, y_le + cr * 0.3, -rf - wrad * 1.6])
                    b.capsule([s * rf * 0.6, y_le + cr * 0.3, -rf * 0.6], w, rf * 0.12, mat=1)
                    b.cylinder(w, [1, 0, 0], wrad, wrad * 0.4, round=wrad * 0.3, mat=2)
                nw = np.array([0, -0.5 + ln * 0.8, -rf - wrad * 1.6])
                b.capsule([0, nw[1], -rf * 0.5], nw, rf * 0.1, mat=1)
                b.cylinder(nw, [1, 0, 0], wrad * 0.85, wrad * 0.35, round=wrad * 0.3, mat=2)
                subtype += "/gear"
        # tail
        t_tail = kind == "bizjet" and chance(rng, 0.85) or kind in ("airliner", "turboprop") and chance(rng, 0.25)
        hf = {"light": U(rng, 0.1, 0.14), "turboprop": U(rng, 0.13, 0.18)}.get(kind, U(rng, 0.1, 0.17))
        crf = U(rng, 0.13, 0.2)
        y_rl = 0.5 - crf - U(rng, 0.0, 0.03)
        fsweep = math.radians(U(rng, 30, 50) if kind in ("airliner", "bizjet") else U(rng, 15, 40))
        z0 = fus_z(y_rl + crf * 0.5) - rf * 0.35
        top = _fin(b, y_rl, z0, hf + rf * 0.35, crf, crf * U(rng, 0.45, 0.75) if not t_tail else crf * 0.8,
                   fsweep, 0.007)
        hs = S * U(rng, 0.3, 0.4)
        crh = U(rng, 0.08, 0.12)
        hsweep = math.radians(U(rng, 20, 35) if kind in ("airliner", "bizjet") else U(rng, 0, 10))
        if t_tail:
            _tailplane(b, [0, top[1] - 0.01, top[2] - 0.004], hs * 0.8, crh * 0.85, crh * 0.5, hsweep, 0.006)
            subtype += "/ttail"
        else:
            _tailplane(b, [0, 0.5 - crh - U(rng, 0.0, 0.04), z_tail], hs, crh, crh * 0.5, hsweep, 0.006)
        # cockpit windows
        if kind != "light":
            b.ellipsoid([0, -0.5 + ln * 0.55, 0.45 * rf], [rf * 0.7, ln * 0.22, rf * 0.3], mat=2)
        return subtype

    # fighter
    S = U(rng, 0.28, 0.38)
    sweep = math.radians(U(rng, 38, 60))
    cr = U(rng, 0.32, 0.48)
    ctip = cr * U(rng, 0.08, 0.3)
    y_le = U(rng, -0.15, 0.0)
    if y_le + cr > 0.47:
        y_le = 0.47 - cr
    tw = 0.008
    _tailplane(b, [0, y_le, 0.0], S, cr, ctip, sweep, tw)
    if chance(rng, 0.35):  # canards
        _tailplane(b, [0, -0.5 + ln + 0.02, 0.2 * rf], 0.1, 0.07, 0.03, math.radians(45), 0.005)
        subtype += "/canards"
    twin = chance(rng, 0.6)
    hf = U(rng, 0.1, 0.16)
    crf = U(rng, 0.12, 0.18)
    if twin:
        cant = math.radians(U(rng, 10, 25))
        for s in (1, -1):
            _fin(b, 0.5 - crf - 0.03, rf * 0.6, hf, crf, crf * 0.4, math.radians(40), 0.006, x=s * rf * 0.8,
                 cant=s * cant)
        subtype += "/twinfin"
    else:
        _fin(b, 0.5 - crf - 0.02, rf * 0.7, hf, crf, crf * 0.4, math.radians(45), 0.007)
    if chance(rng, 0.6):  # tailplanes
        _tailplane(b, [0, 0.5 - 0.09, 0.0], S * 0.45, 0.09, 0.03, math.radians(40), 0.005)
    for s in (1, -1):  # intakes
        b.box([s * (rf + 0.01), -0.08, -0.2 * rf], [0.018, 0.08, rf * 0.5], round=0.008, mat=0)
        b.box([s * (rf + 0.01), -0.158, -0.2 * rf], [0.014, 0.004, rf * 0.4], round=0.003, mat=2)
    b.ellipsoid([0, -0.5 + ln * 0.85, 0.75 * rf], [rf * 0.6, ln * 0.35, rf * 0.55], mat=2)  # canopy
    b.cylinder([0, 0.5 - 0.005, 0], [0, 1, 0], rf * 0.55, 0.008, mat=2)  # exhaust
    return subtype
