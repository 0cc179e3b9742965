"""Blender properties the operator, the sidebar's scene settings and the preferences share, with
their defaults and limits from engine.request.

No hard limits on a reconstruction setting: a value out of range must fail with the engine's
message (engine.request.ReconstructionRequest.validate), never be clamped silently. The soft limits
bound the sliders.
"""

from __future__ import annotations

from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from .engine.request import (DEFAULT_DEVICE, DEFAULT_RESOLUTION, DEFAULT_THRESHOLD, DEVICE_CHOICES,
                             MAX_RESOLUTION, MIN_RESOLUTION)

RESOLUTION_SLIDER = (MIN_RESOLUTION, 512)  # larger, up to MAX_RESOLUTION, can be typed
THRESHOLD_SLIDER = (0.01, 0.99)            # the engine takes anything strictly between 0 and 1
# Blender's device items: the engine's device names in capitals ('AUTO' <-> "auto")
DEVICE_ITEMS = tuple((name.upper(), label, help_text) for name, label, help_text in DEVICE_CHOICES)
DEFAULT_DEVICE_ITEM = DEFAULT_DEVICE.upper()


def engine_device(item: str) -> str:
    """The engine's name of a device item: 'CPU' -> "cpu"."""
    return item.lower()


def resolution_property():
    return IntProperty(
        name="Resolution",
        description=f"Grid resolution of the extracted surface ({MIN_RESOLUTION}..{MAX_RESOLUTION}): "
                    "64 previews quickly, 128-256 is detailed",
        default=DEFAULT_RESOLUTION,
        soft_min=RESOLUTION_SLIDER[0],
        soft_max=RESOLUTION_SLIDER[1],
    )


def threshold_property():
    return FloatProperty(
        name="Threshold",
        description="Occupancy level of the surface, strictly between 0 and 1: "
                    "lower grows the object, higher shrinks it",
        default=DEFAULT_THRESHOLD,
        soft_min=THRESHOLD_SLIDER[0],
        soft_max=THRESHOLD_SLIDER[1],
    )


def colour_property():
    return BoolProperty(
        name="Colour",
        description="Colour the mesh with the picture's colours (off: clay)",
        default=True,
    )


def device_property(name: str = "Device", description: str = "Where the network runs", *,
                    first_items: tuple = (), default: str = DEFAULT_DEVICE_ITEM):
    """The device menu; `first_items` go before the devices (the panel's "as in the preferences")."""
    return EnumProperty(name=name, description=description, items=first_items + DEVICE_ITEMS, default=default)


def image_file_property(description: str, **options):
    return StringProperty(name="Image File", description=description, subtype='FILE_PATH', default="", **options)
