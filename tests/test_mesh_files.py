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
from engine.mesh_files import write_mesh


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
