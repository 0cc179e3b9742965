"""Random compositions of primitives, shapes beyond the catalogue (in the spirit of LRM-Zero's
Zeroverse): 3 to 12 parts (boxes, rounded boxes, cylinders, cones, capsules, ellipsoids, tori,
prisms, arcs, boxes and tubes with holes through them, wire frames), each touching or overlapping
one placed before it, some notched by a boolean difference; thin struts between parts or sticking
out; random materials. Half the seeds are symmetric about x = 0 (every part mirrored)."""

from __future__ import annotations

import dataclasses
import math
from typing import Callable

import numpy as np

from ..sdf import POLYGON, MAX_POLY, frame_z, rot_x, rot_y, rot_z
from .common import U, chance, pick

MIRROR = np.diag([-1.0, 1.0, 1.0])
INSIDE = 0.9  # parts meet at points this far in from their surfaces, so that they overlap


@dataclasses.dataclass
class Part:
    """One part in its own frame: `point(rng)` is a point just inside its surface, `add(b, R, c,
    mat, group)` builds it rotated by R about the centre c; a part with a hole makes its own group."""

    point: Callable
    add: Callable
    tag: str = ""  # "holes" or "wire": what the part brings to the subtype


def _unit(rng) -> np.ndarray:
    v = rng.normal(size=3)
    return v / np.linalg.norm(v)


def _box_point(rng, h) -> np.ndarray:
    p = rng.uniform(-h, h)
    axis = int(rng.integers(3))
    p[axis] = INSIDE * h[axis] * pick(rng, [-1, 1])
    return p


def _disc_point(rng, radius, z) -> np.ndarray:
    a, r = U(rng, 0, 2 * math.pi), radius * math.sqrt(rng.random())
    return np.array([r * math.cos(a), r * math.sin(a), z])


def _solid_point(rng, r1, r2, hh) -> np.ndarray:
    """On a cone's (or cylinder's) cap or side, z in [-hh, hh], radius r1 at -hh and r2 at +hh."""
    if chance(rng, 0.35):
        z = pick(rng, [-hh, hh])
        return _disc_point(rng, INSIDE * (r1 if z < 0 else r2), INSIDE * z)
    z = U(rng, -hh, hh)
    r = INSIDE * (r1 + (r2 - r1) * (z + hh) / (2 * hh))
    a = U(rng, 0, 2 * math.pi)
    return np.array([r * math.cos(a), r * math.sin(a), INSIDE * z])


# --- parts (s: the part's size, about its half extent) --------------------------------------------


def _half_extents(rng, s) -> np.ndarray:
    """Blocks, and often plates (one side thin) or beams (two)."""
    h = s * rng.uniform(0.3, 1.0, 3)
    thin = int(pick(rng, [0, 1, 2], [0.45, 0.35, 0.2]))
    h[rng.permutation(3)[:thin]] = s * rng.uniform(0.04, 0.15, thin)
    return h


def box(rng, s) -> Part:
    h = _half_extents(rng, s)
    rnd = U(rng, 0.0, 0.4) * h.min() if chance(rng, 0.5) else 0.0
    return Part(lambda g: _box_point(g, h), lambda b, R, c, **kw: b.box(c, h, round=rnd, rot=R, **kw))


def cylinder(rng, s, cone: bool = False) -> Part:
    r1, hh = s * U(rng, 0.1, 1.0), s * U(rng, 0.05, 1.5)
    r2 = r1 * U(rng, 0.0, 0.8) if cone else r1
    rnd = U(rng, 0.0, 0.3) * min(r1, hh) if chance(rng, 0.5) else 0.0
    return Part(lambda g: _solid_point(g, r1, r2, hh),
                lambda b, R, c, **kw: b.cylinder(c, R, r1, hh, round=rnd, radius_top=r2, **kw))


def capsule(rng, s) -> Part:
    half, r1 = s * U(rng, 0.5, 1.5), s * U(rng, 0.12, 0.4)
    r2 = r1 * U(rng, 0.5, 1.0) if chance(rng, 0.4) else r1

    def add(b, R, c, **kw):
        b.roundcone(c - R[:, 2] * half, c + R[:, 2] * half, r1, r2, **kw)

    return Part(lambda g: np.array([0, 0, U(g, -half, half)]) + INSIDE * min(r1, r2) * _unit(g), add)


def ellipsoid(rng, s) -> Part:
    radii = s * rng.uniform(0.3, 1.0, 3)
    return Part(lambda g: INSIDE * radii * _unit(g), lambda b, R, c, **kw: b.ellipsoid(c, radii, R, **kw))


def torus(rng, s) -> Part:
    major = s * U(rng, 0.5, 1.0)
    minor = major * U(rng, 0.08, 0.3)

    def point(g):
        a = U(g, 0, 2 * math.pi)
        return np.array([major * math.cos(a), major * math.sin(a), 0]) + 0.7 * minor * _unit(g)

    return Part(point, lambda b, R, c, **kw: b.torus(c, R, major, minor, **kw), tag="holes")


def prism(rng, s) -> Part:
    n = int(rng.integers(3, MAX_POLY + 1))
    angles = np.sort(rng.uniform(0, 2 * math.pi, n))
    radii = s * rng.uniform(0.5, 1.0, n)
    verts = np.c_[radii * np.cos(angles), radii * np.sin(angles)]
    h = s * U(rng, 0.1, 0.6)
    rnd = U(rng, 0.0, 0.5) * h if chance(rng, 0.4) else 0.0

    def point(g):
        i = int(g.integers(n))
        edge = verts[i] + g.random() * (verts[(i + 1) % n] - verts[i])
        return np.r_[INSIDE * edge, U(g, -INSIDE, INSIDE) * h]

    return Part(point, lambda b, R, c, **kw: b.polygon(verts, h, rnd, rot=R, pos=c, **kw))


def arc(rng, s) -> Part:
    radius, half_angle = s * U(rng, 0.5, 1.0), U(rng, 0.6, 2.8)
    thick, h = radius * U(rng, 0.06, 0.25), s * U(rng, 0.1, 0.6)

    def point(g):
        a = U(g, -half_angle, half_angle)
        return np.array([radius * math.sin(a), radius * math.cos(a), U(g, -INSIDE, INSIDE) * h])

    return Part(point, lambda b, R, c, **kw: b.arc(c, radius, thick, half_angle, h, round=thick * 0.5, rot=R, **kw))


def holed(rng, s) -> Part:
    """A box with a round or square hole right through it."""
    h = s * rng.uniform(0.4, 1.0, 3)
    k = int(rng.integers(3))
    others = [i for i in range(3) if i != k]
    width = U(rng, 0.3, 0.75) * h[others].min()
    square, rnd = chance(rng, 0.4), U(rng, 0, 0.2) * h.min()

    def add(b, R, c, mat, group):
        g = b.group(0.0)
        b.box(c, h, round=rnd, rot=R, mat=mat, group=g)
        if square:
            cut = np.full(3, width)
            cut[k] = 1.2 * h[k]
            b.box(c, cut, rot=R, op=-1, group=g)
        else:
            b.cylinder(c, R[:, k], width, 1.2 * h[k], op=-1, group=g)

    return Part(lambda g: _box_point(g, h), add, tag="holes")


def tube(rng, s) -> Part:
    """A cylinder with a coaxial bore: an open pipe or ring."""
    r, hh = s * U(rng, 0.4, 1.0), s * U(rng, 0.1, 1.0)
    bore = r * U(rng, 0.5, 0.85)

    def add(b, R, c, mat, group):
        g = b.group(0.0)
        b.cylinder(c, R, r, hh, mat=mat, group=g)
        b.cylinder(c, R, bore, 1.2 * hh, op=-1, group=g)

    def point(g):
        a, z = U(g, 0, 2 * math.pi), U(g, -INSIDE, INSIDE) * hh
        rr = U(g, bore, r) * (1 + INSIDE) / 2
        return np.array([rr * math.cos(a), rr * math.sin(a), z])

    return Part(point, add, tag="holes")


def wireframe(rng, s) -> Part:
    """The twelve edges of a box as thin struts."""
    h = s * rng.uniform(0.4, 1.0, 3)
    r = U(rng, 0.006, 0.015)
    edges = []
    for k in range(3):
        i, j = [a for a in range(3) if a != k]
        for si in (-1, 1):
            for sj in (-1, 1):
                a = np.zeros(3)
                a[i], a[j] = si * h[i], sj * h[j]
                lo, hi = a.copy(), a.copy()
                lo[k], hi[k] = -h[k], h[k]
                edges.append((lo, hi))

    def point(g):
        lo, hi = edges[int(g.integers(len(edges)))]
        return lo + g.random() * (hi - lo)

    def add(b, R, c, **kw):
        for lo, hi in edges:
            b.capsule(c + R @ lo, c + R @ hi, r, **kw)

    return Part(point, add, tag="wire")


PARTS = {"box": box, "cylinder": cylinder, "cone": lambda rng, s: cylinder(rng, s, cone=True), "capsule": capsule,
         "ellipsoid": ellipsoid, "torus": torus, "prism": prism, "arc": arc, "holed": holed, "tube": tube,
         "wireframe": wireframe}
WEIGHTS = {"box": 3, "cylinder": 2, "cone": 1, "capsule": 2, "ellipsoid": 1.5, "torus": 1, "prism": 1, "arc": 1,
           "holed": 1, "tube": 1, "wireframe": 0.5}


def _rotation(rng) -> np.ndarray:
    if chance(rng, 0.5):  # axis-aligned
        return pick(rng, [np.eye(3), rot_x(math.pi / 2), rot_y(math.pi / 2)])
    return frame_z(_unit(rng)) @ rot_z(U(rng, 0, 2 * math.pi))


@dataclasses.dataclass
class Placed:
    part: Part
    rot: np.ndarray
    center: np.ndarray

    def point(self, rng) -> np.ndarray:
        return self.center + self.rot @ self.part.point(rng)


def _attach(rng, anchor: Placed, part: Part, R) -> np.ndarray:
    """The centre that puts `part` (rotated by R) against a point of `anchor`, on its outer side."""
    p = anchor.point(rng)
    out = p - anchor.center
    out = out / max(np.linalg.norm(out), 1e-9)
    q = min((part.point(rng) for _ in range(6)), key=lambda q: float((R @ q) @ out))
    return p - R @ q


def _struts(rng, b, placed: list[Placed], group: int) -> int:
    """0 to 4 thin capsules (radius 0.5 % to 2 % of the object): between two parts, or sticking out."""
    lo, hi = b.aabb()
    size, middle = float((hi - lo).max()), (lo + hi) / 2
    count = int(pick(rng, [0, 1, 2, 3, 4], [0.25, 0.25, 0.2, 0.15, 0.15]))
    for _ in range(count):
        r = U(rng, 0.005, 0.02) * size
        i = int(rng.integers(len(placed)))
        p = placed[i].point(rng)
        others = [j for j in range(len(placed)) if j != i]
        q = placed[pick(rng, others)].point(rng) if others and chance(rng, 0.65) else None
        if q is None or np.linalg.norm(q - p) < 0.15 * size:  # out from the middle, an antenna
            out = p - middle if np.linalg.norm(p - middle) > 1e-6 else _unit(rng)
            q = p + out / np.linalg.norm(out) * U(rng, 0.15, 0.4) * size
        b.capsule(p, q, r, mat=pick(rng, [1, 2, 3]), group=group)
    return count


def _mirror(b) -> None:
    """Add the mirror image (x -> -x) of every primitive that is not its own."""
    for i in range(len(b)):
        R, t, prm = b.rot[i], b.pos[i], b.prm[i].copy()
        flipped = MIRROR @ R @ MIRROR
        if b.kind[i] != POLYGON and abs(t[0]) < 1e-9 and np.allclose(flipped, R):
            continue
        if b.kind[i] == POLYGON:  # every other kind is symmetric in its local x
            prm[2:2 + 2 * MAX_POLY:2] *= -1
        b.add(b.kind[i], prm, flipped, MIRROR @ t, mat=b.mat[i], op=b.op[i], nverts=b.nverts[i], group=b.grp[i])


def build(rng, b) -> str:
    symmetric = chance(rng, 0.5)
    n = int(rng.integers(3, 13))
    count = (n + 1) // 2 if symmetric else n  # the mirror images make up the rest
    blend = U(rng, 0.005, 0.03)
    main = b.group(blend if chance(rng, 0.3) else 0.0)
    size = U(rng, 0.2, 0.4)
    kinds = [k for k in PARTS if not (symmetric and k == "wireframe")]
    placed: list[Placed] = []
    tags = set()
    for i in range(count):
        kind = pick(rng, kinds, [WEIGHTS[k] for k in kinds])
        if kind == "wireframe":
            kinds.remove("wireframe")  # one per shape: twelve primitives
        part = PARTS[kind](rng, size if i == 0 else size * U(rng, 0.25, 0.9))
        if i == 0:  # at the origin, its own mirror image (rot_x keeps the x axis)
            R, c = pick(rng, [np.eye(3), rot_x(math.pi / 2)]), np.zeros(3)
        else:
            R = _rotation(rng)
            c = _attach(rng, placed[int(rng.integers(len(placed)))], part, R)
        mat = int(pick(rng, [0, 1, 2, 3], [0.45, 0.3, 0.1, 0.15]))
        if not part.tag and chance(rng, 0.15):  # boolean difference: a notch cut out of the part
            g = b.group(0.0)
            part.add(b, R, c, mat=mat, group=g)
            b.ellipsoid(c + R @ part.point(rng), size * rng.uniform(0.15, 0.4, 3), _rotation(rng), op=-1, group=g)
            tags.add("cut")
        else:
            part.add(b, R, c, mat=mat, group=main)
        tags.add(part.tag)
        placed.append(Placed(part, R, c))
    if _struts(rng, b, placed, main):
        tags.add("struts")
    if symmetric:
        _mirror(b)
    features = [t for t in ("holes", "wire", "cut", "struts") if t in tags]
    return "/".join([("symmetric" if symmetric else "free"), f"{count}parts", *features])
