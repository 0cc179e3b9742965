"""The reconstruction worker (`python -m engine.worker`): as a plain one-request process (the
request on stdin or in a file, one JSON event per stdout line), and as the add-on's long-lived
worker driven through operators/job.py's WorkerJob, the class the modal operator polls. Real
processes, no Blender needed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

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
    ({"output": ""}, ["no 'output'"]),
    ({"resolution": "fine"}, ["'resolution'", "whole number"]),
    ({"preview": 8}, ["preview resolution 8", "32..1024"]),
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
    time.sleep(0.1)  # into the extraction (not so long that a fast machine finishes the job first)
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


def test_worker_reads_a_request_file_and_pixels_and_sends_a_preview_first(tmp_path, fixture_model, picture):
    from PIL import Image

    from engine.request import Event, ReconstructionRequest

    pixels = tmp_path / "pixels.npy"
    np.save(pixels, np.asarray(Image.open(picture), np.float32) / 255.0)
    request = ReconstructionRequest(image=str(pixels), image_name="box photo.png", output=str(tmp_path / "result.npz"),
                                    model=fixture_model, resolution=48, device="cpu", threads=1, preview=32)
    (tmp_path / "request.json").write_text(json.dumps(request.to_json()))
    proc = subprocess.run([sys.executable, "-m", "engine.worker", str(tmp_path / "request.json")], cwd=str(ROOT),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    events = events_of(proc.stdout)
    kinds = [e["event"] for e in events]
    assert kinds[0] == Event.STARTED and kinds[-1] == Event.DONE
    preview = events[kinds.index(Event.PREVIEW)]
    assert preview["resolution"] == 32 and 0 < preview["faces"] < events[-1]["faces"]
    assert events[-1]["image"] == "box photo.png" and events[-1]["resolution"] == 48
    with np.load(preview["output"]) as data:
        assert len(data["faces"]) == preview["faces"]
        assert "colours" not in data.files  # a preview stays clay


def test_save_mesh_writes_colours_as_srgb_bytes_only_when_given(tmp_path):
    from engine.worker import save_mesh

    vertices = np.zeros((4, 3), np.float32)
    faces = np.array([[0, 1, 2], [0, 2, 3]], np.int32)
    colours = np.array([[0.0, 1.0, 0.5], [0.2, 0.002, 0.998], [1.5, -0.1, 0.25], [0.49, 0.51, 1.0]], np.float32)
    save_mesh(str(tmp_path / "coloured.npz"), vertices, faces, colours)
    save_mesh(str(tmp_path / "clay.npz"), vertices, faces)
    with np.load(tmp_path / "coloured.npz") as data:
        assert sorted(data.files) == ["colours", "faces", "vertices"]
        assert data["colours"].dtype == np.uint8 and data["colours"].shape == (4, 3)
        expected = np.rint(np.clip(colours, 0, 1) * 255).astype(np.uint8)
        assert (data["colours"] == expected).all()
        assert data["colours"][0].tolist() == [0, 255, 128]
    with np.load(tmp_path / "clay.npz") as data:
        assert sorted(data.files) == ["faces", "vertices"]
    with pytest.raises(ValueError):
        save_mesh(str(tmp_path / "wrong.npz"), vertices, faces, colours[:3])
    assert not (tmp_path / "wrong.npz").exists()


# ---------------------------------------------------------------- the long-lived worker, through WorkerJob

def job_module():
    from tools.bench_worker import addon_module

    return addon_module("operators.job")


@pytest.fixture()
def jobs():
    """operators/job.py as the add-on runs it, with no shared worker before or after the test."""
    module = job_module()
    module.stop_worker()
    yield module
    module.stop_worker()


def box_request(picture, fixture_model, **change):
    from engine.request import ReconstructionRequest

    return ReconstructionRequest(**{"image": str(picture), "model": fixture_model, "resolution": 48, "device": "cpu",
                                    "threads": 1, **change})


def run_job(jobs, request, timeout=300) -> tuple[list[dict], float]:
    t0 = time.perf_counter()
    job = jobs.WorkerJob()
    job.start(request)
    events = job.wait(timeout=timeout)
    seconds = time.perf_counter() - t0
    if events[-1]["event"] == "done":
        with np.load(events[-1]["output"]) as data:
            assert len(data["faces"]) == events[-1]["faces"]  # complete, as its name promises
    job.cleanup()
    assert not Path(job.tmpdir).exists()
    return events, seconds


def start_long_job(jobs, request, wait_for="extract"):
    """A job well into its work: the event that shows it (a progress of stage `wait_for`, or a preview)."""
    job = jobs.WorkerJob()
    job.start(request)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for event in job.poll():
            assert event["event"] not in ("done", "error", "exit"), event
            if event["event"] == wait_for or event.get("stage") == wait_for:
                return job
        time.sleep(0.05)
    pytest.fail(f"no {wait_for} within 120 s")


def process_gone(pid: int) -> bool:
    """The process has exited (a zombie nobody has reaped yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            return any(line.split()[:2] == ["State:", "Z"] for line in fh)
    except FileNotFoundError:
        return True


def test_two_jobs_in_a_row_run_in_one_worker_the_second_faster(jobs, picture, fixture_model):
    first, first_seconds = run_job(jobs, box_request(picture, fixture_model))
    second, second_seconds = run_job(jobs, box_request(picture, fixture_model, resolution=40))
    for events in (first, second):
        assert [e["event"] for e in events][0] == "started" and events[-1]["event"] == "done"
        assert len({e["job"] for e in events}) == 1  # every event tagged with its job
    assert first[0]["job"] != second[0]["job"]
    assert first[0]["pid"] == second[0]["pid"], "the second job started another worker"
    assert second[-1]["resolution"] == 40
    # the first job started the worker, imported PyTorch and loaded the model; the second did not
    assert second_seconds < first_seconds
    assert second[-1]["seconds"]["load"] < first[-1]["seconds"]["load"]


def colour_result(jobs, request) -> tuple[dict, list[str], np.ndarray | None, int]:
    """DONE, the result file's keys, its colours (or None) and its vertex count."""
    job = jobs.WorkerJob()
    job.start(request)
    events = job.wait(timeout=300)
    try:
        assert events[-1]["event"] == "done", events[-1]
        with np.load(events[-1]["output"]) as data:
            colours = np.array(data["colours"]) if "colours" in data.files else None
            return events[-1], sorted(data.files), colours, len(data["vertices"])
    finally:
        job.cleanup()


def test_worker_result_has_no_colours_when_colour_is_off(jobs, picture, fixture_model):
    done, keys, _, _ = colour_result(jobs, box_request(picture, fixture_model, colour=False, resolution=40))
    assert keys == ["faces", "vertices"] and done["colour"] is False


def test_worker_result_has_srgb_byte_colours_when_colour_is_on(jobs, picture, fixture_model):
    """Fails while the engine returns no colours (Reconstruction.colours None)."""
    done, keys, colours, n_vertices = colour_result(jobs, box_request(picture, fixture_model, colour=True,
                                                                      resolution=40))
    assert keys == ["colours", "faces", "vertices"], "colour on, but the worker wrote a clay mesh"
    assert done["colour"] is True
    assert colours.dtype == np.uint8 and colours.shape == (n_vertices, 3)
    # the picture is one orange object (200, 80, 40) on transparency: its colours are orange-ish
    assert (colours[:, 0].astype(int) > colours[:, 2]).mean() > 0.5


def test_warm_up_loads_the_model_before_the_first_job(jobs, picture, fixture_model):
    cold, _ = run_job(jobs, box_request(picture, fixture_model))
    jobs.stop_worker()
    worker = jobs.warm_up(box_request(picture, fixture_model))  # what the panel asks for when first drawn
    warm, _ = run_job(jobs, box_request(picture, fixture_model))  # queued behind the warm-up
    assert warm[-1]["event"] == "done" and warm[0]["pid"] == worker.pid != cold[0]["pid"]
    assert warm[-1]["seconds"]["load"] < cold[-1]["seconds"]["load"] / 2


def test_cancel_kills_the_worker_and_the_next_job_starts_a_fresh_one(jobs, picture, fixture_model):
    job = start_long_job(jobs, box_request(picture, fixture_model, resolution=1024))
    pid = job.process.pid
    t0 = time.perf_counter()
    job.cancel()
    assert time.perf_counter() - t0 < 5
    assert job.process.returncode is not None and process_gone(pid)
    assert not Path(job.tmpdir).exists() and job.poll() == []
    events, _ = run_job(jobs, box_request(picture, fixture_model))
    assert events[-1]["event"] == "done" and events[0]["pid"] != pid


@pytest.mark.parametrize("change, words", [
    ({"image": "/no/such/picture.png"}, ["picture.png", "does not exist"]),
    ({"resolution": 8}, ["resolution 8", "32..1024"]),
])
def test_a_bad_request_is_one_error_line_and_the_worker_goes_on(jobs, picture, fixture_model, change, words):
    bad, _ = run_job(jobs, box_request(picture, fixture_model, **change))
    assert bad[0]["event"] == "started" and bad[-1]["event"] == "error" and bad[-1]["kind"] == "input"
    message = jobs.failure_message(bad[-1])
    assert "\n" not in message and all(word in message for word in words), message
    good, _ = run_job(jobs, box_request(picture, fixture_model))
    assert good[-1]["event"] == "done" and good[0]["pid"] == bad[0]["pid"]


def test_a_killed_worker_is_one_error_line_and_the_next_job_works(jobs, picture, fixture_model):
    job = start_long_job(jobs, box_request(picture, fixture_model, resolution=1024))
    pid = job.process.pid
    os.kill(pid, signal.SIGKILL)
    events = job.wait(timeout=30)
    assert events[-1]["event"] == "exit" and events[-1]["returncode"] != 0
    message = jobs.failure_message(events[-1])
    assert "\n" not in message and "worker stopped" in message, message
    job.cleanup()
    assert not Path(job.tmpdir).exists()
    again, _ = run_job(jobs, box_request(picture, fixture_model))
    assert again[-1]["event"] == "done" and again[0]["pid"] != pid


def test_one_job_at_a_time(jobs, picture, fixture_model):
    job = start_long_job(jobs, box_request(picture, fixture_model, resolution=1024))
    other = jobs.WorkerJob()
    with pytest.raises(jobs.WorkerBusy):
        other.start(box_request(picture, fixture_model))
    other.cleanup()
    job.cancel()


def test_stop_worker_ends_the_process(jobs, picture, fixture_model):
    events, _ = run_job(jobs, box_request(picture, fixture_model))
    worker = jobs.shared_worker(*jobs._worker_path(None, None, None))
    assert worker.pid == events[0]["pid"] and worker.alive
    t0 = time.perf_counter()
    jobs.stop_worker()
    assert time.perf_counter() - t0 < 3 and process_gone(worker.pid)


PARENT = """
import json, subprocess, sys, time
sys.path.insert(0, {root!r})
from tools.bench_worker import addon_module
jobs = addon_module("operators.job")
Request = addon_module("engine.request").ReconstructionRequest
job = jobs.WorkerJob()
job.start(Request(image={image!r}, model={model!r}, resolution={resolution}, preview=32, device="cpu", threads=1))
holder = None
if {idle!r}:  # another process keeps the worker's stdin open: only the parent-pid watchdog can tell
    holder = subprocess.Popen(["sleep", "60"], pass_fds=[job.worker.process.stdin.fileno()]).pid
while True:
    for event in job.poll():
        if event["event"] == {report!r}:
            print(json.dumps({{"pid": job.process.pid, "folder": job.tmpdir, "holder": holder,
                              "files": sorted(p.name for p in __import__("pathlib").Path(job.tmpdir).iterdir())}}),
                  flush=True)
        elif event["event"] in ("done", "error", "exit"):
            sys.exit(1)
    time.sleep(0.05)
"""


@pytest.mark.parametrize("idle", [False, True], ids=["mid-job, stdin closes", "idle, parent pid changes"])
def test_worker_removes_the_job_folder_and_exits_when_its_parent_is_killed(tmp_path, picture, fixture_model, idle):
    """Blender killed (kill -9) during a reconstruction: the worker sees its stdin close (or its
    output pipe break). Killed while the worker is idle, with its stdin held open by another
    process, and the last job's folder not yet removed: the parent-pid watchdog."""
    script = tmp_path / "parent.py"
    script.write_text(PARENT.format(root=str(ROOT), image=str(picture), model=fixture_model, idle=idle,
                                    resolution=48 if idle else 1024, report="done" if idle else "preview"))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    info = {}
    try:
        info = json.loads(parent.stdout.readline())
        assert "preview.npz" in info["files"], info
        parent.send_signal(signal.SIGKILL)  # kill -9: no atexit, no cleanup in the parent
        parent.wait(timeout=10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not (process_gone(info["pid"]) and not Path(info["folder"]).exists()):
            time.sleep(0.1)
        assert process_gone(info["pid"]), "the worker outlived its parent"
        assert not Path(info["folder"]).exists(), "the job folder stayed behind"
    finally:
        parent.kill()
        parent.stdout.close()
        for pid in (info.get("pid"), info.get("holder")):
            if pid and not process_gone(pid):
                os.kill(pid, signal.SIGKILL)
