"""The object mask of an opaque picture: separating a product shot's object from its backdrop.

A product shot's backdrop is a plain or smoothly graded colour, perhaps with a soft shadow under
the object and some sensor noise. The backdrop's colour is fitted over the picture's border as a
smooth function of position (a quadratic per channel, robust to where the object touches the
border). Then the backdrop is flooded inwards from the border through every pixel that looks like
it -- near the fitted colour, or a neutral darkening of it (a shadow) -- but never across a sharp
edge, which is where an object's outline is. What the flood does not reach is the object. Holes
seen through the object (between chair slats, under a table) stay open: the flood reaches them
only if they connect to the border, so they are tested on their own colour instead.

When the picture does not look like that (a busy or textured backdrop, an object running off the
edge, nothing or almost everything found, a mask in many pieces), `BackgroundError` says so,
instead of a wrong mask becoming a wrong shape.
"""

from __future__ import annotations

import numpy as np

from .errors import InputError

WORKING_SIDE = 1024      # pixels: the longer side the decision is made at
SMOOTHING = 1.0          # pixels: gaussian blur before any decision (sensor and JPEG noise)
MIN_CONTRAST = 0.05      # RGB distance below which a pixel may be backdrop, however clean the picture
GRAIN_SCALE = 3.0        # pixels: variation finer than this is grain, coarser is shading
NOISE_FACTOR = 4.0       # ... or this many times the backdrop's own noise, whichever is larger
SHADOW_DARKEST = 0.45    # a shadow keeps at least this share of the backdrop's brightness
MIN_EDGE = 0.025         # RGB change per pixel that counts as an edge (an outline, not a soft shadow)
BORDER_SHARE = 0.02      # the border band fitted as backdrop: this share of the shorter side
MAX_BORDER_OBJECT = 0.25  # refuse when more of the border than this is not backdrop
MAX_BORDER_EDGES = 0.08  # refuse when more of the border than this is edges (a pattern, clutter)
MAX_NOISE = 0.04         # refuse when the backdrop itself varies more than this (texture, clutter)
MAX_COVER = 0.9          # refuse when the object covers more of the picture than this
MIN_COVER = 0.0005       # ... or less than this
MAX_PIECES = 12          # refuse when the object falls into more pieces than this
SPECK = 0.05             # pieces smaller than this share of the largest are noise
SHADOW_PIECE = 0.9       # a separate piece this backdrop-like is a shadow, not the object
HALO = 3                 # pixels around the outline judged again without the blur
HOLE_EDGE_SHARE = 0.5    # a see-through hole is ringed by edges for more than this share
HOLE_CLOSENESS = 0.5     # ... and on average this close to the backdrop, as a share of the tolerance
SMALL_HOLE = 0.0005      # holes smaller than this share of the picture are filled

ADVICE = "use a picture with a transparent background, or a plain backdrop"


class BackgroundError(InputError):
    """The backdrop cannot be told apart from the object with confidence."""


def _border_band(h: int, w: int) -> np.ndarray:
    band = max(2, int(round(BORDER_SHARE * min(h, w))))
    mask = np.zeros((h, w), bool)
    mask[:band], mask[-band:], mask[:, :band], mask[:, -band:] = True, True, True, True
    return mask


def _design(ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Linear terms of normalised pixel positions (a higher order would bend round an object on the border)."""
    return np.stack([np.ones_like(xs), xs, ys], -1)


def fit_backdrop(rgb: np.ndarray, band: np.ndarray, rounds: int = 3) -> np.ndarray:
    """The backdrop's colour at every pixel [H, W, 3]: a quadratic per channel fitted to the border
    band, refitted without the pixels that fit worst (where the object touches the border)."""
    h, w = band.shape
    ys, xs = np.nonzero(band)
    scale = float(max(h, w))
    a = _design(ys / scale, xs / scale)
    b = rgb[ys, xs].astype(np.float64)
    keep = np.ones(len(b), bool)
    for _ in range(rounds):
        coef, *_ = np.linalg.lstsq(a[keep], b[keep], rcond=None)
        residual = np.linalg.norm(a @ coef - b, axis=1)
        keep = residual <= max(np.percentile(residual, 75) * 2.5, 1e-3)
    yy, xx = np.mgrid[0:h, 0:w]
    return (_design(yy / scale, xx / scale) @ coef).astype(np.float32)


def backdrop_likeness(rgb: np.ndarray, backdrop: np.ndarray, tolerance: float) -> np.ndarray:
    """Pixels that may be backdrop: near its colour, or a neutral darkening of it (a shadow)."""
    near = np.linalg.norm(rgb - backdrop, axis=-1) < tolerance
    # the pixel as a multiple k of the backdrop colour, and what is left over (its tint)
    k = (rgb * backdrop).sum(-1) / np.maximum((backdrop * backdrop).sum(-1), 1e-6)
    tint = np.linalg.norm(rgb - k[..., None] * backdrop, axis=-1)
    shadow = (k >= SHADOW_DARKEST) & (k <= 1.0) & (tint < tolerance)
    return near | shadow


def edge_strength(rgb: np.ndarray) -> np.ndarray:
    """Colour change per pixel (the largest over the channels of central differences)."""
    gy, gx = np.gradient(rgb, axis=(0, 1))
    return np.sqrt(gy * gy + gx * gx).max(-1)


def grain(rgb: np.ndarray, border: np.ndarray) -> float:
    """How much the backdrop varies from pixel to pixel on the border (noise, texture, clutter),
    as a robust spread; smooth changes (a gradient, a soft shadow) do not count."""
    from scipy import ndimage

    detail = np.linalg.norm(rgb - ndimage.gaussian_filter(rgb, sigma=(GRAIN_SCALE, GRAIN_SCALE, 0)), axis=-1)
    return float(np.median(detail[border]) * 1.4826 + 1e-4)


def _flood_from_border(passable: np.ndarray, border: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    labels, _ = ndimage.label(passable)
    reached = np.unique(labels[border & passable])
    return np.isin(labels, reached[reached > 0])


def _clean(mask: np.ndarray, name: str) -> np.ndarray:
    """Drop specks, fill pinholes; refuse a mask in many pieces."""
    from scipy import ndimage

    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    if count > 1:
        sizes = ndimage.sum(mask, labels, range(1, count + 1))
        pieces = 1 + np.flatnonzero(sizes >= SPECK * sizes.max())
        if len(pieces) > MAX_PIECES:
            raise BackgroundError(f"{name}: the object found against the backdrop falls into {len(pieces)} pieces, "
                                  f"so the backdrop is probably not plain; {ADVICE}")
        mask = np.isin(labels, pieces)
    holes, count = ndimage.label(~mask)
    if count > 1:
        sizes = ndimage.sum(~mask, holes, range(1, count + 1))
        small = 1 + np.flatnonzero(sizes < SMALL_HOLE * mask.size)
        mask = mask | np.isin(holes, small)
    return mask


def see_through_holes(distance: np.ndarray, outside: np.ndarray, edges: np.ndarray, tolerance: float) -> np.ndarray:
    """The backdrop seen through holes in the object, which the flood from the border cannot reach:
    regions of the backdrop's colour (on average well within the tolerance) ringed by sharp edges
    (an outline). A backdrop-coloured patch inside a white object is ringed by soft shading
    instead, and a dark cushion on a dark backdrop is only near its colour: both stay object."""
    from scipy import ndimage

    near = distance < tolerance
    labels, count = ndimage.label(near & ~outside)
    if count == 0:
        return np.zeros_like(near)
    index = range(1, count + 1)
    ring = np.where(labels == 0, ndimage.maximum_filter(labels, size=3), 0)
    edge_share = np.nan_to_num(ndimage.mean(edges, ring, index))
    closeness = ndimage.mean(distance, labels, index)
    holes = np.isin(labels, 1 + np.flatnonzero((edge_share > HOLE_EDGE_SHARE) & (closeness < HOLE_CLOSENESS * tolerance)))
    return ndimage.binary_dilation(holes, iterations=2, mask=near)


def halo(rgb: np.ndarray, backdrop: np.ndarray, outside: np.ndarray, border: np.ndarray) -> np.ndarray:
    """Backdrop pixels just outside the outline that the blur made look like object: judged again
    on the picture itself, within HALO pixels of the flooded backdrop."""
    from scipy import ndimage

    distance = np.linalg.norm(rgb - backdrop, axis=-1)
    tolerance = max(MIN_CONTRAST, NOISE_FACTOR * float(np.median(distance[border]) * 1.4826))
    band = ndimage.binary_dilation(outside, iterations=HALO) & ~outside
    return band & (distance < tolerance)


def detached_shadows(mask: np.ndarray, likeness: np.ndarray) -> np.ndarray:
    """Pieces of the mask that are all backdrop-like (a hard shadow apart from the object)."""
    from scipy import ndimage

    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    if count < 2:
        return np.zeros_like(mask)
    share = ndimage.mean(likeness, labels, range(1, count + 1))
    return np.isin(labels, 1 + np.flatnonzero(share > SHADOW_PIECE))


def object_mask(rgb: np.ndarray, name: str = "image") -> np.ndarray:
    """bool [H, W]: the object in an opaque picture (RGB in [0, 1]); BackgroundError when unsure.
    Large pictures are judged at WORKING_SIDE pixels (the network sees 128) and the mask scaled back."""
    h, w = rgb.shape[:2]
    scale = WORKING_SIDE / max(h, w)
    if scale >= 1.0:
        return _object_mask(rgb, name)
    from PIL import Image

    small = Image.fromarray((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8))
    small = small.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.BOX)
    mask = _object_mask(np.asarray(small, np.float32) / 255.0, name)
    full = Image.fromarray(mask.astype(np.uint8) * 255).resize((w, h), Image.Resampling.BILINEAR)
    return np.asarray(full) >= 128


def _object_mask(rgb: np.ndarray, name: str) -> np.ndarray:
    from scipy import ndimage

    h, w = rgb.shape[:2]
    smooth = ndimage.gaussian_filter(rgb.astype(np.float32), sigma=(SMOOTHING, SMOOTHING, 0))
    border = _border_band(h, w)
    backdrop = fit_backdrop(smooth, border)
    distance = np.linalg.norm(smooth - backdrop, axis=-1)
    noise = grain(smooth, border)
    if noise > MAX_NOISE:
        raise BackgroundError(f"{name}: its backdrop is not a plain colour (it varies by {noise:.2f} from pixel to pixel); {ADVICE}")
    tolerance = max(MIN_CONTRAST, NOISE_FACTOR * noise)
    likeness = backdrop_likeness(smooth, backdrop, tolerance)
    if 1.0 - likeness[border].mean() > MAX_BORDER_OBJECT:
        raise BackgroundError(f"{name}: {100 * (1 - likeness[border].mean()):.0f}% of its border is not backdrop "
                              f"(a busy backdrop, or the object runs off the picture); {ADVICE}")
    edges = edge_strength(smooth) > max(MIN_EDGE, NOISE_FACTOR * noise / 2)
    if edges[border].mean() > MAX_BORDER_EDGES:
        raise BackgroundError(f"{name}: its backdrop has a pattern or clutter ({100 * edges[border].mean():.0f}% of its "
                              f"border is edges); {ADVICE}")
    outside = _flood_from_border(likeness & ~edges, border)
    # the flood stops a pixel or two short of the outline: let it cover backdrop-coloured edge pixels
    outside = ndimage.binary_dilation(outside, iterations=2, mask=likeness)
    outside |= halo(rgb, backdrop, outside, border)
    mask = ~outside & ~see_through_holes(distance, outside, edges, tolerance)
    mask = _clean(mask & ~detached_shadows(mask, likeness), name)
    cover = float(mask.mean())
    if cover < MIN_COVER:
        raise BackgroundError(f"{name}: no object found against the backdrop; {ADVICE}")
    if cover > MAX_COVER:
        raise BackgroundError(f"{name}: the object found covers {100 * cover:.0f}% of the picture, so the backdrop "
                              f"could not be told apart; {ADVICE}")
    return mask
