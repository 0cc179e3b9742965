"""The ImDec tab of the 3D Viewport's sidebar, and its scene settings (bpy.types.Scene.imdec)."""

import bpy

from . import sidebar

classes = sidebar.classes


def register():
    for cls in classes:
        bpy.utils.register_class(cls)
    bpy.types.Scene.imdec = bpy.props.PointerProperty(type=sidebar.IMDEC_SceneSettings)


def unregister():
    del bpy.types.Scene.imdec
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
