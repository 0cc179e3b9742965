"""Grid extraction (engine.extract) and marching cubes (engine.extract.meshing) on analytic shapes."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from engine.bench.analytic import bars_fn, box_union, chair_fn, sphere_fn, spheres_fn, torus_fn  # noqa: E402
from engine.bench.extraction import compare_methods  # noqa: E402
from engine.evaluation.metrics import iou  # noqa: E402
from engine.extract import (Extraction, coarse_step, dense_occupancy, dense_values,  # noqa: E402
                            extract_mesh, surface_floor)
from engine.extract.adaptive import AdaptiveValues, adaptive_values  # noqa: E402
from engine.extract.evaluator import PointEvaluator, Progress  # noqa: E402
from engine.extract.lattice import Lattice, lattice_points  # noqa: E402
from engine.extract.meshing import marching_cubes, mesh_volume  # noqa: E402
from engine.extract.reference import crossed_cells  # noqa: E402
from engine.extract.sparse import SparseGrid  # noqa: E402

@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The analytic shapes are many small elementwise ops: on a shared machine extra threads only
    wait for each other (30x slower under load). Restored after this module."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@functools.lru_cache(maxsize=None)
def dense_ref(name: str, n: int) -> np.ndarray:
    return dense_occupancy(SHAPES[name], n)


SHAPES = {
    "sphere": sphere_fn(),
    "chair": chair_fn(),
    "torus": torus_fn(),
    "spheres": spheres_fn(),
    "bars": bars_fn(),
}


def closed_and_oriented(faces: np.ndarray) -> bool:
    """Every directed edge once and its reverse once: closed 2-manifold, consistent winding."""
    f = np.asarray(faces, np.int64)
    a = np.concatenate([f[:, 0], f[:, 1], f[:, 2]])
    b = np.concatenate([f[:, 1], f[:, 2], f[:, 0]])
    m = int(f.max()) + 1
    fwd = a * m + b
    rev = b * m + a
    u, c = np.unique(fwd, return_counts=True)
    return bool((c == 1).all() and np.isin(rev, u).all())


def coarse_samples(n: int, base: int = 32) -> int:
    s = coarse_step(n, base)
    o = (n // 2) % s
    per_axis = len([p for p in range(o, n + 1, s) if p >= 1])
    return per_axis ** 3


@pytest.mark.parametrize("name,n", [(name, 64) for name in SHAPES]
                         + [(name, 128) for name in ("sphere", "chair", "torus", "spheres")])
def test_adaptive_equals_dense(name, n):
    fn = SHAPES[name]
    ref = dense_ref(name, n)
    ex = extract_mesh(fn, n, keep_values=True)
    assert iou(ex.occupancy(), ref) >= 0.995
    floor = surface_floor(ref)
    assert ex.floor == floor  # every surface component was tracked
    assert ex.queries < n ** 3
    # everything beyond the coarse samples is (nearly) the floor itself
    assert ex.queries - coarse_samples(n) <= 1.1 * floor
    assert ex.peak_points <= 65536
    assert closed_and_oriented(ex.faces)
    assert mesh_volume(ex.vertices, ex.faces) > 0
    assert ex.vertices.dtype == np.float32 and ex.faces.dtype == np.int32
    assert np.abs(ex.vertices).max() <= 0.5


def test_queries_near_floor_at_256():
    ex = extract_mesh(sphere_fn(), 256)
    floor = ex.floor
    assert floor == 302560  # sphere r=0.35 at 256 (dense count, see test above for the method)
    assert ex.queries <= 1.2 * floor


def test_grid_convention_and_dense_count():
    seen = []

    def fn(p):
        seen.append(p.clone())
        return 0.3 - p.norm(dim=-1)

    n = 24
    ex = extract_mesh(fn, n, method="dense", chunk=5000)
    pts = torch.cat(seen)
    assert ex.queries == len(pts) == n ** 3
    assert ex.peak_points <= 5000
    axis = torch.unique(pts[:, 0])
    assert torch.allclose(axis, -0.5 + (torch.arange(n) + 0.5) / n)
    assert len(torch.unique(pts, dim=0)) == n ** 3


def test_same_mesh_as_dense_marching_cubes():
    """Adaptive extraction, stitched from bricks, equals one marching cubes over the dense grid."""
    from skimage import measure

    n = 72
    fn = sphere_fn(0.3, center=(0.031, -0.017, 0.012))
    vol = np.full((n + 2,) * 3, -1.0, np.float32)
    vol[1:-1, 1:-1, 1:-1] = dense_values(fn, n)
    v_ref, f_ref, _, _ = measure.marching_cubes(vol, 0.0)
    v_ref = (v_ref.astype(np.float64) - 0.5) / n - 0.5
    f_ref = f_ref[:, ::-1]
    ex = extract_mesh(fn, n, brick=8)
    assert len(ex.vertices) == len(v_ref) and len(ex.faces) == len(f_ref)

    def canon(v, f):
        key = np.round(np.asarray(v, np.float64) * 2e5).astype(np.int64)
        order = np.lexsort(key.T[::-1])
        rank = np.empty(len(v), np.int64)
        rank[order] = np.arange(len(v))
        tri = rank[np.asarray(f)]
        # rotate each triangle so its smallest index comes first (keeps the winding)
        r = tri.argmin(1)
        tri = np.stack([tri[np.arange(len(tri)), (r + k) % 3] for k in range(3)], 1)
        return key[order], tri[np.lexsort(tri.T[::-1])]

    k1, t1 = canon(ex.vertices, ex.faces)
    k2, t2 = canon(v_ref, f_ref)
    assert np.abs(k1 - k2).max() <= 2  # 1e-5 of the unit cube
    assert np.array_equal(t1, t2)


def test_methods_agree_and_count():
    fn = SHAPES["spheres"]
    n = 64
    d = extract_mesh(fn, n, method="dense")
    a = extract_mesh(fn, n, method="adaptive")
    m = extract_mesh(fn, n, method="imnet", keep_values=True)
    assert d.queries == n ** 3
    assert d.floor == a.floor == m.floor == surface_floor(dense_ref("spheres", n))
    assert a.queries < m.queries and a.queries < d.queries
    for e in (a, m):
        assert len(e.faces) == len(d.faces)
        assert abs(mesh_volume(e.vertices, e.faces) - mesh_volume(d.vertices, d.faces)) < 1e-6
    assert iou(m.occupancy(), dense_ref("spheres", n)) == 1.0


def test_imnet_reference_at_128():
    fn = SHAPES["torus"]
    ex = extract_mesh(fn, 128, method="imnet", keep_values=True)
    # a 64^3 frame, then 2^3 fine points per evaluated frame cell
    assert ex.queries > 64 ** 3 and (ex.queries - 64 ** 3) % 8 == 0
    assert iou(ex.occupancy(), dense_ref("torus", 128)) >= 0.995
    assert closed_and_oriented(ex.faces)


def test_volumes_close_to_analytic():
    r = 0.35
    ex = extract_mesh(sphere_fn(r), 64)
    assert mesh_volume(ex.vertices, ex.faces) == pytest.approx(4 / 3 * np.pi * r ** 3, rel=0.01)
    ex = extract_mesh(torus_fn(0.3, 0.05), 128)
    assert mesh_volume(ex.vertices, ex.faces) == pytest.approx(2 * np.pi ** 2 * 0.3 * 0.05 ** 2, rel=0.02)
    # seat + back + 4 legs, minus overlaps
    chair = 0.4 * 0.4 * 0.02 + 0.4 * 0.02 * 0.4 - 0.4 * 0.02 * 0.01 + 4 * (0.02 * 0.02 * 0.4 - 0.02 * 0.02 * 0.01)
    ex = extract_mesh(chair_fn(), 128)
    assert mesh_volume(ex.vertices, ex.faces) == pytest.approx(chair, rel=0.03)


def test_thin_part_followed_from_the_coarse_surface():
    """A needle thinner than the coarse spacing, off the coarse lattice, attached to a sphere:
    the coarse grid never samples its inside, tracking follows it to its tip."""
    n = 128
    s = coarse_step(n, 32)
    # needle along x, centred between coarse lattice lines in y and z
    y0 = -0.5 + (s * 20 + s / 2 - 0.5) / n
    z0 = -0.5 + (s * 10 + s / 2 - 0.5) / n
    ball = sphere_fn(0.15, center=(-0.25, y0, z0))
    needle = box_union([((0.1, y0, z0), (0.3, 0.006, 0.006))])

    def fn(p):
        return torch.maximum(ball(p), needle(p))

    ref = dense_occupancy(fn, n)
    ex = extract_mesh(fn, n, keep_values=True)
    tip = ref[int(0.35 * n):].sum()
    assert tip > 0
    assert iou(ex.occupancy(), ref) == 1.0
    assert ex.floor == surface_floor(ref)


def test_any_resolution():
    fn = SHAPES["spheres"]
    for n in (33, 48, 100):
        ex = extract_mesh(fn, n, keep_values=True)
        assert ex.resolution == n
        assert iou(ex.occupancy(), dense_occupancy(fn, n)) == 1.0
        assert closed_and_oriented(ex.faces)
    ex = extract_mesh(fn, 20)  # below base: everything is the coarse level
    assert ex.queries == 20 ** 3


def test_dilate_probes_more_and_stays_exact():
    fn = SHAPES["bars"]
    a = extract_mesh(fn, 64)
    b = extract_mesh(fn, 64, dilate=1, keep_values=True)
    assert b.queries > a.queries
    assert len(b.faces) == len(a.faces)
    assert iou(b.occupancy(), dense_ref("bars", 64)) == 1.0
    assert b.floor == a.floor == surface_floor(dense_ref("bars", 64))


def test_empty_and_full():
    def empty(p):
        return torch.full((len(p),), -3.0)

    def full(p):
        return torch.full((len(p),), 3.0)

    ex = extract_mesh(empty, 96)
    assert len(ex.faces) == 0 and ex.floor == 0
    assert ex.queries <= 96 ** 3
    ex = extract_mesh(full, 64, level=0.0)
    assert closed_and_oriented(ex.faces)
    assert mesh_volume(ex.vertices, ex.faces) == pytest.approx(1.0, abs=3 / 64)
    assert np.abs(ex.vertices).max() == pytest.approx(0.5)


def test_level_and_progress():
    calls = []
    fn = sphere_fn(0.3, scale=1.0)  # logit = 0.3 - r: level 0.1 is the sphere r = 0.2
    ex = extract_mesh(fn, 64, level=0.1, progress=calls.append)
    assert mesh_volume(ex.vertices, ex.faces) == pytest.approx(4 / 3 * np.pi * 0.2 ** 3, rel=0.02)
    assert calls and calls[-1] == 1.0
    assert all(b >= a for a, b in zip(calls, calls[1:]))
    assert isinstance(ex, Extraction) and set(ex.seconds) >= {"evaluate", "mesh"}


def test_brick_stitching_on_noise():
    """Random fields have many ambiguous cells: bricks must agree on their shared faces."""
    from skimage import measure

    rng = np.random.default_rng(0)
    vol = rng.standard_normal((30, 30, 30)).astype(np.float32)
    vol = (vol + np.roll(vol, 1, 0) + np.roll(vol, 1, 1) + np.roll(vol, 1, 2)) / 2
    v, f = marching_cubes(vol, 0.2, brick=8)
    assert closed_and_oriented(f)
    padded = np.pad(vol, 1, constant_values=0.2 - 1.0)
    v_ref, f_ref, _, _ = measure.marching_cubes(padded, 0.2)
    assert len(v) == len(v_ref) and len(f) == len(f_ref)
    assert mesh_volume(v, f) > 0


def test_compare_methods_rows():
    rows = compare_methods(SHAPES["sphere"], [48])
    assert [r["method"] for r in rows] == ["dense", "imnet", "adaptive"]
    by = {r["method"]: r for r in rows}
    assert by["dense"]["queries"] == 48 ** 3
    assert by["adaptive"]["ratio"] == by["adaptive"]["queries"] / by["dense"]["floor_seen"]
    assert by["imnet"]["iou_vs_adaptive"] == 1.0 and by["dense"]["iou_vs_adaptive"] == 1.0
    json.dumps(rows)


def test_lattice_keys_round_trip():
    lat = Lattice(7)
    idx = lattice_points(np.arange(7), np.arange(7), np.arange(7)).reshape(-1, 3)
    keys = lat.key(idx)
    assert keys.dtype == np.int64
    assert np.array_equal(keys, np.arange(7 ** 3))  # x-major: keys sort like the points
    assert np.array_equal(lat.index(keys), idx)
    assert np.array_equal(lat.key(idx.reshape(7, 49, 3)), keys.reshape(7, 49))
    probe = np.array([[0, 0, 0], [6, 6, 6], [-1, 0, 0], [0, 7, 0], [3, 3, 9]])
    assert lat.contains(probe).tolist() == [True, True, False, False, False]
    with pytest.raises(ValueError):
        lat.key(probe)  # outside points are filtered with contains() first
    empty = lat.key(np.zeros((0, 3), np.int64))
    assert len(empty) == 0 and lat.index(empty).shape == (0, 3)


def test_sparse_grid_rows_match_nodes():
    """gather_rows: known values, unknown real nodes (nan, not known), outside nodes (known)."""
    n, length = 10, 6
    rng = np.random.default_rng(1)
    ev = PointEvaluator(sphere_fn(0.3), n, 1000, None)
    grid = SparseGrid(n, 0.0)
    nodes = rng.integers(1, n + 1, (400, 3))
    first = grid.fetch(nodes, ev)
    assert ev.queries == len(grid) == len(np.unique(nodes, axis=0))
    assert np.array_equal(grid.fetch(nodes, ev), first) and ev.queries == len(grid)  # once each
    starts = rng.integers(-3, n + 4, (300, 3))
    vals, known = grid.gather_rows(starts, length)
    for r, start in enumerate(starts):
        for j in range(length):
            p = start + [0, 0, j]
            if not ((p >= 1) & (p <= n)).all():
                assert known[r, j] and vals[r, j] == -1.0  # outside: level - OUTSIDE_MARGIN
                continue
            pos, found = grid.find(grid.lattice.key(p[None]))
            assert known[r, j] == found[0]
            if found[0]:
                assert vals[r, j] == grid.values[pos[0]]
            else:
                assert np.isnan(vals[r, j])


def test_adaptive_values_are_the_crossed_cells():
    """The named result of the adaptive method: its crossed cells are exactly those of the dense
    occupancy (cell c has lower corner at padded node c), its floor the dense floor."""
    n = 64
    ev = PointEvaluator(SHAPES["torus"], n, 65536, None)
    values = adaptive_values(ev, 0.0, 32, 0, Progress(None))
    assert isinstance(values, AdaptiveValues) and values.lattice.size == n + 1
    ref = dense_ref("torus", n)
    padded = np.zeros((n + 2,) * 3, bool)
    padded[1:-1, 1:-1, 1:-1] = ref
    expected = values.lattice.key(np.argwhere(crossed_cells(padded)))
    assert np.array_equal(values.cells, expected)
    assert values.floor == surface_floor(ref)
    assert ev.queries == len(values.grid)


_MEMORY_SCRIPT = textwrap.dedent("""
    import json, resource, sys, time, tracemalloc
    import torch
    torch.set_num_threads(1)
    sys.path.insert(0, {root!r})
    from engine.bench.analytic import {name}
    from engine.extract import extract_mesh
    fn = {shape}
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    t = time.perf_counter()
    ex = extract_mesh(fn, {n})
    t = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    print(json.dumps(dict(queries=ex.queries, floor=ex.floor, faces=len(ex.faces), seconds=t,
                          heap_mb=peak / 2**20, base_rss_mb=base / 1024,
                          rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)))
""")


def _run_isolated(shape: str, n: int) -> dict:
    script = _MEMORY_SCRIPT.format(root=str(ROOT), name=shape.split("(")[0], shape=shape, n=n)
    out = subprocess.run([sys.executable, "-c", script],
                         capture_output=True, text=True, timeout=600, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_512_bounded_memory():
    r = _run_isolated("sphere_fn(0.25)", 512)
    assert r["rss_mb"] < 2048
    assert r["heap_mb"] < 256  # one dense float volume at 512 would be 543 MB
    assert r["queries"] <= 1.1 * r["floor"]


@pytest.mark.skipif(not os.environ.get("IMDEC_SLOW"), reason="set IMDEC_SLOW=1 (about 30 s)")
def test_1024_runs():
    r = _run_isolated("chair_fn()", 1024)
    assert r["faces"] > 0 and r["rss_mb"] < 4096
