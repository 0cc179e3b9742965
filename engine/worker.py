"""Reconstruction worker for the Blender add-on: `python -m engine.worker [--serve | REQUEST.json]`.

Blender's panel button runs reconstructions in this separate process, so the interface never
freezes and Esc can stop one at once (the add-on kills the process). Three ways to run it:

- `--serve` (what the add-on starts): a long-lived process that keeps PyTorch and the last model
  loaded. Stdin carries one JSON object per line, run one at a time in order:

      {"job": "ID", "folder": "/tmp/imdec-job-xyz", "request": {...}}   # a reconstruction
      {"warm": {"model": "", "device": "auto"}}                         # load torch and a model now

  Every event of a job carries its "job" ID. A bad request is that job's error; the worker goes on.
  When stdin closes, stdout breaks or the parent process changes (Blender quit or was killed), the
  worker drops the running and queued jobs, removes the folders of its jobs (only folders named
  imdec-job-*) and exits at once.
- `REQUEST.json`: one request from that file, then exit (scripts, tests).
- no argument: one request read from stdin until it closes, then exit.

A request is one JSON object (engine.request.ReconstructionRequest.to_json(); a missing key takes
its default):

    {"image": "photo.png" | "pixels.npy",   # .npy: float32/uint8 [H, W, C], rows top to bottom
     "image_name": "photo.png",             # optional, for messages
     "output": "/tmp/x/result.npz",         # where the mesh goes (see "Result files" below)
     "model": "" | name | path, "resolution": 128, "threshold": 0.5, "device": "auto"|"cpu"|"cuda",
     "threads": 0,                          # CPU threads for PyTorch, 0 = all
     "preview": 0,                          # > 0 and < resolution: a coarse mesh first, at this resolution
     "colour": true}                        # the picture's colours on the vertices; false: clay

Stdout carries one JSON object per line (the names are engine.request.Event):

    {"event": "started", "pid": 1234}
    {"event": "progress", "stage": "extract", "fraction": 0.42}
    {"event": "preview", "output": ".../preview.npz", "vertices": V, "faces": F}
    {"event": "done", "output": ".../result.npz", ...Reconstruction.to_json()...}
    {"event": "error", "kind": "input"|"internal", "message": "one line"}

Result files (`output`, and `preview.npz` next to it) are numpy .npz archives with the keys

    vertices  float32 [V, 3]   normalised frame (Z up, front -Y)
    faces     int32 [F, 3]     indices into vertices, outward facing
    colours   uint8 [V, 3]     sRGB 0..255 per vertex, round(c * 255) of the engine's 0..1 colours;
                               only when the request has "colour" on and the engine coloured the
                               mesh (absent: clay). A preview never has it: it stays clay.

Exit status of a one-request worker: 0 success; 2 bad input (the message also as one line on
stderr); 1 internal error. Result files are written under a temporary name and renamed, and a
terminated worker (SIGTERM) removes its partial files, so a result file that exists is complete.
"""

from __future__ import annotations

import dataclasses
import json
import os
import queue
import shutil
import signal
import sys
import threading
import time
import traceback
from typing import Callable

from .errors import InputError, first_line
from .files import atomic_write, remove_partial_files, require_file
from .request import Event, ReconstructionRequest

JOB_FOLDER_PREFIX = "imdec-job-"  # the only folders a worker removes when its parent dies
PARENT_CHECK_SECONDS = 0.5
_WRITING = threading.Lock()  # held while a result file is written: the parent-death cleanup waits for it


def emit(event: str, **fields) -> None:
    print(json.dumps({"event": event, **fields}), flush=True)


class ProgressThrottle:
    """Forward engine progress as JSON lines, at most every `interval` seconds per stage."""

    def __init__(self, offset: float = 0.0, scale: float = 1.0, interval: float = 0.1, tag: dict | None = None):
        self.offset, self.scale, self.interval = offset, scale, interval
        self.tag = tag or {}
        self.last = (None, -1.0)

    def __call__(self, stage: str, fraction: float) -> None:
        now = time.monotonic()
        if stage == self.last[0] and now - self.last[1] < self.interval and fraction < 1.0:
            return
        self.last = (stage, now)
        emit(Event.PROGRESS, **self.tag, stage=stage,
             fraction=round(self.offset + self.scale * float(fraction), 4))


def parse_request(data) -> ReconstructionRequest:
    """A validated request from its JSON object (InputError with one line otherwise)."""
    if not isinstance(data, dict):
        raise InputError("the worker request must be a JSON object with at least 'image' and 'output'")
    for key in ("image", "output"):
        if not data.get(key):
            raise InputError(f"the worker request has no '{key}'")
    request = ReconstructionRequest.from_json(data)
    request.validate()  # fail fast, before loading anything
    return request


def read_request(argv: list[str]) -> ReconstructionRequest:
    try:
        if argv:
            with open(argv[0], encoding="utf-8") as fh:
                data = json.load(fh)
        else:
            data = json.loads(sys.stdin.read() or "null")
    except OSError as exc:
        raise InputError(f"cannot read the worker request {argv[0]}: {exc.strerror}") from None
    except ValueError as exc:
        raise InputError(f"the worker request is not valid JSON ({exc})") from None
    return parse_request(data)


def load_input(path: str):
    """The image argument for the engine: the path, or the array from a .npy file."""
    if path.lower().endswith(".npy"):
        import numpy as np

        require_file(path, "image", "a pixel array file")  # a named pipe would block np.load forever
        try:
            return np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise InputError(f"image {path} does not exist") from None
        except (OSError, ValueError) as exc:
            raise InputError(f"image {path} is not a readable pixel array ({exc})") from None
    return path


def colour_bytes(colours):
    """The engine's float sRGB colours in 0..1 [V, 3] as the file's uint8 0..255 (rounded, clipped)."""
    import numpy as np

    colours = np.asarray(colours, np.float32).reshape(-1, 3)
    return np.ascontiguousarray(np.rint(np.clip(np.nan_to_num(colours), 0.0, 1.0) * 255.0).astype(np.uint8))


def save_mesh(path: str, vertices, faces, colours=None) -> None:
    """One result file (keys in the module docstring); `colours` None: clay, no `colours` key."""
    import numpy as np

    arrays = {"vertices": np.ascontiguousarray(vertices, np.float32), "faces": np.ascontiguousarray(faces, np.int32)}
    if colours is not None:
        arrays["colours"] = colour_bytes(colours)
        if len(arrays["colours"]) != len(arrays["vertices"]):
            raise ValueError(f"{len(arrays['colours'])} vertex colours for {len(arrays['vertices'])} vertices")
    with _WRITING, atomic_write(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)


def _on_terminate(signum, frame):  # noqa: ARG001
    raise SystemExit(128 + signum)


def send_preview(request: ReconstructionRequest, tag: dict) -> bool:
    """The coarse mesh first, clay (not worth colouring: the full mesh replaces it soon); False when
    there is none (a surface too thin for the coarse grid may still come out at the full resolution,
    which then says whether it is empty)."""
    from .reconstruct import reconstruct_request

    try:
        coarse = reconstruct_request(dataclasses.replace(request, resolution=request.preview, colour=False),
                                     progress=ProgressThrottle(0.0, 0.2, tag=tag))
    except InputError:
        return False
    preview_path = os.path.join(os.path.dirname(os.path.abspath(request.output)), "preview.npz")
    save_mesh(preview_path, coarse.vertices, coarse.faces)
    emit(Event.PREVIEW, **tag, output=preview_path, vertices=int(len(coarse.vertices)),
         faces=int(len(coarse.faces)), resolution=request.preview)
    return True


def run(request: ReconstructionRequest, tag: dict | None = None) -> dict:
    """Reconstruct the request into its output file (and a preview first, when asked); DONE's fields."""
    from .reconstruct import reconstruct_request

    tag = tag or {}
    request = dataclasses.replace(request, image=load_input(request.image),
                                  image_name=request.image_name or os.path.basename(request.image))
    progress = ProgressThrottle(tag=tag)
    if 0 < request.preview < request.resolution and send_preview(request, tag):
        progress = ProgressThrottle(0.2, 0.8, tag=tag)
    result = reconstruct_request(request, progress=progress)
    save_mesh(request.output, result.vertices, result.faces, result.colours)
    info = result.to_json()
    info["output"] = request.output
    return info


def run_reporting(work: Callable[[], dict], tag: dict | None = None) -> int:
    """Run work() and emit DONE with what it returns, or one ERROR line; the one-request exit status.
    BrokenPipeError (nobody listens any more) is left to the caller."""
    tag = tag or {}
    try:
        emit(Event.DONE, **tag, **work())
        return 0
    except InputError as exc:
        emit(Event.ERROR, **tag, kind="input", message=str(exc))
        print(f"imdec: error: {exc}", file=sys.stderr, flush=True)
        return 2
    except BrokenPipeError:
        raise
    except Exception as exc:  # internal error: one line for the user, the traceback on stderr
        message = f"internal error: {type(exc).__name__}: {first_line(exc)}"
        emit(Event.ERROR, **tag, kind="internal", message=message)
        traceback.print_exc()
        print(f"imdec: {message}", file=sys.stderr, flush=True)
        return 1
    finally:
        remove_partial_files()


class Server:
    """`--serve`: one process, jobs in on stdin (read by a thread), events out; a watchdog thread
    notices when the parent has gone and removes the jobs' folders."""

    def __init__(self):
        self.messages: queue.Queue = queue.Queue()
        self.folders: set[str] = set()  # every job folder this worker was given
        self.parent = os.getppid()

    def serve(self) -> int:
        threading.Thread(target=self._read_stdin, daemon=True).start()
        if os.name != "nt":  # on Windows the parent pid never changes; stdin closing is the signal
            threading.Thread(target=self._watch_parent, daemon=True).start()
        try:
            while True:
                self._handle(self.messages.get())
        except (BrokenPipeError, ValueError):  # stdout is gone (ValueError: closed): so is the parent
            self.parent_gone()
        return 0

    def _read_stdin(self) -> None:
        for line in sys.stdin:
            if line.strip():
                self.messages.put(line)
        self.parent_gone()

    def _watch_parent(self) -> None:
        while os.getppid() == self.parent:
            time.sleep(PARENT_CHECK_SECONDS)
        self.parent_gone()

    def parent_gone(self) -> None:
        """Remove the jobs' folders (after a result file being written is complete) and exit now."""
        _WRITING.acquire(timeout=30)
        remove_partial_files()
        for folder in list(self.folders):
            if os.path.basename(folder.rstrip("/\\")).startswith(JOB_FOLDER_PREFIX):
                shutil.rmtree(folder, ignore_errors=True)
        os._exit(0)

    def _handle(self, line: str) -> None:
        try:
            message = json.loads(line)
        except ValueError as exc:
            emit(Event.ERROR, job=None, kind="input", message=f"the worker message is not valid JSON ({exc})")
            return
        if not isinstance(message, dict):
            emit(Event.ERROR, job=None, kind="input", message="a worker message must be a JSON object")
        elif "warm" in message:
            warm_up(message["warm"])
        else:
            self._job(message)

    def _job(self, message: dict) -> None:
        tag = {"job": message.get("job")}
        if message.get("folder"):
            self.folders.add(os.path.abspath(str(message["folder"])))
        emit(Event.STARTED, **tag, pid=os.getpid())
        run_reporting(lambda: run(parse_request(message.get("request")), tag), tag)


def warm_up(settings) -> None:
    """Import PyTorch and load the model a job is likely to ask for; a failure is the job's to report."""
    try:
        from .device import pick_device
        from .reconstruct import cached_model

        settings = settings if isinstance(settings, dict) else {}
        cached_model(settings.get("model") or None, pick_device(settings.get("device") or "auto"))
    except Exception:  # noqa: BLE001
        pass


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    signal.signal(signal.SIGTERM, _on_terminate)
    if hasattr(signal, "SIGBREAK"):  # Windows console close / Ctrl+Break
        signal.signal(signal.SIGBREAK, _on_terminate)
    try:
        if argv and argv[0] == "--serve":
            return Server().serve()
        emit(Event.STARTED, pid=os.getpid())
        return run_reporting(lambda: run(read_request(argv)))
    except (KeyboardInterrupt, SystemExit) as exc:
        return exc.code if isinstance(exc, SystemExit) and isinstance(exc.code, int) else 130
    except BrokenPipeError:  # Blender went away: nobody is listening any more
        return 1
    finally:
        remove_partial_files()


if __name__ == "__main__":
    sys.exit(main())
