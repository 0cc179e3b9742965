"""engine.colour: the picture's colours on the mesh (camera fit, visibility, hidden-side rules),
the colour metrics, and a real reconstruction's colours."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from engine.camera import ImageCamera, prepared_camera, view_angle_error
from engine.colour import colour_mesh, fit_camera, mean_colour
from engine.colour.picture import filled_colours, sample_colours
from engine.colour.raster import render_colours, visible_vertices
from engine.extract.meshing import mesh_node_grid
from engine.mesh_files import vertex_normals

ROOT = Path(__file__).resolve().parents[1]


def camera(azimuth_deg: float, elevation_deg: float = 20.0, focal: float = 5.0) -> ImageCamera:
    return ImageCamera(torch.tensor([math.radians(azimuth_deg)]), torch.tensor([math.radians(elevation_deg)]),
                       torch.tensor([3.3]), torch.tensor([focal]), torch.zeros(1, 2))


def sphere_mesh(centre=(0.0, 0.0, 0.0), radius: float = 0.3, n: int = 48):
    g = np.linspace(-0.55, 0.55, n + 1)
    x, y, z = np.meshgrid(g, g, g, indexing="ij")
    d = radius - np.sqrt((x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2)
    return mesh_node_grid(d.astype(np.float32), 0.0, 0.55)


def premultiplied(rgb: np.ndarray, alpha: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.concatenate([rgb * alpha[..., None], alpha[..., None]], -1)).permute(2, 0, 1).float()


def test_filled_colours_unpremultiply_and_fill_the_background_from_the_object():
    alpha = np.zeros((32, 32), np.float32)
    alpha[8:24, 8:24] = 1.0
    alpha[8:24, 7] = 0.25                                      # an anti-aliased edge
    rgb = np.zeros((32, 32, 3), np.float32)
    rgb[..., 0], rgb[..., 2] = 0.9, 0.2
    out = filled_colours(premultiplied(rgb, alpha))
    assert torch.allclose(out[:, 0, 0], torch.tensor([0.9, 0.0, 0.2]), atol=1e-5)   # far background
    assert torch.allclose(out[:, 16, 7], torch.tensor([0.9, 0.0, 0.2]), atol=1e-5)  # the edge, un-premultiplied
    edge = sample_colours(out, torch.tensor([[-1.0, 0.0], [0.999, 0.999]]))
    assert torch.allclose(edge, torch.tensor([[0.9, 0.0, 0.2]] * 2), atol=1e-5)


def test_only_the_side_facing_the_camera_and_nothing_behind_another_part_is_seen():
    v, f = sphere_mesh()
    seen = visible_vertices(v, f, vertex_normals(v, f), camera(0.0, 0.0))   # from the front (-Y)
    assert seen[v[:, 1] < -0.1].mean() > 0.97 and seen[v[:, 1] > 0.05].sum() == 0
    # a small sphere right behind a large one is hidden, one beside it is not
    big, fb = sphere_mesh(radius=0.25)
    small, fs = sphere_mesh(centre=(0.0, 0.4, 0.0), radius=0.1)
    beside, fbs = sphere_mesh(centre=(0.4, 0.0, 0.0), radius=0.1)
    v = np.concatenate([big, small, beside])
    f = np.concatenate([fb, fs + len(big), fbs + len(big) + len(small)])
    seen = visible_vertices(v, f, vertex_normals(v, f), camera(0.0, 0.0))
    assert seen[len(big):len(big) + len(small)].sum() == 0
    assert seen[len(big) + len(small):].mean() > 0.3


def test_hidden_vertices_take_their_mirror_image_or_else_the_nearest_seen_colour():
    v, f = sphere_mesh()
    cam = camera(90.0, 0.0)                                   # from +X: the -X half is hidden
    rgb = np.zeros((64, 64, 3), np.float32)
    rgb[:32] = (1.0, 0.0, 0.0)                                 # top of the picture red, bottom blue
    rgb[32:] = (0.0, 0.0, 1.0)
    colours = colour_mesh(v, f, premultiplied(rgb, np.ones((64, 64), np.float32)), cam)
    hidden = v[:, 0] < -0.1
    top, bottom = hidden & (v[:, 2] > 0.05), hidden & (v[:, 2] < -0.05)
    assert (colours[top, 0] > 0.9).all() and (colours[bottom, 2] > 0.9).all()
    # a hidden part whose mirror image is not on the mesh: the nearest seen colour (the sphere's)
    v2, f2 = sphere_mesh(centre=(-0.35, 0.0, 0.35), radius=0.08)
    both_v, both_f = np.concatenate([v, v2]), np.concatenate([f, f2 + len(v)])
    colours = colour_mesh(both_v, both_f, premultiplied(rgb, np.ones((64, 64), np.float32)), cam)
    far = colours[len(v):][v2[:, 0] < -0.4]
    assert len(far) and (far[:, 0] > 0.9).all()               # next to the sphere's red top


def test_the_camera_fitted_to_a_true_shape_is_the_true_camera():
    from engine.data import shapes as procedural
    from engine.data.render import bounding_radius, random_cameras, render
    from engine.images import prepare_batch

    errors = []
    generator = torch.Generator().manual_seed(3)
    for category in ("chair", "car", "sofa"):
        shape = procedural.make_shape(category, procedural.SPLIT_BASE["test"] + 1)
        batch = procedural.ShapeBatch([shape])
        cameras = random_cameras(1, generator, elevation=(10.0, 40.0), radius=bounding_radius(batch))
        prepared, crops = prepare_batch(render(batch, cameras, size=192, generator=generator), 128, return_crops=True)
        vertices, _ = procedural.shape_mesh(shape, 64)
        fitted, silhouette = fit_camera(vertices, prepared[0, 3])
        errors.append(float(view_angle_error(fitted, prepared_camera(cameras, crops))[0]))
        assert silhouette > 0.8
    assert max(errors) < 10.0, errors


def test_true_camera_colours_reproduce_the_picture():
    from engine.data import shapes as procedural
    from engine.data.render import bounding_radius, random_cameras, render
    from engine.images import prepare_batch

    shape = procedural.make_shape("sofa", procedural.SPLIT_BASE["test"] + 2)
    batch = procedural.ShapeBatch([shape])
    generator = torch.Generator().manual_seed(4)
    cameras = random_cameras(1, generator, elevation=(10.0, 40.0), radius=bounding_radius(batch))
    rgba = render(batch, cameras, size=256, generator=generator)
    _, crops = prepare_batch(rgba, 128, return_crops=True)
    picture = prepare_batch(rgba, 128)[0]
    vertices, faces = procedural.shape_mesh(shape, 96)
    true = prepared_camera(cameras, crops)
    colours = colour_mesh(vertices, faces, picture, true)
    image, covered = render_colours(vertices, faces, colours, true, 128)
    mask = picture[3].numpy() > 0.5
    straight = filled_colours(picture).permute(1, 2, 0).numpy()
    inside = mask & covered
    assert inside.sum() > 0.95 * mask.sum()
    assert np.abs(image[inside] - straight[inside]).mean() < 0.05
    assert colours.std(0).mean() > 0.02                       # shading and parts, not one flat value


def test_a_reconstruction_is_coloured_like_its_picture():
    from engine.images import object_picture, prepare_batch
    from engine.reconstruct import reconstruct

    image = ROOT / "docs" / "samples" / "chair.png"
    result = reconstruct(image, resolution=96)
    clay = reconstruct(image, resolution=96, colour=False)
    assert clay.colours is None and result.to_json()["colour"] and "colour" in result.seconds
    assert result.colours.shape == (len(result.vertices), 3) and result.colours.dtype == np.float32
    assert 0.0 <= result.colours.min() and result.colours.max() <= 1.0
    from engine.evaluation.colours import area_weights

    w = area_weights(result.vertices, result.faces)
    mesh_mean = (result.colours * w[:, None]).sum(0) / w.sum()
    picture_mean = mean_colour(prepare_batch(object_picture(image), 128)[0])
    assert np.linalg.norm(mesh_mean - picture_mean) < 0.12
    assert result.colours.std(0).mean() > 0.03


def test_colour_evaluation_reports_each_figure(fixture_model):
    from engine.evaluation.colours import COLOUR_METRICS, evaluate_colours, format_colour_table

    report = evaluate_colours(fixture_model, ["chair"], shapes=1, resolution=48)
    row = report["results"]["chair"]
    assert set(COLOUR_METRICS) <= set(row) and row["shapes"] == 1
    assert 0.0 <= row["mae_fitted"] <= 1.0 and row["psnr_true"] > 0
    assert "| chair |" in format_colour_table(report)
