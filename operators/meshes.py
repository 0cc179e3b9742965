"""Numpy triangles -> a Blender mesh object, through the bulk foreach_set path (1M triangles in about a second)."""

from __future__ import annotations

import bpy
import numpy as np


class MeshError(Exception):
    """The engine's arrays cannot form a mesh; one line for the user."""


def check_arrays(vertices, faces) -> tuple[np.ndarray, np.ndarray]:
    vertices = np.ascontiguousarray(vertices, dtype=np.float32).reshape(-1, 3)
    faces = np.ascontiguousarray(faces, dtype=np.int32).reshape(-1, 3)
    if len(faces) == 0 or len(vertices) == 0:
        # the engine refuses this first; kept for arrays from elsewhere
        raise MeshError("the reconstruction is empty (no surface); lower the threshold (default 0.5) "
                        "or use a larger picture of the object")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise MeshError("the reconstruction's faces point at missing vertices (internal error)")
    if not np.isfinite(vertices).all():
        raise MeshError("the reconstruction has non-finite vertex coordinates (internal error)")
    # faces that repeat a vertex are what mesh.validate() would remove; doing it here costs
    # milliseconds where validate() costs about a second per million triangles
    degenerate = (faces[:, 0] == faces[:, 1]) | (faces[:, 1] == faces[:, 2]) | (faces[:, 0] == faces[:, 2])
    if degenerate.any():
        faces = np.ascontiguousarray(faces[~degenerate])
        if len(faces) == 0:
            raise MeshError("the reconstruction is empty: every triangle is degenerate; try another threshold")
    return vertices, faces


def build_mesh(name: str, vertices, faces, *, smooth: bool = True) -> bpy.types.Mesh:
    vertices, faces = check_arrays(vertices, faces)
    n_faces = len(faces)
    mesh = bpy.data.meshes.new(name)
    try:
        mesh.vertices.add(len(vertices))
        mesh.vertices.foreach_set("co", vertices.ravel())
        mesh.loops.add(3 * n_faces)
        mesh.loops.foreach_set("vertex_index", faces.ravel())
        mesh.polygons.add(n_faces)
        mesh.polygons.foreach_set("loop_start", np.arange(0, 3 * n_faces, 3, dtype=np.int32))
        mesh.update(calc_edges=True)
        if smooth:
            mesh.shade_smooth()
    except Exception:
        bpy.data.meshes.remove(mesh)
        raise
    return mesh


def link_object(context, name: str, mesh, location, *, select: bool = True) -> bpy.types.Object:
    """A new object for `mesh` in the active collection at `location`; with `select`, the only one
    selected, and active (a preview is linked without touching the selection)."""
    view_layer = context.view_layer
    collection = context.collection or view_layer.active_layer_collection.collection or context.scene.collection
    obj = bpy.data.objects.new(name, mesh)
    try:
        collection.objects.link(obj)
    except Exception:
        bpy.data.objects.remove(obj)
        raise
    obj.location = location
    if not select:
        return obj
    for other in list(view_layer.objects.selected):
        other.select_set(False)
    obj.select_set(True)
    view_layer.objects.active = obj
    return obj


def leave_edit_modes(context) -> None:
    """Adding and activating an object needs object mode."""
    if context.mode != 'OBJECT' and context.view_layer.objects.active is not None:
        try:
            bpy.ops.object.mode_set(mode='OBJECT')
        except RuntimeError:
            pass


def build_object(context, name: str, vertices, faces, *, location=None, smooth: bool = True,
                 select: bool = True) -> bpy.types.Object:
    """The whole success path: mesh datablock, object, linking, selection. All or nothing."""
    location = tuple(context.scene.cursor.location) if location is None else tuple(location)
    mesh = build_mesh(name, vertices, faces, smooth=smooth)
    try:
        if select:
            leave_edit_modes(context)
        return link_object(context, name, mesh, location, select=select)
    except Exception:
        bpy.data.meshes.remove(mesh)
        raise


def remove_object(obj) -> None:
    """Remove an object and its mesh (a preview replaced by the final mesh)."""
    mesh = obj.data
    bpy.data.objects.remove(obj, do_unlink=True)
    if mesh is not None and mesh.users == 0:
        bpy.data.meshes.remove(mesh)
