"""Cameras of prepared images: the renderer's camera after the crop places every point of the shape
inside its silhouette, and the camera vector the head predicts round-trips."""

import math

import torch

from engine.camera import ImageCamera, prepared_camera, view_angle_error
from engine.data import shapes as procedural
from engine.data.render import bounding_radius, random_cameras, render
from engine.images import prepare_batch
from engine.local import sample_at


def test_inside_points_project_inside_the_prepared_silhouette():
    gen = torch.Generator().manual_seed(0)
    batch = procedural.ShapeBatch.make(["chair", "table", "lamp"], procedural.split_seeds("train", 3))
    cams = random_cameras(3, gen, radius=bounding_radius(batch))
    images, crops = prepare_batch(render(batch, cams, size=160, generator=gen), 128, return_crops=True)
    camera = prepared_camera(cams, crops)
    points, inside = procedural.sample_points(batch, 50000, 0, generator=gen)
    alpha = sample_at(images[:, 3:], camera.project(points)[0])[..., 0]
    for i in range(3):
        assert inside[i].sum() > 150
        # the whole shape in its outline (thin parts thinner than a pixel have a faint alpha)
        assert (alpha[i][inside[i]] > 0.05).float().mean() > 0.995
    surface = procedural.surface_points(batch, 2000, gen)
    edge = sample_at(images[:, 3:], camera.project(surface)[0])[..., 0]
    assert (edge > 0.25).float().mean() > 0.97                        # and its surface on it


def test_camera_vectors_round_trip_and_angles_are_measured_in_degrees():
    camera = ImageCamera(torch.tensor([0.3, -2.0]), torch.tensor([0.2, 0.6]), torch.tensor([3.0, 2.2]),
                         torch.tensor([5.0, 7.0]), torch.tensor([[0.05, -0.1], [0.0, 0.02]]))
    again = ImageCamera.from_vector(camera.to_vector())
    for a, b in zip((camera.azimuth, camera.elevation, camera.distance, camera.focal, camera.origin),
                    (again.azimuth, again.elevation, again.distance, again.focal, again.origin)):
        assert torch.allclose(a, b, atol=1e-6)
    turned = ImageCamera(camera.azimuth + math.radians(10), camera.elevation, camera.distance, camera.focal, camera.origin)
    flat = ImageCamera(torch.zeros(2), torch.zeros(2), camera.distance, camera.focal, camera.origin)
    assert torch.allclose(view_angle_error(flat, ImageCamera(torch.full((2,), math.radians(10)), torch.zeros(2),
                                                             camera.distance, camera.focal, camera.origin)),
                          torch.full((2,), 10.0), atol=1e-3)
    assert (view_angle_error(camera, turned) > 0).all() and (view_angle_error(camera, turned) <= 10.0 + 1e-3).all()


def test_the_origin_projects_where_the_camera_says():
    camera = ImageCamera(torch.tensor([0.7]), torch.tensor([0.4]), torch.tensor([3.0]), torch.tensor([6.0]),
                         torch.tensor([[0.1, -0.2]]))
    position, depth = camera.project(torch.zeros(1, 1, 3))
    assert torch.allclose(position[0, 0], torch.tensor([0.1, -0.2])) and torch.allclose(depth, torch.tensor([[3.0]]))
    above, _ = camera.project(torch.tensor([[[0.0, 0.0, 0.2]]]))
    assert above[0, 0, 1] < -0.2                                       # up in the frame is up in the image


def a_camera(azimuth_deg: list[float]) -> ImageCamera:
    b = len(azimuth_deg)
    return ImageCamera(torch.deg2rad(torch.tensor(azimuth_deg)), torch.full((b,), 0.4), torch.full((b,), 3.2),
                       torch.full((b,), 6.0), torch.zeros(b, 2))


def fit_raw_outputs(head, targets: list[torch.Tensor], steps: int = 400) -> torch.Tensor:
    """Raw head outputs for one picture, fitted by gradient descent on the head's loss to targets
    that take turns (one picture, several true cameras: what a symmetric object gives)."""
    raw = torch.nn.Parameter(head.net[-1].bias.detach().clone()[None])
    optimiser = torch.optim.Adam([raw], lr=0.05)
    for step in range(steps):
        optimiser.zero_grad()
        head.loss(raw, targets[step % len(targets)]).backward()
        optimiser.step()
    return raw.detach()


def test_the_binned_camera_head_reads_its_outputs_back_and_scores_a_perfect_answer_zero():
    from engine.local import CameraHead

    head = CameraHead(bins=24)
    true = a_camera([37.0]).to_vector()
    raw = fit_raw_outputs(head, [true])
    assert view_angle_error(head.camera(raw), ImageCamera.from_vector(true)).item() < 1.0
    assert head.loss(raw, true).item() < 0.02
    assert head.loss(raw, a_camera([130.0]).to_vector()).item() > 1.0     # a wrong azimuth costs


def test_the_projection_loss_judges_a_camera_by_where_the_points_land():
    """Moving the camera away and zooming in by the same factor leaves a cropped picture almost as
    it was: the projection loss counts that near nothing and an elevation 10 degrees off in full,
    where the loss on the camera vector counts the zoom twice the elevation. Points outside the
    shape do not count."""
    from engine.local import CameraHead

    gen = torch.Generator().manual_seed(0)
    points = (torch.rand(1, 2000, 3, generator=gen) - 0.5) * torch.tensor([0.8, 0.8, 0.9])
    inside = torch.ones(1, 2000)
    for bins in (24, 0):
        head = CameraHead(bins=bins)
        true = a_camera([37.0]).to_vector()
        raw = fit_raw_outputs(head, [true])
        rest = raw.shape[1] - 5                                   # elevation, log distance, log focal, origin
        higher, zoomed = raw.clone(), raw.clone()
        higher[0, rest] += math.radians(10)
        zoomed[0, rest + 1:rest + 3] += 0.2
        perfect = head.projection_loss(raw, true, points, inside).item()
        elevation = head.projection_loss(higher, true, points, inside).item()
        zoom = head.projection_loss(zoomed, true, points, inside).item()
        assert perfect < 1e-6 and elevation > 0.004 and zoom < elevation / 20, (bins, perfect, elevation, zoom)
        assert head.loss(zoomed, true) > head.loss(higher, true)
        assert head.projection_loss(higher, true, points, torch.zeros(1, 2000)).item() == 0.0


def test_a_front_back_symmetric_object_gets_one_of_its_views_from_the_bins_and_neither_from_sin_cos():
    from engine.local import CameraHead

    views = [a_camera([30.0]).to_vector(), a_camera([210.0]).to_vector()]  # the picture fits both
    for bins, finds_a_view in ((24, True), (0, False)):
        head = CameraHead(bins=bins)
        camera = head.camera(fit_raw_outputs(head, views))
        error = min(view_angle_error(camera, ImageCamera.from_vector(v)).item() for v in views)
        assert (error < 5.0) == finds_a_view, (bins, error)


def test_silhouette_agreement_forgives_a_view_the_shape_looks_the_same_from_and_no_other():
    from engine.camera import silhouette_agreement

    gen = torch.Generator().manual_seed(0)
    box = (torch.rand(20000, 3, generator=gen) - 0.5) * torch.tensor([0.8, 0.3, 0.4])  # turned by 180: the same
    wedge = box[box[:, 0] + box[:, 1] < 0.1]                                              # turned by 180: not
    front, turned, side = a_camera([30.0]), a_camera([210.0]), a_camera([120.0])
    assert silhouette_agreement(box, front, front) == 1.0
    assert silhouette_agreement(box, front, turned) > 0.9
    assert silhouette_agreement(box, front, side) < 0.8
    assert silhouette_agreement(wedge, front, turned) < 0.8
    assert view_angle_error(front, turned).item() > 90                     # which the view error counts in full


def test_mask_agreement_tells_the_pictures_camera_from_a_turned_one():
    from engine.camera import mask_agreement
    from engine.frame import node_grid
    from engine.local import GATE_GRID, GATE_PIXELS

    gen = torch.Generator().manual_seed(1)
    batch = procedural.ShapeBatch.make(["chair", "table", "sofa"], procedural.split_seeds("train", 3))
    cams = random_cameras(3, gen, radius=bounding_radius(batch))
    images, crops = prepare_batch(render(batch, cams, size=160, generator=gen), 128, return_crops=True)
    vectors = prepared_camera(cams, crops).to_vector()
    nodes = node_grid(GATE_GRID)
    inside = batch.occupancy(nodes[None].expand(3, -1, -1))
    for i in range(3):
        camera = ImageCamera.from_vector(vectors[i:i + 1])
        turned = ImageCamera(camera.azimuth + math.radians(60), camera.elevation, camera.distance, camera.focal,
                             camera.origin)
        right = mask_agreement(nodes[inside[i]], camera, images[i, 3], GATE_PIXELS)
        wrong = mask_agreement(nodes[inside[i]], turned, images[i, 3], GATE_PIXELS)
        assert right > 0.8 and wrong < right - 0.1, (i, right, wrong)
