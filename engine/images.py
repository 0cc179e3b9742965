"""Reading user images and preparing them for the encoder.

Preparation is the same in training and in use: the object mask (alpha, or a background
separation when the image has none) -> crop to the object -> pad to a square -> resize.
`prepare_batch` is that one function; `prepare_image` wraps it for a single picture.
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from .errors import InputError, first_line
from .files import require_file

MAX_PIXELS = 50_000_000      # larger images are refused before decoding (decompression bombs)
MIN_SIDE = 8                 # smaller images cannot show an object
MIN_OBJECT_PIXELS = 16
OBJECT_FILL = 0.9            # the object's longer side covers this share of the prepared square
ALPHA_OBJECT = 0.5           # alpha above this counts as object when finding its box


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read any Pillow image as float32 RGBA [H, W, 4] in [0, 1]; InputError with a clear line otherwise."""
    from PIL import Image

    path = require_file(path, "image", "an image file")
    if path.stat().st_size == 0:
        raise InputError(f"image {path} is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if w * h > MAX_PIXELS:
                    raise InputError(f"image {path} is {w}x{h} pixels, too large to decode safely (limit {MAX_PIXELS // 1_000_000} megapixels); downscale it first")
                img.load()
                return image_to_rgba(upright(img), str(path))
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(f"image {path} is too large to decode safely; downscale it first") from None
    except Image.UnidentifiedImageError:
        raise InputError(f"{path} is not an image Pillow can read (PNG, JPEG, WebP, TIFF, BMP...)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"image {path} is damaged or truncated ({first_line(exc, 80)})") from None


def upright(img):
    """The picture as it is meant to be seen: a phone photo's EXIF orientation applied."""
    from PIL import ImageOps

    try:
        return ImageOps.exif_transpose(img)
    except (OSError, ValueError, TypeError, KeyError):  # a damaged EXIF block: keep the pixels as stored
        return img


def image_to_rgba(img, name: str = "image") -> np.ndarray:
    """A PIL image in any mode (8/16-bit, grey, palette, RGB(A), CMYK) as float32 RGBA in [0, 1]."""
    mode = img.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        grey = np.nan_to_num(np.asarray(img, dtype=np.float32))
        grey = np.clip(grey / _full_scale(mode, float(grey.max(initial=0))), 0.0, 1.0)
        rgba = np.dstack([grey, grey, grey, np.ones_like(grey)])
    else:
        has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info
        rgba = np.asarray(img.convert("RGBA"), dtype=np.float32) / 255.0
        if not has_alpha:
            rgba[..., 3] = 1.0
    return check_rgba(rgba, name)


def _full_scale(mode: str, peak: float) -> float:
    """The value that means white: 16-bit images 65535; float images 1 when their values lie in
    0..1 (as linear or HDR tools write them), else 255 as for 8-bit data."""
    if mode.startswith("I;16") or peak > 255:
        return 65535.0
    if mode == "F" and peak <= 1.0:
        return 1.0
    return 255.0


def check_rgba(rgba: np.ndarray, name: str = "image") -> np.ndarray:
    rgba = np.asarray(rgba, dtype=np.float32)
    if rgba.ndim == 2:
        rgba = rgba[..., None]
    if rgba.ndim != 3 or rgba.shape[2] not in (1, 2, 3, 4):
        raise InputError(f"{name} has shape {rgba.shape}; expected height x width x (1-4) channels")
    if rgba.dtype != np.float32 or rgba.max(initial=0) > 1.0:
        rgba = rgba.astype(np.float32)
        if rgba.max(initial=0) > 1.0:
            rgba = rgba / 255.0
    c = rgba.shape[2]
    if c == 1:
        rgba = np.concatenate([rgba.repeat(3, 2), np.ones_like(rgba)], 2)
    elif c == 2:
        rgba = np.concatenate([rgba[..., :1].repeat(3, 2), rgba[..., 1:]], 2)
    elif c == 3:
        rgba = np.concatenate([rgba, np.ones_like(rgba[..., :1])], 2)
    h, w = rgba.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise InputError(f"{name} is only {w}x{h} pixels; use a picture at least {MIN_SIDE}x{MIN_SIDE} (128x128 or more is best)")
    return np.ascontiguousarray(np.clip(rgba, 0.0, 1.0))


def separate_background(rgba: np.ndarray, name: str = "image") -> np.ndarray:
    """For opaque images: alpha = the object mask found against the backdrop (engine.background)."""
    from .background import object_mask

    out = rgba.copy()
    out[..., 3] = object_mask(rgba[..., :3], name).astype(np.float32)
    return out


def object_rgba(rgba: np.ndarray, name: str = "image") -> np.ndarray:
    """RGBA whose alpha is the object mask: the image's own alpha, or a background separation."""
    rgba = check_rgba(rgba, name)
    if rgba[..., 3].min() >= 0.999:
        rgba = separate_background(rgba, name)
        if (rgba[..., 3] > ALPHA_OBJECT).sum() < MIN_OBJECT_PIXELS:
            raise InputError(f"{name}: no object found against the background; use a picture with a transparent background")
    elif (rgba[..., 3] > ALPHA_OBJECT).sum() < MIN_OBJECT_PIXELS:
        raise InputError(f"{name} is fully transparent (no object in its alpha channel)")
    return rgba


def square_box(alpha: torch.Tensor) -> tuple[float, float, float]:
    """(centre row, centre col, side) of the square that frames the object's bounding box."""
    mask = alpha > ALPHA_OBJECT
    if not bool(mask.any()):
        mask = alpha > 0
    rows = torch.nonzero(mask.any(1)).flatten()
    cols = torch.nonzero(mask.any(0)).flatten()
    if rows.numel() == 0:
        h, w = alpha.shape
        return (h / 2, w / 2, float(max(h, w)))
    top, bottom = rows[0].item(), rows[-1].item() + 1
    left, right = cols[0].item(), cols[-1].item() + 1
    side = max(bottom - top, right - left) / OBJECT_FILL
    return ((top + bottom) / 2, (left + right) / 2, side)


def prepare_batch(rgba: torch.Tensor, size: int = 128, return_crops: bool = False):
    """RGBA [B, 4, H, W] in [0, 1] -> encoder input [B, 4, size, size]: premultiplied RGB + alpha,
    the object cropped, centred on a transparent square and resized with antialiasing.
    With return_crops, also each crop [B, 3] as (centre x, centre y, scale) in the input's image
    positions (grid_sample's, -1..1) for square inputs: what engine.camera.prepared_camera needs."""
    out, crops = [], []
    for image in rgba:
        image = torch.cat([image[:3] * image[3:], image[3:]], 0)
        cy, cx, side = square_box(image[3])
        length = max(1, int(round(side)))
        top, left = int(round(cy - length / 2)), int(round(cx - length / 2))
        h, w = image.shape[1:]
        pad_top, pad_left = max(0, -top), max(0, -left)
        padded = F.pad(image, (pad_left, max(0, left + length - w), pad_top, max(0, top + length - h)))
        y0, x0 = top + pad_top, left + pad_left
        crop = padded[:, y0:y0 + length, x0:x0 + length]
        out.append(F.interpolate(crop[None], size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0])
        crops.append(((left + length / 2) / w * 2 - 1, (top + length / 2) / h * 2 - 1, w / length))
    images = torch.stack(out).clamp_(0.0, 1.0)
    if return_crops:
        return images, torch.tensor(crops, dtype=torch.float32, device=rgba.device)
    return images


def object_picture(image, name: str | None = None) -> torch.Tensor:
    """A path, PIL image or array [H, W, C] (rows top to bottom) -> straight RGBA [1, 4, H, W] whose
    alpha is the object mask (object_rgba)."""
    if isinstance(image, (str, os.PathLike)):
        name = name or str(image)
        rgba = load_image(image)
    elif hasattr(image, "mode") and hasattr(image, "size"):  # a PIL image
        rgba = image_to_rgba(image, name or "image")
    else:
        rgba = np.asarray(image)
    rgba = object_rgba(rgba, name or "image")
    return torch.from_numpy(rgba).permute(2, 0, 1)[None]


def prepare_image(image, size: int = 128, name: str | None = None) -> torch.Tensor:
    """A path, PIL image or array [H, W, C] (rows top to bottom) -> encoder input [1, 4, size, size]."""
    return prepare_batch(object_picture(image, name), size)
