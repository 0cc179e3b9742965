#!/usr/bin/env python3
"""Download the Python wheels the ImDec extension bundles, for one Blender platform.

    python tools/fetch_wheels.py --platform linux-x64|windows-x64|macos-arm64 [--python 3.11]
                                 [--dest wheels] [--torch-index auto|pypi|cpu] [--dry-run]

Blender 4.2+ installs the wheels listed in an extension's manifest into its own Python
(extensions/.local/lib/pythonX.Y/site-packages); tools/build_extension.py lists whatever this script
put in wheels/ and builds one zip per platform, each with only that platform's wheels.

What is fetched: the runtime pins of requirements.txt (torch, torchvision, pillow, scikit-image)
and, level by level, their runtime dependencies read from each wheel's METADATA with the
environment markers evaluated for the *target* platform and Python (scipy, imageio, tifffile,
lazy_loader, networkx, packaging, sympy, mpmath, jinja2, MarkupSafe, filelock, fsspec,
typing_extensions...). Every download is `pip download --only-binary=:all: --no-deps --platform ...
--python-version ...`, so nothing is built and nothing is installed here. numpy is never fetched:
Blender ships its own (1.x in Blender 4.x), and a second copy would break Blender.

Size: the Linux torch wheel on PyPI is the CUDA build (about 900 MB) and it requires the nvidia-*
CUDA runtime wheels (several GB more), far too big for an extension. With --torch-index auto (the
default) Linux therefore takes the CPU-only torch/torchvision from https://download.pytorch.org/whl/cpu
(about 200 MB); pass --torch-index pypi to bundle the CUDA build anyway. Windows wheels on PyPI are
CPU-only (about 250 MB); macOS arm64 wheels (PyPI) support the CPU and Metal (MPS).

Needs network access to PyPI (and download.pytorch.org for the CPU index). Exit status 0 on
success, 1 when pip fails, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PYPI_INDEX = "https://pypi.org/simple"
TORCH_PACKAGES = {"torch", "torchvision"}
NEVER = {"numpy", "bpy"}  # Blender's own

# Blender platform -> pip --platform tags (pip also accepts older manylinux/macOS tags below these)
PLATFORMS = {
    "linux-x64": ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64"],
    "windows-x64": ["win_amd64"],
    "macos-arm64": ["macosx_14_0_arm64", "macosx_11_0_arm64"],
}
# environment markers as they evaluate on the target (PEP 508)
MARKER_ENV = {
    "linux-x64": {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64", "os_name": "posix"},
    "windows-x64": {"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64", "os_name": "nt"},
    "macos-arm64": {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64", "os_name": "posix"},
}


def canonical(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def marker_environment(platform: str, python: str) -> dict:
    major_minor = ".".join(python.split(".")[:2])
    return {
        "python_version": major_minor, "python_full_version": major_minor + ".0",
        "implementation_name": "cpython", "platform_python_implementation": "CPython",
        "implementation_version": major_minor + ".0", "platform_release": "", "platform_version": "",
        "extra": "", **MARKER_ENV[platform],
    }


def root_requirements(path: Path = ROOT / "requirements.txt") -> list[str]:
    """The runtime pins (requirements.txt), minus numpy."""
    from packaging.requirements import Requirement

    out = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        if canonical(Requirement(line).name) not in NEVER:
            out.append(line)
    return out


def wheel_requirements(wheel: Path, env: dict) -> list[str]:
    """Runtime Requires-Dist of a wheel whose markers hold on the target (no extras)."""
    from packaging.requirements import Requirement

    with zipfile.ZipFile(wheel) as zf:
        meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(zf.read(meta_name).decode("utf-8", "replace"))
    out = []
    for text in meta.get_all("Requires-Dist") or []:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate(env):
            continue
        out.append(str(Requirement(f"{req.name}{req.specifier}")))
    return out


def wheel_name(wheel: Path) -> str:
    from packaging.utils import parse_wheel_filename

    return canonical(parse_wheel_filename(wheel.name)[0])


def pip_command(requirements: list[str], *, platform: str, python: str, dest: Path, index: str | None) -> list[str]:
    major_minor = "".join(python.split(".")[:2])
    cmd = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--no-deps",
           "--python-version", python, "--implementation", "cp", "--abi", f"cp{major_minor}", "--abi", "abi3",
           "--abi", "none", "--dest", str(dest)]
    for tag in PLATFORMS[platform]:
        cmd += ["--platform", tag]
    if index:
        cmd += ["--index-url", index]
    return cmd + requirements


def torch_index(choice: str, platform: str) -> str | None:
    if choice == "cpu" or (choice == "auto" and platform == "linux-x64"):
        return CPU_INDEX
    return None


def fetch(platform: str, python: str, dest: Path, index_choice: str, dry_run: bool = False) -> int:
    dest.mkdir(parents=True, exist_ok=True)
    env = marker_environment(platform, python)
    from packaging.requirements import Requirement

    queue = root_requirements()
    seen: set[str] = set()
    while queue:
        level = []
        for text in queue:
            name = canonical(Requirement(text).name)
            if name not in seen and name not in NEVER:
                seen.add(name)
                level.append(text)
        if not level:
            break
        torch_reqs = [r for r in level if canonical(Requirement(r).name) in TORCH_PACKAGES]
        other_reqs = [r for r in level if r not in torch_reqs]
        for reqs, index in ((torch_reqs, torch_index(index_choice, platform)), (other_reqs, None)):
            if not reqs:
                continue
            cmd = pip_command(reqs, platform=platform, python=python, dest=dest, index=index)
            print("+ " + " ".join(cmd), file=sys.stderr, flush=True)
            if dry_run:
                continue
            if subprocess.run(cmd).returncode != 0:
                print(f"fetch_wheels: error: pip could not download {', '.join(reqs)} for {platform}", file=sys.stderr)
                return 1
        if dry_run:
            break  # dependencies are only known from the downloaded wheels
        wanted = {canonical(Requirement(r).name) for r in level}
        # the wheels of this level: new files, or files pip found already there
        wheels = [w for w in set(dest.glob("*.whl")) if wheel_name(w) in wanted and _fits(w, platform)]
        queue = [req for w in sorted(wheels) for req in wheel_requirements(w, env)]
    bundled = sorted(w.name for w in dest.glob("*.whl") if _fits(w, platform))
    numpy_wheels = [w for w in bundled if w.lower().startswith("numpy-")]
    if numpy_wheels:
        print(f"fetch_wheels: warning: remove {', '.join(numpy_wheels)}: Blender ships numpy", file=sys.stderr)
    if not dry_run:
        print(f"fetch_wheels: {len(bundled)} wheels for {platform} in {dest}", file=sys.stderr)
    return 0


def _fits(wheel: Path, platform: str) -> bool:
    """Whether a wheel's platform tag can run on this Blender platform (pure wheels fit everywhere)."""
    from packaging.utils import parse_wheel_filename

    tags = parse_wheel_filename(wheel.name)[3]
    plats = {t.platform for t in tags}
    if "any" in plats:
        return True
    key = {"linux-x64": ("linux", "x86_64"), "windows-x64": ("win", "amd64"), "macos-arm64": ("macosx", "arm64")}[platform]
    return any(p.startswith(key[0]) and (p.endswith(key[1]) or p.endswith("universal2")) for p in plats)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog="See the module docstring for sizes and what is fetched.")
    parser.add_argument("--platform", required=True, choices=sorted(PLATFORMS))
    parser.add_argument("--python", default="3.11", help="Blender's Python version (3.11 for Blender 4.2-4.5)")
    parser.add_argument("--dest", default=str(ROOT / "wheels"), help="download folder (default: wheels/)")
    parser.add_argument("--torch-index", choices=("auto", "pypi", "cpu"), default="auto",
                        help="where torch/torchvision come from: auto = CPU-only index on Linux, PyPI elsewhere")
    parser.add_argument("--dry-run", action="store_true", help="print the first pip commands, download nothing")
    args = parser.parse_args(argv)
    if args.torch_index == "pypi" and args.platform == "linux-x64":
        print("fetch_wheels: note: PyPI's Linux torch is the CUDA build: ~900 MB plus several GB of nvidia-* wheels",
              file=sys.stderr)
    return fetch(args.platform, args.python, Path(args.dest), args.torch_index, args.dry_run)


if __name__ == "__main__":
    sys.exit(main())
