"""Training samples: pools keep each view's camera and how their points were drawn, and a step
can draw a different share of near-surface points from them; the validation set is one for all
runs."""

import torch

from engine.data.samples import Pool, SampleSource


def small_pool(tmp_path):
    source = SampleSource.create(categories=["chair"], image_size=64, seed=3, near_surface=0.25)
    pool = source.build_pool(2, views=2, points=400, progress=False)
    path = tmp_path / "pool.pt"
    pool.save(path)
    return source, pool, path


def test_a_saved_pool_keeps_its_cameras_and_near_surface_share(tmp_path):
    source, pool, path = small_pool(tmp_path)
    assert pool.cameras.shape == (2, 2, 7) and pool.near_surface == 0.25
    loaded = Pool.load([path], torch.Generator().manual_seed(0), "cpu")
    assert torch.equal(loaded.cameras, pool.cameras) and loaded.near_surface == 0.25
    batch = loaded.sample(3, 50)
    assert batch["camera"].shape == (3, 7) and batch["images"].shape == (3, 4, 64, 64)


def test_a_step_draws_the_asked_share_of_near_surface_points(tmp_path):
    _, pool, _ = small_pool(tmp_path)
    stored = pool.points.shape[1]
    first_near = stored - int(stored * 0.25)
    picks = pool.point_picks(4, 1000, near_surface=0.8)
    assert ((picks >= first_near).float().mean() - 0.8).abs() < 1e-6
    uniform = pool.point_picks(4, 4000, near_surface=None)
    assert abs((uniform >= first_near).float().mean().item() - 0.25) < 0.05


def test_the_validation_set_is_the_same_for_every_run_seed_and_leaves_the_draws_as_they_were():
    """Pieces of a recipe run with other seeds; their validation IoUs compare only on one set."""
    sets = []
    for seed in (1, 4):
        source = SampleSource.create(categories=["chair", "table"], image_size=32, seed=seed)
        before = source.get_state()
        sets.append(source.validation_set(1, points=500))
        after = source.get_state()
        assert all(torch.equal(before[k], after[k]) for k in before)
    for key in ("images", "camera", "points", "occupancy"):
        assert torch.equal(sets[0][key], sets[1][key]), key
