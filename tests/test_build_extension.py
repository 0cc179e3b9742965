"""tools/build_extension.py and tools/fetch_wheels.py: what goes into the extension zip, and which wheels."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_extension_zip_holds_the_addon_and_engine_only(extension_zip):
    names = zipfile.ZipFile(extension_zip).namelist()
    for required in ("blender_manifest.toml", "__init__.py", "prefs.py", "properties.py", "operators/reconstruct.py",
                     "operators/job.py", "panels/sidebar.py", "engine/reconstruct.py", "engine/worker.py",
                     "engine/request.py", "engine/model_files.py"):
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
    data = tomllib.loads(manifest.read_text())
    assert data["wheels"] == wheels
    assert data["id"] == "imdec" and data["permissions"]["files"]
    assert set(data["platforms"]) == {"linux-x64", "windows-x64", "macos-arm64"}


@pytest.mark.parametrize("platform, tag", [("linux-x64", "manylinux_2_28_x86_64"), ("windows-x64", "win_amd64"),
                                           ("macos-arm64", "macosx_11_0_arm64")])
def test_fetch_wheels_targets_the_platform_and_never_numpy(tmp_path, platform, tag):
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "fetch_wheels.py"), "--platform", platform,
                           "--dry-run", "--dest", str(tmp_path)], capture_output=True, text=True, timeout=600)
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
