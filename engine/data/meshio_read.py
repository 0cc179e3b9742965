"""Mesh readers (pure numpy): OBJ, PLY (ascii / binary), OFF and GLB (glTF 2.0 binary).

    vertices, faces = read_mesh(path)   # float32 [V,3], int64 [F,3] (polygons fan-triangulated)
    vertices, faces, colours = read_mesh_colours(path)  # colours: float32 [V,3] sRGB in 0..1, or None

Only positions, faces and per-vertex colours are read; everything else is ignored. Colours come from
PLY `red green blue` (or `diffuse_*`) vertex properties, OBJ `v x y z r g b` lines and glTF COLOR_0
(linear, turned into sRGB); a file that colours only some of its vertices has none. Files that cannot
be read raise ValueError with a one-line message. No axis conversion happens here (see meshes.py).
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import numpy as np

from ..mesh_files import linear_to_srgb

MESH_SUFFIXES = (".obj", ".ply", ".off", ".glb")


def read_mesh(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a triangle mesh; the format comes from the suffix."""
    v, f, _ = _read(path)
    return v, f


def read_mesh_colours(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Read a triangle mesh and its vertex colours (float32 [V,3] sRGB in 0..1, None where the file has none)."""
    v, f, c = _read(path)
    try:
        return v, f, _check_colours(c, len(v))
    except ValueError as e:
        raise ValueError(f"{Path(path).name}: {e}") from None


def _read(path: str | os.PathLike):
    """(vertices, faces) checked, and the colours as the file has them (unchecked, or None)."""
    path = Path(path)
    suffix = path.suffix.lower()
    readers = {".obj": read_obj, ".ply": read_ply, ".off": read_off, ".glb": read_glb}
    if suffix not in readers:
        raise ValueError(f"{path.name}: unsupported mesh format {suffix or '(none)'}; use .obj, .ply, .off or .glb")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise ValueError(f"{path}: cannot read file ({e.strerror or e})") from None
    try:
        v, f, c = readers[suffix](data)
    except ValueError as e:
        raise ValueError(f"{path.name}: {e}") from None
    except (IndexError, KeyError, TypeError, struct.error, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path.name}: malformed {suffix[1:].upper()} file ({type(e).__name__}: {e})") from None
    return (*_check(v, f), c)


def _check(v, f) -> tuple[np.ndarray, np.ndarray]:
    v = np.asarray(v, np.float32).reshape(-1, 3)
    f = np.asarray(f, np.int64).reshape(-1, 3)
    if len(v) == 0 or len(f) == 0:
        raise ValueError("no triangles in the file")
    if f.min() < 0 or f.max() >= len(v):
        raise ValueError(f"face index out of range (0..{len(v) - 1})")
    if not np.isfinite(v).all():
        raise ValueError("non-finite vertex coordinates")
    return v, f


def _check_colours(c, count: int) -> np.ndarray | None:
    if c is None:
        return None
    c = np.asarray(c, np.float64).reshape(-1, 3)
    if len(c) != count:
        raise ValueError(f"{len(c)} vertex colours for {count} vertices")
    if not np.isfinite(c).all():
        raise ValueError("non-finite vertex colours")
    return np.clip(c, 0.0, 1.0).astype(np.float32)


def _fan(polys) -> np.ndarray:
    tris = [(p[0], p[i], p[i + 1]) for p in polys for i in range(1, len(p) - 1)]
    return np.asarray(tris, np.int64).reshape(-1, 3)


# ----------------------------------------------------------------------------------------------
def read_obj(data: bytes):
    """(vertices, faces, colours or None) of an OBJ file (as every reader here)."""
    verts, rgb, polys = [], [], []
    for line in data.decode("utf-8", errors="replace").splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "v":
            verts.append([float(x) for x in parts[1:4]])
            rgb.append(_obj_colour(parts[4:7]))
        elif parts[0] == "f":
            idx = []
            for tok in parts[1:]:
                i = int(tok.split("/")[0])
                idx.append(i - 1 if i > 0 else len(verts) + i)
            if len(idx) >= 3:
                polys.append(idx)
    if not verts:
        raise ValueError("no vertices ('v' lines) in the OBJ file")
    colours = None
    if all(c is not None for c in rgb):  # coloured on only some lines: none
        colours = np.asarray(rgb, np.float64)
        if colours.max() > 1.0:  # written as 0..255
            colours /= 255.0
    return np.asarray(verts, np.float64), _fan(polys), colours


def _obj_colour(tokens: list[str]) -> list[float] | None:
    """The `r g b` after a vertex's x y z, None where there are not three numbers."""
    try:
        return [float(x) for x in tokens] if len(tokens) == 3 else None
    except ValueError:
        return None


# ----------------------------------------------------------------------------------------------
def read_off(data: bytes):
    lines = []
    for line in data.decode("utf-8", errors="replace").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    if not lines or not lines[0].upper().endswith("OFF") and not lines[0].upper().startswith("OFF"):
        raise ValueError("not an OFF file (missing 'OFF' header)")
    head = lines[0][3:].split() if lines[0].upper().startswith("OFF") else []
    rest = lines[1:]
    if len(head) >= 2:  # counts on the header line ("OFF 8 6 0")
        counts = head
    else:
        counts, rest = rest[0].split(), rest[1:]
    nv, nf = int(counts[0]), int(counts[1])
    if len(rest) < nv + nf:
        raise ValueError(f"OFF file declares {nv} vertices and {nf} faces but is shorter")
    verts = np.array([[float(x) for x in rest[i].split()[:3]] for i in range(nv)], np.float64)
    polys = []
    for i in range(nf):
        tok = rest[nv + i].split()
        n = int(tok[0])
        polys.append([int(x) for x in tok[1 : 1 + n]])
    return verts, _fan(polys), None


# ----------------------------------------------------------------------------------------------
_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
    "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}


def read_ply(data: bytes):
    fmt, elements, body = _ply_header(data)
    if fmt == "ascii":
        return _ply_ascii(body, elements)
    return _ply_binary(body, elements, "<" if fmt == "binary_little_endian" else ">")


def _ply_header(data: bytes):
    """(format, elements, body): elements are [name, count, [(property, type, list count type or None)]]."""
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise ValueError("not a PLY file (missing 'ply' / 'end_header')")
    nl = data.find(b"\n", end)
    body = data[nl + 1 :] if nl >= 0 else b""
    fmt = None
    elements = []
    for line in data[:end].decode("ascii", errors="replace").splitlines():
        tok = line.split()
        if not tok:
            continue
        if tok[0] == "format":
            fmt = tok[1]
        elif tok[0] == "element":
            elements.append([tok[1], int(tok[2]), []])
        elif tok[0] == "property":
            if not elements:
                raise ValueError("PLY property before any element")
            if tok[1] == "list":
                elements[-1][2].append((tok[4], _PLY_TYPES[tok[3]], _PLY_TYPES[tok[2]]))
            else:
                elements[-1][2].append((tok[2], _PLY_TYPES[tok[1]], None))
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise ValueError(f"unsupported PLY format {fmt!r}")
    return fmt, elements, body


def _ply_ascii(body: bytes, elements):
    tokens = body.split()
    pos = 0
    mesh = dict.fromkeys(("vertices", "faces", "colours"))
    for name, count, props in elements:
        rows = []
        for _ in range(count):
            row = []
            for _p, _t, ltype in props:
                if ltype is None:
                    row.append(float(tokens[pos]))
                    pos += 1
                else:
                    n = int(tokens[pos])
                    row.append([int(float(x)) for x in tokens[pos + 1 : pos + 1 + n]])
                    pos += 1 + n
            rows.append(row)
        _ply_collect(name, props, rows, mesh)
    return mesh["vertices"], mesh["faces"], mesh["colours"]


def _ply_binary(body: bytes, elements, bo: str):
    pos = 0
    mesh = dict.fromkeys(("vertices", "faces", "colours"))
    for name, count, props in elements:
        if all(lt is None for _, _, lt in props):
            arr, pos = _ply_fixed_rows(body, pos, count, props, bo)
            if name == "vertex":
                _ply_vertices(props, lambda p: arr[p], mesh)
            continue
        polys, end = _ply_constant_lists(body, pos, count, props, bo)
        if polys is not None:
            pos = end
            if name == "face":
                mesh["faces"] = _fan(polys) if polys.shape[1] != 3 else polys
            continue
        rows, pos = _ply_binary_rows(body, pos, count, props, bo)
        _ply_collect(name, props, rows, mesh)
    return mesh["vertices"], mesh["faces"], mesh["colours"]


def _ply_fixed_rows(body: bytes, pos: int, count: int, props, bo: str):
    """An element without lists, read as one structured array: (array, position after it)."""
    dt = np.dtype([(p or f"_{i}", bo + t) for i, (p, t, _) in enumerate(props)])
    return np.frombuffer(body, dt, count=count, offset=pos), pos + dt.itemsize * count


def _ply_constant_lists(body: bytes, pos: int, count: int, props, bo: str):
    """The fast path for an element of exactly one list whose length never changes (all triangles,
    all quads): (int64 [count, n] indices, position after them), or (None, pos) where it does not apply."""
    if len(props) != 1 or count <= 0:
        return None, pos
    _, t, lt = props[0]
    n0 = int(np.frombuffer(body, bo + lt, count=1, offset=pos)[0])
    dt = np.dtype([("n", bo + lt), ("i", bo + t, (n0,))])
    if pos + dt.itemsize * count > len(body):
        return None, pos
    arr = np.frombuffer(body, dt, count=count, offset=pos)
    if not (arr["n"] == n0).all():
        return None, pos
    return arr["i"].astype(np.int64), pos + dt.itemsize * count


def _ply_binary_rows(body: bytes, pos: int, count: int, props, bo: str):
    """Any element, value by value: (rows, position after them)."""
    rows = []
    for _ in range(count):
        row = []
        for _p, t, lt in props:
            if lt is None:
                row.append(np.frombuffer(body, bo + t, count=1, offset=pos)[0])
                pos += np.dtype(t).itemsize
            else:
                n = int(np.frombuffer(body, bo + lt, count=1, offset=pos)[0])
                pos += np.dtype(lt).itemsize
                row.append(np.frombuffer(body, bo + t, count=n, offset=pos).astype(np.int64).tolist())
                pos += np.dtype(t).itemsize * n
        rows.append(row)
    return rows, pos


def _ply_collect(name, props, rows, mesh: dict) -> None:
    """Store an element read row by row in `mesh` (vertices, faces, colours)."""
    names = [p for p, _, _ in props]
    if name == "vertex":
        column = {p: i for i, p in enumerate(names)}
        _ply_vertices(props, lambda p: np.array([r[column[p]] for r in rows], np.float64), mesh)
    elif name == "face":
        key = next((i for i, (p, _, lt) in enumerate(props) if lt is not None
                    and p in ("vertex_indices", "vertex_index")), None)
        if key is None:
            key = next(i for i, (_, _, lt) in enumerate(props) if lt is not None)
        mesh["faces"] = _fan([r[key] for r in rows])


_PLY_COLOURS = (("red", "green", "blue"), ("diffuse_red", "diffuse_green", "diffuse_blue"))


def _ply_vertices(props, column, mesh: dict) -> None:
    """Store the vertex element's positions and colours (integers scaled by their type's maximum, floats
    as they are) in `mesh`; column(name) is one property's values."""
    types = {p: t for p, t, lt in props if lt is None}
    mesh["vertices"] = np.stack([column(c) for c in ("x", "y", "z")], 1).astype(np.float64).reshape(-1, 3)
    names = next((n for n in _PLY_COLOURS if all(p in types for p in n)), None)
    if names is not None:
        t = np.dtype(types[names[0]])
        scale = float(np.iinfo(t).max) if t.kind in "iu" else 1.0
        mesh["colours"] = np.stack([column(p) for p in names], 1).astype(np.float64).reshape(-1, 3) / scale


# ----------------------------------------------------------------------------------------------
_GL_TYPES = {5120: "i1", 5121: "u1", 5122: "i2", 5123: "u2", 5125: "u4", 5126: "f4"}
_GL_SIZES = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}


def _node_matrix(node) -> np.ndarray:
    if "matrix" in node:
        return np.asarray(node["matrix"], np.float64).reshape(4, 4).T  # column-major
    m = np.eye(4)
    t = node.get("translation", [0, 0, 0])
    x, y, z, w = node.get("rotation", [0, 0, 0, 1])
    s = node.get("scale", [1, 1, 1])
    r = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])
    m[:3, :3] = r * np.asarray(s, np.float64)[None, :]
    m[:3, 3] = t
    return m


def read_glb(data: bytes):
    gltf, binary = _glb_chunks(data)
    _check_gltf(gltf)
    all_v, all_f, all_c = [], [], []
    offset = 0
    for matrix, mesh in _scene_meshes(gltf):
        for prim in gltf["meshes"][mesh].get("primitives", []):
            triangles = _primitive_triangles(gltf, binary, prim)
            if triangles is None:
                continue
            v, f, c = triangles
            v = v @ matrix[:3, :3].T + matrix[:3, 3]
            if np.linalg.det(matrix[:3, :3]) < 0:
                f = f[:, ::-1]
            all_v.append(v)
            all_f.append(f + offset)
            all_c.append(c)
            offset += len(v)
    if not all_v:
        raise ValueError("GLB has no triangle meshes in its scene")
    colours = None if any(c is None for c in all_c) else np.concatenate(all_c)  # some primitives coloured: none
    return np.concatenate(all_v), np.concatenate(all_f), colours


def _glb_chunks(data: bytes) -> tuple[dict, bytes]:
    """(the glTF JSON, the binary chunk) of a GLB file."""
    if len(data) < 20 or data[:4] != b"glTF":
        raise ValueError("not a GLB file (missing 'glTF' magic)")
    version, length = struct.unpack_from("<II", data, 4)
    if version != 2:
        raise ValueError(f"glTF version {version} is not supported (need 2)")
    pos, gltf, binary = 12, None, b""
    while pos + 8 <= min(length, len(data)):
        clen, ctype = struct.unpack_from("<II", data, pos)
        chunk = data[pos + 8 : pos + 8 + clen]
        if ctype == 0x4E4F534A:  # "JSON"
            gltf = json.loads(chunk.decode("utf-8"))
        elif ctype == 0x004E4942:  # "BIN\0"
            binary = chunk
        pos += 8 + clen
    if gltf is None:
        raise ValueError("GLB has no JSON chunk")
    return gltf, binary


def _check_gltf(gltf: dict) -> None:
    """What this reader does not handle: Draco compression, buffers outside the file."""
    if "KHR_draco_mesh_compression" in gltf.get("extensionsRequired", []) + gltf.get("extensionsUsed", []):
        raise ValueError("Draco-compressed GLB is not supported; export without mesh compression")
    for b in gltf.get("buffers", []):
        if "uri" in b:
            raise ValueError("GLB refers to external buffers; export a self-contained .glb")


def _accessor(gltf: dict, binary: bytes, i: int) -> np.ndarray:
    """Accessor `i` as float64 [count, components] (strided views and normalised integers too)."""
    acc = gltf["accessors"][i]
    if "bufferView" not in acc:
        return np.zeros((acc["count"], _GL_SIZES[acc["type"]]))
    view = gltf["bufferViews"][acc["bufferView"]]
    dt = np.dtype("<" + _GL_TYPES[acc["componentType"]])
    ncomp = _GL_SIZES[acc["type"]]
    start = view.get("byteOffset", 0) + acc.get("byteOffset", 0)
    stride = view.get("byteStride", 0) or dt.itemsize * ncomp
    count = acc["count"]
    if stride == dt.itemsize * ncomp:
        out = np.frombuffer(binary, dt, count=count * ncomp, offset=start).reshape(count, ncomp)
    else:
        raw = np.frombuffer(binary, np.uint8, count=stride * (count - 1) + dt.itemsize * ncomp, offset=start)
        rows = np.lib.stride_tricks.as_strided(raw, (count, dt.itemsize * ncomp), (stride, 1))
        out = rows.copy().view(dt).reshape(count, ncomp)
    out = out.astype(np.float64)
    if acc.get("normalized"):
        out /= float(np.iinfo(dt).max)
    return out


def _scene_meshes(gltf: dict):
    """(world matrix, mesh index) of every node with a mesh in the scene, depth first."""
    scenes = gltf.get("scenes")
    if scenes:
        roots = scenes[gltf.get("scene", 0)].get("nodes", [])
    else:  # no scene: every node that is no other node's child is a root
        children = {c for n in gltf.get("nodes", []) for c in n.get("children", [])}
        roots = [i for i in range(len(gltf.get("nodes", []))) if i not in children]
    for r in roots:
        yield from _node_meshes(gltf, r, np.eye(4))


def _node_meshes(gltf: dict, index: int, parent: np.ndarray):
    node = gltf["nodes"][index]
    m = parent @ _node_matrix(node)
    if "mesh" in node:
        yield m, node["mesh"]
    for c in node.get("children", []):
        yield from _node_meshes(gltf, c, m)


def _primitive_triangles(gltf: dict, binary: bytes, prim: dict):
    """(positions [V,3], triangles [F,3], sRGB colours [V,3] or None) of a triangle, strip or fan
    primitive; None for other modes."""
    mode = prim.get("mode", 4)
    if mode not in (4, 5, 6) or "POSITION" not in prim.get("attributes", {}):
        return None
    v = _accessor(gltf, binary, prim["attributes"]["POSITION"])[:, :3]
    idx = _accessor(gltf, binary, prim["indices"])[:, 0].astype(np.int64) if "indices" in prim else np.arange(len(v))
    if mode == 4:
        f = idx[: len(idx) // 3 * 3].reshape(-1, 3)
    elif mode == 5:  # strip: every other triangle reversed to keep the winding
        f = np.array([(idx[i], idx[i + 1], idx[i + 2]) if i % 2 == 0 else (idx[i + 1], idx[i], idx[i + 2])
                      for i in range(len(idx) - 2)], np.int64).reshape(-1, 3)
    else:  # fan
        f = np.array([(idx[0], idx[i], idx[i + 1]) for i in range(1, len(idx) - 1)], np.int64).reshape(-1, 3)
    return v, f, _primitive_colours(gltf, binary, prim, len(v))


def _primitive_colours(gltf: dict, binary: bytes, prim: dict, count: int) -> np.ndarray | None:
    """COLOR_0 (VEC3 or VEC4; float, or unsigned byte / short in 0..max) as sRGB [count, 3], or None."""
    if "COLOR_0" not in prim["attributes"]:
        return None
    i = prim["attributes"]["COLOR_0"]
    acc = gltf["accessors"][i]
    linear = _accessor(gltf, binary, i)[:, :3]
    if acc["componentType"] != 5126 and not acc.get("normalized"):  # glTF requires normalized; some omit it
        linear = linear / float(np.iinfo(_GL_TYPES[acc["componentType"]]).max)
    if linear.shape != (count, 3):
        raise ValueError(f"COLOR_0 has {len(linear)} {acc['type']} values for {count} vertices (need VEC3 or VEC4)")
    return linear_to_srgb(np.clip(linear, 0.0, 1.0))
