"""Point-splat rasterisation of a mesh through an ImageCamera: the depth buffer that says which
vertices the picture shows, and images of a coloured mesh (for the colour metrics).

Both splat points on the surface into a z-buffer (torch scatter_reduce "amin"); the buffer's pixels
are kept larger than the spacing of the splatted points, so a surface facing the camera covers
every pixel it spans and nothing behind it shows through."""

from __future__ import annotations

import math

import numpy as np
import torch

from ..camera import ImageCamera


def pixel_of(positions: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Image positions [N, 2] (-1..1) -> (flat pixel index [N] of a size x size image, inside [N])."""
    ij = torch.floor((positions + 1) * (size / 2)).long()
    inside = ((ij >= 0) & (ij < size)).all(-1)
    ij = ij.clamp(0, size - 1)
    return ij[:, 1] * size + ij[:, 0], inside


def z_buffer(index: torch.Tensor, depth: torch.Tensor, inside: torch.Tensor, size: int) -> torch.Tensor:
    """The nearest depth per pixel [size * size] (inf where nothing falls)."""
    buffer = torch.full((size * size,), math.inf, dtype=depth.dtype)
    return buffer.scatter_reduce(0, index[inside], depth[inside], "amin")


def project(camera: ImageCamera, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """points [N, 3] -> (image positions [N, 2], depth along the view [N]) for a one-image camera."""
    positions, depth = camera.project(points[None])
    return positions[0], depth[0]


def mean_edge(vertices: np.ndarray, faces: np.ndarray) -> float:
    tri = vertices[faces[: min(len(faces), 20000)]]
    return float(np.linalg.norm(tri - np.roll(tri, 1, axis=1), axis=-1).mean())


def buffer_size(camera: ImageCamera, spacing: float, depth: float, limit: int = 512) -> int:
    """The z-buffer side at which a pixel spans `spacing` (world units) at `depth`: image positions
    cover 2 units over the side, and a length s at depth d spans s * focal / d of them."""
    focal = float(camera.focal[0])
    return int(max(16, min(limit, 2.0 * depth / (focal * spacing))))


def visible_vertices(vertices: np.ndarray, faces: np.ndarray, normals: np.ndarray, camera: ImageCamera,
                     facing: float = 0.05) -> np.ndarray:
    """bool [V]: the vertex faces the camera and no surface lies in front of it."""
    v = torch.from_numpy(np.ascontiguousarray(vertices, np.float32))
    f = torch.from_numpy(np.ascontiguousarray(faces, np.int64))
    centroids = v[f].mean(1)
    splats = torch.cat([v, centroids])
    positions, depth = project(camera, splats)
    # vertices and centroids lie about edge / 2 apart: pixels of 1.5 edges leave no gaps
    edge = mean_edge(vertices, faces)
    size = buffer_size(camera, 1.5 * edge, float(depth.median()))
    index, inside = pixel_of(positions, size)
    nearest = z_buffer(index, depth, inside, size)
    n = len(v)
    eye = (camera.direction()[0] * camera.distance[0]).float()
    to_eye = torch.nn.functional.normalize(eye - v, dim=-1)
    cos = (torch.from_numpy(np.ascontiguousarray(normals, np.float32)) * to_eye).sum(-1)
    # a surface at an angle changes depth across a pixel by up to pixel * tan(angle); capped at
    # tan 72 degrees, so a grazing vertex of a part behind another cannot count as in front of it
    pixel = depth[:n] * 2.0 / (float(camera.focal[0]) * size)
    slope = (torch.sqrt((1 - cos.clamp(min=facing) ** 2).clamp(min=0)) / cos.clamp(min=facing)).clamp(max=3.0)
    tolerance = pixel * (1.0 + slope) + 0.5 * edge
    seen = (cos > facing) & inside[:n] & (depth[:n] <= nearest[index[:n]] + tolerance)
    return seen.numpy()


def render_colours(vertices: np.ndarray, faces: np.ndarray, colours: np.ndarray, camera: ImageCamera,
                   size: int) -> tuple[np.ndarray, np.ndarray]:
    """(RGB [size, size, 3], covered [size, size] bool): the coloured mesh seen through `camera`,
    vertex colours interpolated across each face, no shading."""
    v = torch.from_numpy(np.ascontiguousarray(vertices, np.float32))
    c = torch.from_numpy(np.ascontiguousarray(colours, np.float32))
    f = torch.from_numpy(np.ascontiguousarray(faces, np.int64))
    positions, _ = project(camera, v)
    pixels = positions * (size / 2)
    longest = float((pixels[f] - pixels[f].roll(1, dims=1)).norm(dim=-1).max()) if len(f) else 1.0
    weights = barycentric_lattice(max(1, min(16, math.ceil(2 * longest))))          # [S, 3]
    points = torch.einsum("sk,fkd->fsd", weights, v[f]).reshape(-1, 3)
    point_colours = torch.einsum("sk,fkd->fsd", weights, c[f]).reshape(-1, 3)
    positions, depth = project(camera, points)
    index, inside = pixel_of(positions, size)
    nearest = z_buffer(index, depth, inside, size)
    front = inside & (depth <= nearest[index])
    image = torch.zeros(size * size, 3)
    image[index[front]] = point_colours[front]
    covered = torch.isfinite(nearest)
    return image.reshape(size, size, 3).numpy(), covered.reshape(size, size).numpy()


def barycentric_lattice(n: int) -> torch.Tensor:
    """[S, 3] barycentric weights of the points i/n, j/n (i + j <= n) of a triangle."""
    i, j = torch.meshgrid(torch.arange(n + 1), torch.arange(n + 1), indexing="ij")
    keep = (i + j) <= n
    a, b = i[keep].float() / n, j[keep].float() / n
    return torch.stack([1 - a - b, a, b], -1)
