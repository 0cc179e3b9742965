"""Operators of the ImDec add-on: imdec.reconstruct (see reconstruct.py)."""

import bpy

from . import reconstruct

classes = reconstruct.classes


def register():
    for cls in classes:
        bpy.utils.register_class(cls)


def unregister():
    reconstruct.stop_all_jobs()  # a worker still running would outlive the add-on
    for cls in reversed(classes):
        bpy.utils.unregister_class(cls)
