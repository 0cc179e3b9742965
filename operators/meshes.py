"""Numpy triangles -> a Blender mesh object, through the bulk foreach_set path (1M triangles in about a second).

With vertex colours (sRGB, uint8 0..255 or float 0..1, [V, 3]): a BYTE_COLOR colour attribute
"Color" on the POINT domain, the active and render one, set through `color_srgb` (the bytes store
sRGB as given; `color` would take linear values), and a new material "<object> Colour" whose
Principled BSDF's Base Color comes from a Color Attribute node reading it (Material Preview,
renders; Workbench shows it with the viewport's Attribute colour). Without colours: clay, no
attribute, no material. The viewport's shading settings are the user's and are never changed.
"""

from __future__ import annotations

import bpy
import numpy as np


COLOUR_ATTRIBUTE = "Color"  # Blender's default name for a colour attribute


class MeshError(Exception):
    """The engine's arrays cannot form a mesh; one line for the user."""


def check_colours(colours, n_vertices: int) -> np.ndarray | None:
    """Vertex colours as float32 sRGB in 0..1 [V, 3] (uint8 input is divided by 255), or None (clay)."""
    if colours is None:
        return None
    colours = np.asarray(colours)
    if colours.ndim != 2 or colours.shape[1] != 3:
        raise MeshError(f"the reconstruction's vertex colours have shape {tuple(colours.shape)}, "
                        "not [vertices, 3] (internal error)")
    if len(colours) != n_vertices:
        raise MeshError(f"the reconstruction has {len(colours)} vertex colours for {n_vertices} vertices "
                        "(internal error)")
    if colours.dtype == np.uint8:
        return colours.astype(np.float32) / np.float32(255.0)
    colours = colours.astype(np.float32)
    if not np.isfinite(colours).all():
        raise MeshError("the reconstruction has non-finite vertex colours (internal error)")
    return np.clip(colours, 0.0, 1.0)


def check_arrays(vertices, faces, colours=None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The arrays as Blender takes them (vertices float32 [V, 3], faces int32 [F, 3] without
    degenerate triangles, colours float32 sRGB 0..1 [V, 3] or None); MeshError with one line."""
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
    return vertices, faces, check_colours(colours, len(vertices))


def set_vertex_colours(mesh, colours: np.ndarray):
    """A POINT BYTE_COLOR attribute "Color" holding the sRGB colours (float32 0..1 [V, 3]), made the
    active and the render colour attribute."""
    attr = mesh.color_attributes.new(COLOUR_ATTRIBUTE, 'BYTE_COLOR', 'POINT')
    rgba = np.ones((len(colours), 4), np.float32)
    rgba[:, :3] = colours
    attr.data.foreach_set("color_srgb", rgba.ravel())  # sRGB as given; "color" would be linear
    name = attr.name  # the same unless the mesh had one of that name
    mesh.color_attributes.active_color_name = name
    mesh.color_attributes.render_color_index = mesh.color_attributes.find(name)
    return attr


def colour_material(name: str, attribute: str = COLOUR_ATTRIBUTE) -> bpy.types.Material:
    """A node material whose Principled BSDF's Base Color is the colour attribute `attribute`."""
    material = bpy.data.materials.new(name)
    try:
        material.use_nodes = True
        nodes, links = material.node_tree.nodes, material.node_tree.links
        bsdf = next((n for n in nodes if n.type == 'BSDF_PRINCIPLED'), None)
        if bsdf is None:
            output = next((n for n in nodes if n.type == 'OUTPUT_MATERIAL'), None) \
                or nodes.new("ShaderNodeOutputMaterial")
            bsdf = nodes.new("ShaderNodeBsdfPrincipled")
            links.new(bsdf.outputs["BSDF"], output.inputs["Surface"])
        colour = nodes.new("ShaderNodeVertexColor")
        colour.layer_name = attribute
        colour.location = (bsdf.location.x - 300, bsdf.location.y)
        links.new(colour.outputs["Color"], bsdf.inputs["Base Color"])
    except Exception:
        bpy.data.materials.remove(material)
        raise
    return material


def remove_mesh(mesh) -> None:
    """Remove a mesh that nothing else uses, and its materials that nothing else uses either."""
    materials = [m for m in mesh.materials if m is not None]
    bpy.data.meshes.remove(mesh)
    for material in materials:
        if material.users == 0:
            bpy.data.materials.remove(material)


def build_mesh(name: str, vertices, faces, *, smooth: bool = True, colours=None,
               material_name: str | None = None) -> bpy.types.Mesh:
    """The mesh datablock; with colours, also its colour attribute and material
    (`material_name`, default "<name> Colour"). All or nothing."""
    vertices, faces, colours = check_arrays(vertices, faces, colours)
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
        if colours is not None:
            set_vertex_colours(mesh, colours)
            material = colour_material(material_name or f"{name} Colour")
            try:
                mesh.materials.append(material)
            except Exception:
                bpy.data.materials.remove(material)
                raise
    except Exception:
        remove_mesh(mesh)
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
                 select: bool = True, colours=None) -> bpy.types.Object:
    """The whole success path: mesh datablock (with `colours`, sRGB uint8 0..255 or float 0..1
    [V, 3]: its colour attribute and material), object, linking, selection. All or nothing."""
    location = tuple(context.scene.cursor.location) if location is None else tuple(location)
    mesh = build_mesh(name, vertices, faces, smooth=smooth, colours=colours)
    try:
        if select:
            leave_edit_modes(context)
        obj = link_object(context, name, mesh, location, select=select)
    except Exception:
        remove_mesh(mesh)
        raise
    material = mesh.materials[0] if len(mesh.materials) else None
    if material is not None and obj.name != name:  # Blender renamed the object ("chair.001"): follow it
        material.name = f"{obj.name} Colour"
    return obj


def remove_object(obj) -> None:
    """Remove an object and its mesh and materials when nothing else uses them (a preview replaced
    by the final mesh)."""
    mesh = obj.data
    bpy.data.objects.remove(obj, do_unlink=True)
    if mesh is not None and mesh.users == 0:
        remove_mesh(mesh)
