"""Reconstruction worker for the Blender add-on: `python -m engine.worker [REQUEST.json]`.

Blender's panel button runs a reconstruction in this separate process, so the interface never
freezes and Esc can stop it at once (the add-on kills the process). The request is one JSON object,
read from the file named on the command line or else from stdin:

    {"image": "photo.png" | "pixels.npy",   # .npy: float32/uint8 [H, W, C], rows top to bottom
     "image_name": "photo.png",             # optional, for messages
     "output": "/tmp/x/result.npz",         # where the mesh goes (vertices float32 [V,3], faces int32 [F,3])
     "model": "" | name | path, "resolution": 128, "threshold": 0.5, "device": "auto"|"cpu"|"cuda",
     "threads": 0,                          # CPU threads for PyTorch, 0 = all
     "preview": 0}                          # > 0 and < resolution: a coarse mesh first, at this resolution

Stdout carries one JSON object per line:

    {"event": "started", "pid": 1234}
    {"event": "progress", "stage": "extract", "fraction": 0.42}
    {"event": "preview", "output": ".../preview.npz", "vertices": V, "faces": F}
    {"event": "done", "output": ".../result.npz", ...Reconstruction.to_json()...}
    {"event": "error", "kind": "input"|"internal", "message": "one line"}

Exit status: 0 success; 2 bad input (the message also as one line on stderr); 1 internal error.
Result files are written under a temporary name and renamed, and a terminated worker (SIGTERM)
removes its partial files, so a result file that exists is always complete.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import traceback

from .errors import InputError, first_line
from .files import atomic_write, remove_partial_files


def emit(event: str, **fields) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


class ProgressThrottle:
    """Forward engine progress as JSON lines, at most every `interval` seconds per stage."""

    def __init__(self, offset: float = 0.0, scale: float = 1.0, interval: float = 0.1):
        self.offset, self.scale, self.interval = offset, scale, interval
        self.last = (None, -1.0)

    def __call__(self, stage: str, fraction: float) -> None:
        now = time.monotonic()
        if stage == self.last[0] and now - self.last[1] < self.interval and fraction < 1.0:
            return
        self.last = (stage, now)
        emit("progress", stage=stage, fraction=round(self.offset + self.scale * float(fraction), 4))


def read_request(argv: list[str]) -> dict:
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        raise SystemExit(0)
    try:
        if argv:
            with open(argv[0], encoding="utf-8") as fh:
                request = json.load(fh)
        else:
            request = json.loads(sys.stdin.read() or "null")
    except OSError as exc:
        raise InputError(f"cannot read the worker request {argv[0]}: {exc.strerror}") from None
    except ValueError as exc:
        raise InputError(f"the worker request is not valid JSON ({exc})") from None
    if not isinstance(request, dict):
        raise InputError("the worker request must be a JSON object with at least 'image' and 'output'")
    for key in ("image", "output"):
        if not request.get(key):
            raise InputError(f"the worker request has no '{key}'")
    return request


def load_input(request: dict):
    """The image argument for engine.reconstruct: a path, or the array from a .npy file."""
    image = str(request["image"])
    if image.lower().endswith(".npy"):
        import numpy as np

        try:
            return np.load(image, allow_pickle=False)
        except FileNotFoundError:
            raise InputError(f"image {image} does not exist") from None
        except (OSError, ValueError) as exc:
            raise InputError(f"image {image} is not a readable pixel array ({exc})") from None
    return image


def save_mesh(path: str, vertices, faces) -> None:
    import numpy as np

    with atomic_write(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, vertices=np.ascontiguousarray(vertices, np.float32),
                 faces=np.ascontiguousarray(faces, np.int32))


def _on_terminate(signum, frame):  # noqa: ARG001
    raise SystemExit(128 + signum)


def run(request: dict) -> dict:
    from .request import validate_request
    from .reconstruct import reconstruct

    resolution = int(request.get("resolution", 128))
    threshold = float(request.get("threshold", 0.5))
    validate_request(resolution=resolution, threshold=threshold)  # fail fast, before loading anything
    threads = int(request.get("threads") or 0)
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
    image = load_input(request)
    name = request.get("image_name") or os.path.basename(str(request["image"]))
    common = dict(model=request.get("model") or None, threshold=threshold,
                  device=str(request.get("device") or "auto").lower(), image_name=name)
    output = str(request["output"])
    preview = int(request.get("preview") or 0)
    if 0 < preview < resolution:
        coarse = reconstruct(image, resolution=preview, progress=ProgressThrottle(0.0, 0.2), **common)
        preview_path = os.path.join(os.path.dirname(os.path.abspath(output)), "preview.npz")
        save_mesh(preview_path, coarse.vertices, coarse.faces)
        emit("preview", output=preview_path, vertices=int(len(coarse.vertices)), faces=int(len(coarse.faces)),
             resolution=preview)
        progress = ProgressThrottle(0.2, 0.8)
    else:
        progress = ProgressThrottle()
    result = reconstruct(image, resolution=resolution, progress=progress, **common)
    save_mesh(output, result.vertices, result.faces)
    info = result.to_json()
    info["output"] = output
    return info


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    signal.signal(signal.SIGTERM, _on_terminate)
    if hasattr(signal, "SIGBREAK"):  # Windows console close / Ctrl+Break
        signal.signal(signal.SIGBREAK, _on_terminate)
    try:
        emit("started", pid=os.getpid())
        request = read_request(argv)
        info = run(request)
        emit("done", **info)
        return 0
    except InputError as exc:
        emit("error", kind="input", message=str(exc))
        print(f"imdec: error: {exc}", file=sys.stderr, flush=True)
        return 2
    except (KeyboardInterrupt, SystemExit) as exc:
        code = exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, int) else 130
        return code
    except BrokenPipeError:  # Blender went away: nobody is listening any more
        return 1
    except Exception as exc:  # internal error: one line for the user, the traceback on stderr
        message = f"internal error: {type(exc).__name__}: {first_line(exc)}"
        try:
            emit("error", kind="internal", message=message)
        except OSError:
            pass
        traceback.print_exc()
        print(f"imdec: {message}", file=sys.stderr, flush=True)
        return 1
    finally:
        remove_partial_files()


if __name__ == "__main__":
    sys.exit(main())
