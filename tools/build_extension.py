#!/usr/bin/env python3
"""Build the ImDec Blender extension zip(s) with Blender's own extension builder.

    python tools/build_extension.py [--output-dir dist] [--no-wheels] [--no-split]

1. Stages the add-on (manifest, __init__.py, prefs.py, operators/, panels/, engine/, README/LICENSE)
   in build/extension/ -- no tests, tools, docs, caches or virtualenvs.
2. Copies the wheels present in wheels/ (see tools/fetch_wheels.py) and writes their list into the
   staged manifest's `wheels = [...]` (the source manifest keeps an empty list).
3. Runs Blender's builder (bl_pkg/cli/blender_ext.py from the bpy package, or --blender-ext PATH):
   `build --split-platforms` makes one zip per platform holding only that platform's wheels.
4. Validates each zip with the same tool's `validate`.

Prints the zip paths, one per line. Exit status 0 on success, 1 when building or validating fails,
2 on bad usage (e.g. the builder cannot be found).
"""

from __future__ import annotations

import argparse
import glob
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# what goes into the extension: the add-on and the engine, nothing else
ADDON_FILES = ["blender_manifest.toml", "__init__.py", "prefs.py", "properties.py", "README.md", "LICENSE", "LICENSE.txt"]
ADDON_DIRS = ["operators", "panels", "engine"]
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", "*.tmp", "*.part", ".*", "*.orig", "*.rej")


def find_blender_ext() -> Path:
    """blender_ext.py inside the installed bpy module (the builder Blender itself uses)."""
    spec = importlib.util.find_spec("bpy")
    roots = []
    if spec is not None:
        roots += [Path(p) for p in (spec.submodule_search_locations or [])]
        if spec.origin:
            roots.append(Path(spec.origin).parent)
    for root in roots:
        hits = sorted(glob.glob(str(root / "*" / "scripts" / "addons_core" / "bl_pkg" / "cli" / "blender_ext.py")))
        if hits:
            return Path(hits[-1])
    raise FileNotFoundError("Blender's extension builder (bl_pkg/cli/blender_ext.py) was not found: install the bpy "
                            "module (pip install bpy==4.5.*) or pass --blender-ext PATH")


def stage(stage_dir: Path, wheels: list[Path]) -> Path:
    if stage_dir.exists():
        shutil.rmtree(stage_dir)
    stage_dir.mkdir(parents=True)
    for name in ADDON_FILES:
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, stage_dir / name)
    for name in ADDON_DIRS:
        shutil.copytree(ROOT / name, stage_dir / name, ignore=IGNORE)
    if wheels:
        (stage_dir / "wheels").mkdir()
        for wheel in wheels:
            shutil.copy2(wheel, stage_dir / "wheels" / wheel.name)
    write_wheels_list(stage_dir / "blender_manifest.toml", [f"./wheels/{w.name}" for w in wheels])
    return stage_dir


def write_wheels_list(manifest: Path, wheels: list[str]) -> None:
    text = manifest.read_text(encoding="utf-8")
    listing = "wheels = [\n" + "".join(f'  "{w}",\n' for w in wheels) + "]\n" if wheels else "wheels = []\n"
    pattern = re.compile(r"^wheels\s*=\s*\[[^\]]*\]\s*\n", re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(lambda m: listing, text, count=1)
    else:  # top-level keys must come before the first [table]
        first_table = re.search(r"^\[", text, re.MULTILINE)
        at = first_table.start() if first_table else len(text)
        text = text[:at] + listing + "\n" + text[at:]
    manifest.write_text(text, encoding="utf-8")


def run_tool(tool: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(tool), *args], capture_output=True, text=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", default=str(ROOT / "dist"), help="where the zips go (default: dist/)")
    parser.add_argument("--stage-dir", default=str(ROOT / "build" / "extension"), help="staging folder (default: build/extension/)")
    parser.add_argument("--wheels-dir", default=str(ROOT / "wheels"), help="wheels to bundle (default: wheels/)")
    parser.add_argument("--no-wheels", action="store_true", help="bundle no wheels (for tests; the add-on then needs torch installed otherwise)")
    parser.add_argument("--no-split", action="store_true", help="one zip for all platforms instead of one per platform")
    parser.add_argument("--blender-ext", help="path of Blender's blender_ext.py (default: found in the bpy package)")
    args = parser.parse_args(argv)

    try:
        tool = Path(args.blender_ext) if args.blender_ext else find_blender_ext()
    except FileNotFoundError as exc:
        print(f"build_extension: error: {exc}", file=sys.stderr)
        return 2
    wheels = [] if args.no_wheels else sorted(Path(args.wheels_dir).glob("*.whl"))
    numpy_wheels = [w.name for w in wheels if w.name.lower().startswith("numpy-")]
    if numpy_wheels:
        print(f"build_extension: error: numpy must not be bundled (Blender ships it): remove {', '.join(numpy_wheels)}",
              file=sys.stderr)
        return 2
    stage_dir = stage(Path(args.stage_dir), wheels)
    out_dir = Path(args.output_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    before = set(out_dir.glob("*.zip"))
    for old in before:  # the old builds of this id; a stale platform zip must not linger next to new ones
        if old.name.startswith("imdec-"):
            old.unlink()

    build_args = ["build", "--source-dir", str(stage_dir), "--output-dir", str(out_dir)]
    if not args.no_split:
        build_args.append("--split-platforms")
    result = run_tool(tool, *build_args)
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        print("build_extension: error: Blender's extension builder failed", file=sys.stderr)
        return 1
    zips = sorted(out_dir.glob("imdec-*.zip"))
    if not zips:
        sys.stderr.write(result.stdout + result.stderr)
        print("build_extension: error: the builder wrote no zip", file=sys.stderr)
        return 1
    for zip_path in zips:
        check = run_tool(tool, "validate", str(zip_path))
        if check.returncode != 0 or "error" in (check.stdout + check.stderr).lower():
            sys.stderr.write(check.stdout + check.stderr)
            print(f"build_extension: error: {zip_path.name} does not validate", file=sys.stderr)
            return 1
    print(f"build_extension: {len(wheels)} wheel(s), {len(zips)} zip(s) in {out_dir}", file=sys.stderr)
    for zip_path in zips:
        print(zip_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
