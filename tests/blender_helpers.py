"""Blender scenarios for tests/test_blender.py, each run in its own process with the real bpy module:

    BLENDER_USER_RESOURCES=/tmp/x python tests/blender_helpers.py addon --zip imdec.zip --model m.pt --image a.png

The user-resources folder must be set before bpy is imported (Blender reads it once), hence one
process per scenario. The scenario installs the extension zip with Blender's own installer into
that folder, runs its steps, and prints one line `IMDEC_RESULT {json}` whose keys are the steps;
a step that raised holds {"exception": "..."} so one failure does not hide the others.
The process ends with os._exit(): the bpy module can hang in its exit handlers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import traceback

MODULE = "bl_ext.user_default.imdec"
RESULT_PREFIX = "IMDEC_RESULT "
SAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "samples")


def counts(bpy) -> dict:
    return {"objects": len(bpy.data.objects), "meshes": len(bpy.data.meshes),
            "materials": len(bpy.data.materials), "scene_objects": len(bpy.context.scene.objects)}


def describe_colours(mesh) -> dict:
    """The mesh's colour attributes and its materials' Base Color sources."""
    attrs = mesh.color_attributes
    render = attrs.render_color_index
    materials = []
    for material in mesh.materials:
        info = {"name": material.name if material else None, "use_nodes": bool(material and material.use_nodes)}
        tree = material.node_tree if material else None
        bsdf = next((n for n in tree.nodes if n.type == 'BSDF_PRINCIPLED'), None) if tree else None
        if bsdf is not None:
            links = bsdf.inputs["Base Color"].links
            if links:
                node = links[0].from_node
                info["base_color_from"] = {"type": node.type, "bl_idname": node.bl_idname,
                                           "layer_name": getattr(node, "layer_name", None),
                                           "socket": links[0].from_socket.name}
            surface = [link.to_node.type for link in bsdf.outputs["BSDF"].links]
            info["bsdf_to"] = surface
        materials.append(info)
    return {
        "colour_attributes": [{"name": a.name, "domain": a.domain, "data_type": a.data_type, "length": len(a.data)}
                              for a in attrs],
        "active_colour": attrs.active_color_name if len(attrs) else None,
        "render_colour": attrs[render].name if 0 <= render < len(attrs) else None,
        "materials": materials,
    }


def inspect_object(bpy, obj, context) -> dict:
    import numpy as np

    mesh = obj.data
    n_v, n_f, n_e = len(mesh.vertices), len(mesh.polygons), len(mesh.edges)
    co = np.empty(3 * n_v, np.float32)
    mesh.vertices.foreach_get("co", co)
    co = co.reshape(-1, 3)
    # closed: every edge is used by exactly two faces (count edge usage through the face loops)
    loop_edges = np.empty(len(mesh.loops), np.int32)
    mesh.loops.foreach_get("edge_index", loop_edges)
    usage = np.bincount(loop_edges, minlength=n_e)
    smooth = np.empty(n_f, bool)
    mesh.polygons.foreach_get("use_smooth", smooth)
    sizes = np.empty(n_f, np.int32)
    mesh.polygons.foreach_get("loop_total", sizes)
    return {
        "name": obj.name,
        "mesh_name": mesh.name,
        "type": obj.type,
        "collections": [c.name for c in obj.users_collection],
        "active_collection": context.collection.name,
        "in_active_collection": obj.name in context.collection.objects,
        "selected": obj.select_get(),
        "active": context.view_layer.objects.active == obj,
        "selected_objects": [o.name for o in context.view_layer.objects.selected],
        "location": list(obj.location),
        "cursor": list(context.scene.cursor.location),
        "vertices": n_v,
        "faces": n_f,
        "edges": n_e,
        "triangles_only": bool((sizes == 3).all()) if n_f else False,
        "edge_face_min": int(usage.min()) if n_e else 0,
        "edge_face_max": int(usage.max()) if n_e else 0,
        "bounds_min": co.min(axis=0).tolist() if n_v else None,
        "bounds_max": co.max(axis=0).tolist() if n_v else None,
        "smooth": bool(smooth.all()) if n_f else False,
        **describe_colours(mesh),
    }


def call_operator(bpy, *op_args, **kwargs) -> dict:
    """Run bpy.ops.imdec.reconstruct and describe what happened (result, error, new datablocks)."""
    before = counts(bpy)
    names_before = set(bpy.data.objects.keys())
    t0 = time.perf_counter()
    out = {"kwargs": {k: v for k, v in kwargs.items() if isinstance(v, (str, int, float))}}
    try:
        out["result"] = sorted(bpy.ops.imdec.reconstruct(*op_args, **kwargs))
    except RuntimeError as exc:
        out["error"] = str(exc)
    out["seconds"] = time.perf_counter() - t0
    out["counts_before"], out["counts_after"] = before, counts(bpy)
    new = [n for n in bpy.data.objects.keys() if n not in names_before]
    out["new_objects"] = new
    if len(new) == 1:
        out["object"] = inspect_object(bpy, bpy.data.objects[new[0]], bpy.context)
    return out


class Steps:
    def __init__(self):
        self.results: dict = {}

    def run(self, name, fn, *args, **kwargs):
        try:
            self.results[name] = fn(*args, **kwargs)
        except Exception as exc:  # recorded; the test of this step fails with the traceback
            self.results[name] = {"exception": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        return self.results[name]


def install(bpy, zip_path: str) -> dict:
    t0 = time.perf_counter()
    result = bpy.ops.extensions.package_install_files(filepath=zip_path, repo="user_default", enable_on_install=True)
    return {"result": sorted(result), "seconds": time.perf_counter() - t0,
            "addons": [a.module for a in bpy.context.preferences.addons],
            "directory": os.path.join(bpy.utils.user_resource('EXTENSIONS'), "user_default", "imdec"),
            "installed_files": sorted(os.listdir(os.path.join(bpy.utils.user_resource('EXTENSIONS'), "user_default", "imdec")))}


def describe_properties(rna) -> dict:
    """Type, default and limits of each property of an RNA struct (an operator's, a property group's)."""
    props = {}
    for p in rna.properties:
        if p.identifier == "rna_type":
            continue
        info = {"type": p.type, "subtype": getattr(p, "subtype", None)}
        if p.type in ("INT", "FLOAT"):
            info.update(default=p.default, soft_min=p.soft_min, soft_max=p.soft_max, hard_min=p.hard_min,
                        hard_max=p.hard_max)
        elif p.type == "ENUM":
            info.update(default=p.default, items=[i.identifier for i in p.enum_items])
        elif p.type in ("STRING", "BOOLEAN"):
            info.update(default=p.default)
            if p.type == "BOOLEAN":
                info.update(name=p.name, description=p.description)
        props[p.identifier] = info
    return props


def registration(bpy) -> dict:
    panel = getattr(bpy.types, "IMDEC_PT_reconstruct", None)
    addon = bpy.context.preferences.addons.get(MODULE)
    prefs = addon.preferences if addon else None
    op = bpy.types.IMDEC_OT_reconstruct if hasattr(bpy.types, "IMDEC_OT_reconstruct") else None
    props = describe_properties(bpy.ops.imdec.reconstruct.get_rna_type()) if op is not None else {}
    settings = getattr(bpy.context.scene, "imdec", None)
    return {
        "operator": op is not None,
        "bl_idname": getattr(op, "bl_idname", None),
        "bl_options": sorted(getattr(op, "bl_options", ())) if op else None,
        "properties": props,
        "scene_properties": describe_properties(settings.bl_rna) if settings is not None else {},
        "panel": panel is not None,
        "panel_category": getattr(panel, "bl_category", None),
        "panel_space": getattr(panel, "bl_space_type", None),
        "panel_region": getattr(panel, "bl_region_type", None),
        "scene_settings": hasattr(bpy.types.Scene, "imdec"),
        "scene_resolution": bpy.context.scene.imdec.resolution if hasattr(bpy.types.Scene, "imdec") else None,
        "preferences": prefs is not None,
        "preferences_threads": getattr(prefs, "threads", None),
        "preferences_device": getattr(prefs, "device", None),
        "torch_imported_at_register": "torch" in sys.modules,
    }


def failures(bpy, args, workdir: str) -> dict:
    out = {}
    out["missing_file"] = call_operator(bpy, filepath=os.path.join(workdir, "no-such-picture.png"), model=args.model)
    for name, value in (("resolution_8", 8), ("resolution_4096", 4096)):
        out[name] = call_operator(bpy, filepath=args.image, model=args.model, resolution=value)
    for name, value in (("threshold_1.5", 1.5), ("threshold_0", 0.0)):
        out[name] = call_operator(bpy, filepath=args.image, model=args.model, threshold=value)
    corrupt = os.path.join(workdir, "corrupt.pt")
    with open(corrupt, "wb") as fh:
        fh.write(b"PK\x03\x04 this is not a checkpoint" * 10)
    out["corrupt_model"] = call_operator(bpy, filepath=args.image, model=corrupt)
    out["unknown_datablock"] = call_operator(bpy, image="No Such Image", model=args.model)
    bpy.context.scene.imdec.filepath = ""
    bpy.context.scene.imdec.image = None
    out["no_image"] = call_operator(bpy, model=args.model)
    # an image datablock whose file has gone: no pixels
    gone = os.path.join(workdir, "gone.png")
    shutil.copy(args.image, gone)
    img = bpy.data.images.load(gone)
    os.remove(gone)
    img.reload()
    out["no_pixels"] = call_operator(bpy, image=img.name, model=args.model)
    bpy.data.images.remove(img)
    return out


def worker_job(bpy, args) -> dict:
    """The modal operator's machinery without a window: WorkerJob + the operator's mesh building."""
    import importlib

    import numpy as np

    job_mod = importlib.import_module(MODULE + ".operators.job")
    ReconstructionRequest = importlib.import_module(MODULE + ".engine.request").ReconstructionRequest
    op_mod = importlib.import_module(MODULE + ".operators.reconstruct")
    meshes = importlib.import_module(MODULE + ".operators.meshes")
    sources = importlib.import_module(MODULE + ".operators.sources")
    out = {}

    img = bpy.data.images.load(args.image)
    job = job_mod.WorkerJob(pythonpath=op_mod.worker_pythonpath())
    pixels = job.path("pixels.npy")
    np.save(pixels, sources.image_pixels(img))
    t0 = time.perf_counter()
    job.start(ReconstructionRequest(image=pixels, image_name=img.name, output=job.path("result.npz"),
                                    model=args.model, resolution=48, threshold=0.5, device="cpu", threads=1,
                                    preview=32))
    events = job.wait(timeout=300)
    out["seconds"] = time.perf_counter() - t0
    out["events"] = [e.get("event") for e in events]
    out["stages"] = sorted({e.get("stage") for e in events if e.get("event") == "progress"})
    out["fractions"] = [e.get("fraction") for e in events if e.get("event") == "progress"]
    done = [e for e in events if e.get("event") == "done"]
    out["stderr"] = list(job.stderr_tail)
    if done:
        with np.load(done[0]["output"]) as data:
            vertices, faces = np.array(data["vertices"]), np.array(data["faces"])
            colours = np.array(data["colours"]) if "colours" in data.files else None
        before = counts(bpy)
        obj = meshes.build_object(bpy.context, "job " + img.name, vertices, faces, colours=colours)
        out["object"] = inspect_object(bpy, obj, bpy.context)
        out["counts_delta"] = counts(bpy)["objects"] - before["objects"]
    job.cleanup()
    out["tmpdir_removed"] = not os.path.exists(job.tmpdir)

    # a second job: the same worker process, PyTorch and the model already loaded
    job = job_mod.WorkerJob(pythonpath=op_mod.worker_pythonpath())
    t0 = time.perf_counter()
    job.start(ReconstructionRequest(image=args.image, model=args.model, resolution=48, device="cpu", threads=1))
    second = job.wait(timeout=300)
    out["second_seconds"] = time.perf_counter() - t0
    out["second_events"] = [e.get("event") for e in second]
    out["pids"] = [events[0].get("pid"), second[0].get("pid")]
    job.cleanup()

    # cancel mid-way: the process ends and the job's folder is gone
    before = counts(bpy)
    job = job_mod.WorkerJob(pythonpath=op_mod.worker_pythonpath())
    job.start(ReconstructionRequest(image=args.image, model=args.model, resolution=1024, device="cpu", threads=1))
    deadline = time.monotonic() + 120
    first = []
    while time.monotonic() < deadline and not any(e.get("event") in ("progress", "exit") for e in first):
        first += job.poll()
        time.sleep(0.05)
    out["cancel_seen_before"] = [e.get("event") for e in first]
    t0 = time.perf_counter()
    job.cancel()
    out["cancel_seconds"] = time.perf_counter() - t0
    out["cancel_returncode"] = job.process.returncode
    out["cancel_tmpdir_removed"] = not os.path.exists(job.tmpdir)
    out["cancel_counts_unchanged"] = counts(bpy) == before
    return out


def disable_while_running(bpy, args) -> dict:
    """Disable the add-on while a reconstruction runs on its worker (in the modal operator's job
    table, as the panel button leaves it): the worker must end and the job's folder go."""
    import importlib

    job_mod = importlib.import_module(MODULE + ".operators.job")
    op_mod = importlib.import_module(MODULE + ".operators.reconstruct")
    ReconstructionRequest = importlib.import_module(MODULE + ".engine.request").ReconstructionRequest
    job = job_mod.WorkerJob(pythonpath=op_mod.worker_pythonpath())
    job.start(ReconstructionRequest(image=args.image, model=args.model, resolution=1024, device="cpu", threads=1))
    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(e.get("event") in ("progress", "exit") for e in seen):
        seen += job.poll()
        time.sleep(0.05)
    op_mod._jobs["scenario"] = job
    t0 = time.perf_counter()
    bpy.ops.preferences.addon_disable(module=MODULE)
    return {"seen": [e.get("event") for e in seen], "seconds": time.perf_counter() - t0,
            "worker_gone": job.process.poll() is not None, "tmpdir_removed": not os.path.exists(job.tmpdir)}


def given_colours(bpy) -> dict:
    """build_object with colours passed in (uint8 and float): what the attribute reads back; a
    wrong-length array fails with MeshError and adds nothing."""
    import importlib

    import numpy as np

    meshes = importlib.import_module(MODULE + ".operators.meshes")
    # a closed tetrahedron plus an unused vertex: colours are per vertex, used or not
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [2, 2, 2]], np.float32)
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]], np.int32)
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, (len(vertices), 3), dtype=np.uint8)
    colours[0], colours[1] = (0, 0, 0), (255, 128, 1)
    out = {"given": colours.tolist()}

    def read_back(obj):
        attr = obj.data.color_attributes[meshes.COLOUR_ATTRIBUTE]
        rgba = np.empty(4 * len(attr.data), np.float32)
        attr.data.foreach_get("color_srgb", rgba)
        return rgba.reshape(-1, 4)

    before = counts(bpy)
    obj = meshes.build_object(bpy.context, "coloured tetra", vertices, faces, colours=colours)
    out["counts_delta"] = {k: counts(bpy)[k] - before[k] for k in before}
    out["object"] = describe_colours(obj.data)
    rgba = read_back(obj)
    out["read_srgb"] = rgba[:, :3].tolist()
    out["read_alpha"] = rgba[:, 3].tolist()
    out["max_error"] = float(np.abs(rgba[:, :3] - colours / 255.0).max())
    meshes.remove_object(obj)
    out["removed"] = counts(bpy) == before

    obj = meshes.build_object(bpy.context, "float tetra", vertices, faces, colours=colours / 255.0)
    out["float_max_error"] = float(np.abs(read_back(obj)[:, :3] - colours / 255.0).max())
    meshes.remove_object(obj)

    for case, bad in (("short", colours[:-1]), ("long", np.concatenate([colours, colours[:1]])),
                      ("shape", colours[:, :2])):
        before = counts(bpy)
        try:
            meshes.build_object(bpy.context, "bad tetra", vertices, faces, colours=bad)
            out[case] = {"raised": None}
        except meshes.MeshError as exc:
            out[case] = {"raised": "MeshError", "message": str(exc)}
        out[case]["unchanged"] = counts(bpy) == before
    return out


def imported_colours(bpy, workdir: str) -> dict:
    """The engine's coloured PLY, GLB and OBJ files read by Blender's own importers: per format, the
    largest difference between the colours given and the sRGB colours Blender shows."""
    import importlib

    import numpy as np

    mesh_files = importlib.import_module(MODULE + ".engine.mesh_files")
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], np.float32)
    faces = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]], np.int32)
    colours = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.25, 0.75]], np.float32)
    # the files are in Blender's frame (GLB converted to glTF's Y up, which its importer undoes)
    importers = {"ply": bpy.ops.wm.ply_import, "glb": bpy.ops.import_scene.gltf,
                 "obj": lambda filepath: bpy.ops.wm.obj_import(filepath=filepath, forward_axis='Y', up_axis='Z')}
    out = {}
    for fmt, importer in importers.items():
        path = os.path.join(workdir, f"coloured.{fmt}")
        mesh_files.write_mesh(path, vertices, faces, colours=colours)
        before = set(bpy.data.objects)
        importer(filepath=path)
        new = [o for o in bpy.data.objects if o not in before and o.type == 'MESH']
        attr = new[0].data.color_attributes[0]
        rgba = np.empty(4 * len(attr.data), np.float32)
        attr.data.foreach_get("color_srgb", rgba)
        rgb = rgba.reshape(-1, 4)[:, :3]
        # the importers may weld, reorder or split vertices: compare each shown colour with the given
        # colour of the vertex at the same position
        corners = np.empty(len(new[0].data.loops), np.int32)
        new[0].data.loops.foreach_get("vertex_index", corners)
        co = np.empty(3 * len(new[0].data.vertices), np.float32)
        new[0].data.vertices.foreach_get("co", co)
        where = co.reshape(-1, 3)[corners] if attr.domain == 'CORNER' else co.reshape(-1, 3)
        nearest = np.linalg.norm(where[:, None] - vertices[None], axis=-1).argmin(1)
        out[fmt] = {"domain": attr.domain, "max_error": float(np.abs(rgb - colours[nearest]).max())}
        for obj in new:
            bpy.data.objects.remove(obj, do_unlink=True)
    return out


def big_mesh(bpy, triangles: int = 1_000_000) -> dict:
    """Time the operator's mesh building on a closed torus of `triangles` triangles."""
    import importlib

    import numpy as np

    meshes = importlib.import_module(MODULE + ".operators.meshes")
    n = 1000
    m = triangles // (2 * n)
    u, v = np.meshgrid(np.arange(n), np.arange(m), indexing="ij")
    a, b = 2 * np.pi * u / n, 2 * np.pi * v / m
    r = 0.3 + 0.1 * np.cos(b)
    verts = np.stack([r * np.cos(a), r * np.sin(a), 0.1 * np.sin(b)], -1).reshape(-1, 3).astype(np.float32)
    i00, i10 = u * m + v, ((u + 1) % n) * m + v
    i01, i11 = u * m + (v + 1) % m, ((u + 1) % n) * m + (v + 1) % m
    faces = np.concatenate([np.stack([i00, i10, i11], -1).reshape(-1, 3),
                            np.stack([i00, i11, i01], -1).reshape(-1, 3)]).astype(np.int32)
    t0 = time.perf_counter()
    obj = meshes.build_object(bpy.context, "big torus", verts, faces)
    seconds = time.perf_counter() - t0
    info = {"triangles": len(faces), "seconds": seconds, "faces": len(obj.data.polygons),
            "vertices": len(obj.data.vertices)}
    meshes.remove_object(obj)
    return info


def scenario_addon(args) -> dict:
    import bpy

    steps = Steps()
    workdir = tempfile.mkdtemp(prefix="imdec-scenario-")
    steps.run("install", install, bpy, args.zip)
    steps.run("registration", registration, bpy)

    scene = bpy.context.scene
    scene.cursor.location = (0.5, -1.0, 2.0)
    steps.run("file", call_operator, bpy, filepath=args.image, model=args.model, resolution=64)
    steps.run("file_128", call_operator, bpy, filepath=args.image, model=args.model, resolution=128)
    steps.run("file_64_again", call_operator, bpy, filepath=args.image, model=args.model, resolution=64)

    def datablock():
        img = bpy.data.images.load(args.image)
        out = call_operator(bpy, image=img.name, model=args.model, resolution=64)
        img.pack()
        out["packed"] = call_operator(bpy, image=img.name, model=args.model, resolution=48)
        return out

    steps.run("datablock", datablock)

    def panel_choice():
        scene.imdec.filepath = args.image
        out = call_operator(bpy, model=args.model, resolution=48)
        scene.imdec.filepath = ""
        return out

    steps.run("panel_choice", panel_choice)

    def bundled_global_model():
        """The panel offers the second bundled model (global-only), and the operator runs it by name."""
        scene.imdec.model = "imdec-6cat-global"  # an item the dynamic list must hold, or Blender refuses it
        chosen = scene.imdec.model_argument()
        scene.imdec.model = 'DEFAULT'
        out = call_operator(bpy, filepath=os.path.join(SAMPLES, "table.png"), model=chosen, resolution=48)
        out["chosen"] = chosen
        return out

    steps.run("bundled_global_model", bundled_global_model)
    chair = os.path.join(SAMPLES, "chair.png")
    steps.run("colour_on", call_operator, bpy, filepath=chair, model=args.model, resolution=48, colour=True)
    steps.run("colour_off", call_operator, bpy, filepath=chair, model=args.model, resolution=48, colour=False)
    steps.run("given_colours", given_colours, bpy)
    steps.run("imported_colours", imported_colours, bpy, workdir)
    steps.run("invoke_in_background", call_operator, bpy, "INVOKE_DEFAULT", filepath=args.image,
              model=args.model, resolution=40)
    steps.run("failures", failures, bpy, args, workdir)

    def toggle():
        out = {"running": disable_while_running(bpy, args)}
        out["disabled_operator"] = hasattr(bpy.types, "IMDEC_OT_reconstruct")
        out["disabled_panel"] = hasattr(bpy.types, "IMDEC_PT_reconstruct")
        out["disabled_scene_settings"] = hasattr(bpy.types.Scene, "imdec")
        bpy.ops.preferences.addon_enable(module=MODULE)
        out["enabled_operator"] = hasattr(bpy.types, "IMDEC_OT_reconstruct")
        out["enabled_panel"] = hasattr(bpy.types, "IMDEC_PT_reconstruct")
        out["again"] = call_operator(bpy, filepath=args.image, model=args.model, resolution=48)
        return out

    steps.run("toggle", toggle)
    steps.run("worker_job", worker_job, bpy, args)
    if args.big_mesh:
        steps.run("big_mesh", big_mesh, bpy, args.big_mesh)
    shutil.rmtree(workdir, ignore_errors=True)
    return steps.results


def scenario_bench(args) -> dict:
    """Timings of the exec path (cold first call, then warm repeats) and of the mesh building."""
    import bpy

    out = {"install": install(bpy, args.zip)}
    runs = []
    for resolution in (64, 64, 128, 64, 128, 64, 128):
        call = call_operator(bpy, filepath=args.image, model=args.model, resolution=resolution, device='CPU')
        assert call.get("result") == ["FINISHED"], call
        runs.append({"resolution": resolution, "seconds": round(call["seconds"], 3),
                     "faces": call["object"]["faces"]})
    out["runs"] = runs
    out["cold_first_call"] = runs[0]
    for resolution in (64, 128):
        warm = [r["seconds"] for r in runs[1:] if r["resolution"] == resolution]
        out[f"warm_{resolution}"] = {"min": min(warm), "median": sorted(warm)[len(warm) // 2], "n": len(warm)}
    out["big_mesh"] = [big_mesh(bpy, args.big_mesh or 1_000_000) for _ in range(3)]
    return out


SCENARIOS = {"addon": scenario_addon, "bench": scenario_bench}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--zip", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--image", required=True)
    parser.add_argument("--big-mesh", type=int, default=0, help="also time building a mesh of this many triangles")
    args = parser.parse_args()
    if not os.environ.get("BLENDER_USER_RESOURCES"):
        print("set BLENDER_USER_RESOURCES to a scratch folder first", file=sys.stderr)
        os._exit(2)
    code = 0
    try:
        result = SCENARIOS[args.scenario](args)
    except Exception as exc:
        result = {"exception": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        code = 1
    sys.stdout.write("\n" + RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
