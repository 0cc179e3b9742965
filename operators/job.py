"""A reconstruction running in a worker process (`python -m engine.worker`), polled from Blender.

No bpy here: the modal operator polls a WorkerJob from a window-manager timer, and the tests drive
the same class directly. The job owns one temporary folder (the request's input image, when it
comes from a datablock, and the result files); cancel() and cleanup() remove it, so a cancelled or
failed job leaves nothing behind.
"""

from __future__ import annotations

import collections
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

WORKER_MODULE = "engine.worker"


class WorkerJob:
    """One worker process. Life cycle: WorkerJob() -> write inputs into .tmpdir -> start(request)
    -> poll() until an event "done"/"error"/"exit" -> load the result -> cleanup() (or cancel())."""

    def __init__(self, *, python: str | None = None, pythonpath: list[str] | None = None,
                 engine_parent: str | os.PathLike | None = None):
        # engine_parent: the folder that holds engine/ (the add-on's root); first on the worker's path
        self.python = python or sys.executable
        self.engine_parent = str(engine_parent or Path(__file__).resolve().parents[1])
        self.pythonpath = [self.engine_parent] + [p for p in (pythonpath or []) if p != self.engine_parent]
        self.tmpdir = tempfile.mkdtemp(prefix="imdec-job-")
        self.process: subprocess.Popen | None = None
        self.events: queue.Queue = queue.Queue()
        self.stderr_tail: collections.deque = collections.deque(maxlen=20)
        self.started = 0.0
        self.stage = "starting"
        self.fraction = 0.0
        self.finished = False
        self._threads: list[threading.Thread] = []
        self._exit_reported = False

    def path(self, name: str) -> str:
        return os.path.join(self.tmpdir, name)

    def environment(self) -> dict:
        env = dict(os.environ)
        old = env.get("PYTHONPATH")
        parts = list(self.pythonpath) + ([old] if old else [])
        env["PYTHONPATH"] = os.pathsep.join(parts)
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONIOENCODING"] = "utf-8"
        return env

    def start(self, request: dict) -> None:
        request = dict(request)
        request.setdefault("output", self.path("result.npz"))
        flags = getattr(subprocess, "CREATE_NO_WINDOW", 0) if os.name == "nt" else 0
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [self.python, "-u", "-m", WORKER_MODULE],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            cwd=self.tmpdir, env=self.environment(), creationflags=flags,
            text=True, encoding="utf-8", errors="replace", bufsize=1,
        )
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for t in self._threads:
            t.start()
        try:
            self.process.stdin.write(json.dumps(request))
            self.process.stdin.close()
        except OSError:  # the worker died at once; poll() reports its exit status and stderr
            pass

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
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def poll(self) -> list[dict]:
        """Events received since the last call. When the process has ended and its output is read,
        one final {"event": "exit", "returncode": N, "stderr": "last line"} follows the worker's own."""
        out = []
        ended = self.process is not None and self.process.poll() is not None
        if ended:
            for t in self._threads:
                t.join(timeout=1.0)
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                break
            if event.get("event") == "progress":
                self.stage = str(event.get("stage", self.stage))
                self.fraction = float(event.get("fraction", self.fraction))
            out.append(event)
        if ended and not self._exit_reported:
            self._exit_reported = True
            out.append({"event": "exit", "returncode": self.process.returncode,
                        "stderr": self.last_error_line()})
        return out

    def last_error_line(self) -> str:
        for line in reversed(self.stderr_tail):
            line = line.strip()
            if line and not line.startswith(("Traceback", "File ", "warnings.warn")):
                return line
        return ""

    def wait(self, timeout: float | None = None, interval: float = 0.05) -> list[dict]:
        """Poll until the process has ended (tests and scripts); all events in order."""
        deadline = None if timeout is None else time.monotonic() + timeout
        events = []
        while True:
            events += self.poll()
            if self._exit_reported:
                return events
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"worker still running after {timeout} s")
            time.sleep(interval)

    def cancel(self) -> None:
        """Stop the worker (terminate, then kill) and remove every file of the job."""
        proc = self.process
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=3.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5.0)
        self.cleanup()

    def cleanup(self) -> None:
        self.finished = True
        proc = self.process
        if proc is not None and proc.poll() is not None:
            for t in self._threads:
                t.join(timeout=1.0)
            if not any(t.is_alive() for t in self._threads):
                for stream in (proc.stdout, proc.stderr):
                    try:
                        if stream is not None:
                            stream.close()
                    except OSError:
                        pass
        shutil.rmtree(self.tmpdir, ignore_errors=True)
