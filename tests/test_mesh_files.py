"""Mesh files (OBJ, PLY, GLB) and atomic writes."""

import json
import os
import stat
import struct

import numpy as np
import pytest

from engine.errors import InputError
from engine.extract.meshing import mesh_volume
from engine.files import PARTIAL_FILES, atomic_write
from engine.data.meshio_read import read_mesh, read_mesh_colours
from engine.mesh_files import linear_to_srgb, srgb_to_linear, write_mesh


def cube():
    v = np.array([[x, y, z] for x in (-.5, .5) for y in (-.5, .5) for z in (-.5, .5)], np.float32)
    f = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                  [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]], np.int32)
    return v, f


def test_cube_is_outward_facing():
    assert mesh_volume(*cube()) == pytest.approx(1.0)


def test_obj_and_ply_round_trip(tmp_path):
    v, f = cube()
    obj = write_mesh(tmp_path / "c.obj", v, f)
    lines = obj.read_text().splitlines()
    ov = np.array([list(map(float, l.split()[1:])) for l in lines if l.startswith("v ")])
    of = np.array([list(map(int, l.split()[1:])) for l in lines if l.startswith("f ")]) - 1
    assert np.allclose(ov, v) and (of == f).all()
    ply = write_mesh(tmp_path / "c.ply", v, f).read_bytes()
    header, body = ply.split(b"end_header\n")
    assert b"element vertex 8" in header and b"element face 12" in header
    assert np.allclose(np.frombuffer(body[: 8 * 12], "<f4").reshape(8, 3), v)
    rec = np.frombuffer(body[8 * 12:], dtype=[("n", "u1"), ("i", "<i4", (3,))])
    assert (rec["n"] == 3).all() and (rec["i"] == f).all()


def test_glb_is_valid_gltf_with_y_up(tmp_path):
    v, f = cube()
    v = v * np.array([1, 2, 3], np.float32)  # distinct extents per axis
    data = write_mesh(tmp_path / "c.glb", v, f).read_bytes()
    magic, version, length = struct.unpack("<4sII", data[:12])
    assert magic == b"glTF" and version == 2 and length == len(data)
    jlen, jtype = struct.unpack("<I4s", data[12:20])
    gltf = json.loads(data[20:20 + jlen])
    acc = gltf["accessors"][0]
    assert acc["count"] == 8 and gltf["accessors"][2]["count"] == 36
    # Blender's Z (height 3) becomes glTF's Y
    assert np.allclose(np.subtract(acc["max"], acc["min"]), [1, 3, 2])


def test_failed_write_leaves_an_existing_file_alone(tmp_path):
    target = tmp_path / "keep.obj"
    target.write_text("precious")
    with pytest.raises(InputError):
        write_mesh(tmp_path / "missing-dir" / "x.obj", *cube())
    with pytest.raises(InputError, match="mesh format"):
        write_mesh(tmp_path / "keep.stl", *cube())
    assert target.read_text() == "precious"


def test_atomic_write_replaces_only_when_the_block_succeeds(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old" and list(tmp_path.iterdir()) == [target] and not PARTIAL_FILES
    with atomic_write(target) as tmp:
        tmp.write_bytes(b"new")
        assert target.read_bytes() == b"old" and tmp in PARTIAL_FILES
    assert target.read_bytes() == b"new" and list(tmp_path.iterdir()) == [target] and not PARTIAL_FILES


def test_a_format_that_contradicts_the_suffix_is_refused(tmp_path):
    target = tmp_path / "out.obj"
    with pytest.raises(InputError, match=r"out\.obj ends in \.obj but the format is ply; name it out\.ply"):
        write_mesh(target, *cube(), format="ply")
    assert not target.exists()
    assert write_mesh(tmp_path / "OUT.PLY", *cube(), format="ply").read_bytes().startswith(b"ply\n")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_an_output_that_is_a_named_pipe_is_refused_and_left_alone(tmp_path):
    fifo = tmp_path / "out.obj"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="is a named pipe, not a mesh file"):
        write_mesh(fifo, *cube())
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and list(tmp_path.iterdir()) == [fifo]


# ---------------------------------------------------------------------------------------- colours
def random_mesh(seed=0, n=200):
    rng = np.random.default_rng(seed)
    v = rng.uniform(-0.5, 0.5, (n, 3)).astype(np.float32)
    f = rng.integers(0, n, (2 * n, 3))
    c = rng.uniform(0, 1, (n, 3))
    c[:4] = [[0, 0, 0], [1, 1, 1], [0.5, 0.5, 0.5], [0.04045, 0.0031308, 0.999]]  # ends and the curve's joints
    return v, f, c


def glb_parts(data: bytes) -> tuple[dict, bytes]:
    """(the glTF JSON, the binary chunk) of a GLB file."""
    jlen, _ = struct.unpack("<I4s", data[12:20])
    blen, _ = struct.unpack("<I4s", data[20 + jlen:28 + jlen])
    return json.loads(data[20:20 + jlen]), data[28 + jlen:28 + jlen + blen]


@pytest.mark.parametrize("fmt, v_tol, c_tol", [("ply", 1e-7, 1 / 255 + 1e-6), ("obj", 1e-5, 1 / 255 + 1e-6),
                                               ("glb", 1e-6, 1e-5)])
def test_colours_round_trip_in_each_format(tmp_path, fmt, v_tol, c_tol):
    v, f, c = random_mesh()
    path = write_mesh(tmp_path / f"m.{fmt}", v, f, colours=c)
    v2, f2, c2 = read_mesh_colours(path)
    if fmt == "glb":  # the file is Y up (x, z, -y); the reader converts no axes
        v2 = np.stack([v2[:, 0], -v2[:, 2], v2[:, 1]], 1)
    np.testing.assert_allclose(v2, v, atol=v_tol)  # OBJ prints 6 decimals
    np.testing.assert_array_equal(f2, f)
    assert c2.dtype == np.float32 and c2.shape == (len(v), 3)
    assert np.abs(c2 - c).max() <= c_tol
    assert np.array_equal(read_mesh(path)[1], f)  # the geometry reader reads a coloured file as ever


@pytest.mark.parametrize("fmt", ["ply", "obj", "glb"])
def test_clay_files_have_no_colours(tmp_path, fmt):
    v, f, _ = random_mesh()
    path = write_mesh(tmp_path / f"m.{fmt}", v, f)
    assert read_mesh_colours(path)[2] is None
    assert write_mesh(tmp_path / f"none.{fmt}", v, f, colours=None).read_bytes() == path.read_bytes()


def test_ply_header_lists_red_green_blue_uchar_after_xyz(tmp_path):
    v, f, c = random_mesh()
    header = write_mesh(tmp_path / "m.ply", v, f, colours=c).read_bytes().split(b"end_header\n")[0].decode()
    props = [line for line in header.splitlines() if line.startswith("property")]
    assert props[:6] == ["property float x", "property float y", "property float z",
                         "property uchar red", "property uchar green", "property uchar blue"]
    assert "red" not in write_mesh(tmp_path / "clay.ply", v, f).read_bytes().split(b"end_header")[0].decode()


def test_obj_vertex_lines_carry_srgb_floats(tmp_path):
    v, f = cube()
    c = np.tile([[1.0, 0.5, 0.0]], (len(v), 1))
    lines = write_mesh(tmp_path / "m.obj", v, f, colours=c).read_text().splitlines()
    first = next(line for line in lines if line.startswith("v ")).split()
    assert len(first) == 7 and [float(x) for x in first[4:]] == [1.0, 0.5, 0.0]


def test_glb_colour_0_is_linear_float_vec3_aligned(tmp_path):
    v, f = cube()
    c = np.full((len(v), 3), 0.5)
    gltf, binary = glb_parts(write_mesh(tmp_path / "m.glb", v, f, colours=c).read_bytes())
    prim = gltf["meshes"][0]["primitives"][0]
    acc = gltf["accessors"][prim["attributes"]["COLOR_0"]]
    assert acc["componentType"] == 5126 and acc["type"] == "VEC3" and acc["count"] == len(v)
    assert all(view["byteOffset"] % 4 == 0 for view in gltf["bufferViews"])
    assert gltf["accessors"][prim["indices"]]["count"] == f.size
    view = gltf["bufferViews"][acc["bufferView"]]
    linear = np.frombuffer(binary, "<f4", count=3 * len(v), offset=view["byteOffset"])
    np.testing.assert_allclose(linear, 0.21404114, atol=1e-7)  # sRGB 0.5 in linear light


def test_srgb_and_linear_are_inverse():
    x = np.linspace(0, 1, 100001)
    assert np.abs(linear_to_srgb(srgb_to_linear(x)) - x).max() < 1e-6
    assert np.abs(srgb_to_linear(linear_to_srgb(x)) - x).max() < 1e-6
    assert srgb_to_linear(0.5) == pytest.approx(0.214041140, abs=1e-9)
    assert srgb_to_linear(np.float32(1.0)) == pytest.approx(1.0) and linear_to_srgb(0.0) == 0.0


@pytest.mark.parametrize("colours", [np.zeros((7, 3)), np.zeros((8, 4)), np.zeros(24), np.zeros((8, 3), np.uint8),
                                     np.full((8, 3), np.nan)])
def test_colours_of_the_wrong_shape_or_kind_are_a_value_error(tmp_path, colours):
    with pytest.raises(ValueError, match="vertex colours"):
        write_mesh(tmp_path / "m.ply", *cube(), colours=colours)
    assert list(tmp_path.iterdir()) == []


def test_colours_outside_0_1_are_clipped(tmp_path):
    v, f = cube()
    c = np.linspace(-1, 2, 24).reshape(8, 3)
    _, _, c2 = read_mesh_colours(write_mesh(tmp_path / "m.ply", v, f, colours=c))
    np.testing.assert_allclose(c2, np.clip(c, 0, 1), atol=0.5 / 255 + 1e-6)


def test_ascii_ply_with_uchar_or_float_colours(tmp_path):
    v, f = cube()
    for kind, values in (("uchar", ["255 128 0"] * 8), ("float", ["1.0 0.50196 0"] * 8)):
        path = tmp_path / f"{kind}.ply"
        path.write_text("ply\nformat ascii 1.0\nelement vertex 8\nproperty float x\nproperty float y\n"
                        f"property float z\nproperty {kind} diffuse_red\nproperty {kind} diffuse_green\n"
                        f"property {kind} diffuse_blue\nelement face 12\nproperty list uchar int vertex_indices\n"
                        "end_header\n" + "".join(f"{x} {y} {z} {c}\n" for (x, y, z), c in zip(v, values))
                        + "".join(f"3 {a} {b} {c}\n" for a, b, c in f))
        v2, f2, c2 = read_mesh_colours(path)
        np.testing.assert_allclose(v2, v)
        np.testing.assert_array_equal(f2, f)
        np.testing.assert_allclose(c2, np.tile([1, 128 / 255, 0], (8, 1)), atol=1e-5)


def test_obj_colours_in_0_255_or_on_only_some_vertices(tmp_path):
    v, f = cube()
    faces = "".join("f %d %d %d\n" % tuple(t + 1) for t in f)
    full = tmp_path / "full.obj"
    full.write_text("".join("v %g %g %g 255 51 0\n" % tuple(p) for p in v) + faces)
    np.testing.assert_allclose(read_mesh_colours(full)[2], np.tile([1, 0.2, 0], (8, 1)), atol=1e-6)
    some = tmp_path / "some.obj"
    some.write_text("".join(("v %g %g %g 1 0 0\n" if i % 2 else "v %g %g %g\n") % tuple(p) for i, p in enumerate(v))
                    + faces)
    v2, f2, c2 = read_mesh_colours(some)
    assert c2 is None and len(v2) == 8 and np.array_equal(f2, f)


def gltf_file(path, v, f, colour_bytes, component, kind, normalized=None):
    """A one-primitive GLB whose COLOR_0 is `colour_bytes` (componentType `component`, type `kind`)."""
    chunks = [np.ascontiguousarray(v, "<f4").tobytes(), colour_bytes, np.ascontiguousarray(f, "<u4").tobytes()]
    chunks = [c + b"\0" * (-len(c) % 4) for c in chunks]
    offsets = np.cumsum([0] + [len(c) for c in chunks]).tolist()
    colour = {"bufferView": 1, "componentType": component, "count": len(v), "type": kind}
    if normalized is not None:
        colour["normalized"] = normalized
    gltf = {"asset": {"version": "2.0"}, "scenes": [{"nodes": [0]}], "nodes": [{"mesh": 0}],
            "meshes": [{"primitives": [{"attributes": {"POSITION": 0, "COLOR_0": 1}, "indices": 2}]}],
            "buffers": [{"byteLength": offsets[-1]}],
            "bufferViews": [{"buffer": 0, "byteOffset": o, "byteLength": len(c)} for o, c in zip(offsets, chunks)],
            "accessors": [{"bufferView": 0, "componentType": 5126, "count": len(v), "type": "VEC3"}, colour,
                          {"bufferView": 2, "componentType": 5125, "count": f.size, "type": "SCALAR"}]}
    js = json.dumps(gltf).encode()
    js += b" " * (-len(js) % 4)
    binary = b"".join(chunks)
    path.write_bytes(struct.pack("<4sII", b"glTF", 2, 28 + len(js) + len(binary))
                     + struct.pack("<I4s", len(js), b"JSON") + js + struct.pack("<I4s", len(binary), b"BIN\0") + binary)
    return path


@pytest.mark.parametrize("component, kind, normalized", [(5121, "VEC4", True), (5123, "VEC3", True),
                                                         (5126, "VEC4", None), (5121, "VEC3", None)])
def test_glb_colour_0_of_any_glTF_kind_reads_as_srgb(tmp_path, component, kind, normalized):
    v, f = cube()
    linear = np.tile(srgb_to_linear([1.0, 0.5, 0.0]), (8, 1))
    if kind == "VEC4":
        linear = np.hstack([linear, np.full((8, 1), 0.25)])
    dtype = {5121: "u1", 5123: "<u2", 5126: "<f4"}[component]
    top = np.iinfo(dtype).max if component != 5126 else 1.0
    data = np.round(linear * top).astype(dtype) if component != 5126 else linear.astype(dtype)
    path = gltf_file(tmp_path / "c.glb", v, f, data.tobytes(), component, kind, normalized)
    _, f2, c2 = read_mesh_colours(path)
    np.testing.assert_array_equal(f2, f)
    tol = 1e-5 if component == 5126 else 0.02  # 8 bits of linear light are coarse in the darks
    np.testing.assert_allclose(c2, np.tile([1.0, 0.5, 0.0], (8, 1)), atol=tol)
