"""IMDEC_OT_reconstruct: `bpy.ops.imdec.reconstruct(filepath="", image="", resolution=128, threshold=0.5,
model="", device='AUTO')` (see CONVENTIONS.md, "Blender operator").

- execute() (scripts, background mode): runs in-process to the end; the new object is linked to the
  active collection, placed at the 3D cursor, smooth shaded, the only one selected, and active.
- invoke() (the panel button, with a window): runs the engine in a worker process
  (`python -m engine.worker`, see operators/job.py), shows progress in the status bar, Esc or
  right-click cancels; the mesh is built on Blender's main thread when the worker is done.
- Failure: self.report({'ERROR'}, one line) and {'CANCELLED'}, nothing added to the file.

PyTorch is imported only here, inside execute(), never when the add-on is registered.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import traceback

import bpy
import numpy as np
from bpy.props import EnumProperty, FloatProperty, IntProperty, StringProperty

from .. import prefs
from . import meshes, sources
from .job import WorkerJob

DEVICE_ITEMS = prefs.DEVICE_ITEMS
ENGINE_DEVICE = {'AUTO': "auto", 'CPU': "cpu", 'CUDA': "cuda"}
POLL_SECONDS = 0.1
PREVIEW_FACTOR = 4  # a preview is computed only for resolutions at least this many times its own

# running worker jobs (operator instance -> job); stopped when the add-on is disabled
_jobs: dict = {}


def active_job():
    """The running job, or None (the panel shows its progress)."""
    for job in _jobs.values():
        if not job.finished:
            return job
    return None


def stop_all_jobs() -> None:
    for job in list(_jobs.values()):
        job.cancel()
    _jobs.clear()


def resolve_model(context, model: str) -> str | None:
    """The operator's model, else the sidebar panel's choice; None is the engine's default model."""
    model = (model or "").strip()
    if not model:
        settings = getattr(context.scene, "imdec", None)
        model = settings.model_argument() if settings is not None else ""
    if not model:
        return None
    if model.startswith("//") or os.sep in model or "/" in model or model.lower().endswith(".pt"):
        return os.path.normpath(bpy.path.abspath(model))
    return model


@contextlib.contextmanager
def torch_threads(count: int):
    if count <= 0:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def worker_pythonpath() -> list[str]:
    """Blender's own module path, minus its scripts folders, so the worker finds the extension's
    wheels (extensions/.local/lib/pythonX.Y/site-packages) and everything else Blender sees."""
    skip = {os.path.normcase(os.path.abspath(p)) for p in bpy.utils.script_paths()}
    skip |= {os.path.join(s, "startup") for s in skip} | {os.path.join(s, "modules") for s in skip} \
        | {os.path.join(s, "addons_core") for s in skip} | {os.path.join(s, "freestyle", "modules") for s in skip}
    paths = []
    for entry in sys.path:
        if not entry or not os.path.isdir(entry):
            continue
        if os.path.normcase(os.path.abspath(entry)) in skip:
            continue
        if entry not in paths:
            paths.append(entry)
    return paths


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def threshold_property():
    """The threshold setting; the operator and the sidebar's scene settings share it."""
    return FloatProperty(
        name="Threshold",
        description="Occupancy level of the surface: lower grows the object, higher shrinks it",
        default=0.5,
        min=0.01,
        max=0.99,
    )


class IMDEC_OT_reconstruct(bpy.types.Operator):
    """Reconstruct a 3D mesh of the object in a picture and add it at the 3D cursor"""

    bl_idname = "imdec.reconstruct"
    bl_label = "Reconstruct from Image"
    bl_options = {'REGISTER', 'UNDO'}

    filepath: StringProperty(
        name="Image File",
        description="Picture of one object (any format Pillow reads); transparency, when present, is the object mask",
        subtype='FILE_PATH',
        default="",
    )
    image: StringProperty(
        name="Image",
        description="Name of an image datablock (bpy.data.images), used when no file path is given",
        default="",
    )
    # no hard limits: an out-of-range value must fail with a message, not be clamped silently
    resolution: IntProperty(
        name="Resolution",
        description="Grid resolution of the extracted surface (32..1024): 64 previews quickly, 128-256 is detailed",
        default=128,
        soft_min=32,
        soft_max=512,
    )
    threshold: threshold_property()
    model: StringProperty(
        name="Model",
        description="Bundled model name or checkpoint path; empty: the sidebar panel's choice (the default model)",
        default="",
    )
    device: EnumProperty(
        name="Device",
        description="Where the network runs",
        items=DEVICE_ITEMS,
        default='AUTO',
    )

    # ------------------------------------------------------------------ execute: in-process
    def execute(self, context):
        started = time.perf_counter()
        try:
            from ..engine.errors import InputError
            from ..engine.request import validate_request

            validate_request(self.resolution, self.threshold)
            source = sources.resolve_source(context, self.filepath, self.image)
            sources.check_file(source)
            model = resolve_model(context, self.model)
        except (InputError, sources.SourceError) as exc:
            return self._failed(str(exc))
        try:
            try:
                from ..engine import reconstruct as engine
            except ImportError as exc:
                return self._failed(f"PyTorch or another engine dependency is missing ({_one_line(exc)}); "
                                    "install the ImDec build for your platform, which bundles them")
            image_arg = source.path if source.path else sources.image_pixels(source.image)
            with torch_threads(prefs.preferred_threads(context)):
                result = engine.reconstruct(
                    image_arg, model=model, resolution=self.resolution, threshold=self.threshold,
                    device=ENGINE_DEVICE[self.device], progress=self._progress_callback(context),
                    image_name=source.label,
                )
            obj = meshes.build_object(context, source.name, result.vertices, result.faces)
        except (InputError, sources.SourceError, meshes.MeshError) as exc:
            return self._failed(str(exc))
        except Exception as exc:  # internal error: one line in the report, the traceback in the console
            traceback.print_exc()
            return self._failed(f"internal error: {type(exc).__name__}: {_one_line(exc)}")
        finally:
            self._end_progress(context)
        self.report({'INFO'}, f"ImDec: '{obj.name}' {len(result.vertices)} vertices, {len(result.faces)} faces "
                              f"in {time.perf_counter() - started:.1f} s")
        return {'FINISHED'}

    def _failed(self, message: str):
        self.report({'ERROR'}, message)
        return {'CANCELLED'}

    def _progress_callback(self, context):
        wm = context.window_manager
        if bpy.app.background or wm is None or not wm.windows:
            return None
        wm.progress_begin(0, 100)
        self._progress_started = True
        return lambda stage, fraction: wm.progress_update(int(100 * fraction))

    def _end_progress(self, context):
        if getattr(self, "_progress_started", False):
            context.window_manager.progress_end()
            self._progress_started = False

    # ------------------------------------------------------------------ invoke/modal: worker process
    def invoke(self, context, event):
        if bpy.app.background or context.window is None:
            return self.execute(context)
        if active_job() is not None:
            self.report({'WARNING'}, "ImDec: a reconstruction is already running (Esc cancels it)")
            return {'CANCELLED'}
        from ..engine.errors import InputError
        from ..engine.request import validate_request

        try:
            validate_request(self.resolution, self.threshold)
            source = sources.resolve_source(context, self.filepath, self.image)
            sources.check_file(source)
            job = WorkerJob(pythonpath=worker_pythonpath())
            try:
                if source.path:
                    image_arg = source.path
                else:
                    image_arg = job.path("pixels.npy")
                    np.save(image_arg, sources.image_pixels(source.image))
                settings = getattr(context.scene, "imdec", None)
                preview = int(settings.preview_resolution) if settings is not None and settings.use_preview else 0
                if preview * PREVIEW_FACTOR > self.resolution:
                    preview = 0  # not worth it: the full mesh comes soon anyway
                job.start({
                    "image": image_arg,
                    "image_name": source.label,
                    "output": job.path("result.npz"),
                    "model": resolve_model(context, self.model) or "",
                    "resolution": int(self.resolution),
                    "threshold": float(self.threshold),
                    "device": ENGINE_DEVICE[self.device],
                    "threads": prefs.preferred_threads(context),
                    "preview": preview,
                })
            except Exception:
                job.cancel()
                raise
        except (InputError, sources.SourceError) as exc:
            return self._failed(str(exc))
        except OSError as exc:
            return self._failed(f"could not start the reconstruction worker: {_one_line(exc)}")

        self._job = job
        self._name = source.name
        self._location = tuple(context.scene.cursor.location)
        self._preview_name = None
        self._error = None
        self._started = time.perf_counter()
        _jobs[id(self)] = job
        wm = context.window_manager
        self._timer = wm.event_timer_add(POLL_SECONDS, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 100)
        self._show_status(context)
        return {'RUNNING_MODAL'}

    def modal(self, context, event):
        if event.type in {'ESC', 'RIGHTMOUSE'} and event.value == 'PRESS':
            self._stop(context)
            self.report({'WARNING'}, "ImDec: reconstruction cancelled")
            return {'CANCELLED'}
        if event.type != 'TIMER':
            return {'PASS_THROUGH'}
        for message in self._job.poll():
            kind = message.get("event")
            if kind == "progress":
                context.window_manager.progress_update(int(100 * self._job.fraction))
                self._show_status(context)
            elif kind == "preview":
                self._show_preview(context, message)
            elif kind == "error":
                self._error = str(message.get("message") or "the reconstruction failed")
            elif kind == "done":
                return self._finish(context, message)
            elif kind == "exit":
                code = message.get("returncode")
                detail = self._error or message.get("stderr") or "no message"
                self._stop(context)
                if self._error is None:
                    detail = f"the reconstruction worker stopped (exit status {code}): {detail}"
                return self._failed(detail)
        return {'PASS_THROUGH'}

    def cancel(self, context):
        # Blender ends the modal operator (a file is loaded, the window closes...)
        self._stop(context)

    def _load(self, path: str):
        with np.load(path, allow_pickle=False) as data:
            return np.array(data["vertices"]), np.array(data["faces"])

    def _show_preview(self, context, message) -> None:
        try:
            vertices, faces = self._load(message["output"])
            self._remove_preview()
            obj = meshes.build_object(context, f"{self._name} (preview)", vertices, faces,
                                      location=self._location, select=False)
            self._preview_name = obj.name
        except Exception:  # a preview is a nicety; the final mesh still comes
            traceback.print_exc()

    def _remove_preview(self) -> None:
        if self._preview_name:
            obj = bpy.data.objects.get(self._preview_name)
            if obj is not None:
                meshes.remove_object(obj)
            self._preview_name = None

    def _finish(self, context, message):
        try:
            vertices, faces = self._load(message["output"])
            try:
                self._job.process.wait(timeout=1.0)  # it is exiting; cancel() below ends it otherwise
            except Exception:
                pass
            self._stop(context)
            obj = meshes.build_object(context, self._name, vertices, faces, location=self._location)
        except meshes.MeshError as exc:
            self._stop(context)
            return self._failed(str(exc))
        except Exception as exc:
            traceback.print_exc()
            self._stop(context)
            return self._failed(f"internal error: {type(exc).__name__}: {_one_line(exc)}")
        self.report({'INFO'}, f"ImDec: '{obj.name}' {len(vertices)} vertices, {len(faces)} faces "
                              f"in {time.perf_counter() - self._started:.1f} s")
        _tag_redraw(context)
        return {'FINISHED'}

    def _stop(self, context) -> None:
        """Stop the worker, remove its files, the preview, the timer and the status text."""
        job = _jobs.pop(id(self), None) or getattr(self, "_job", None)
        if job is not None:
            job.cancel()
        self._remove_preview()
        wm = context.window_manager
        if getattr(self, "_timer", None) is not None:
            wm.event_timer_remove(self._timer)
            self._timer = None
        wm.progress_end()
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        _tag_redraw(context)

    def _show_status(self, context) -> None:
        job = self._job
        text = f"ImDec: reconstructing '{self._name}': {job.stage} {int(100 * job.fraction)}%  (Esc to cancel)"
        if context.workspace is not None:
            context.workspace.status_text_set(text)
        _tag_redraw(context)


def _tag_redraw(context) -> None:
    screen = getattr(context, "screen", None)
    if screen is None:
        return
    for area in screen.areas:
        if area.type == 'VIEW_3D':
            area.tag_redraw()


classes = (IMDEC_OT_reconstruct,)
