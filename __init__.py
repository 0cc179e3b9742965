"""ImDec: turn one picture of an object into a 3D mesh in the open scene (Blender 4.2+ extension).

Entry point only: register() / unregister(). The add-on's modules are imported inside register(),
so importing this file is free (no bpy, no torch), and PyTorch is imported only when a
reconstruction runs (see operators/reconstruct.py), which keeps Blender's start-up fast.

Inside Blender this package is `bl_ext.<repository>.imdec`; everything in it imports relatively
(`from .engine import ...`), and the same `engine/` folder is also the top-level `engine` package
of `python -m engine` and of the reconstruction worker process (`python -m engine.worker`).
"""

_registered_modules: list = []


def register():
    from . import operators, panels, prefs

    for module in (prefs, operators, panels):
        module.register()
        _registered_modules.append(module)


def unregister():
    while _registered_modules:
        _registered_modules.pop().unregister()
