"""Mesh writers: OBJ, PLY (binary) and GLB (glTF 2.0 binary). Files are written atomically."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np

from .errors import InputError
from .files import atomic_write
from .files import file_problem

FORMATS = ("obj", "ply", "glb")


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted vertex normals, unit length (zero for isolated vertices)."""
    v = vertices.astype(np.float64)
    tri = v[faces]
    face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    normals = np.zeros_like(v)
    for k in range(3):
        np.add.at(normals, faces[:, k], face_n)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return (normals / np.maximum(length, 1e-12)).astype(np.float32)


def _obj_bytes(vertices: np.ndarray, faces: np.ndarray) -> bytes:
    lines = ["# imdec mesh: Z up, front towards -Y\n"]
    lines.append("".join("v %.6f %.6f %.6f\n" % tuple(v) for v in vertices.tolist()))
    lines.append("".join("f %d %d %d\n" % tuple(f) for f in (faces.astype(np.int64) + 1).tolist()))
    return "".join(lines).encode("ascii")


def _ply_bytes(vertices: np.ndarray, faces: np.ndarray) -> bytes:
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment imdec mesh: Z up, front towards -Y\n"
        f"element vertex {len(vertices)}\nproperty float x\nproperty float y\nproperty float z\n"
        f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode("ascii")
    face_records = np.empty(len(faces), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
    face_records["n"] = 3
    face_records["idx"] = faces
    return header + vertices.astype("<f4").tobytes() + face_records.tobytes()


def _glb_bytes(vertices: np.ndarray, faces: np.ndarray) -> bytes:
    # glTF is Y up with the front towards +Z: rotate Blender's Z-up frame (x, y, z) -> (x, z, -y)
    positions = np.ascontiguousarray(np.stack([vertices[:, 0], vertices[:, 2], -vertices[:, 1]], 1), dtype="<f4")
    normals = vertex_normals(positions, faces).astype("<f4")
    indices = np.ascontiguousarray(faces, dtype="<u4")
    chunks = [positions.tobytes(), normals.tobytes(), indices.tobytes()]
    offsets = np.cumsum([0] + [len(c) for c in chunks]).tolist()
    binary = b"".join(chunks)
    lo = positions.min(0).tolist() if len(positions) else [0, 0, 0]
    hi = positions.max(0).tolist() if len(positions) else [0, 0, 0]
    gltf = {
        "asset": {"version": "2.0", "generator": "imdec"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": "imdec"}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0, "NORMAL": 1}, "indices": 2, "mode": 4}]}],
        "buffers": [{"byteLength": len(binary)}],
        "bufferViews": [
            {"buffer": 0, "byteOffset": offsets[0], "byteLength": len(chunks[0]), "target": 34962},
            {"buffer": 0, "byteOffset": offsets[1], "byteLength": len(chunks[1]), "target": 34962},
            {"buffer": 0, "byteOffset": offsets[2], "byteLength": len(chunks[2]), "target": 34963},
        ],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": len(positions), "type": "VEC3", "min": lo, "max": hi},
            {"bufferView": 1, "componentType": 5126, "count": len(normals), "type": "VEC3"},
            {"bufferView": 2, "componentType": 5125, "count": indices.size, "type": "SCALAR"},
        ],
    }
    json_chunk = json.dumps(gltf, separators=(",", ":")).encode("utf-8")
    json_chunk += b" " * (-len(json_chunk) % 4)
    binary += b"\0" * (-len(binary) % 4)
    total = 12 + 8 + len(json_chunk) + 8 + len(binary)
    return (struct.pack("<4sII", b"glTF", 2, total) + struct.pack("<I4s", len(json_chunk), b"JSON") + json_chunk
            + struct.pack("<I4s", len(binary), b"BIN\0") + binary)


_ENCODERS = {"obj": _obj_bytes, "ply": _ply_bytes, "glb": _glb_bytes}


def mesh_format(path: str | os.PathLike, format: str | None = None) -> str:
    """The format to write: `format`, else the path's suffix; a suffix that names another format is refused."""
    name = Path(path).name
    suffix = Path(path).suffix.lstrip(".").lower()
    fmt = (format or suffix).lower()
    if fmt not in FORMATS:
        raise InputError(f"cannot write '{name}': mesh format must be one of {', '.join(FORMATS)}")
    if suffix in FORMATS and suffix != fmt:
        raise InputError(f"{name} ends in {Path(path).suffix} but the format is {fmt}; "
                         f"name it {Path(path).stem}.{fmt} or leave out --format")
    return fmt


def check_output(path: str | os.PathLike, format: str | None = None) -> str:
    """The format to write `path` in, once `path` is known to be a place for a mesh file."""
    path = Path(path)
    fmt = mesh_format(path, format)
    if path.is_dir():
        raise InputError(f"output {path} is a directory; give a file name")
    problem = file_problem(path, "a mesh file") if path.exists() else None
    if problem:  # a pipe or a device: replacing it would break whatever uses it
        raise InputError(f"output {path} {problem}; give a file name")
    return fmt


def write_mesh(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray, format: str | None = None) -> Path:
    """Write the mesh; an existing file is replaced only once the new one is complete."""
    path = Path(path)
    fmt = check_output(path, format)
    if not path.parent.is_dir():
        raise InputError(f"output folder {path.parent} does not exist")
    data = _ENCODERS[fmt](np.asarray(vertices, np.float32), np.asarray(faces, np.int64))
    try:
        with atomic_write(path) as tmp:
            tmp.write_bytes(data)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
