"""Operators of the ImDec add-on: imdec.reconstruct (see reconstruct.py).

bpy is imported in register() only, so that the worker machinery (operators/job.py) imports without
Blender: the tests and tools/bench_worker.py drive it directly.
"""


def register():
    import bpy

    from . import reconstruct

    for cls in reconstruct.classes:
        bpy.utils.register_class(cls)


def unregister():
    import bpy

    from . import reconstruct

    reconstruct.stop_all_jobs()  # the jobs and the worker process would outlive the add-on
    for cls in reversed(reconstruct.classes):
        bpy.utils.unregister_class(cls)
