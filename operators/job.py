"""Reconstructions in a long-lived worker process (`python -m engine.worker --serve`), polled from Blender.

No bpy here: the modal operator polls a WorkerJob from a window-manager timer, and the tests drive
the same classes directly.

- WorkerProcess: the worker. It keeps PyTorch and the last model loaded between jobs; requests go in
  on its stdin, one JSON line each, and its events come out on stdout, tagged with the job's ID.
  One process is shared (shared_worker()); it is started on the first job and started again after a
  cancel or a crash. stop_worker() ends it (add-on disabled, Blender quitting: atexit). If Blender
  dies, the worker sees its stdin close or its parent change, removes the jobs' folders and exits.
- WorkerJob: one reconstruction on that worker. It owns one temporary folder (the request's input
  image, when it comes from a datablock, and the result files) and removes it in cancel()/cleanup().
  Cancelling a running job kills the worker at once (the next job starts a fresh one): nothing
  cooperative to wait for, and a killed worker leaves only what the folder's removal takes away.
"""

from __future__ import annotations

import atexit
import collections
import dataclasses
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from ..engine.errors import first_line
from ..engine.request import Event, ReconstructionRequest
from ..engine.worker import JOB_FOLDER_PREFIX

WORKER_MODULE = "engine.worker"
POLL_SECONDS = 0.05  # how often the modal operator (and wait()) looks for events
FINAL_EVENTS = (Event.DONE, Event.ERROR, Event.EXIT)


class WorkerBusy(RuntimeError):
    """Another job is still running on the shared worker (one job at a time)."""


class WorkerProcess:
    """One `python -m engine.worker --serve` process: send() a message, read events from .events."""

    def __init__(self, python: str, pythonpath: list[str]):
        self.key = (python, tuple(pythonpath))
        self.events: queue.Queue = queue.Queue()
        self.stderr_tail: collections.deque = collections.deque(maxlen=20)
        self.job: WorkerJob | None = None  # the job it runs now
        flags = getattr(subprocess, "CREATE_NO_WINDOW", 0) if os.name == "nt" else 0
        self.process = subprocess.Popen(  # cwd, first on its sys.path: the add-on's root, first anyway
            [python, "-u", "-m", WORKER_MODULE, "--serve"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=pythonpath[0], env=_environment(pythonpath), creationflags=flags,
            text=True, encoding="utf-8", errors="replace", bufsize=1,
        )
        self.pid = self.process.pid
        self._readers = [threading.Thread(target=self._read_stdout, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for t in self._readers:
            t.start()

    def _read_stdout(self) -> None:
        for line in self.process.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                event = json.loads(line)
            except ValueError:  # stray output of a library: keep it for error messages only
                self.stderr_tail.append(line)
                continue
            if isinstance(event, dict):
                self.events.put(event)

    def _read_stderr(self) -> None:
        for line in self.process.stderr:
            if line.strip():
                self.stderr_tail.append(line.rstrip())

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    @property
    def busy(self) -> bool:
        return self.job is not None and self.job.running and self.alive

    @property
    def ended(self) -> bool:
        """The process has exited and all its output has been read."""
        if self.alive:
            return False
        for t in self._readers:
            t.join(timeout=1.0)
        return True

    def send(self, message: dict) -> None:
        """One message on the worker's stdin; a dead worker is reported by the job's poll() (EXIT)."""
        try:
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
        except (OSError, ValueError):
            pass

    def kill(self) -> None:
        if self.alive:
            self.process.kill()
        self._reap()

    def stop(self, grace: float = 1.0) -> None:
        """Close its stdin (it exits by itself, removing its jobs' folders); kill it after `grace` s."""
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        self.kill()

    def _reap(self) -> None:
        try:
            self.process.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            return
        for t in self._readers:
            t.join(timeout=1.0)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            try:
                stream.close()
            except (OSError, ValueError):
                pass

    def last_error_line(self) -> str:
        for line in reversed(self.stderr_tail):
            line = line.strip()
            if line and not line.startswith(("Traceback", "File ", "warnings.warn")):
                return line
        return ""


def _environment(pythonpath: list[str]) -> dict:
    env = dict(os.environ)
    old = env.get("PYTHONPATH")
    env["PYTHONPATH"] = os.pathsep.join(list(pythonpath) + ([old] if old else []))
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONIOENCODING"] = "utf-8"
    return env


_shared: WorkerProcess | None = None
_shared_lock = threading.Lock()


def shared_worker(python: str, pythonpath: list[str]) -> WorkerProcess:
    """The running shared worker, or a new one when there is none, it has died or it was started
    with another Python or module path."""
    global _shared
    with _shared_lock:
        if _shared is not None and (not _shared.alive or _shared.key != (python, tuple(pythonpath))):
            _shared.kill()  # not stop(): that would have it remove folders whose jobs may still be read
            _shared = None
        if _shared is None:
            _shared = WorkerProcess(python, pythonpath)
        return _shared


def stop_worker() -> None:
    """End the shared worker, if any (add-on disabled, Blender quitting)."""
    global _shared
    with _shared_lock:
        worker, _shared = _shared, None
    if worker is not None:
        worker.stop()


atexit.register(stop_worker)


def _worker_path(python: str | None, pythonpath: list[str] | None, engine_parent) -> tuple[str, list[str]]:
    # engine_parent: the folder that holds engine/ (the add-on's root); first on the worker's path
    parent = str(engine_parent or Path(__file__).resolve().parents[1])
    return python or sys.executable, [parent] + [p for p in (pythonpath or []) if p != parent]


def warm_up(request: ReconstructionRequest, *, python: str | None = None, pythonpath: list[str] | None = None,
            engine_parent: str | os.PathLike | None = None) -> WorkerProcess:
    """Start the shared worker now and have it load PyTorch and the request's model, so that the
    first job does not wait for them. Returns at once."""
    worker = shared_worker(*_worker_path(python, pythonpath, engine_parent))
    worker.send({"warm": {"model": request.model, "device": request.device}})
    return worker


def failure_message(event: dict) -> str:
    """The one line to report for a job's ERROR or EXIT event (the worker died: crashed, killed)."""
    if event.get("event") == Event.ERROR:
        return first_line(event.get("message") or "the reconstruction failed")
    return (f"the reconstruction worker stopped (exit status {event.get('returncode')}): "
            f"{first_line(event.get('stderr') or 'no message')}")


class WorkerJob:
    """One job on the shared worker. Life cycle: WorkerJob() -> write inputs into .tmpdir ->
    start(request) -> poll() until an event DONE/ERROR/EXIT -> load the result -> cleanup() (or cancel())."""

    def __init__(self, *, python: str | None = None, pythonpath: list[str] | None = None,
                 engine_parent: str | os.PathLike | None = None):
        self.python, self.pythonpath = _worker_path(python, pythonpath, engine_parent)
        self.id = uuid.uuid4().hex[:12]
        self.tmpdir = tempfile.mkdtemp(prefix=JOB_FOLDER_PREFIX)
        self.worker: WorkerProcess | None = None
        self.started = 0.0
        self.stage = "starting"
        self.fraction = 0.0
        self.over = False      # the worker is done with this job (DONE, ERROR or EXIT seen, or cancelled)
        self.finished = False  # cleaned up

    def path(self, name: str) -> str:
        return os.path.join(self.tmpdir, name)

    @property
    def process(self) -> subprocess.Popen | None:
        return self.worker.process if self.worker is not None else None

    @property
    def stderr_tail(self) -> collections.deque:
        return self.worker.stderr_tail if self.worker is not None else collections.deque()

    @property
    def running(self) -> bool:
        return self.worker is not None and not self.over

    def start(self, request: ReconstructionRequest) -> None:
        """Send `request` to the shared worker (its output, when it has none, goes into this job's folder)."""
        if not request.output:
            request = dataclasses.replace(request, output=self.path("result.npz"))
        message = {"job": self.id, "folder": self.tmpdir, "request": request.to_json()}
        if _shared is not None and _shared.busy:
            raise WorkerBusy("a reconstruction is already running; wait for it or cancel it (Esc)")
        worker = shared_worker(self.python, self.pythonpath)
        self.worker, worker.job = worker, self
        self.started = time.monotonic()
        worker.send(message)

    def poll(self) -> list[dict]:
        """This job's events since the last call. If the worker ends before the job does, one final
        {"event": Event.EXIT, "returncode": N, "stderr": "last line"} follows its last events."""
        if self.over or self.worker is None:
            return []
        ended = self.worker.ended  # first: every event it printed before it ended is queued by now
        out = []
        while not self.over:
            try:
                event = self.worker.events.get_nowait()
            except queue.Empty:
                break
            if event.get("job") != self.id:  # a warm-up's or an earlier job's
                continue
            if event.get("event") == Event.PROGRESS:
                self.stage = str(event.get("stage", self.stage))
                self.fraction = float(event.get("fraction", self.fraction))
            out.append(event)
            self.over = event.get("event") in FINAL_EVENTS
        if ended and not self.over:
            out.append({"event": Event.EXIT, "returncode": self.worker.process.returncode,
                        "stderr": self.worker.last_error_line()})
            self.over = True
        return out

    def wait(self, timeout: float | None = None, interval: float = POLL_SECONDS) -> list[dict]:
        """Poll until the job is over (tests and scripts); all its events in order."""
        deadline = None if timeout is None else time.monotonic() + timeout
        events = []
        while True:
            events += self.poll()
            if self.over:
                return events
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"worker job still running after {timeout} s")
            time.sleep(interval)

    def cancel(self) -> None:
        """Stop the job now (a running job: by killing the worker) and remove every file of the job."""
        if self.running:
            self.worker.kill()
            self.over = True
        if self.worker is not None and self.worker.job is self:
            self.worker.job = None
        self.finished = True
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    # after the result is loaded: the same thing (a job still running when released is cancelled)
    cleanup = cancel
