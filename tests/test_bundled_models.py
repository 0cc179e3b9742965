"""The models shipped in engine/weights/: each reconstructs the sample picture of every category it
was trained on (docs/samples/, held-out test shapes) into a mesh close to the true shape, and its
stored test metrics are ahead of both baselines."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.evaluation import metrics as M
from engine.checkpoint import list_models, read_checkpoint, resolve_model
from engine.data import shapes as procedural
from engine.reconstruct import reconstruct

SAMPLES = Path(__file__).resolve().parents[1] / "docs" / "samples"
RESOLUTION = 64
# The bundled models reach Chamfer-L1 0.008 to 0.036 and F@2% 0.45 to 0.96 on the sample pictures;
# the shape of another category (a car for a chair...) scores Chamfer-L1 0.095 to 0.25, F@2% 0.17 at most.
MAX_CHAMFER = 0.045
MIN_FSCORE_2 = 0.35


def model_categories():
    return [(name, cat) for name in list_models() for cat in read_checkpoint(resolve_model(name))["categories"]]


def true_mesh(category: str):
    """The sample picture's shape (test seed 0, as tools/make_samples.py renders it), meshed at RESOLUTION."""
    return procedural.shape_mesh(procedural.make_shape(category, procedural.split_seeds("test", 1)[0]), RESOLUTION)


def test_the_default_model_covers_all_six_categories():
    assert sorted(read_checkpoint(resolve_model(None))["categories"]) == sorted(procedural.CATEGORIES)


@pytest.mark.parametrize("name,category", model_categories())
def test_bundled_model_reconstructs_the_sample_picture(name, category):
    result = reconstruct(SAMPLES / f"{category}.png", model=name, resolution=RESOLUTION, device="cpu")
    assert len(result.faces) > 100
    figures = M.surface_metrics((result.vertices, result.faces), true_mesh(category), count=20000)
    assert figures["chamfer_l1"] < MAX_CHAMFER and figures["fscore@0.02"] > MIN_FSCORE_2, figures


@pytest.mark.parametrize("name", list_models())
def test_stored_test_metrics_beat_both_baselines_in_every_category(name):
    record = read_checkpoint(resolve_model(name))
    results = record["metrics"]["results"]
    assert record["metrics"]["split"] == "test"
    for category in record["categories"]:
        baselines = max(results["mean_shape"][category]["iou"], results["retrieval"][category]["iou"])
        assert results["imdec"][category]["iou"] > baselines, category
