"""Metrics of docs/CONVENTIONS.md on meshes whose answer is known."""

import numpy as np
import pytest

from engine.evaluation.metrics import iou, sample_surface, surface_metrics
from test_mesh_files import cube


def test_metrics_of_a_mesh_against_itself_and_a_shifted_copy():
    v, f = cube()
    same = surface_metrics((v, f), (v, f))
    assert same["chamfer_l1"] < 0.01 and same["fscore@0.01"] > 0.9 and same["normal_consistency"] > 0.99
    moved = surface_metrics((v + [0.05, 0, 0], f), (v, f))
    assert moved["chamfer_l1"] > 0.01 and moved["fscore@0.01"] < same["fscore@0.01"]
    pts, nrm = sample_surface(v, f, 1000)
    assert np.allclose(np.abs(pts).max(1), 0.5, atol=1e-5) and np.allclose(np.linalg.norm(nrm, axis=1), 1)
    assert iou([1, 1, 0, 0], [1, 0, 1, 0]) == pytest.approx(1 / 3)


def test_mesh_pieces_counts_separate_parts_and_ignores_specks():
    from engine.evaluation.metrics import mesh_pieces

    v, f = cube()
    two = (np.concatenate([v, v + 2.0]), np.concatenate([f, f + len(v)]))
    assert mesh_pieces(v, f) == 1 and mesh_pieces(*two) == 2
    assert mesh_pieces(*two, min_faces=13) == 0 and mesh_pieces(np.zeros((0, 3)), np.zeros((0, 3), int)) == 0
