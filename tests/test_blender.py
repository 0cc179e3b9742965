"""The Blender extension with the real bpy module (Blender 4.5 as a Python module), no mocks.

The extension zip is built with Blender's own builder (tools/build_extension.py, without wheels:
the test environment has torch already), installed with Blender's own installer into a scratch
user folder (BLENDER_USER_RESOURCES, read once when bpy is imported, hence a separate process:
tests/blender_helpers.py), and driven through bpy.ops.imdec.reconstruct. The modal path needs a
window, which background mode has not: its machinery (the worker process and its job object) is
tested directly in Blender here, and the worker as a plain process in tests/test_worker.py. What
the zip holds: tests/test_build_extension.py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.cli import main as engine_main
from engine.request import DEFAULT_RESOLUTION, DEFAULT_THRESHOLD, DEVICES, MAX_RESOLUTION, MIN_RESOLUTION

ROOT = Path(__file__).resolve().parents[1]
HELPERS = ROOT / "tests" / "blender_helpers.py"
RESULT_PREFIX = "IMDEC_RESULT "
MARGIN = 0.05  # the decoder's domain is [-0.5, 0.5]^3 plus what the grid needs to close the surface

if importlib.util.find_spec("bpy") is None:
    pytest.skip("the bpy module (Blender as a Python module) is not installed", allow_module_level=True)


def run(cmd, timeout=600, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)


@pytest.fixture(scope="module")
def addon(extension_zip, fixture_model, picture, tmp_path_factory) -> dict:
    """Every Blender step of tests/blender_helpers.py `addon`, run once in one Blender process."""
    user = tmp_path_factory.mktemp("blender-user")
    env = dict(os.environ, BLENDER_USER_RESOURCES=str(user))
    t0 = time.perf_counter()
    proc = run([sys.executable, str(HELPERS), "addon", "--zip", str(extension_zip), "--model", fixture_model,
                "--image", str(picture), "--big-mesh", "1000000"], env=env, cwd=str(user))
    seconds = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_PREFIX)]
    assert proc.returncode == 0 and lines, f"exit {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    result = json.loads(lines[-1][len(RESULT_PREFIX):])
    result["_seconds"] = seconds
    result["_stderr"] = proc.stderr[-4000:]
    return result


def step(addon: dict, name: str) -> dict:
    value = addon[name]
    assert "exception" not in value, value.get("traceback", value)
    return value


def assert_reconstructed(call: dict, name: str) -> dict:
    assert call.get("result") == ["FINISHED"], call.get("error")
    assert call["new_objects"] == [call["object"]["name"]]
    obj = call["object"]
    assert obj["name"].split(".")[0] == name  # named after the image's stem (Blender adds .001 to repeats)
    assert obj["type"] == "MESH"
    assert obj["in_active_collection"] and obj["collections"] == [obj["active_collection"]]
    assert obj["selected"] and obj["active"] and obj["selected_objects"] == [obj["name"]]
    assert obj["location"] == pytest.approx(obj["cursor"])
    assert obj["vertices"] > 100 and obj["faces"] > 100 and obj["triangles_only"]
    assert obj["edge_face_min"] == 2 and obj["edge_face_max"] == 2, "the mesh is not closed"
    assert min(obj["bounds_min"]) >= -0.5 - MARGIN and max(obj["bounds_max"]) <= 0.5 + MARGIN
    assert obj["smooth"]
    before, after = call["counts_before"], call["counts_after"]
    assert after["objects"] == before["objects"] + 1 and after["meshes"] == before["meshes"] + 1
    return obj


# ---------------------------------------------------------------- installing and registering

def test_installs_with_blenders_installer_and_registers(addon):
    install = step(addon, "install")
    assert install["result"] == ["FINISHED"]
    assert "bl_ext.user_default.imdec" in install["addons"]
    assert "tests" not in install["installed_files"]
    reg = step(addon, "registration")
    assert reg["operator"] and reg["bl_idname"] == "imdec.reconstruct"
    assert reg["bl_options"] == ["REGISTER", "UNDO"]
    assert reg["panel"] and reg["panel_category"] == "ImDec"
    assert reg["panel_space"] == "VIEW_3D" and reg["panel_region"] == "UI"
    assert reg["scene_settings"] and reg["scene_resolution"] == 128
    assert reg["preferences"] and reg["preferences_threads"] == 0 and reg["preferences_device"] == "AUTO"
    assert not reg["torch_imported_at_register"], "registering the add-on must not import torch"


def test_operator_properties_follow_the_conventions(addon):
    props = step(addon, "registration")["properties"]
    assert set(props) == {"filepath", "image", "resolution", "threshold", "model", "device", "colour"}
    assert props["colour"]["type"] == "BOOLEAN" and props["colour"]["default"] is True
    assert props["colour"]["name"] == "Colour"
    assert props["colour"]["description"] == "Colour the mesh with the picture's colours (off: clay)"
    assert props["filepath"]["subtype"] == "FILE_PATH" and props["filepath"]["default"] == ""
    assert props["image"]["default"] == "" and props["model"]["default"] == ""
    assert props["resolution"]["default"] == 128 and props["resolution"]["soft_min"] == 32
    assert props["resolution"]["soft_max"] == 512
    assert props["threshold"]["default"] == pytest.approx(0.5)
    assert props["device"]["default"] == "AUTO" and props["device"]["items"] == ["AUTO", "CPU", "CUDA"]


# ---------------------------------------------------------------- reconstructing

def test_reconstruct_from_file(addon):
    assert_reconstructed(step(addon, "file"), "box photo")
    obj = assert_reconstructed(step(addon, "file_128"), "box photo")
    assert obj["location"] == pytest.approx([0.5, -1.0, 2.0])  # the scenario moved the cursor there
    assert obj["faces"] > step(addon, "file")["object"]["faces"]  # finer grid, more triangles


def test_reconstruct_from_image_datablock(addon):
    call = step(addon, "datablock")
    assert_reconstructed(call, "box photo")
    assert_reconstructed(call["packed"], "box photo")
    # the same pixels give the same mesh from a file and from a datablock
    assert call["object"]["vertices"] == step(addon, "file")["object"]["vertices"]


def test_reconstruct_falls_back_to_the_panels_image(addon):
    assert_reconstructed(step(addon, "panel_choice"), "box photo")


def test_the_bundled_global_model_is_offered_and_reconstructs_a_table(addon):
    call = step(addon, "bundled_global_model")
    assert call["chosen"] == "imdec-6cat-global"
    assert_reconstructed(call, "table")


def assert_clay(obj: dict) -> None:
    assert obj["colour_attributes"] == [] and obj["materials"] == []


def test_reconstruct_with_colour_gives_a_colour_attribute_and_a_material_showing_it(addon):
    """Fails while the engine returns no colours (Reconstruction.colours None): colour=True must colour."""
    call = step(addon, "colour_on")
    obj = assert_reconstructed(call, "chair")
    assert obj["colour_attributes"], "colour=True gave a clay mesh: the engine returned no colours"
    assert obj["colour_attributes"] == [{"name": "Color", "domain": "POINT", "data_type": "BYTE_COLOR",
                                         "length": obj["vertices"]}]
    assert obj["active_colour"] == "Color" and obj["render_colour"] == "Color"
    assert call["counts_after"]["materials"] == call["counts_before"]["materials"] + 1
    [material] = obj["materials"]
    assert material["name"] == f"{obj['name']} Colour" and material["use_nodes"]
    assert material["base_color_from"] == {"type": "VERTEX_COLOR", "bl_idname": "ShaderNodeVertexColor",
                                           "layer_name": "Color", "socket": "Color"}
    assert material["bsdf_to"] == ["OUTPUT_MATERIAL"]


def test_reconstruct_without_colour_is_clay(addon):
    call = step(addon, "colour_off")
    obj = assert_reconstructed(call, "chair")
    assert_clay(obj)
    assert call["counts_after"]["materials"] == call["counts_before"]["materials"]


def test_blenders_own_importers_show_the_colours_of_the_engines_files(addon):
    imported = step(addon, "imported_colours")
    assert set(imported) == {"ply", "obj", "glb"}
    for fmt, got in imported.items():
        assert got["max_error"] <= 1 / 255 + 1e-4, (fmt, got)


def test_given_colours_read_back_as_the_same_srgb(addon):
    given = step(addon, "given_colours")
    assert given["counts_delta"] == {"objects": 1, "meshes": 1, "materials": 1, "scene_objects": 1}
    assert given["object"]["colour_attributes"] == [{"name": "Color", "domain": "POINT", "data_type": "BYTE_COLOR",
                                                     "length": 5}]
    assert given["object"]["active_colour"] == given["object"]["render_colour"] == "Color"
    assert given["object"]["materials"][0]["base_color_from"]["layer_name"] == "Color"
    assert given["max_error"] <= 1 / 255 + 1e-6, given  # stored as sRGB bytes, not converted to linear
    assert given["read_srgb"][1] == pytest.approx([1.0, 128 / 255, 1 / 255], abs=1e-6)
    assert given["read_alpha"] == [1.0] * 5
    assert given["float_max_error"] <= 1 / 255 + 1e-6
    assert given["removed"], "remove_object left the mesh or its material behind"


@pytest.mark.parametrize("case", ["short", "long", "shape"])
def test_wrong_colours_raise_mesh_error_and_add_nothing(addon, case):
    bad = step(addon, "given_colours")[case]
    assert bad["raised"] == "MeshError", bad
    assert "\n" not in bad["message"] and "colours" in bad["message"]
    assert bad["unchanged"], "a failed build left a mesh, material or object behind"


def test_invoke_without_a_window_runs_to_the_end(addon):
    assert_reconstructed(step(addon, "invoke_in_background"), "box photo")


@pytest.mark.parametrize("case, words", [
    ("missing_file", ["no-such-picture.png", "does not exist"]),
    ("resolution_8", ["resolution 8", "32..1024"]),
    ("corrupt_model", ["corrupt.pt"]),
    ("unknown_datablock", ["No Such Image"]),
    ("no_image", ["no image"]),
    ("no_pixels", ["gone.png", "no pixels"]),
])
def test_failures_report_one_line_and_leave_the_scene_alone(addon, case, words):
    call = step(addon, "failures")[case]
    assert "result" not in call, f"{case} should fail, got {call.get('result')}"
    message = call["error"].strip()
    assert "\n" not in message, message
    for word in words:
        assert word in message, message
    assert "Traceback" not in message and "internal error" not in message
    assert call["counts_after"] == call["counts_before"] and call["new_objects"] == []


def test_panel_and_operator_limits_agree_with_the_engine(addon):
    reg = step(addon, "registration")
    operator, panel = reg["properties"], reg["scene_properties"]
    for name in ("resolution", "threshold", "colour"):
        assert operator[name] == panel[name], name
    resolution = operator["resolution"]
    assert resolution["default"] == DEFAULT_RESOLUTION
    assert resolution["soft_min"] == MIN_RESOLUTION and MIN_RESOLUTION < resolution["soft_max"] <= MAX_RESOLUTION
    # no hard limits: an out-of-range value fails with the engine's message instead of being clamped
    assert resolution["hard_min"] < MIN_RESOLUTION and resolution["hard_max"] > MAX_RESOLUTION
    threshold = operator["threshold"]
    assert threshold["default"] == pytest.approx(DEFAULT_THRESHOLD)
    assert 0 < threshold["soft_min"] < threshold["soft_max"] < 1
    assert threshold["hard_min"] <= 0 and threshold["hard_max"] >= 1
    assert operator["device"]["items"] == [d.upper() for d in DEVICES]
    assert panel["device"]["items"] == ["PREFERENCES"] + operator["device"]["items"]


@pytest.mark.parametrize("case, option, value", [
    ("resolution_8", "--resolution", "8"),
    ("resolution_4096", "--resolution", "4096"),
    ("threshold_1.5", "--threshold", "1.5"),
    ("threshold_0", "--threshold", "0"),
])
def test_out_of_range_operator_values_fail_with_the_command_lines_message(addon, tmp_path, capsys, case, option,
                                                                          value):
    status = engine_main(["reconstruct", str(tmp_path / "any.png"), "-o", str(tmp_path / "out.obj"), option, value])
    assert status == 2
    expected = capsys.readouterr().err.strip().removeprefix("imdec: error: ")
    call = step(addon, "failures")[case]
    assert "result" not in call and call["new_objects"] == []
    assert call["error"].strip().endswith(expected), (call["error"], expected)


def test_disable_and_enable_again(addon):
    toggle = step(addon, "toggle")
    assert not toggle["disabled_operator"] and not toggle["disabled_panel"] and not toggle["disabled_scene_settings"]
    assert toggle["enabled_operator"] and toggle["enabled_panel"]
    assert_reconstructed(toggle["again"], "box photo")


def test_disabling_the_addon_stops_its_worker(addon):
    running = step(addon, "toggle")["running"]
    assert running["seen"][-1] == "progress", running  # a reconstruction was running on the worker
    assert running["worker_gone"] and running["tmpdir_removed"], running
    assert running["seconds"] < 10


def test_worker_job_in_blender_builds_the_mesh_and_cleans_up(addon):
    job = step(addon, "worker_job")
    assert job["events"][0] == "started" and job["events"][-1] == "done", job
    assert "preview" in job["events"] and "progress" in job["events"]
    assert job["fractions"] == sorted(job["fractions"]) and job["fractions"][-1] == 1.0
    assert job["object"]["edge_face_min"] == 2 and job["object"]["edge_face_max"] == 2
    assert job["counts_delta"] == 1 and job["tmpdir_removed"]
    # the second job ran in the same worker, which had PyTorch and the model loaded already
    assert job["second_events"][-1] == "done" and job["pids"][0] == job["pids"][1], job
    assert job["second_seconds"] < job["seconds"]
    # cancelled mid-way: the worker is gone, and so are its files; nothing was added
    assert job["cancel_seen_before"][-1] == "progress", job["cancel_seen_before"]
    assert job["cancel_returncode"] is not None and job["cancel_returncode"] != 0
    assert job["cancel_tmpdir_removed"] and job["cancel_counts_unchanged"]
    assert job["cancel_seconds"] < 10


def test_million_triangle_mesh_builds_in_seconds(addon):
    big = step(addon, "big_mesh")
    assert big["faces"] == big["triangles"] == 1_000_000
    print(f"1M triangles -> Blender mesh in {big['seconds']:.2f} s")
    assert big["seconds"] < 10, big  # about a second on a desktop; tens would mean a slow path
