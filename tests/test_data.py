"""Training data: procedural shapes, sampler, renderer, mesh readers and winding numbers (CPU, fast)."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest
import torch

from engine.data.meshes import (GridSDFBatch, MeshFolderDataset, convert_up, load_mesh, mesh_sdf_grid,
                                winding_number)
from engine.data.meshio_read import read_mesh
from engine.data.render import random_cameras, render
from engine.extract.meshing import mesh_volume
from engine.data.shapes import (CATEGORIES, ShapeBatch, make_shape, sample_points, shape_mesh,
                                split_seeds, surface_points)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Shared 2-core machines: one thread is faster than two fighting for the cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def shapes():
    return {c: [make_shape(c, s) for s in range(4)] for c in CATEGORIES}


def _grid(n=40, half=0.55):
    a = torch.linspace(-half, half, n)
    return torch.stack(torch.meshgrid(a, a, a, indexing="ij"), -1).reshape(1, -1, 3)


# ----------------------------------------------------------------------------------------------
# procedural shapes


def test_split_seeds_disjoint_and_deterministic():
    tr, va, te = (set(split_seeds(s, 1000)) for s in ("train", "val", "test"))
    assert len(tr) == len(va) == len(te) == 1000
    assert not (tr & va) and not (tr & te) and not (va & te)
    assert split_seeds("val", 5) == split_seeds("val", 5)
    with pytest.raises(ValueError):
        split_seeds("holdout", 3)


def test_make_shape_deterministic():
    for c in CATEGORIES:
        a, b, other = make_shape(c, 7), make_shape(c, 7), make_shape(c, 8)
        assert a.subtype == b.subtype
        np.testing.assert_array_equal(a.prm, b.prm)
        np.testing.assert_array_equal(a.pos, b.pos)
        assert a.prm.shape != other.prm.shape or not np.array_equal(a.prm, other.prm)
    with pytest.raises(ValueError):
        make_shape("bicycle", 0)


def test_categories_build_normalised(shapes):
    for c, group in shapes.items():
        for s in group:
            assert s.num_primitives <= 45, (c, s.seed, s.num_primitives)
            assert abs(float(s.extent.max()) - 1.0) < 1e-5
    # numerically: projected surface points fill the analytic box (centred, longest side ~1)
    batch = ShapeBatch([g[0] for g in shapes.values()])
    gen = torch.Generator().manual_seed(0)
    p = surface_points(batch, 3000, gen, candidates=3)
    on = batch.sdf(p).abs() < 2e-3
    for i, c in enumerate(shapes):
        q = p[i][on[i]]
        lo, hi = q.amin(0), q.amax(0)
        assert float((hi - lo).max()) == pytest.approx(1.0, abs=0.02), c
        assert float(((hi + lo) / 2).abs().max()) < 0.02, c
        assert float(hi.max()) < 0.505 and float(lo.min()) > -0.505, c


def test_variety_of_subtypes():
    for c in CATEGORIES:
        kinds = {make_shape(c, s).subtype.split("/")[0] for s in range(16)}
        assert len(kinds) >= 3, (c, kinds)
    chairs = {make_shape("chair", s).subtype for s in range(16, 40)}
    assert any("swivel" in k for k in chairs) and any("four_legs" in k for k in chairs)
    assert any("arms" in k for k in chairs) and any("arms" not in k for k in chairs)
    cars = {make_shape("car", s).subtype.split("/")[0] for s in range(40)}
    assert {"sedan", "hatchback", "suv", "sports", "van"} <= cars


def test_batch_matches_single_shapes(shapes):
    mixed = [shapes[c][1] for c in CATEGORIES]
    batch = ShapeBatch(mixed)
    pts = torch.rand(len(mixed), 500, 3, generator=torch.Generator().manual_seed(1)) * 1.1 - 0.55
    d = batch.sdf(pts)
    for i, s in enumerate(mixed):
        torch.testing.assert_close(d[i], s.sdf(pts[i]), atol=1e-5, rtol=1e-5)
    assert torch.equal(batch.occupancy(pts), d < 0)


def test_occupancy_matches_mesh_volume(shapes):
    gen = torch.Generator().manual_seed(0)
    for c in ("sofa", "car"):  # bulky: a 48^3 mesh loses thin chair slats
        s = shapes[c][0]
        v, f = shape_mesh(s, resolution=48)
        vol = mesh_volume(v, f)
        assert vol > 0  # outward winding
        pts = torch.rand(1, 100_000, 3, generator=gen) * 1.1 - 0.55
        occ = ShapeBatch([s]).occupancy(pts).float().mean().item() * 1.1**3  # Monte Carlo volume
        assert vol == pytest.approx(occ, rel=0.1), c
        assert float(np.abs(v).max()) <= 0.55 and v.min(0)[2] == pytest.approx(-s.extent[2] / 2, abs=0.03)


def _occ_points(shape, n=40):
    g = _grid(n)
    return g[0][ShapeBatch([shape]).occupancy(g)[0]]


def _top_view(shape, n=81, steps=40):
    """Orthographic view from above by sphere tracing: (hit bool [x, y], surface height [x, y])."""
    a = torch.linspace(-0.5, 0.5, n)
    x, y = torch.meshgrid(a, a, indexing="ij")
    p = torch.stack([x, y, torch.full_like(x, 0.56)], -1).reshape(1, -1, 3)
    batch = ShapeBatch([shape])
    for _ in range(steps):
        d = batch.sdf(p)
        p[..., 2] -= d.clamp(min=0)[0] * 0.9
    return (batch.sdf(p)[0] < 2e-3).reshape(n, n), p[0, :, 2].reshape(n, n)


def test_frame_front_is_minus_y():
    for seed in range(5):
        # chairs and sofas: the back (the highest part) stands at +Y
        for c in ("chair", "sofa"):
            p = _occ_points(make_shape(c, seed))
            top = p[p[:, 2] > p[:, 2].max() - 0.08]
            assert top[:, 1].mean() > 0.05, (c, seed)
        # cars: the bonnet at -Y is lower than the boot / roof at +Y; a pickup's cab is at the front
        car = make_shape("car", seed)
        p = _occ_points(car, 48)
        y0, y1 = p[:, 1].min(), p[:, 1].max()
        L = y1 - y0
        if car.subtype.startswith("pickup"):
            assert p[p[:, 2] > p[:, 2].max() - 0.05][:, 1].mean() < 0, ("car", seed)
        else:
            front = p[p[:, 1] < y0 + 0.1 * L][:, 2].max()
            rear = p[p[:, 1] > y1 - 0.1 * L][:, 2].max()
            assert front < rear, ("car", seed)
        # airplanes: the fin (the highest part, propellers at the very nose aside) is at the tail
        hit, height = _top_view(make_shape("airplane", seed))
        rows = torch.where(hit, height, -1.0).amax(0)  # highest surface per y row
        ys = torch.nonzero(rows > -1).flatten()
        y0, y1 = int(ys.min()), int(ys.max())
        start = y0 + (y1 - y0) // 10
        peak = start + int(rows[start:].argmax())
        assert peak > (y0 + y1) / 2, ("airplane", seed)


def test_sample_points_mix(shapes):
    batch = ShapeBatch([shapes["table"][0], shapes["lamp"][1]])
    gen = torch.Generator().manual_seed(3)
    pts, occ = sample_points(batch, 1000, 1000, gen)
    assert pts.shape == (2, 2000, 3) and occ.shape == (2, 2000) and occ.dtype == torch.bool
    assert float(pts.abs().max()) <= 0.55 + 1e-6
    d = batch.sdf(pts)
    assert torch.equal(occ, d < 0)
    near = d[:, 1000:].abs()
    assert float(near.median()) < 0.03 and float(d[:, :1000].abs().median()) > 0.05
    assert 0.1 < occ[:, 1000:].float().mean() < 0.9
    pts2, _ = sample_points(batch, 1000, 1000, torch.Generator().manual_seed(3))
    assert torch.equal(pts, pts2)


# ----------------------------------------------------------------------------------------------
# renderer


def test_render_shapes(shapes):
    batch = ShapeBatch([shapes[c][0] for c in ("chair", "car", "airplane", "lamp")])
    gen = torch.Generator().manual_seed(0)
    cams = random_cameras(len(batch), gen)
    img = render(batch, cams, size=48, generator=gen, steps=48)
    assert img.shape == (4, 4, 48, 48)
    assert float(img.min()) >= 0 and float(img.max()) <= 1
    alpha = img[:, 3]
    assert float(alpha[:, [0, 0, -1, -1], [0, -1, 0, -1]].max()) == 0.0  # corners are background
    cover = (alpha > 0.5).float().mean((1, 2))
    assert bool((cover > 0.02).all()) and bool((cover < 0.9).all()), cover
    soft = ((alpha > 0) & (alpha < 1)).float().sum()
    assert soft > 0  # anti-aliased silhouettes
    again = render(batch, cams, size=48, generator=torch.Generator().manual_seed(0).manual_seed(0), steps=48,
                   style=None)
    assert again.shape == img.shape


def test_render_is_reproducible_and_matches_occupancy(shapes):
    batch = ShapeBatch([shapes["sofa"][0]])
    cams = random_cameras(1, torch.Generator().manual_seed(5))
    a = render(batch, cams, size=32, generator=torch.Generator().manual_seed(9))
    b = render(batch, cams, size=32, generator=torch.Generator().manual_seed(9))
    assert torch.equal(a, b)
    # the same object as a plain callable (no materials) covers the same pixels
    c = render(lambda p: batch.sdf(p), cams, size=32, generator=torch.Generator().manual_seed(9),
               bounds=batch.bounds)
    assert torch.allclose(a[:, 3], c[:, 3], atol=1e-4)


# ----------------------------------------------------------------------------------------------
# mesh readers

CUBE_V = np.array([[x, y, z] for x in (0.0, 2.0) for y in (0.0, 1.0) for z in (0.0, 1.0)], np.float32)
CUBE_QUADS = [[0, 1, 3, 2], [4, 6, 7, 5], [0, 4, 5, 1], [2, 3, 7, 6], [0, 2, 6, 4], [1, 5, 7, 3]]
CUBE_TRIS = np.array([[q[0], q[i], q[i + 1]] for q in CUBE_QUADS for i in (1, 2)], np.int64)


def _write_obj(path):
    lines = ["# cube", "o cube", "mtllib none.mtl"] + ["v %g %g %g" % tuple(v) for v in CUBE_V]
    lines += ["vn 0 0 1", "vt 0 0"] + ["f " + " ".join(f"{i + 1}/1/1" for i in q) for q in CUBE_QUADS]
    path.write_text("\n".join(lines) + "\n")


def _write_off(path):
    lines = ["OFF", "# comment", f"{len(CUBE_V)} {len(CUBE_QUADS)} 0"] + ["%g %g %g" % tuple(v) for v in CUBE_V]
    lines += ["4 " + " ".join(map(str, q)) for q in CUBE_QUADS]
    path.write_text("\n".join(lines) + "\n")


def _write_ply(path, binary):
    head = ["ply", "format " + ("binary_little_endian 1.0" if binary else "ascii 1.0"),
            f"element vertex {len(CUBE_V)}", "property float x", "property float y", "property float z",
            "property uchar red", f"element face {len(CUBE_QUADS)}", "property list uchar int vertex_indices",
            "end_header"]
    if binary:
        body = b"".join(struct.pack("<fffB", *v, 200) for v in CUBE_V)
        body += b"".join(struct.pack("<B4i", 4, *q) for q in CUBE_QUADS)
        path.write_bytes(("\n".join(head) + "\n").encode() + body)
    else:
        rows = ["%g %g %g 200" % tuple(v) for v in CUBE_V] + ["4 " + " ".join(map(str, q)) for q in CUBE_QUADS]
        path.write_text("\n".join(head + rows) + "\n")


def _write_glb(path, translation=(1.0, 0.0, 0.0)):
    pos = CUBE_V.astype("<f4").tobytes()
    idx = CUBE_TRIS.astype("<u2").tobytes()
    binary = pos + idx
    binary += b"\0" * (-len(binary) % 4)
    gltf = {
        "asset": {"version": "2.0"}, "scene": 0, "scenes": [{"nodes": [0]}],
        "nodes": [{"children": [1], "translation": list(translation)}, {"mesh": 0, "scale": [1, 1, 1]}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1, "mode": 4}]}],
        "buffers": [{"byteLength": len(binary)}],
        "bufferViews": [{"buffer": 0, "byteOffset": 0, "byteLength": len(pos)},
                        {"buffer": 0, "byteOffset": len(pos), "byteLength": len(idx)}],
        "accessors": [{"bufferView": 0, "componentType": 5126, "count": len(CUBE_V), "type": "VEC3",
                       "min": [0, 0, 0], "max": [2, 1, 1]},
                      {"bufferView": 1, "componentType": 5123, "count": CUBE_TRIS.size, "type": "SCALAR"}],
    }
    js = json.dumps(gltf).encode()
    js += b" " * (-len(js) % 4)
    data = struct.pack("<II", len(js), 0x4E4F534A) + js + struct.pack("<II", len(binary), 0x004E4942) + binary
    path.write_bytes(struct.pack("<4sII", b"glTF", 2, 12 + len(data)) + data)


@pytest.mark.parametrize("fmt", ["obj", "off", "ply-ascii", "ply-binary", "glb"])
def test_mesh_readers_round_trip(tmp_path, fmt):
    path = tmp_path / ("cube." + fmt.split("-")[0])
    shift = np.zeros(3, np.float32)
    if fmt == "obj":
        _write_obj(path)
    elif fmt == "off":
        _write_off(path)
    elif fmt.startswith("ply"):
        _write_ply(path, binary=fmt.endswith("binary"))
    else:
        _write_glb(path)
        shift = np.array([1.0, 0, 0], np.float32)
    v, f = read_mesh(path)
    assert v.dtype == np.float32 and f.dtype == np.int64 and f.shape == (12, 3)
    np.testing.assert_allclose(v, CUBE_V + shift, atol=1e-6)
    assert mesh_volume(v, f) == pytest.approx(2.0, rel=1e-5)  # closed, outward
    vn, fn = load_mesh(path, up="z")
    assert np.abs(vn).max() == pytest.approx(0.5) and float((vn.max(0) - vn.min(0)).max()) == pytest.approx(1.0)


def test_readers_read_the_engine_writers(tmp_path):
    from engine import mesh_files as meshio

    v, f = shape_mesh(make_shape("car", 2), resolution=24)
    for fmt in meshio.FORMATS:
        path = meshio.write_mesh(tmp_path / f"car.{fmt}", v, f)
        v2, f2 = read_mesh(path)
        np.testing.assert_array_equal(f2, f)
        vn, _ = load_mesh(path)  # up="auto": GLB is Y up by specification, converted back
        lo, hi = v.min(0), v.max(0)
        np.testing.assert_allclose(vn, (v - (lo + hi) / 2) / (hi - lo).max(), atol=1e-5)


def test_mesh_reader_errors(tmp_path):
    bad = tmp_path / "bad.ply"
    bad.write_bytes(b"not a mesh at all")
    with pytest.raises(ValueError, match="bad.ply"):
        read_mesh(bad)
    trunc = tmp_path / "t.glb"
    trunc.write_bytes(b"glTF\x02\x00\x00\x00")
    with pytest.raises(ValueError):
        read_mesh(trunc)
    with pytest.raises(ValueError, match="unsupported"):
        read_mesh(tmp_path / "x.stl")
    with pytest.raises(ValueError):
        read_mesh(tmp_path / "missing.obj")


def test_up_axis_conversion():
    v = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], np.float32)  # Y up, front +Z
    np.testing.assert_allclose(convert_up(v, "y"), [[0, 0, 1], [0, -1, 0]])


def test_winding_number_open_cube_and_grid(tmp_path):
    v = CUBE_V / 2 - np.array([0.5, 0.25, 0.25], np.float32)  # 1 x 0.5 x 0.5, centred
    faces = CUBE_TRIS[2:]  # drop one face (x = min): not watertight
    w = winding_number(v, faces, np.array([[0, 0, 0], [0.3, 0.1, 0.1], [0.8, 0, 0], [0, 0.6, 0]], np.float32))
    assert w[0] > 0.5 and w[1] > 0.5 and abs(w[2]) < 0.2 and abs(w[3]) < 0.2
    grid = mesh_sdf_grid(v, faces, resolution=24)
    batch = GridSDFBatch([grid])
    pts = torch.tensor([[[0.0, 0, 0], [0.2, 0.1, -0.1], [0.0, 0.4, 0.0], [0.7, 0.0, 0.0]]])
    assert batch.occupancy(pts).tolist() == [[True, True, False, False]]
    d = batch.sdf(pts)[0]
    assert float(d[0]) == pytest.approx(-0.25, abs=0.03) and float(d[3]) == pytest.approx(0.2, abs=0.03)
    # renderable and samplable like procedural shapes
    img = render(batch, random_cameras(1, torch.Generator().manual_seed(0)), size=24)
    assert img[:, 3].max() == 1.0
    pts, occ = sample_points(batch, 64, 64, torch.Generator().manual_seed(0))
    assert occ.shape == (1, 128) and occ.any() and (~occ).any()


def test_mesh_folder_dataset_caches(tmp_path):
    (tmp_path / "box").mkdir()
    _write_obj(tmp_path / "box" / "a.obj")
    _write_ply(tmp_path / "box" / "b.ply", binary=True)
    (tmp_path / "box" / "notes.txt").write_text("ignored")
    ds = MeshFolderDataset(tmp_path, cache_dir=tmp_path / "cache", resolution=16)
    assert len(ds) == 2 and ds.categories == ["box"]
    first = ds[0]
    assert first["grid"].shape == (16, 16, 16) and first["category"] == "box"
    assert len(list((tmp_path / "cache").rglob("*.npz"))) == 1
    again = ds[0]
    np.testing.assert_array_equal(first["grid"], again["grid"])
    batch = ds.batch([0, 1])
    assert batch.occupancy(torch.zeros(2, 1, 3)).all()
    splits = [set(ds.split_indices(s)) for s in ("train", "val", "test")]
    assert sum(len(s) for s in splits) == 2 and not (splits[0] & splits[1])


def test_shape_mesh_is_closed_surface():
    s = make_shape("table", 3)
    v, f = shape_mesh(s, resolution=40)
    assert len(f) > 100 and v.dtype == np.float32 and f.dtype == np.int64
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert (counts == 2).mean() > 0.99
    assert math.isfinite(mesh_volume(v, f))


# ----------------------------------------------------------------------------------------------
# random compositions of primitives, new subtypes, held-out families


def test_primitives_are_kept_apart_from_the_default_categories():
    from engine.data.samples import SampleSource
    from engine.data.shapes import ALL_CATEGORIES

    assert "primitives" not in CATEGORIES and "primitives" in ALL_CATEGORIES
    assert SampleSource.create(categories=["chair", "primitives"], image_size=32).categories == ["chair", "primitives"]
    assert "primitives" not in SampleSource.create(image_size=32).categories


def test_primitives_deterministic_non_empty_in_the_frame():
    seeds = split_seeds("train", 12)
    shapes = [make_shape("primitives", s) for s in seeds]
    again = make_shape("primitives", seeds[3])
    np.testing.assert_array_equal(again.prm, shapes[3].prm)
    assert again.subtype == shapes[3].subtype
    assert len({s.prm.tobytes() for s in shapes}) == len(shapes)
    assert {s.subtype.split("/")[0] for s in shapes} == {"symmetric", "free"}
    batch = ShapeBatch(shapes)
    assert bool(batch.occupancy(_grid(32).expand(len(shapes), -1, -1)).any(1).all())
    p = surface_points(batch, 2000, torch.Generator().manual_seed(0), candidates=3)
    on = batch.sdf(p).abs() < 2e-3
    for i, s in enumerate(shapes):
        assert abs(float(s.extent.max()) - 1.0) < 1e-5 and s.num_primitives <= 45, s.subtype
        assert float(p[i][on[i]].abs().max()) < 0.505, s.subtype
    img = render(ShapeBatch(shapes[:4]), random_cameras(4, torch.Generator().manual_seed(0)), size=48,
                 generator=torch.Generator().manual_seed(0), steps=48)
    assert bool(((img[:, 3] > 0.5).float().mean((1, 2)) > 0.01).all())
    v, f = shape_mesh(shapes[0], resolution=40)
    assert len(f) > 100 and mesh_volume(v, f) > 0


def test_primitives_have_thin_parts_holes_and_mirror_symmetry():
    from engine.data.sdf import REVOLVED, ROUNDCONE

    shapes = [make_shape("primitives", s) for s in range(30)]
    thinnest = [min((s.prm[i, 1] * s.scale for i in range(s.num_primitives) if s.kind[i] == ROUNDCONE), default=1)
                for s in shapes]
    assert sum(r < 0.015 for r in thinnest) >= 5  # struts and wire frames thinner than 0.03

    def open_ring(s):  # the centre of a torus (or tube) is outside the solid
        centres = [(s.pos[i] - s.center) * s.scale for i in range(s.num_primitives) if s.kind[i] == REVOLVED]
        return any(float(s.sdf(torch.tensor(c[None]))[0]) > 0 for c in centres)

    assert sum(open_ring(s) for s in shapes) >= 3
    assert sum("holes" in s.subtype for s in shapes) >= 10 and any("cut" in s.subtype for s in shapes)
    symmetric = next(s for s in shapes if s.subtype.startswith("symmetric"))
    p = torch.rand(2000, 3, generator=torch.Generator().manual_seed(0)) - 0.5
    mirrored = p * torch.tensor([-1.0, 1, 1]) - torch.tensor([2 * float(symmetric.center[0] * symmetric.scale), 0, 0])
    torch.testing.assert_close(symmetric.sdf(p), symmetric.sdf(mirrored), atol=1e-4, rtol=0)


def test_new_subtypes_are_produced():
    from engine.data.shapes import shape_subtype

    made = {c: [shape_subtype(c, s) for s in range(300)] for c in ("chair", "table", "sofa", "lamp")}
    for category, word in (("chair", "bar_stool"), ("chair", "swivel"), ("table", "shelf"), ("sofa", "footstool"),
                           ("sofa", "chaise"), ("lamp", "swing_arm")):
        assert any(word in t.split("/") for t in made[category]), (category, word)
    assert make_shape("chair", 7).subtype == shape_subtype("chair", 7)


def test_held_out_families_never_drawn_for_training_and_alone_in_the_family_test_set():
    from engine.data import shapes as procedural
    from engine.data.families import HELD_OUT_FAMILIES, in_families
    from engine.data.samples import SampleSource
    from engine.errors import InputError
    from engine.evaluation import held_out_views

    def held(cats, idx, split):
        seeds = [procedural.SPLIT_BASE[split] + i % procedural.SPLIT_SIZE for i in idx]
        return [in_families(procedural.shape_subtype(c, s), HELD_OUT_FAMILIES.get(c, ())) for c, s in zip(cats, seeds)]

    plain = SampleSource.create(image_size=32, seed=3)
    source = SampleSource.create(image_size=32, seed=3, held_out=HELD_OUT_FAMILIES)
    assert any(held(*plain.pick(200, "train"), "train"))
    assert not any(held(*source.pick(200, "train"), "train"))
    cats, idx = source.pick(60, "val", first=0)
    assert not any(held(cats, idx, "val")) and len(set(zip(cats, idx))) == 60
    assert "without the families" in source.describe()
    views = list(held_out_views(SampleSource.create(categories=["chair", "lamp", "car"], image_size=32), "test", 2,
                                families=HELD_OUT_FAMILIES))
    assert [v[0] for v in views] == ["chair", "lamp"] * 2 and len({v[1] for v in views}) == 4
    assert all(in_families(shape.subtype, HELD_OUT_FAMILIES[cat]) for cat, _, shape, _, _, _ in views)
    assert views[0][4].shape == (4, 32, 32) and views[0][5].shape == (7,)  # the view and its true camera
    with pytest.raises(InputError):
        SampleSource(["chair"], 32, "cpu", 0, meshes=object(), held_out=HELD_OUT_FAMILIES)
