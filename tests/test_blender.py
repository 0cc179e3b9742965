"""The Blender extension with the real bpy module (Blender 4.5 as a Python module), no mocks.

The extension zip is built with Blender's own builder (tools/build_extension.py, without wheels:
the test environment has torch already), installed with Blender's own installer into a scratch
user folder (BLENDER_USER_RESOURCES, read once when bpy is imported, hence a separate process:
tests/blender_helpers.py), and driven through bpy.ops.imdec.reconstruct. The modal path needs a
window, which background mode has not: its machinery (the worker process and its job object) is
tested directly, in Blender and as a plain subprocess.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
HELPERS = ROOT / "tests" / "blender_helpers.py"
RESULT_PREFIX = "IMDEC_RESULT "
MARGIN = 0.05  # the decoder's domain is [-0.5, 0.5]^3 plus what the grid needs to close the surface

if importlib.util.find_spec("bpy") is None:
    pytest.skip("the bpy module (Blender as a Python module) is not installed", allow_module_level=True)


def run(cmd, timeout=600, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)


@pytest.fixture(scope="session")
def extension_zip(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    stage = tmp_path_factory.mktemp("stage") / "extension"
    proc = run([sys.executable, str(ROOT / "tools" / "build_extension.py"), "--no-wheels", "--no-split",
                "--output-dir", str(out), "--stage-dir", str(stage)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    zips = [Path(line) for line in proc.stdout.split()]
    assert len(zips) == 1 and zips[0].is_file(), proc.stdout
    return zips[0]


@pytest.fixture(scope="module")
def picture(tmp_path_factory) -> Path:
    from PIL import Image

    rgba = np.zeros((96, 128, 4), np.uint8)
    rgba[20:80, 30:100] = (200, 80, 40, 255)
    path = tmp_path_factory.mktemp("pictures") / "box photo.png"
    Image.fromarray(rgba).save(path)
    return path


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


# ---------------------------------------------------------------- the package

def test_extension_zip_holds_the_addon_and_engine_only(extension_zip):
    names = zipfile.ZipFile(extension_zip).namelist()
    for required in ("blender_manifest.toml", "__init__.py", "prefs.py", "operators/reconstruct.py",
                     "operators/job.py", "panels/sidebar.py", "engine/reconstruct.py", "engine/worker.py"):
        assert required in names
    for name in names:
        assert not name.startswith(("tests/", "tools/", "docs/", ".venv/", ".git", "build/", "dist/"))
        assert "__pycache__" not in name and not name.endswith(".pyc")


def test_manifest_wheel_list_is_written_into_the_staged_copy(tmp_path):
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        import build_extension
    finally:
        sys.path.remove(str(ROOT / "tools"))
    manifest = tmp_path / "blender_manifest.toml"
    manifest.write_text((ROOT / "blender_manifest.toml").read_text())
    wheels = ["./wheels/torch-2.14.1-cp311-none-macosx_11_0_arm64.whl", "./wheels/pillow-11.3.0-cp311-cp311-win_amd64.whl"]
    build_extension.write_wheels_list(manifest, wheels)
    import tomllib

    data = tomllib.loads(manifest.read_text())
    assert data["wheels"] == wheels
    assert data["id"] == "imdec" and data["permissions"]["files"]
    assert set(data["platforms"]) == {"linux-x64", "windows-x64", "macos-arm64"}


@pytest.mark.parametrize("platform, tag", [("linux-x64", "manylinux_2_28_x86_64"), ("windows-x64", "win_amd64"),
                                           ("macos-arm64", "macosx_11_0_arm64")])
def test_fetch_wheels_targets_the_platform_and_never_numpy(tmp_path, platform, tag):
    proc = run([sys.executable, str(ROOT / "tools" / "fetch_wheels.py"), "--platform", platform, "--dry-run",
                "--dest", str(tmp_path)])
    assert proc.returncode == 0, proc.stderr
    commands = [ln[2:].split() for ln in proc.stderr.splitlines() if ln.startswith("+ ")]
    asked = [a for cmd in commands for a in cmd if "==" in a or ">=" in a]
    assert {a.split("=")[0].split(">")[0] for a in asked} == {"torch", "torchvision", "pillow", "scikit-image"}
    for cmd in commands:
        assert "--only-binary=:all:" in cmd and "--no-deps" in cmd and tag in cmd
        assert cmd[cmd.index("--python-version") + 1] == "3.11"
        assert not any(a.startswith("numpy") for a in cmd)
    cpu_index = any("download.pytorch.org/whl/cpu" in a for cmd in commands for a in cmd)
    assert cpu_index == (platform == "linux-x64")  # PyPI's Linux torch is the huge CUDA build
    assert list(tmp_path.iterdir()) == []


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
    assert set(props) == {"filepath", "image", "resolution", "threshold", "model", "device"}
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


def test_bundled_table_model_is_offered_and_reconstructs_a_table(addon):
    call = step(addon, "bundled_table_model")
    assert call["chosen"] == "imdec-table"
    assert_reconstructed(call, "table")


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


def test_disable_and_enable_again(addon):
    toggle = step(addon, "toggle")
    assert not toggle["disabled_operator"] and not toggle["disabled_panel"] and not toggle["disabled_scene_settings"]
    assert toggle["enabled_operator"] and toggle["enabled_panel"]
    assert_reconstructed(toggle["again"], "box photo")


def test_worker_job_in_blender_builds_the_mesh_and_cleans_up(addon):
    job = step(addon, "worker_job")
    assert job["events"][0] == "started" and job["events"][-2:] == ["done", "exit"], job
    assert "preview" in job["events"] and "progress" in job["events"]
    assert job["fractions"] == sorted(job["fractions"]) and job["fractions"][-1] == 1.0
    assert job["object"]["edge_face_min"] == 2 and job["object"]["edge_face_max"] == 2
    assert job["counts_delta"] == 1 and job["tmpdir_removed"]
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


# ---------------------------------------------------------------- the worker process on its own

def start_worker(request: dict) -> subprocess.Popen:
    """The worker as the add-on starts it (python -m engine.worker, the request on stdin)."""
    proc = subprocess.Popen([sys.executable, "-m", "engine.worker"], cwd=str(ROOT), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdin.write(json.dumps(request))
    proc.stdin.close()
    proc.stdin = None  # so that communicate() does not flush it again
    return proc


def events_of(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_worker_prints_progress_and_writes_the_mesh(tmp_path, fixture_model, picture):
    output = tmp_path / "result.npz"
    proc = start_worker({"image": str(picture), "output": str(output), "model": fixture_model,
                         "resolution": 48, "device": "cpu", "threads": 1})
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    events = events_of(stdout)  # every stdout line is one JSON object
    kinds = [e["event"] for e in events]
    assert kinds[0] == "started" and kinds[-1] == "done" and "progress" in kinds
    fractions = [e["fraction"] for e in events if e["event"] == "progress"]
    assert fractions == sorted(fractions) and 0 <= fractions[0] and fractions[-1] == 1.0
    done = events[-1]
    assert done["output"] == str(output) and done["resolution"] == 48
    for key in ("vertices", "faces", "decoder_queries", "seconds"):
        assert key in done
    with np.load(output) as data:
        assert data["vertices"].dtype == np.float32 and data["faces"].dtype == np.int32
        assert len(data["vertices"]) == done["vertices"] and len(data["faces"]) == done["faces"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.npz"]


@pytest.mark.parametrize("change, words", [
    ({"resolution": 8}, ["resolution 8"]),
    ({"image": "/no/such/picture.png"}, ["picture.png", "does not exist"]),
    ("{not json", ["JSON"]),
])
def test_worker_bad_input_exits_2_with_one_line(tmp_path, fixture_model, picture, change, words):
    request = {"image": str(picture), "output": str(tmp_path / "result.npz"), "model": fixture_model,
               "resolution": 48, "device": "cpu"}
    text = change if isinstance(change, str) else json.dumps({**request, **change})
    proc = subprocess.Popen([sys.executable, "-m", "engine.worker"], cwd=str(ROOT), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = proc.communicate(text, timeout=300)
    assert proc.returncode == 2, stderr
    events = events_of(stdout)
    assert events[-1]["event"] == "error" and events[-1]["kind"] == "input"
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("imdec: error:"), stderr
    for word in words:
        assert word in lines[0]
    assert not (tmp_path / "result.npz").exists()


def test_worker_terminated_mid_way_leaves_no_files(tmp_path, fixture_model, picture):
    out_dir = tmp_path / "job"
    out_dir.mkdir()
    proc = start_worker({"image": str(picture), "output": str(out_dir / "result.npz"), "model": fixture_model,
                         "resolution": 1024, "device": "cpu", "threads": 1})
    seen = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(json.loads(line)["event"])
        if seen[-1] == "progress":
            break
    assert seen[-1] == "progress", seen
    time.sleep(0.5)  # into the model load / extraction
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail("the worker ignored SIGTERM for 30 s")
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode != 0
    assert list(out_dir.iterdir()) == []
