"""Which picture to reconstruct, and the pixels of an image datablock as a numpy array."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import bpy
import numpy as np

# images whose pixels Python can read (render results and viewer nodes have none)
READABLE_TYPES = {'IMAGE', 'UV_TEST'}


class SourceError(Exception):
    """The picture cannot be used; the message is one line for the user."""


@dataclass
class Source:
    name: str                      # the new object's name: the image's stem
    path: str | None = None        # an image file ...
    image: object = None           # ... or a bpy.types.Image

    @property
    def label(self) -> str:
        return self.path if self.path else f"image '{self.image.name}'"


def _stem(name: str) -> str:
    stem = Path(name).stem if Path(name).suffix else name
    return stem or "ImDec"


def resolve_source(context, filepath: str = "", image: str = "") -> Source:
    """filepath, else the image datablock named `image`, else the image chosen in the sidebar panel."""
    if filepath:
        return _file_source(filepath)
    if image:
        datablock = bpy.data.images.get(image)
        if datablock is None:
            raise SourceError(f"there is no image named '{image}' in this file (bpy.data.images); "
                              "open it first or pass filepath=")
        return Source(name=_stem(datablock.name), image=datablock)
    settings = getattr(context.scene, "imdec", None)
    if settings is not None:
        if settings.filepath:
            return _file_source(settings.filepath)
        if settings.image is not None:
            return Source(name=_stem(settings.image.name), image=settings.image)
    raise SourceError("no image chosen: pass filepath= or image=, or pick an image in the ImDec tab of the sidebar")


def _file_source(filepath: str) -> Source:
    path = os.path.normpath(bpy.path.abspath(filepath))
    return Source(name=_stem(os.path.basename(path)), path=path)


def check_file(source: Source) -> None:
    """Fail fast on a missing file (the engine says the same, later)."""
    if source.path and not os.path.isfile(source.path):
        raise SourceError(f"image {source.path} does not exist" if not os.path.isdir(source.path)
                          else f"{source.path} is a directory; give an image file")


def _linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, None)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1.0 / 2.4) - 0.055)


def image_pixels(image) -> np.ndarray:
    """float32 [H, W, 3 or 4] in [0, 1], rows top to bottom, straight (not premultiplied) alpha."""
    if image.type not in READABLE_TYPES:
        raise SourceError(f"image '{image.name}' is a {image.type.replace('_', ' ').lower()}, which has no "
                          "pixels Python can read; save it as an image file first")
    count = len(image.pixels)  # loads the buffer (files, packed and generated images alike)
    width, height = image.size
    channels = image.channels
    if count == 0 or width * height == 0 or channels == 0:
        where = f" (file {bpy.path.abspath(image.filepath)} missing or unreadable?)" if image.source == 'FILE' else ""
        raise SourceError(f"image '{image.name}' has no pixels{where}; reload or re-open it")
    if count != width * height * channels:
        raise SourceError(f"image '{image.name}' reports {width}x{height}x{channels} but holds {count} values; reload it")
    buffer = np.empty(count, dtype=np.float32)
    image.pixels.foreach_get(buffer)
    pixels = buffer.reshape(height, width, channels)[::-1]  # Blender stores the bottom row first
    if channels == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    elif channels == 2:  # grey + alpha
        pixels = np.concatenate([np.repeat(pixels[..., :1], 3, axis=2), pixels[..., 1:]], axis=2)
    elif channels > 4:
        pixels = pixels[..., :4]
    if pixels.shape[2] == 4 and image.alpha_mode in {'NONE', 'CHANNEL_PACKED'}:
        pixels = pixels[..., :3]  # alpha is not a mask for this image
    if image.is_float:
        if pixels.shape[2] == 4:  # float buffers are premultiplied
            alpha = pixels[..., 3:]
            pixels = np.concatenate([pixels[..., :3] / np.maximum(alpha, 1e-6), alpha], axis=2)
        space = image.colorspace_settings.name.lower()
        if "srgb" not in space and "non-color" not in space and "raw" not in space:
            pixels = pixels.copy()
            pixels[..., :3] = _linear_to_srgb(pixels[..., :3])
    return np.ascontiguousarray(np.clip(pixels, 0.0, 1.0), dtype=np.float32)
