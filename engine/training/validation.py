"""A model's IoU on given shapes (the validation figure of a run, and tools/fit_check.py's), and
its camera head's error."""

from __future__ import annotations

import torch

from ..evaluation.metrics import batch_iou
from ..model import IMDecNet


@torch.no_grad()
def shape_ious(model: IMDecNet, images: torch.Tensor, points: torch.Tensor, occupancy: torch.Tensor,
               chunk: int = 16) -> list[float]:
    """IoU of each shape at its points (the decision at logit 0), in eval mode."""
    was_training = model.training
    model.eval()
    ious = []
    for i in range(0, len(images), chunk):
        pred = model(images[i:i + chunk], points[i:i + chunk]) > 0
        ious.extend(batch_iou(pred, occupancy[i:i + chunk]).tolist())
    model.train(was_training)
    return ious


def validation_iou(model: IMDecNet, val: dict) -> float:
    """Mean IoU over the validation shapes, at their uniform points."""
    ious = shape_ious(model, val["images"], val["points"], val["occupancy"])
    return float(sum(ious) / max(1, len(ious)))


@torch.no_grad()
def camera_errors(model: IMDecNet, images: torch.Tensor, cameras: torch.Tensor, chunk: int = 16) -> dict | None:
    """Median errors of the predicted cameras against the true ones (ImageCamera vectors): view
    direction in degrees, distance and focal length relative; None for a global-only model."""
    from ..camera import ImageCamera, view_angle_error

    if model.local is None:
        return None
    was_training = model.training
    model.eval()
    predicted = model.camera_head.camera(torch.cat([model.camera_outputs(images[i:i + chunk])
                                                    for i in range(0, len(images), chunk)]))
    model.train(was_training)
    true = ImageCamera.from_vector(cameras)
    return {"angle_deg": float(view_angle_error(predicted, true).median()),
            "distance": float(((predicted.distance - true.distance).abs() / true.distance).median()),
            "focal": float(((predicted.focal - true.focal).abs() / true.focal).median()),
            "origin": float((predicted.origin - true.origin).norm(dim=-1).median())}
