"""Batched sphere-tracing renderer: RGBA images of SDF shapes like users' photos on a transparent
background.

    cams = random_cameras(B, gen, radius=bounding_radius(batch))  # keep them to reproduce an image
    img = render(batch, cams, size=128, generator=gen)            # [B,4,H,W] in [0,1], straight alpha

`batch` is a ShapeBatch (per-material colours), anything with `.sdf(points [B,N,3]) -> [B,N]`
(and optionally `.bounds [B,2,3]`), or such a callable. Cameras orbit the object in its frame
(Z up): azimuth 0 looks at the front from -Y, 90 deg from +X; elevation above the XY plane.
Alpha is anti-aliased by cone tracing (coverage from the closest approach of missed rays);
`supersample=2` additionally averages 2x2 sub-pixels.
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F

from ..camera import image_axes, view_direction
from ..frame import DOMAIN_HALF
from .shapes import sdf_and_gradient


@dataclasses.dataclass
class Cameras:
    """Per-image perspective cameras (radians, normalised-frame units)."""

    azimuth: torch.Tensor    # [B]
    elevation: torch.Tensor  # [B]
    distance: torch.Tensor   # [B]
    fov: torch.Tensor        # [B] full field of view of the square image
    target: torch.Tensor     # [B,3] look-at point

    def __len__(self) -> int:
        return self.azimuth.shape[0]

    def to(self, device) -> "Cameras":
        return Cameras(*(getattr(self, f.name).to(device) for f in dataclasses.fields(self)))

    def eye(self) -> torch.Tensor:
        return self.target + view_direction(self.azimuth, self.elevation) * self.distance.unsqueeze(-1)

    def basis(self):
        """(eye [B,3], forward, right, up) unit vectors."""
        eye = self.eye()
        fwd = F.normalize(self.target - eye, dim=-1)
        return (eye, fwd, *image_axes(fwd))

    def rays(self, size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Origins [B,3] and unit directions [B,size*size,3], row-major from the top-left pixel."""
        eye, fwd, right, up = self.basis()
        dev = eye.device
        c = (torch.arange(size, device=dev, dtype=torch.float32) + 0.5) / size * 2 - 1
        tan = torch.tan(self.fov / 2).view(-1, 1, 1)
        v, u = torch.meshgrid(-c, c, indexing="ij")
        u = u.reshape(1, -1, 1) * tan
        v = v.reshape(1, -1, 1) * tan
        d = fwd.unsqueeze(1) + u * right.unsqueeze(1) + v * up.unsqueeze(1)
        return eye, F.normalize(d, dim=-1)


def _uniform(generator, n, lo, hi):
    return torch.rand(n, generator=generator) * (hi - lo) + lo


def bounding_radius(batch) -> torch.Tensor:
    """Half diagonal of each shape's bounding box [B] (0.75 when the batch has no bounds)."""
    b = getattr(batch, "bounds", None)
    if b is None:
        return torch.full((len(batch),), 0.75)
    return ((b[:, 1] - b[:, 0]).norm(dim=-1) / 2).cpu()


def random_cameras(B: int, generator: torch.Generator | None = None, elevation=(-10.0, 60.0), fov=(25.0, 50.0),
                   fill=(0.55, 0.9), radius=0.7, target_jitter: float = 0.03, device="cpu") -> Cameras:
    """Random cameras, drawn on the CPU: azimuth uniform over 360 deg, elevation in `elevation`
    (deg), full field of view in `fov` (deg), look-at point = centre + uniform jitter of
    +-`target_jitter` per axis, distance such that a sphere of `radius` (a float or one per image,
    e.g. `bounding_radius(batch)`, which keeps every object inside the frame) seen from the camera
    spans `fill` of the half frame (never closer than 1.0)."""
    az = _uniform(generator, B, 0, 2 * math.pi)
    el = torch.deg2rad(_uniform(generator, B, *elevation))
    fv = torch.deg2rad(_uniform(generator, B, *fov))
    fl = _uniform(generator, B, *fill)
    r = torch.as_tensor(radius, dtype=torch.float32).expand(B) + target_jitter * math.sqrt(3)
    dist = (r / torch.sin(torch.atan(fl * torch.tan(fv / 2)))).clamp(min=1.0)
    tgt = (torch.rand(B, 3, generator=generator) * 2 - 1) * target_jitter
    return Cameras(az, el, dist, fv, tgt).to(device)


def fixed_cameras(B: int, azimuth_deg: float = 30.0, elevation_deg: float = 20.0, fov_deg: float = 35.0,
                  fill: float = 0.8, radius: float = 0.6, device="cpu") -> Cameras:
    """The same camera for all B images (e.g. three-quarter front view for contact sheets)."""
    full = lambda v: torch.full((B,), float(v))  # noqa: E731
    fv = math.radians(fov_deg)
    return Cameras(full(math.radians(azimuth_deg)), full(math.radians(elevation_deg)),
                   full(max(1.0, radius / (fill * math.tan(fv / 2)))), full(fv), torch.zeros(B, 3)).to(device)


def _hsv(h, s, v):
    k = lambda n: (n + h * 6) % 6  # noqa: E731
    f = lambda n: v - v * s * torch.clamp(torch.minimum(k(n), 4 - k(n)), 0, 1)  # noqa: E731
    return torch.stack([f(5), f(3), f(1)], -1)


def random_style(B: int, generator: torch.Generator | None = None) -> dict:
    """Colours (4 materials, sRGB), texture and lights per image; all tensors on the CPU."""
    g = generator
    r = lambda *s: torch.rand(*s, generator=g)  # noqa: E731
    main = _hsv(r(B), r(B) ** 0.7 * 0.9, 0.2 + 0.75 * r(B) ** 0.6)
    second = _hsv(r(B), r(B) * 0.6, 0.1 + 0.8 * r(B))
    wood = _hsv(0.05 + 0.05 * r(B), 0.4 + 0.3 * r(B), 0.3 + 0.4 * r(B))
    mode = r(B)
    frame = torch.where((mode < 0.45).unsqueeze(-1), main,
                        torch.where((mode < 0.7).unsqueeze(-1), second, wood))
    dark = _hsv(r(B), r(B) * 0.3, 0.04 + 0.14 * r(B))
    light = _hsv(r(B), r(B) * 0.25, 0.6 + 0.35 * r(B))
    palette = torch.stack([main, frame, dark, light], 1)  # [B,4,3]
    tex_kind = (r(B) * 1.6 - 0.6).clamp(min=0).mul(3).ceil().long()  # 0 none (~60%), 1 stripes, 2 checker, 3 noise
    tex_dir = F.normalize(torch.randn(B, 3, generator=g), dim=-1)
    noise_dirs = F.normalize(torch.randn(B, 3, 3, generator=g), dim=-1)
    light_az = (r(B) * 2 - 1) * math.radians(110)
    light_el = torch.deg2rad(15 + 65 * r(B))
    return {
        "palette": palette,
        "part_jitter": 0.1 * r(B),
        "tex_kind": tex_kind,
        "tex_amp": 0.1 + 0.3 * r(B),
        "tex_freq": 4 + 18 * r(B),
        "tex_dir": tex_dir,
        "noise_dirs": noise_dirs,
        "noise_phase": r(B, 3) * 6.283,
        "light_az": light_az,   # relative to the camera azimuth
        "light_el": light_el,
        "key": 0.55 + 0.45 * r(B),
        "ambient": 0.15 + 0.3 * r(B),
        "specular": 0.35 * r(B),
        "shininess": 8 + 56 * r(B),
    }


def _slab(o, d, lo, hi):
    inv = 1.0 / torch.where(d.abs() < 1e-9, torch.full_like(d, 1e-9), d)
    ta = (lo.unsqueeze(1) - o.unsqueeze(1)) * inv
    tb = (hi.unsqueeze(1) - o.unsqueeze(1)) * inv
    return torch.minimum(ta, tb).amax(-1), torch.maximum(ta, tb).amin(-1)


def _compact(mask: torch.Tensor):
    """Indices [B,n] putting the True entries of each row first; n = most True in a row."""
    n = int(mask.sum(1).max())
    idx = torch.argsort((~mask).to(torch.uint8), dim=1, stable=True)[:, :n]
    return idx, n


def trace(sdf_fn, eye, dirs, bounds, pix, steps: int = 64, relax: float = 0.95):
    """Sphere tracing with early-out of finished rays. Returns (hit bool [B,R], t [B,R],
    closest-approach ratio sdf/footprint [B,R], t at closest approach [B,R])."""
    B, R, _ = dirs.shape
    t0, t1 = _slab(eye, dirs, bounds[:, 0] - 0.01, bounds[:, 1] + 0.01)
    t = t0.clamp(min=0)
    active = t1 > t
    hit = torch.zeros_like(active)
    best = torch.full_like(t, float("inf"))
    best_t = t.clone()
    pix = pix.view(B, 1)
    idx = None
    for step in range(steps):
        if step % 4 == 0:
            idx, n = _compact(active)
            if n == 0:
                break
            d_sub = dirs.gather(1, idx.unsqueeze(-1).expand(B, n, 3))
            tmax = t1.gather(1, idx)
        act = active.gather(1, idx)
        ts = t.gather(1, idx)
        dist = sdf_fn(eye.unsqueeze(1) + d_sub * ts.unsqueeze(-1))
        foot = ts * pix
        ratio = dist / foot
        better = act & (ratio < best.gather(1, idx))
        best.scatter_(1, idx, torch.where(better, ratio, best.gather(1, idx)))
        best_t.scatter_(1, idx, torch.where(better, ts, best_t.gather(1, idx)))
        is_hit = act & (dist < 0.25 * foot)
        tn = ts + dist * relax
        t.scatter_(1, idx, torch.where(act & ~is_hit, tn, ts))
        hit.scatter_(1, idx, hit.gather(1, idx) | is_hit)
        active.scatter_(1, idx, act & ~is_hit & (tn < tmax))
    return hit, t, best, best_t


def render(source, cameras: Cameras, size: int = 128, generator: torch.Generator | None = None,
           steps: int = 64, supersample: int = 1, style: dict | None = None, bounds: torch.Tensor | None = None):
    """Render B images [B,4,size,size] in [0,1] (straight RGBA, background alpha 0, RGB 0)."""
    sdf_obj = source if hasattr(source, "sdf") else None
    sdf_fn = source.sdf if sdf_obj is not None else source
    with_mat = sdf_obj is not None and hasattr(sdf_obj, "mat")
    device = cameras.target.device
    B = len(cameras)
    S = size * supersample
    if bounds is None:
        bounds = getattr(sdf_obj, "bounds", None)
    if bounds is None:
        bounds = torch.tensor([[-DOMAIN_HALF] * 3, [DOMAIN_HALF] * 3], device=device).expand(B, 2, 3)
    bounds = bounds.to(device)
    if style is None:
        style = random_style(B, generator)
    st = {k: v.to(device) for k, v in style.items()}

    with torch.no_grad():
        eye, dirs = cameras.rays(S)
        pix = 2 * torch.tan(cameras.fov / 2) / S
        hit, t, best, best_t = trace(sdf_fn, eye, dirs, bounds, pix, steps)
        alpha = torch.where(hit, torch.ones_like(t), (0.5 - best).clamp(0, 1))
        alpha = torch.nan_to_num(alpha, nan=0.0)
        rgb = torch.zeros(B, S * S, 3, device=device)
        idx, n = _compact(alpha > 0)
        if n > 0:
            valid = (alpha > 0).gather(1, idx)
            d_sub = dirs.gather(1, idx.unsqueeze(-1).expand(B, n, 3))
            ts = torch.where(hit, t, best_t).gather(1, idx)
            p = eye.unsqueeze(1) + d_sub * ts.unsqueeze(-1)
            _, grad = sdf_and_gradient(sdf_fn, p, eps=1.5e-3)
            normal = F.normalize(grad, dim=-1)
            if with_mat:
                _, mat, slot = sdf_obj.sdf(p, return_material=True)
            else:
                mat = torch.zeros(B, n, dtype=torch.long, device=device)
                slot = mat
            col = _shade(p, normal, d_sub, mat, slot, cameras, st)
            rgb.scatter_(1, idx.unsqueeze(-1).expand(B, n, 3), torch.where(valid.unsqueeze(-1), col, 0.0))
        img = torch.cat([rgb, alpha.unsqueeze(-1)], -1).reshape(B, S, S, 4).permute(0, 3, 1, 2)
        if supersample > 1:
            pre = torch.cat([img[:, :3] * img[:, 3:], img[:, 3:]], 1)
            pre = F.avg_pool2d(pre, supersample)
            a = pre[:, 3:]
            img = torch.cat([pre[:, :3] / a.clamp(min=1e-6), a], 1)
        return img.clamp(0, 1)


def _shade(p, n, d, mat, slot, cameras: Cameras, st: dict) -> torch.Tensor:
    B = p.shape[0]
    base = st["palette"].gather(1, mat.unsqueeze(-1).expand(*mat.shape, 3))  # [B,n,3]
    # per-part brightness jitter from a hash of the slot id
    h = torch.frac(torch.sin(slot.float() * 12.9898 + 4.1) * 43758.5453)
    base = base * (1 + st["part_jitter"].view(B, 1, 1) * (2 * h.unsqueeze(-1) - 1))
    # procedural texture on the main material
    kind = st["tex_kind"].view(B, 1)
    f = st["tex_freq"].view(B, 1)
    along = (p * st["tex_dir"].view(B, 1, 3)).sum(-1)
    stripes = 0.5 + 0.5 * torch.sin(2 * math.pi * f * along)
    checker = ((torch.floor(p * f.unsqueeze(-1) * 0.5).sum(-1)) % 2)
    proj = torch.einsum("bnk,bjk->bnj", p, st["noise_dirs"])
    noise = (torch.sin(proj * f.unsqueeze(-1) * torch.tensor([1.0, 2.3, 4.7], device=p.device)
                       + st["noise_phase"].view(B, 1, 3)) * torch.tensor([0.5, 0.3, 0.2], device=p.device)).sum(-1)
    noise = 0.5 + 0.5 * noise
    pattern = torch.where(kind == 1, stripes, torch.where(kind == 2, checker, torch.where(kind == 3, noise, 0.0)))
    pattern = torch.where(mat == 0, pattern, 0.0)
    base = base * (1 - st["tex_amp"].view(B, 1, 1) * pattern.unsqueeze(-1))
    lin = base.clamp(0, 1) ** 2.2
    # lights: key light relative to the camera azimuth, sky-ish ambient
    laz = cameras.azimuth + st["light_az"]
    lel = st["light_el"]
    light = torch.stack([torch.cos(lel) * torch.sin(laz), -torch.cos(lel) * torch.cos(laz), torch.sin(lel)], -1)
    light = light.view(B, 1, 3)
    ndl = (n * light).sum(-1).clamp(min=0)
    sky = 0.65 + 0.35 * n[..., 2]
    halfv = F.normalize(light - d, dim=-1)
    spec = (n * halfv).sum(-1).clamp(min=0) ** st["shininess"].view(B, 1) * st["specular"].view(B, 1)
    spec = spec * (ndl > 0)
    shade = st["ambient"].view(B, 1) * sky + st["key"].view(B, 1) * ndl
    out = lin * shade.unsqueeze(-1) + spec.unsqueeze(-1)
    return out.clamp(0, 1) ** (1 / 2.2)


def contact_sheet(images: torch.Tensor, cols: int, background=(1.0, 1.0, 1.0)):
    """Composite RGBA images [N,4,H,W] over a background into one uint8 HxWx3 numpy grid."""
    import numpy as np

    N, _, H, W = images.shape
    rows = (N + cols - 1) // cols
    bg = torch.tensor(background).view(1, 3, 1, 1)
    comp = images[:, :3] * images[:, 3:] + bg * (1 - images[:, 3:])
    sheet = torch.ones(rows * H, cols * W, 3)
    for i in range(N):
        r, c = divmod(i, cols)
        sheet[r * H:(r + 1) * H, c * W:(c + 1) * W] = comp[i].permute(1, 2, 0)
    return (sheet.numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)
