"""Mesh writers: OBJ, PLY (binary) and GLB (glTF 2.0 binary), with or without per-vertex colours (sRGB in
0..1; GLB stores them linear, as glTF says). Files are written atomically."""

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
    # bincount sums per vertex about ten times faster than np.add.at
    corners = faces.ravel()
    normals = np.stack([np.bincount(corners, weights=np.repeat(face_n[:, k], 3), minlength=len(v))
                        for k in range(3)], 1)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return (normals / np.maximum(length, 1e-12)).astype(np.float32)


def srgb_to_linear(c) -> np.ndarray:
    """sRGB-encoded values in 0..1 to linear light (the exact sRGB transfer function), float64."""
    c = np.asarray(c, np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((np.maximum(c, 0.04045) + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(c) -> np.ndarray:
    """Linear light in 0..1 to sRGB-encoded values (the inverse of srgb_to_linear), float64."""
    c = np.asarray(c, np.float64)
    return np.where(c <= 0.0031308, c * 12.92, 1.055 * np.maximum(c, 0.0031308) ** (1 / 2.4) - 0.055)


def _checked_colours(colours, count: int) -> np.ndarray | None:
    """None, or float64 [count, 3] sRGB clipped to 0..1; anything else is a programming error (ValueError)."""
    if colours is None:
        return None
    c = np.asarray(colours)
    if c.dtype.kind != "f":
        raise ValueError(f"vertex colours must be floats (sRGB in 0..1), not {c.dtype}")
    if c.shape != (count, 3):
        raise ValueError(f"vertex colours must be an array [{count}, 3] (one per vertex), not {list(c.shape)}")
    if not np.isfinite(c).all():
        raise ValueError("vertex colours must be finite")
    return np.clip(c.astype(np.float64), 0.0, 1.0)


def _obj_bytes(vertices: np.ndarray, faces: np.ndarray, colours: np.ndarray | None) -> bytes:
    rows, line = vertices, "v %.6f %.6f %.6f\n"
    if colours is not None:  # `v x y z r g b`, sRGB in 0..1
        rows, line = np.hstack([vertices.astype(np.float64), colours]), "v %.6f %.6f %.6f %.4f %.4f %.4f\n"
    lines = ["# imdec mesh: Z up, front towards -Y\n"]
    lines.append("".join(line % tuple(v) for v in rows.tolist()))
    lines.append("".join("f %d %d %d\n" % tuple(f) for f in (faces.astype(np.int64) + 1).tolist()))
    return "".join(lines).encode("ascii")


_PLY_TYPE_NAMES = {"<f4": "float", "u1": "uchar"}


def _ply_bytes(vertices: np.ndarray, faces: np.ndarray, colours: np.ndarray | None) -> bytes:
    columns = {name: ("<f4", vertices[:, k]) for k, name in enumerate(("x", "y", "z"))}
    if colours is not None:  # sRGB 0..255
        columns.update({name: ("u1", np.rint(colours[:, k] * 255)) for k, name in enumerate(("red", "green", "blue"))})
    fields = [(name, t) for name, (t, _) in columns.items()]
    records = np.empty(len(vertices), dtype=fields)
    for name, (_, values) in columns.items():
        records[name] = values
    properties = "".join(f"property {_PLY_TYPE_NAMES[t]} {name}\n" for name, t in fields)
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment imdec mesh: Z up, front towards -Y\n"
        f"element vertex {len(vertices)}\n{properties}"
        f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n"
    ).encode("ascii")
    face_records = np.empty(len(faces), dtype=[("n", "u1"), ("idx", "<i4", (3,))])
    face_records["n"] = 3
    face_records["idx"] = faces
    return header + records.tobytes() + face_records.tobytes()


def _glb_bytes(vertices: np.ndarray, faces: np.ndarray, colours: np.ndarray | None) -> bytes:
    # glTF is Y up with the front towards +Z: rotate Blender's Z-up frame (x, y, z) -> (x, z, -y)
    positions = np.ascontiguousarray(np.stack([vertices[:, 0], vertices[:, 2], -vertices[:, 1]], 1), dtype="<f4")
    attributes = {"POSITION": positions, "NORMAL": vertex_normals(positions, faces).astype("<f4")}
    if colours is not None:  # glTF vertex colours are linear
        attributes["COLOR_0"] = np.ascontiguousarray(srgb_to_linear(colours), dtype="<f4")
    arrays = [*attributes.values(), np.ascontiguousarray(faces, dtype="<u4").reshape(-1)]
    binary, views, accessors = _glb_buffer(arrays)
    lo = positions.min(0).tolist() if len(positions) else [0, 0, 0]
    hi = positions.max(0).tolist() if len(positions) else [0, 0, 0]
    accessors[0].update(min=lo, max=hi)
    gltf = {
        "asset": {"version": "2.0", "generator": "imdec"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": "imdec"}],
        "meshes": [{"primitives": [{"attributes": {name: i for i, name in enumerate(attributes)},
                                    "indices": len(attributes), "mode": 4}]}],
        "buffers": [{"byteLength": len(binary)}],
        "bufferViews": views,
        "accessors": accessors,
    }
    json_chunk = json.dumps(gltf, separators=(",", ":")).encode("utf-8")
    json_chunk += b" " * (-len(json_chunk) % 4)
    binary += b"\0" * (-len(binary) % 4)
    total = 12 + 8 + len(json_chunk) + 8 + len(binary)
    return (struct.pack("<4sII", b"glTF", 2, total) + struct.pack("<I4s", len(json_chunk), b"JSON") + json_chunk
            + struct.pack("<I4s", len(binary), b"BIN\0") + binary)


def _glb_buffer(arrays: list[np.ndarray]) -> tuple[bytes, list[dict], list[dict]]:
    """(binary chunk, bufferViews, accessors) for float32 VEC3 attributes [N, 3] and uint32 indices [N]:
    one view and one accessor per array, each view starting on a 4-byte boundary."""
    chunks, views, accessors, offset = [], [], [], 0
    for i, a in enumerate(arrays):
        data = a.tobytes()
        views.append({"buffer": 0, "byteOffset": offset, "byteLength": len(data),
                      "target": 34963 if a.ndim == 1 else 34962})
        accessors.append({"bufferView": i, "componentType": 5125 if a.ndim == 1 else 5126, "count": len(a),
                          "type": "SCALAR" if a.ndim == 1 else "VEC3"})
        data += b"\0" * (-len(data) % 4)
        chunks.append(data)
        offset += len(data)
    return b"".join(chunks), views, accessors


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


def write_mesh(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray, format: str | None = None,
               colours: np.ndarray | None = None) -> Path:
    """Write the mesh; an existing file is replaced only once the new one is complete. `colours`: None
    (clay) or float [V, 3] sRGB in 0..1, one per vertex (clipped to 0..1; another shape is a ValueError)."""
    path = Path(path)
    vertices = np.asarray(vertices, np.float32)
    colours = _checked_colours(colours, len(vertices))
    fmt = check_output(path, format)
    if not path.parent.is_dir():
        raise InputError(f"output folder {path.parent} does not exist")
    data = _ENCODERS[fmt](vertices, np.asarray(faces, np.int64), colours)
    try:
        with atomic_write(path) as tmp:
            tmp.write_bytes(data)
    except OSError as exc:
        raise InputError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
