"""SDF primitives (torch, batched) and the `Builder` that composes them into a shape.

Every primitive lives in its own local frame: local = R^T (p - t), R maps local to world.
Parameters are packed in a vector of K floats; the layout per kind:

  BOX        hx, hy, hz, round                      rounded box, half extents
  ROUNDCONE  h, r1, r2                               segment z in [-h, h], radius r1 at -h, r2 at +h
  CONE       h, r1, r2, round                        capped cone / cylinder, z in [-h, h]
  ELLIPSOID  a, b, c                                 radii (a bound, sign exact)
  REVOLVED   ra, za, rb, zb, thick                   segment (ra,za)-(rb,zb) in the (r,z) half plane,
                                                     revolved about z, thickened (tori, lamp shades)
  POLYGON    h, round, x0, y0, ... x7, y7            polygon (<= 8 vertices) in xy extruded |z| <= h
  ARC        ra, rb, sin a, cos a, h, round          2D arc of radius ra around +y, half aperture a,
                                                     thickness 2 rb, extruded |z| <= h

Combination (per shape): primitives belong to groups. Inside a group the union members are blended
with an n-ary quadratic polynomial smooth-min (for two members exactly iq's smin with width k), then
the group's subtractive members are cut away (hard max); groups are joined by a hard min.
"""

from __future__ import annotations

import math

import numpy as np
import torch

BOX, ROUNDCONE, CONE, ELLIPSOID, REVOLVED, POLYGON, ARC = range(7)
KIND_NAMES = ("box", "roundcone", "cone", "ellipsoid", "revolved", "polygon", "arc")
NUM_KINDS = 7
K = 18          # parameter slots per primitive
MAX_POLY = 8    # polygon vertices
BIG = 1e3       # "far away" distance (empty groups, subtract masks)


# ----------------------------------------------------------------------------------------------
# torch primitives: local coordinates x, y, z [T,n] (separate, contiguous), prm [T,1,K]


def _hyp(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.sqrt(a * a + b * b)


def _len3(a, b, c):
    return torch.sqrt(a * a + b * b + c * c)


def sd_box(x, y, z, prm):
    r = prm[..., 3]
    qx = x.abs() - (prm[..., 0] - r)
    qy = y.abs() - (prm[..., 1] - r)
    qz = z.abs() - (prm[..., 2] - r)
    outside = _len3(qx.clamp(min=0), qy.clamp(min=0), qz.clamp(min=0))
    return outside + torch.maximum(torch.maximum(qx, qy), qz).clamp(max=0) - r


def sd_roundcone(x, y, z, prm):
    h, r1, r2 = prm[..., 0], prm[..., 1], prm[..., 2]
    length = 2 * h
    b = (r1 - r2) / length
    a = torch.sqrt((1 - b * b).clamp(min=1e-6))
    qx = _hyp(x, y)
    qy = z + h
    k = -b * qx + a * qy
    d_mid = a * qx + b * qy - r1
    d_lo = _hyp(qx, qy) - r1
    d_hi = _hyp(qx, qy - length) - r2
    return torch.where(k < 0, d_lo, torch.where(k > a * length, d_hi, d_mid))


def sd_cone(x, y, z, prm):
    rr = prm[..., 3]
    h, r1, r2 = prm[..., 0] - rr, prm[..., 1] - rr, prm[..., 2] - rr
    qx = _hyp(x, y)
    k2x, k2y = r2 - r1, 2 * h
    cax = qx - torch.minimum(qx, torch.where(z < 0, r1, r2))
    cay = z.abs() - h
    t = (((r2 - qx) * k2x + (h - z) * k2y) / (k2x * k2x + k2y * k2y).clamp(min=1e-12)).clamp(0, 1)
    cbx = qx - r2 + k2x * t
    cby = z - h + k2y * t
    inside = (cbx < 0) & (cay < 0)
    d = torch.sqrt(torch.minimum(cax * cax + cay * cay, cbx * cbx + cby * cby))
    return torch.where(inside, -d, d) - rr


def sd_ellipsoid(x, y, z, prm):
    a, b, c = prm[..., 0], prm[..., 1], prm[..., 2]
    k0 = _len3(x / a, y / b, z / c)
    k1 = _len3(x / (a * a), y / (b * b), z / (c * c))
    return k0 * (k0 - 1) / k1.clamp(min=1e-9)


def sd_revolved(x, y, z, prm):
    ra, za, rb, zb, th = (prm[..., i] for i in range(5))
    qx = _hyp(x, y)
    pax, pay = qx - ra, z - za
    bax, bay = rb - ra, zb - za
    t = ((pax * bax + pay * bay) / (bax * bax + bay * bay).clamp(min=1e-12)).clamp(0, 1)
    return _hyp(pax - bax * t, pay - bay * t) - th


def _extrude(d2: torch.Tensor, z: torch.Tensor, h: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Extrude a 2D distance along z to |z| <= h; the extrusion edges are rounded by r (the 2D
    outline keeps its corners)."""
    wx = d2 + r
    wy = z.abs() - (h - r)
    return torch.maximum(wx, wy).clamp(max=0) + _hyp(wx.clamp(min=0), wy.clamp(min=0)) - r


def sd_polygon2d(px: torch.Tensor, py: torch.Tensor, verts: torch.Tensor) -> torch.Tensor:
    """iq's exact polygon SDF; px, py [T,n], verts [T,1,V,2] (repeated trailing vertices are harmless)."""
    vx, vy = verts[..., 0], verts[..., 1]
    ex = torch.roll(vx, 1, dims=-1) - vx  # edge from v_i to v_{i-1}
    ey = torch.roll(vy, 1, dims=-1) - vy
    inv = 1.0 / (ex * ex + ey * ey).clamp(min=1e-12)
    d = None
    odd = None
    for i in range(verts.shape[-2]):
        wx = px - vx[..., i]
        wy = py - vy[..., i]
        exi, eyi = ex[..., i], ey[..., i]
        t = ((wx * exi + wy * eyi) * inv[..., i]).clamp(0, 1)
        bx, by = wx - exi * t, wy - eyi * t
        di = bx * bx + by * by
        d = di if d is None else torch.minimum(d, di)
        c1 = py >= vy[..., i]
        c2 = py < vy[..., i - 1]
        c3 = exi * wy > eyi * wx
        flip = (c1 & c2 & c3) | ~(c1 | c2 | c3)
        odd = flip if odd is None else odd ^ flip
    d = torch.sqrt(d)
    return torch.where(odd, -d, d)


def sd_polygon(x, y, z, prm):
    verts = prm[..., 2 : 2 + 2 * MAX_POLY].unflatten(-1, (MAX_POLY, 2))
    return _extrude(sd_polygon2d(x, y, verts), z, prm[..., 0], prm[..., 1])


def sd_arc(x, y, z, prm):
    ra, rb, sa, ca, h, rr = (prm[..., i] for i in range(6))
    px = x.abs()
    cap = _hyp(px - sa * ra, y - ca * ra)
    ring = (_hyp(px, y) - ra).abs()
    d2 = torch.where(ca * px > sa * y, cap, ring) - rb
    return _extrude(d2, z, h, rr)


SDF_FUNCS = (sd_box, sd_roundcone, sd_cone, sd_ellipsoid, sd_revolved, sd_polygon, sd_arc)


def combine(d: torch.Tensor, gid: torch.Tensor, op: torch.Tensor, slot_k: torch.Tensor, group_k: torch.Tensor,
            has_sub: bool, B: int, G: int) -> torch.Tensor:
    """d [T,n] primitive distances, gid [T] = shape*G + group, op [T] (+1 union, -1 subtract),
    slot_k [T] blend width of the primitive's group, group_k [B*G] -> sdf [B,n].

    Per group: m = min of the union members, sdf = m - k/4 * (sum_i h_i^2 - 1) with
    h_i = max(0, 1 - (d_i - m)/k) (for two members exactly iq's quadratic smin), then max with
    -min(subtractive members); per shape: min over its groups."""
    T, n = d.shape
    union = torch.where(op.unsqueeze(-1) > 0, d, BIG) if has_sub else d
    idx = gid.unsqueeze(-1).expand(T, n)
    m = torch.full((B * G, n), BIG, dtype=d.dtype, device=d.device)
    m = m.scatter_reduce(0, idx, union, reduce="amin", include_self=True)
    h = (1 - (union - m.gather(0, idx)) / slot_k.unsqueeze(-1)).clamp(min=0)
    s = torch.zeros_like(m).scatter_add_(0, idx, h * h)
    dg = m - 0.25 * group_k.unsqueeze(-1) * (s - 1).clamp(min=0)
    if has_sub:
        sub = torch.where(op.unsqueeze(-1) < 0, d, BIG)
        sm = torch.full_like(m, BIG).scatter_reduce(0, idx, sub, reduce="amin", include_self=True)
        dg = torch.maximum(dg, -sm)
    return dg.view(B, G, n).amin(dim=1)


# ----------------------------------------------------------------------------------------------
# numpy rotations


def rot_x(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[1, 0, 0], [0, c, -s], [0, s, c]], np.float64)


def rot_y(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], np.float64)


def rot_z(a: float) -> np.ndarray:
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]], np.float64)


def frame_z(axis) -> np.ndarray:
    """A rotation whose local z axis is `axis` (unit)."""
    z = np.asarray(axis, np.float64)
    z = z / np.linalg.norm(z)
    helper = np.array([1.0, 0, 0]) if abs(z[0]) < 0.9 else np.array([0, 1.0, 0])
    x = np.cross(helper, z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=1)


# local (u, v, w) -> world: plane (y, z) extruded along x; plane (x, z) extruded along y
SIDE = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], np.float64)
FRONT = np.array([[1, 0, 0], [0, 0, -1], [0, 1, 0]], np.float64)


# ----------------------------------------------------------------------------------------------
# analytic bounding boxes (world frame)


def _disc_extent(radius: float, normal: np.ndarray) -> np.ndarray:
    return max(radius, 0.0) * np.sqrt(np.clip(1 - normal**2, 0, None))


def _inset_polygon(v: np.ndarray, r: float) -> np.ndarray:
    if r <= 0:
        return v
    area = 0.5 * np.sum(v[:, 0] * np.roll(v[:, 1], -1) - np.roll(v[:, 0], -1) * v[:, 1])
    sign = 1.0 if area > 0 else -1.0
    out = []
    n = len(v)
    for i in range(n):
        a, b, c = v[i - 1], v[i], v[(i + 1) % n]
        e1, e2 = b - a, c - b
        e1 = e1 / max(np.linalg.norm(e1), 1e-12)
        e2 = e2 / max(np.linalg.norm(e2), 1e-12)
        n1 = sign * np.array([-e1[1], e1[0]])
        n2 = sign * np.array([-e2[1], e2[0]])
        den = 1 + float(n1 @ n2)
        out.append(b + r * (n1 + n2) / den if den > 0.2 else b)
    return np.array(out)


def primitive_aabb(kind: int, rot: np.ndarray, pos: np.ndarray, prm: np.ndarray, nverts: int = 0):
    """World axis-aligned bounds (lo, hi) of one primitive; exact except for ARC (sampled)."""
    R = np.asarray(rot, np.float64)
    t = np.asarray(pos, np.float64)
    p = np.asarray(prm, np.float64)
    if kind == BOX:
        half = np.abs(R) @ (p[0:3] - p[3]) + p[3]
        return t - half, t + half
    if kind == ROUNDCONE:
        a, b = t - R[:, 2] * p[0], t + R[:, 2] * p[0]
        return np.minimum(a - p[1], b - p[2]), np.maximum(a + p[1], b + p[2])
    if kind in (CONE, REVOLVED):
        n = R[:, 2]
        if kind == CONE:
            rr = p[3]
            discs = [(p[1] - rr, -(p[0] - rr)), (p[2] - rr, p[0] - rr)]
        else:
            rr = p[4]
            discs = [(p[0], p[1]), (p[2], p[3])]
        los, his = [], []
        for radius, z in discs:
            c = t + n * z
            e = _disc_extent(radius, n)
            los.append(c - e - rr)
            his.append(c + e + rr)
        return np.minimum(*los), np.maximum(*his)
    if kind == ELLIPSOID:
        half = np.sqrt(((R * p[0:3][None, :]) ** 2).sum(axis=1))
        return t - half, t + half
    if kind == POLYGON:
        # the outline keeps the polygon's corners for |z| <= h - r; only the extrusion edges are
        # rounded (towards the inset polygon at |z| = h)
        h, r = p[0], p[1]
        v = p[2 : 2 + 2 * nverts].reshape(nverts, 2)
        vi = _inset_polygon(v, r)
        pts = [np.c_[v, np.full(len(v), s * (h - r))] for s in (-1, 1)]
        pts += [np.c_[vi, np.full(len(v), s * h)] for s in (-1, 1)]
        w = np.concatenate(pts) @ R.T + t
        return w.min(0), w.max(0)
    if kind == ARC:
        ra, rb, sa, ca, h, rr = p[:6]
        a = math.atan2(sa, ca)
        ang = np.linspace(-a, a, 129)
        xy = np.c_[ra * np.sin(ang), ra * np.cos(ang)]
        pts = []
        for dx in (-rb, rb):
            for dy in (-rb, rb):
                for z in (-h, h):
                    pts.append(np.c_[xy + [dx, dy], np.full(len(xy), z)])
        w = np.concatenate(pts) @ R.T + t
        return w.min(0), w.max(0)
    raise ValueError(f"unknown primitive kind {kind}")


# ----------------------------------------------------------------------------------------------


class Builder:
    """Collects primitives (numpy) for one shape. Coordinates: world frame, Z up, front -Y.

    `group(k)` starts a new blend group (k = smooth-min width, 0 = hard union); every primitive
    added afterwards joins it. `op=-1` subtracts the primitive from its group. `mat` is a
    material id for the renderer (0 main, 1 frame/secondary, 2 dark: tyres, glass, 3 accent)."""

    def __init__(self):
        self.kind, self.prm, self.rot, self.pos = [], [], [], []
        self.grp, self.op, self.mat, self.nverts = [], [], [], []
        self.group_k: list[float] = []
        self.group(0.0)

    def __len__(self):
        return len(self.kind)

    def group(self, k: float = 0.0) -> int:
        if self.group_k and not any(g == len(self.group_k) - 1 for g in self.grp):
            self.group_k[-1] = float(k)  # reuse an empty group
        else:
            self.group_k.append(float(k))
        return len(self.group_k) - 1

    def add(self, kind: int, prm, rot=None, pos=(0, 0, 0), mat: int = 0, op: int = 1, nverts: int = 0,
            group: int | None = None):
        vec = np.zeros(K, np.float64)
        prm = np.asarray(prm, np.float64).ravel()
        vec[: len(prm)] = prm
        self.kind.append(kind)
        self.prm.append(vec)
        self.rot.append(np.eye(3) if rot is None else np.asarray(rot, np.float64))
        self.pos.append(np.asarray(pos, np.float64))
        self.grp.append(len(self.group_k) - 1 if group is None else group)
        self.op.append(op)
        self.mat.append(mat)
        self.nverts.append(nverts)
        return len(self.kind) - 1

    # --- convenience constructors ------------------------------------------------------------
    def box(self, center, half, round=0.0, rot=None, **kw):
        half = np.maximum(np.asarray(half, np.float64), 1e-4)
        round = min(round, 0.999 * half.min())
        return self.add(BOX, [*half, round], rot, center, **kw)

    def roundcone(self, a, b, r1, r2=None, **kw):
        a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
        r2 = r1 if r2 is None else r2
        axis = b - a
        length = max(np.linalg.norm(axis), 1e-5)
        r1, r2 = float(r1), float(r2)
        if abs(r1 - r2) > 0.98 * length:  # keep the cone a cone (one sphere inside the other otherwise)
            mid = 0.5 * (r1 + r2)
            r1, r2 = mid + 0.49 * length * np.sign(r1 - r2), mid - 0.49 * length * np.sign(r1 - r2)
        return self.add(ROUNDCONE, [length / 2, r1, r2], frame_z(axis if length > 1e-5 else [0, 0, 1]),
                        (a + b) / 2, **kw)

    def capsule(self, a, b, r, **kw):
        return self.roundcone(a, b, r, r, **kw)

    def cylinder(self, center, axis, radius, half_h, round=0.0, radius_top=None, **kw):
        radius_top = radius if radius_top is None else radius_top
        round = min(round, 0.99 * min(radius, radius_top, half_h))
        rot = axis if np.ndim(axis) == 2 else frame_z(axis)
        return self.add(CONE, [half_h, radius, radius_top, round], rot, center, **kw)

    def ellipsoid(self, center, radii, rot=None, **kw):
        return self.add(ELLIPSOID, radii, rot, center, **kw)

    def revolved(self, center, axis, ra, za, rb, zb, thick, **kw):
        rot = axis if np.ndim(axis) == 2 else frame_z(axis)
        return self.add(REVOLVED, [max(ra, 0), za, max(rb, 0), zb, thick], rot, center, **kw)

    def torus(self, center, axis, major, minor, **kw):
        return self.revolved(center, axis, major, 0.0, major, 0.0, minor, **kw)

    def polygon(self, verts2d, half_depth, round=0.0, rot=None, pos=(0, 0, 0), **kw):
        v = np.asarray(verts2d, np.float64)
        if not 3 <= len(v) <= MAX_POLY:
            raise ValueError("polygon needs 3..8 vertices")
        padded = np.concatenate([v, np.repeat(v[-1:], MAX_POLY - len(v), axis=0)])
        round = min(round, 0.99 * half_depth)
        return self.add(POLYGON, [half_depth, round, *padded.ravel()], rot, pos, nverts=len(v), **kw)

    def side_polygon(self, verts_yz, x, half_width, round=0.0, **kw):
        """Polygon drawn in the side view (y, z), extruded along x around `x`."""
        return self.polygon(verts_yz, half_width, round, SIDE, (x, 0, 0), **kw)

    def front_polygon(self, verts_xz, y, half_depth, round=0.0, **kw):
        """Polygon drawn in the front view (x, z), extruded along y around `y`."""
        return self.polygon(verts_xz, half_depth, round, FRONT, (0, y, 0), **kw)

    def arc(self, center, radius, half_thick, half_angle, half_height, round=0.0, rot=None, **kw):
        """A curved slab: arc of `radius` around the local +y direction, extruded along local z."""
        round = min(round, 0.99 * min(half_thick, half_height))
        return self.add(ARC, [radius, half_thick, math.sin(half_angle), math.cos(half_angle),
                              half_height, round], rot, center, **kw)

    # --- result ------------------------------------------------------------------------------
    def aabb(self):
        lo = np.full(3, np.inf)
        hi = np.full(3, -np.inf)
        for i in range(len(self.kind)):
            if self.op[i] < 0:
                continue
            a, b = primitive_aabb(self.kind[i], self.rot[i], self.pos[i], self.prm[i], self.nverts[i])
            lo, hi = np.minimum(lo, a), np.maximum(hi, b)
        return lo, hi
