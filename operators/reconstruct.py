"""IMDEC_OT_reconstruct: `bpy.ops.imdec.reconstruct(filepath="", image="", resolution=128, threshold=0.5,
model="", device='AUTO', colour=True)` (see docs/CONVENTIONS.md, "Blender operator").

- colour=True: the mesh carries the picture's colours (a POINT colour attribute "Color" and a
  material that shows it, see operators/meshes.py) when the engine returns them; colour=False, or
  an engine that returns none: clay (no attribute, no material). Either way one undo step.

- execute() (scripts, background mode): runs in-process to the end; the new object is linked to the
  active collection, placed at the 3D cursor, smooth shaded, the only one selected, and active.
- invoke() (the panel button, with a window): runs the engine in the add-on's long-lived worker
  process (`python -m engine.worker --serve`, see operators/job.py: PyTorch and the model stay
  loaded between clicks), shows progress in the status bar, Esc or right-click cancels (the worker
  is killed; the next click starts a fresh one); the mesh is built on Blender's main thread when
  the worker is done.
- Failure: self.report({'ERROR'}, one line) and {'CANCELLED'}, nothing added to the file.

PyTorch is imported only here, inside execute(), never when the add-on is registered.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
import traceback

import bpy
import numpy as np
from bpy.props import StringProperty

from .. import prefs
from ..engine.errors import InputError, first_line
from ..engine.model_files import is_model_path
from ..engine.request import Event, ReconstructionRequest
from ..properties import (colour_property, device_property, engine_device, image_file_property, resolution_property,
                          threshold_property)
from . import meshes, sources
from .job import POLL_SECONDS, WorkerBusy, WorkerJob, failure_message, stop_worker, warm_up

PREVIEW_FACTOR = 4  # a preview is computed only for resolutions at least this many times its own

# running worker jobs (operator instance -> job); stopped when the add-on is disabled
_jobs: dict = {}
_warm_up_asked = False


def active_job():
    """The running job, or None (the panel shows its progress)."""
    for job in _jobs.values():
        if not job.finished:
            return job
    return None


def stop_all_jobs() -> None:
    """Cancel every job and end the worker process (the add-on is disabled, Blender quits)."""
    global _warm_up_asked
    for job in list(_jobs.values()):
        job.cancel()
    _jobs.clear()
    stop_worker()
    _warm_up_asked = False


def warm_up_soon(context) -> None:
    """Start the worker in the background, loading the panel's model, so that the first click does
    not wait for PyTorch. Cheap and safe to call from a panel's draw(): it acts once (until the
    add-on is disabled), from a timer, and never blocks."""
    global _warm_up_asked
    if _warm_up_asked or bpy.app.background:
        return
    _warm_up_asked = True
    settings = getattr(context.scene, "imdec", None)
    device = engine_device(settings.device_argument(context)) if settings is not None else "auto"
    request = ReconstructionRequest(model=model_argument(context, ""), device=device)

    def start():
        try:
            warm_up(request, pythonpath=worker_pythonpath())
        except OSError:  # the click will report it
            traceback.print_exc()

    bpy.app.timers.register(start, first_interval=0.0)


def model_argument(context, model: str) -> str:
    """The operator's model, else the sidebar panel's choice; "" is the engine's default model. A path
    (engine.model_files.is_model_path) is made absolute, Blender's // relative to the .blend file:
    the worker runs in another folder."""
    model = (model or "").strip()
    if not model:
        settings = getattr(context.scene, "imdec", None)
        model = settings.model_argument() if settings is not None else ""
    if model and is_model_path(model):
        return os.path.abspath(bpy.path.abspath(model))
    return model


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


class IMDEC_OT_reconstruct(bpy.types.Operator):
    """Reconstruct a 3D mesh of the object in a picture and add it at the 3D cursor"""

    bl_idname = "imdec.reconstruct"
    bl_label = "Reconstruct from Image"
    bl_options = {'REGISTER', 'UNDO'}

    filepath: image_file_property(
        "Picture of one object (any format Pillow reads); transparency, when present, is the object mask")
    image: StringProperty(
        name="Image",
        description="Name of an image datablock (bpy.data.images), used when no file path is given",
        default="",
    )
    resolution: resolution_property()
    threshold: threshold_property()
    model: StringProperty(
        name="Model",
        description="Bundled model name or checkpoint path; empty: the sidebar panel's choice (the default model)",
        default="",
    )
    device: device_property()
    colour: colour_property()

    def _request(self, context) -> ReconstructionRequest:
        """The operator's settings as a request without its image, validated: bad settings fail first."""
        request = ReconstructionRequest(model=model_argument(context, self.model), resolution=self.resolution,
                                        threshold=self.threshold, device=engine_device(self.device),
                                        threads=prefs.preferred_threads(context), colour=bool(self.colour))
        request.validate()
        return request

    # ------------------------------------------------------------------ execute: in-process
    def execute(self, context):
        started = time.perf_counter()
        try:
            request = self._request(context)
            source = sources.resolve_source(context, self.filepath, self.image)
            sources.check_file(source)
        except (InputError, sources.SourceError) as exc:
            return self._failed(str(exc))
        try:
            try:
                from ..engine.reconstruct import reconstruct_request
            except ImportError as exc:
                return self._failed(f"PyTorch or another engine dependency is missing ({first_line(exc)}); "
                                    "install the ImDec build for your platform, which bundles them")
            image = source.path if source.path else sources.image_pixels(source.image)
            request = dataclasses.replace(request, image=image, image_name=source.label)
            result = reconstruct_request(request, progress=self._progress_callback(context))
            obj = meshes.build_object(context, source.name, result.vertices, result.faces, colours=result.colours)
        except (InputError, sources.SourceError, meshes.MeshError) as exc:
            return self._failed(str(exc))
        except Exception as exc:  # internal error: one line in the report, the traceback in the console
            traceback.print_exc()
            return self._failed(f"internal error: {type(exc).__name__}: {first_line(exc)}")
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
        try:
            request = self._request(context)
            source = sources.resolve_source(context, self.filepath, self.image)
            sources.check_file(source)
            job = self._start_job(context, request, source)
        except (InputError, sources.SourceError) as exc:
            return self._failed(str(exc))
        except WorkerBusy as exc:
            self.report({'WARNING'}, f"ImDec: {exc}")
            return {'CANCELLED'}
        except OSError as exc:
            return self._failed(f"could not start the reconstruction worker: {first_line(exc)}")

        self._job = job
        self._name = source.name
        self._location = tuple(context.scene.cursor.location)
        self._preview_name = None
        self._started = time.perf_counter()
        _jobs[id(self)] = job
        wm = context.window_manager
        self._timer = wm.event_timer_add(POLL_SECONDS, window=context.window)
        wm.modal_handler_add(self)
        wm.progress_begin(0, 100)
        self._show_status(context)
        return {'RUNNING_MODAL'}

    def _start_job(self, context, request: ReconstructionRequest, source) -> WorkerJob:
        """A worker running the request on the source's file, or on its pixels saved into the job's folder."""
        job = WorkerJob(pythonpath=worker_pythonpath())
        try:
            if source.path:
                image = os.path.abspath(source.path)  # the worker runs in another folder
            else:
                image = job.path("pixels.npy")
                np.save(image, sources.image_pixels(source.image))
            settings = getattr(context.scene, "imdec", None)
            preview = int(settings.preview_resolution) if settings is not None and settings.use_preview else 0
            if preview * PREVIEW_FACTOR > request.resolution:
                preview = 0  # not worth it: the full mesh comes soon anyway
            job.start(dataclasses.replace(request, image=image, image_name=source.label,
                                          output=job.path("result.npz"), preview=preview))
        except Exception:
            job.cancel()
            raise
        return job

    def modal(self, context, event):
        if event.type in {'ESC', 'RIGHTMOUSE'} and event.value == 'PRESS':
            self._stop(context)
            self.report({'WARNING'}, "ImDec: reconstruction cancelled")
            return {'CANCELLED'}
        if event.type != 'TIMER':
            return {'PASS_THROUGH'}
        for message in self._job.poll():
            kind = message.get("event")
            if kind == Event.PROGRESS:
                context.window_manager.progress_update(int(100 * self._job.fraction))
                self._show_status(context)
            elif kind == Event.PREVIEW:
                self._show_preview(context, message)
            elif kind == Event.DONE:
                return self._finish(context, message)
            elif kind in (Event.ERROR, Event.EXIT):  # EXIT: the worker died; the next job starts a new one
                self._stop(context)
                return self._failed(failure_message(message))
        return {'PASS_THROUGH'}

    def cancel(self, context):
        # Blender ends the modal operator (a file is loaded, the window closes...)
        self._stop(context)

    def _load(self, path: str):
        """vertices, faces and colours (None when the file has none: clay) of a worker's result file."""
        with np.load(path, allow_pickle=False) as data:
            colours = np.array(data["colours"]) if "colours" in data.files else None
            return np.array(data["vertices"]), np.array(data["faces"]), colours

    def _show_preview(self, context, message) -> None:
        try:
            vertices, faces, _ = self._load(message["output"])  # a preview stays clay
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
            vertices, faces, colours = self._load(message["output"])
            self._stop(context)
            obj = meshes.build_object(context, self._name, vertices, faces, location=self._location,
                                      colours=colours if self.colour else None)
        except meshes.MeshError as exc:
            self._stop(context)
            return self._failed(str(exc))
        except Exception as exc:
            traceback.print_exc()
            self._stop(context)
            return self._failed(f"internal error: {type(exc).__name__}: {first_line(exc)}")
        self.report({'INFO'}, f"ImDec: '{obj.name}' {len(vertices)} vertices, {len(faces)} faces "
                              f"in {time.perf_counter() - self._started:.1f} s")
        _tag_redraw(context)
        return {'FINISHED'}

    def _stop(self, context) -> None:
        """End the job (a running one kills the worker), remove its files, the preview, the timer
        and the status text."""
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
