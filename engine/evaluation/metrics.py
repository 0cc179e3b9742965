"""Shape metrics of docs/CONVENTIONS.md: IoU, Chamfer-L1, F-score at 1% and 2%, normal consistency."""

from __future__ import annotations

import numpy as np
import torch

from ..frame import DOMAIN_HALF

IOU_POINTS = 100_000
SURFACE_SAMPLES = 100_000
FSCORE_TAUS = (0.01, 0.02)


def iou_points(count: int = IOU_POINTS, seed: int = 0) -> torch.Tensor:
    """Points drawn uniformly in [-0.55, 0.55]^3, the same for every shape of an evaluation."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(count, 3, generator=g) * 2 - 1) * DOMAIN_HALF


# the IoU of two empty occupancies: they agree everywhere
EMPTY_UNION_IOU = 1.0


def iou(pred: np.ndarray | torch.Tensor, truth: np.ndarray | torch.Tensor) -> float:
    """Intersection over union of two occupancies (any shape, truthy = inside)."""
    if isinstance(pred, torch.Tensor) and isinstance(truth, torch.Tensor):
        return float(batch_iou(pred.reshape(1, -1), truth.reshape(1, -1))[0])
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    union = np.logical_or(pred, truth).sum()
    return float(np.logical_and(pred, truth).sum() / union) if union else EMPTY_UNION_IOU


def batch_iou(pred: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """IoU of each row of two [B, N] occupancies -> [B] float64, by the same rule as `iou`."""
    pred, truth = pred.bool(), truth.bool()
    inter = (pred & truth).sum(-1).double()
    union = (pred | truth).sum(-1).double()
    return torch.where(union > 0, inter / union.clamp(min=1), EMPTY_UNION_IOU)


def sample_surface(vertices: np.ndarray, faces: np.ndarray, count: int = SURFACE_SAMPLES,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Area-weighted uniform samples on the triangles, with the face normals there."""
    rng = np.random.default_rng(seed)
    tri = np.asarray(vertices, np.float64)[np.asarray(faces)]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    area = np.linalg.norm(cross, axis=1)
    if len(faces) == 0 or area.sum() <= 0:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32)
    idx = rng.choice(len(faces), size=count, p=area / area.sum())
    u, v = rng.random(count), rng.random(count)
    flip = u + v > 1
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    t = tri[idx]
    points = t[:, 0] + u[:, None] * (t[:, 1] - t[:, 0]) + v[:, None] * (t[:, 2] - t[:, 0])
    normals = cross[idx] / np.maximum(area[idx, None], 1e-20)
    return points.astype(np.float32), normals.astype(np.float32)


def surface_metrics(pred_mesh: tuple[np.ndarray, np.ndarray], true_mesh: tuple[np.ndarray, np.ndarray],
                    count: int = SURFACE_SAMPLES, seed: int = 0) -> dict:
    """Chamfer-L1 (mean of accuracy and completeness), F-scores and normal consistency."""
    from scipy.spatial import cKDTree

    p_pts, p_nrm = sample_surface(*pred_mesh, count=count, seed=seed)
    t_pts, t_nrm = sample_surface(*true_mesh, count=count, seed=seed + 1)
    # an empty mesh counts as a single point at the centre: finite, and as bad as it should be
    if len(p_pts) == 0:
        p_pts, p_nrm = np.zeros((1, 3), np.float32), np.zeros((1, 3), np.float32)
    if len(t_pts) == 0:
        t_pts, t_nrm = np.zeros((1, 3), np.float32), np.zeros((1, 3), np.float32)
    d_pred, i_pred = cKDTree(t_pts).query(p_pts, workers=-1)   # accuracy: predicted -> truth
    d_true, i_true = cKDTree(p_pts).query(t_pts, workers=-1)   # completeness: truth -> predicted
    out = {"chamfer_l1": float(0.5 * (d_pred.mean() + d_true.mean()))}
    for tau in FSCORE_TAUS:
        precision, recall = (d_pred < tau).mean(), (d_true < tau).mean()
        out[f"fscore@{tau:g}"] = float(2 * precision * recall / (precision + recall)) if precision + recall else 0.0
    nc_pred = np.abs((p_nrm * t_nrm[i_pred]).sum(1)).mean()
    nc_true = np.abs((t_nrm * p_nrm[i_true]).sum(1)).mean()
    out["normal_consistency"] = float(0.5 * (nc_pred + nc_true))
    return out


def mesh_pieces(vertices: np.ndarray, faces: np.ndarray, min_faces: int = 8) -> int:
    """Connected pieces of a mesh (faces sharing vertices), not counting specks of fewer than
    `min_faces` faces: a chair with its four legs is one to five pieces, not a dozen fragments."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    faces = np.asarray(faces)
    if len(faces) == 0:
        return 0
    n = int(faces.max()) + 1
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]]])
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    sizes = np.bincount(labels[faces[:, 0]])
    return int((sizes >= min_faces).sum())


METRIC_NAMES = ("iou", "chamfer_l1", "fscore@0.01", "fscore@0.02", "normal_consistency", "pieces", "true_pieces")


def summarize(rows: list[dict], key: str = "category", metrics: tuple[str, ...] = METRIC_NAMES) -> dict:
    """Mean of each metric per category and overall (the mean over categories)."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row[key], []).append(row)
    names = [m for m in metrics if all(m in r for r in rows)]  # reports from before `pieces` lack it
    table = {name: {m: float(np.mean([r[m] for r in rs])) for m in names} | {"shapes": len(rs)}
             for name, rs in sorted(groups.items())}
    if table:
        table["overall"] = {m: float(np.mean([t[m] for t in table.values()])) for m in names}
        table["overall"]["shapes"] = len(rows)
    return table
