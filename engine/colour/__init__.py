"""Vertex colours from the picture (docs/CONVENTIONS.md, "Colours": sRGB in 0..1).

    camera, fit = fit_camera(vertices, mask)                     # camera_fit: the picture's view of the mesh
    colours = colour_mesh(vertices, faces, picture, camera)      # [V, 3] float32 sRGB

Which colour a vertex takes:
1. Seen (it faces the camera and the depth buffer of the mesh itself has nothing in front of it):
   the picture's colour where it projects, un-premultiplied, with the background filled from the
   nearest object pixels (picture.filled_colours) so the backdrop never bleeds in.
2. Hidden, and its mirror image across the symmetry plane x = 0 lies on a seen part of the mesh:
   the mirror image's colour. Most objects are mirror-symmetric in the shape frame, and a hidden
   side's mirror image is the same part seen from the other side (the far armrest is the near
   one), where the nearest seen surface may be another part (the seat next to the far armrest).
3. Otherwise (the back of a chair's backrest, whose mirror image is itself): the colour of the
   nearest seen vertex, which for a hidden face of a part is that part's seen side.
"""

from __future__ import annotations

import numpy as np
import torch

from ..camera import ImageCamera
from ..frame import DOMAIN_HALF
from .camera_fit import fit_camera
from .picture import filled_colours, sample_colours
from .raster import project, visible_vertices

__all__ = ["colour_mesh", "fit_camera", "mean_colour"]


def colour_mesh(vertices: np.ndarray, faces: np.ndarray, picture: torch.Tensor, camera: ImageCamera,
                normals: np.ndarray | None = None) -> np.ndarray:
    """float32 [V, 3] sRGB colours for the mesh from `picture` [4, H, W] (prepare_batch's premultiplied
    RGB + alpha, any size) seen through `camera` (the prepared picture's)."""
    from ..mesh_files import vertex_normals

    vertices = np.ascontiguousarray(vertices, np.float32)
    normals = vertex_normals(vertices, faces) if normals is None else normals
    seen = visible_vertices(vertices, faces, normals, camera)
    colours = np.empty((len(vertices), 3), np.float32)
    if not seen.any():  # a camera that shows nothing of the mesh: the object's mean colour
        colours[:] = mean_colour(picture)
        return colours
    positions, _ = project(camera, torch.from_numpy(vertices[seen]))
    colours[seen] = sample_colours(filled_colours(picture), positions).numpy()
    if not seen.all():
        colours[~seen] = SeenColours(vertices[seen], colours[seen]).hidden(vertices[~seen])
    return colours


class SeenColours:
    """The seen vertices' colours on a voxel grid over the frame, for the hidden vertices' rules 2
    and 3: a grid (not a k-d tree over the vertices) keeps the cost independent of the mesh's
    resolution, and its voxels (1/64 of the frame) are finer than any colour a hidden side could
    be guessed to."""

    def __init__(self, points: np.ndarray, colours: np.ndarray, size: int = 64):
        from scipy import ndimage

        self.size = size
        cell = self.cell(points)
        counts = np.bincount(cell, minlength=size ** 3)
        sums = np.stack([np.bincount(cell, weights=colours[:, k], minlength=size ** 3) for k in range(3)], -1)
        self.seen = counts > 0
        self.mean = (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)
        # for every voxel, the flat index of the nearest seen voxel
        grid = (~self.seen).reshape(size, size, size)
        nearest = ndimage.distance_transform_edt(grid, return_distances=False, return_indices=True)
        self.nearest = np.ravel_multi_index(tuple(nearest), grid.shape).ravel()

    def cell(self, points: np.ndarray) -> np.ndarray:
        ijk = np.floor((points / (2 * DOMAIN_HALF) + 0.5) * self.size).astype(np.int64).clip(0, self.size - 1)
        return np.ravel_multi_index(tuple(ijk.T), (self.size,) * 3)

    def hidden(self, points: np.ndarray) -> np.ndarray:
        """[N, 3] colours of hidden points: their mirror image's voxel when it holds seen vertices,
        else the nearest seen voxel's."""
        mirrored = self.cell(points * np.array([-1.0, 1.0, 1.0], np.float32))
        own = self.nearest[self.cell(points)]
        return self.mean[np.where(self.seen[mirrored], mirrored, own)]


def mean_colour(picture: torch.Tensor) -> np.ndarray:
    """[3] the object's mean straight colour in a premultiplied picture [4, H, W] (alpha-weighted)."""
    alpha = picture[3].float().sum().clamp(min=1e-8)
    return (picture[:3].float().sum((1, 2)) / alpha).clamp(0, 1).numpy().astype(np.float32)
