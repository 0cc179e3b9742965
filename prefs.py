"""Add-on preferences: default device and CPU threads. Stored by Blender under this package's name."""

from __future__ import annotations

import bpy
from bpy.props import IntProperty

from .properties import DEFAULT_DEVICE_ITEM, device_property


class IMDEC_AddonPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    device: device_property("Default Device", "Device the sidebar panel uses unless it picks another one")
    threads: IntProperty(
        name="CPU Threads",
        description="CPU threads for PyTorch during a reconstruction (0 = all cores)",
        default=0,
        min=0,
        max=1024,
        soft_max=64,
    )

    def draw(self, context):
        layout = self.layout
        layout.use_property_split = True
        layout.prop(self, "device")
        layout.prop(self, "threads")


def get_preferences(context=None):
    """This add-on's preferences, or None when it was registered without being enabled as an add-on."""
    context = context or bpy.context
    addon = context.preferences.addons.get(__package__)
    return addon.preferences if addon is not None else None


def preferred_device(context=None) -> str:
    prefs = get_preferences(context)
    return prefs.device if prefs is not None else DEFAULT_DEVICE_ITEM


def preferred_threads(context=None) -> int:
    prefs = get_preferences(context)
    return int(prefs.threads) if prefs is not None else 0


classes = (IMDEC_AddonPreferences,)


def register():
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
