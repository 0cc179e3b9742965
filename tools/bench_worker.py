#!/usr/bin/env python3
"""Click to mesh through the add-on's worker (operators/job.py WorkerJob, as the modal operator
drives it), next to the engine in this process (engine.reconstruct.reconstruct):

    python tools/bench_worker.py [--image docs/samples/chair.png] [--model imdec-6cat] [--repeats 5] [--threads 0]

For each resolution: the first job (a fresh worker: start, import PyTorch, load the model), the
following jobs on the same worker, and the in-process time with the model loaded. A job is timed
from WorkerJob() to the result arrays loaded here, polling as often as the modal operator does.
"""

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def addon_module(name: str):
    """A module of the add-on package (the repository root) without Blender, e.g. "operators.job"."""
    if "imdec_addon" not in sys.modules:
        spec = importlib.util.spec_from_file_location("imdec_addon", ROOT / "__init__.py",
                                                      submodule_search_locations=[str(ROOT)])
        sys.modules["imdec_addon"] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules["imdec_addon"])
    return importlib.import_module(f"imdec_addon.{name}")


def click_to_mesh(job_mod, request) -> dict:
    """Seconds from a new job to its mesh in memory, the engine's own seconds in the worker, its pid."""
    import numpy as np

    t0 = time.perf_counter()
    job = job_mod.WorkerJob()
    try:
        job.start(request)
        events = job.wait(timeout=600, interval=job_mod.POLL_SECONDS)
        done = [e for e in events if e.get("event") == "done"]
        if not done:
            raise RuntimeError(f"the job failed: {events[-1]}")
        with np.load(done[0]["output"]) as data:
            np.array(data["vertices"]), np.array(data["faces"])
        return {"seconds": time.perf_counter() - t0, "engine": done[0]["seconds"]["total"], "pid": events[0]["pid"]}
    finally:
        job.cleanup()


def in_process(request) -> float:
    from engine.reconstruct import reconstruct_request

    t0 = time.perf_counter()
    reconstruct_request(request)
    return time.perf_counter() - t0


def bench(image: str, model: str, resolutions: list[int], repeats: int, threads: int = 0) -> list[dict]:
    """Per resolution: a first job on a fresh worker, then `repeats` jobs on it, each followed by
    the same reconstruction in this process (interleaved: other load hits both alike)."""
    from engine.request import ReconstructionRequest as EngineRequest

    job_mod = addon_module("operators.job")
    Request = addon_module("engine.request").ReconstructionRequest
    median = statistics.median
    rows = []
    for resolution in resolutions:
        settings = dict(image=image, model=model, resolution=resolution, device="cpu", threads=threads)
        request, local_request = Request(**settings), EngineRequest(**settings)
        job_mod.stop_worker()  # the first job starts a fresh worker, as after Blender starts
        first = click_to_mesh(job_mod, request)
        in_process(local_request)  # the model loaded here too
        jobs, local = [], []
        for _ in range(repeats):
            jobs.append(click_to_mesh(job_mod, request))
            local.append(in_process(local_request))
        rows.append({"resolution": resolution, "first_job": round(first["seconds"], 3),
                     "second_job": round(jobs[0]["seconds"], 3),
                     "jobs_median": round(median(j["seconds"] for j in jobs), 3),
                     "in_process_median": round(median(local), 3),
                     "engine_in_worker_median": round(median(j["engine"] for j in jobs), 3),
                     "worker_overhead_median": round(median(j["seconds"] - j["engine"] for j in jobs), 3),
                     "same_worker": all(j["pid"] == first["pid"] for j in jobs)})
    job_mod.stop_worker()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image", default=str(ROOT / "docs" / "samples" / "chair.png"))
    parser.add_argument("--model", default="imdec-6cat")
    parser.add_argument("--resolutions", default="64,128")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="PyTorch CPU threads, both ways (0: all cores)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = bench(args.image, args.model, [int(r) for r in args.resolutions.split(",")], args.repeats, args.threads)
    if args.json:
        print(json.dumps(rows))
        return 0
    print("resolution  first job  second job  jobs (median)  in-process (median)  worker overhead  same worker")
    for r in rows:
        print(f"{r['resolution']:>10} {r['first_job']:>9.3f}s {r['second_job']:>10.3f}s {r['jobs_median']:>13.3f}s "
              f"{r['in_process_median']:>19.3f}s {r['worker_overhead_median']:>15.3f}s  {r['same_worker']}")
    print("worker overhead: a job's click to mesh minus the engine's own time in the worker")
    return 0


if __name__ == "__main__":
    sys.exit(main())
