"""imdec engine: single-image 3D reconstruction with an implicit occupancy decoder.

Plain Python + PyTorch; never imports bpy. Run ``python -m engine --help`` for the command line.
The layers, each importing only those above it:

- errors, request, model_files, files, frame: torch-free contracts (the add-on's interface uses them);
- device, model, checkpoint, images, extract/, mesh_files: the runtime pieces;
- reconstruct, worker: image to mesh, in this process or as the add-on's worker process;
- data/, training/, evaluation/, bench/: making data, training, measuring (never imported at run time);
- cli/: the command line, the only place that parses arguments.
"""

from pathlib import Path as _Path


def _manifest_version() -> str:
    """The extension's version, from blender_manifest.toml beside engine/ (the one place it is set)."""
    import tomllib

    try:
        with open(_Path(__file__).resolve().parents[1] / "blender_manifest.toml", "rb") as f:
            return str(tomllib.load(f)["version"])
    except (OSError, KeyError, ValueError):
        return "0+unknown"


__version__ = _manifest_version()
