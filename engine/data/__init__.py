"""Training data for imdec: procedural shapes (shapes.py), a batched SDF renderer (render.py)
and users' meshes turned into the same kind of samples (meshes.py, meshio_read.py)."""

from .meshes import GridSDFBatch, MeshFolderDataset, load_mesh  # noqa: F401
from .meshio_read import read_mesh  # noqa: F401
from .render import Cameras, bounding_radius, fixed_cameras, random_cameras, render  # noqa: F401
from .shapes import (CATEGORIES, Shape, ShapeBatch, make_shape, make_shapes, sample_points,  # noqa: F401
                     shape_mesh, split_seeds)
