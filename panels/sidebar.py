"""Sidebar panel (View3D > Sidebar > ImDec) and the scene settings it edits.

The model list comes from engine.model_files, which reads engine/weights/ without importing
PyTorch: drawing the panel never loads the network.
"""

from __future__ import annotations

import bpy
from bpy.props import BoolProperty, EnumProperty, IntProperty, PointerProperty, StringProperty

from .. import prefs
from ..engine.model_files import DEFAULT_MODEL, SUFFIX, list_models
from ..engine.request import DEFAULT_PREVIEW, MIN_RESOLUTION
from ..operators import reconstruct as reconstruct_op
from ..properties import colour_property, device_property, image_file_property, resolution_property, threshold_property

PREFERENCES_ITEM = ('PREFERENCES', "Preferences", "The default device from the add-on's preferences")
PREVIEW_MAX = 256  # a preview is a quick look: larger ones cost as much as the real thing

# Blender keeps only pointers to enum item strings: hold the tuples so they stay alive
_model_items_cache: list = []


def model_items(self, context):
    items = [('DEFAULT', "Default", f"The default bundled model ({DEFAULT_MODEL})")]
    items += [(name, name, f"Bundled model {name} (engine/weights/{name}{SUFFIX})") for name in list_models()]
    items.append(('CUSTOM', "Checkpoint File", "An imdec checkpoint file of your own (.pt)"))
    _model_items_cache[:] = items
    return _model_items_cache


def _image_changed(self, context):
    if self.image is not None and self.filepath:
        self.filepath = ""


def _filepath_changed(self, context):
    if self.filepath and self.image is not None:
        self.image = None


class IMDEC_SceneSettings(bpy.types.PropertyGroup):
    image: PointerProperty(
        name="Image",
        description="Picture of one object; transparency, when present, is the object mask",
        type=bpy.types.Image,
        update=_image_changed,
    )
    filepath: image_file_property("Or a picture file on disk (used instead of the image above)",
                                  update=_filepath_changed)
    resolution: resolution_property()
    threshold: threshold_property()
    device: device_property(first_items=(PREFERENCES_ITEM,), default=PREFERENCES_ITEM[0])
    colour: colour_property()
    model: EnumProperty(
        name="Model",
        description="Network that turns the picture into a shape",
        items=model_items,
    )
    model_path: StringProperty(
        name="Checkpoint",
        description="Path of an imdec checkpoint file (.pt)",
        subtype='FILE_PATH',
    )
    use_preview: BoolProperty(
        name="Quick Preview",
        description="Show a coarse mesh first while the full resolution is computed "
                    f"(for resolutions of at least {reconstruct_op.PREVIEW_FACTOR}x the preview's)",
        default=True,
    )
    preview_resolution: IntProperty(
        name="Preview Resolution",
        default=DEFAULT_PREVIEW,
        min=MIN_RESOLUTION,
        max=PREVIEW_MAX,
    )

    def model_argument(self) -> str:
        """What the operator's `model` gets: "" for the default, a bundled name, or a file path."""
        choice = self.model
        if choice == 'CUSTOM':
            return self.model_path
        if choice in ('DEFAULT', ''):
            return ""
        return choice

    def device_argument(self, context) -> str:
        return prefs.preferred_device(context) if self.device == PREFERENCES_ITEM[0] else self.device


class IMDEC_PT_reconstruct(bpy.types.Panel):
    bl_idname = "IMDEC_PT_reconstruct"
    bl_label = "Image to Mesh"
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "ImDec"

    def draw(self, context):
        layout = self.layout
        settings = context.scene.imdec
        reconstruct_op.warm_up_soon(context)  # the first click then skips loading PyTorch and the model

        layout.template_ID(settings, "image", open="image.open")
        layout.prop(settings, "filepath", text="")
        has_image = settings.image is not None or bool(settings.filepath)

        col = layout.column()
        col.use_property_split = True
        col.use_property_decorate = False
        col.prop(settings, "model")
        if settings.model == 'CUSTOM':
            col.prop(settings, "model_path", text="File")
        col.prop(settings, "resolution")
        col.prop(settings, "threshold")
        col.prop(settings, "device")
        col.prop(settings, "colour")
        row = col.row(heading="Preview")
        row.prop(settings, "use_preview", text="")
        sub = row.row()
        sub.active = settings.use_preview
        sub.prop(settings, "preview_resolution", text="")

        job = reconstruct_op.active_job()
        if job is not None:
            box = layout.box()
            box.label(text=f"Reconstructing: {job.stage} {int(100 * job.fraction)}%", icon='SORTTIME')
            box.label(text="Press Esc to cancel")
            return

        row = layout.row()
        row.scale_y = 1.5
        row.enabled = has_image
        op = row.operator("imdec.reconstruct", text="Reconstruct from Image", icon='MESH_MONKEY')
        if settings.filepath:
            op.filepath = settings.filepath
        elif settings.image is not None:
            op.image = settings.image.name
        op.resolution = settings.resolution
        op.threshold = settings.threshold
        op.model = settings.model_argument()
        op.device = settings.device_argument(context)
        op.colour = settings.colour
        if not has_image:
            layout.label(text="Open or pick an image of an object above", icon='INFO')


classes = (IMDEC_SceneSettings, IMDEC_PT_reconstruct)
