"""Training and evaluation on small procedural data: real steps, checkpoints, resume, figures."""

import importlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.checkpoint import load_model, read_checkpoint
from engine.cli import main
from engine.errors import InputError
from engine.training import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]

TINY = ["--categories", "chair,car", "--batch", "4", "--points", "256", "--val-shapes", "1",
        "--decoder-hidden", "64,64,32", "--threads", "1"]


def import_tool(name: str):
    """A module of tools/ (scripts, not a package)."""
    sys.path.insert(0, str(ROOT / "tools"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def log_rows(run):
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run = tmp_path_factory.mktemp("run")
    pool = run / "pool.pt"
    status = main(["train", "--out", str(run), "--steps", "30", "--eval-every", "15", "--pool", "2",
                   "--views", "1", "--pool-points", "2048", "--pool-cache", str(pool), "--lr", "2e-3", *TINY])
    assert status == 0
    return run


def test_training_writes_checkpoints_log_and_curves(trained):
    for name in ("model.pt", "last.pt", "log.jsonl", "curves.png", "pool.pt"):
        assert (trained / name).is_file(), name
    model, meta = load_model(trained / "model.pt")
    assert meta["categories"] == ["chair", "car"] and meta["trained"]["steps"] == 30
    assert meta["config"]["decoder_hidden"] == [64, 64, 32]
    assert "train_state" not in read_checkpoint(trained / "model.pt")
    rows = log_rows(trained)
    losses = [r["loss"] for r in rows if "loss" in r]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0] - 0.05, losses      # it learns: BCE falls from ~0.69
    assert sum("val_iou" in r for r in rows) == 2    # step 15 and the end


def test_training_resumes_where_it_stopped(trained, tmp_path):
    import shutil

    run = tmp_path / "resumed"
    shutil.copytree(trained, run)
    status = main(["train", "--out", str(run), "--resume", str(run / "last.pt"), "--steps", "34",
                   "--pool", "2", "--views", "1", "--pool-points", "2048", "--pool-cache", str(run / "pool.pt"), *TINY])
    assert status == 0
    _, meta = load_model(run / "model.pt")
    assert meta["trained"]["steps"] == 34
    steps = [r["step"] for r in log_rows(run) if "loss" in r]
    assert steps == sorted(steps) and steps[-1] <= 34


def test_training_on_fresh_shapes_without_a_pool(tmp_path):
    assert main(["train", "--out", str(tmp_path), "--steps", "2", *TINY]) == 0
    assert load_model(tmp_path / "model.pt")[1]["trained"]["steps"] == 2


def test_the_library_trains_from_a_config_and_returns_the_summary(tmp_path):
    config = TrainConfig(out=str(tmp_path), steps=2, categories=("chair",), batch=2, points=128, val_shapes=1,
                         decoder_hidden=(32, 32))
    summary = train(config)
    assert summary["steps"] == 2 and summary["checkpoint"] == str(tmp_path / "model.pt")
    assert load_model(tmp_path / "model.pt")[1]["trained"]["command"].startswith("engine.training.train(")


TORCHRUN = Path(sys.executable).parent / "torchrun"


@pytest.mark.skipif(not TORCHRUN.is_file(), reason="torchrun is not installed beside this Python")
def test_distributed_training_with_torchrun_on_cpu(tmp_path):
    """Two processes (gloo on CPU) train one model; rank 0 writes the checkpoint and the summary."""
    run = tmp_path / "ddp"
    command = [str(TORCHRUN), "--standalone", "--nproc_per_node=2", "-m", "engine", "train", "--out", str(run),
               "--steps", "3", "--batch", "2", "--points", "128", "--pool", "0", "--val-shapes", "1",
               "--eval-every", "1000", "--device", "cpu", "--categories", "chair,car", "--decoder-hidden", "32,32",
               "--threads", "1"]
    done = subprocess.run(command, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    summaries = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(summaries) == 1 and summaries[0]["steps"] == 3  # printed by rank 0 alone
    _, meta = load_model(run / "model.pt")
    assert meta["trained"]["steps"] == 3 and meta["trained"]["batch"] == 4  # 2 shapes x 2 processes


def test_init_parts_loads_the_encoder_of_a_different_network(trained, tmp_path, capsys):
    """A new decoder (plain xyz here) learns next to the encoder of an earlier model."""
    run = tmp_path / "new-decoder"
    assert main(["train", "--out", str(run), "--init", str(trained / "model.pt"), "--init-parts", "encoder",
                 "--point-frequencies", "0", "--steps", "0", *TINY]) == 0
    assert "fresh: decoder.layers.0.bias" in capsys.readouterr().err
    old, _ = load_model(trained / "model.pt")
    new, meta = load_model(run / "model.pt")
    assert meta["config"]["point_frequencies"] == 0
    assert all(torch.equal(a, b) for a, b in zip(old.encoder.state_dict().values(), new.encoder.state_dict().values()))
    assert not torch.equal(old.decoder.out.weight, new.decoder.out.weight)


def test_resume_without_training_state_is_a_clear_error(trained, capsys):
    assert main(["train", "--out", str(trained / "x"), "--resume", str(trained / "model.pt"), *TINY]) == 2
    assert "no training state" in capsys.readouterr().err


def test_evaluate_reports_metrics_and_baselines(trained, tmp_path, capsys):
    out = tmp_path / "report.json"
    status = main(["evaluate", "--model", str(trained / "model.pt"), "--shapes", "1", "--baseline-shapes", "2",
                   "--mesh-resolution", "32", "--iou-points", "4000", "--surface-samples", "3000",
                   "--out", str(out), "--json", "--threads", "1"])
    assert status == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report == json.loads(out.read_text())
    assert set(report["results"]) == {"imdec", "mean_shape", "retrieval"}
    for table in report["results"].values():
        assert set(table) == {"chair", "car", "overall"}
        for row in table.values():
            assert 0.0 <= row["iou"] <= 1.0 and row["chamfer_l1"] >= 0 and 0 <= row["fscore@0.01"] <= 1
    # the retrieval baseline finds a training shape; a perfect score would mean test leaked into train
    assert report["results"]["retrieval"]["overall"]["iou"] < 0.999
    scored = report["per_shape"]
    assert [r["category"] for r in scored] == ["chair", "car"] and all(0 <= r["iou"] <= 1 for r in scored)
    assert abs(scored[0]["iou"] - report["results"]["imdec"]["chair"]["iou"]) < 1e-4


def test_compare_reports_pairs_the_shapes_both_scored(tmp_path):
    compare = import_tool("compare_reports").compare

    def report(name, scores):
        path = tmp_path / name
        path.write_text(json.dumps({"per_shape": [{"category": c, "seed": s, "iou": v} for c, s, v in scores]}))
        return str(path)

    first = report("a.json", [("chair", 1, 0.2), ("chair", 2, 0.4), ("table", 3, 0.5), ("table", 9, 0.9)])
    second = report("b.json", [("chair", 1, 0.3), ("chair", 2, 0.6), ("table", 3, 0.4)])  # table 9: unpaired
    rows = dict(compare(first, second, "iou"))
    assert rows["chair"]["n"] == 2 and abs(rows["chair"]["diff"] - 0.15) < 1e-9 and rows["chair"]["wins"] == 2
    assert abs(rows["chair"]["stderr"] - 0.05) < 1e-9  # differences 0.1 and 0.2
    assert rows["table"]["n"] == 1 and abs(rows["table"]["diff"] + 0.1) < 1e-9
    assert rows["all shapes"]["n"] == 3 and abs(rows["all shapes"]["first"] - 1.1 / 3) < 1e-9


def write_box_obj(path, half):
    hx, hy, hz = half
    v = [(x * hx, y * hy, z * hz) for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)]
    f = [(1, 2, 4, 3), (5, 7, 8, 6), (1, 5, 6, 2), (3, 4, 8, 7), (1, 3, 7, 5), (2, 6, 8, 4)]
    path.write_text("".join(f"v {a} {b} {c}\n" for a, b, c in v) + "".join("f %d %d %d %d\n" % q for q in f))


def test_training_on_a_folder_of_meshes(tmp_path):
    root = tmp_path / "meshes"
    for category, shapes in {"crate": [(1, 1, 1), (2, 1, 1)], "plank": [(3, 1, 0.2), (4, 2, 0.2)]}.items():
        (root / category).mkdir(parents=True)
        for k, half in enumerate(shapes):
            write_box_obj(root / category / f"{category}{k}.obj", half)
    run = tmp_path / "run"
    args = ["train", "--out", str(run), "--meshes", str(root), "--steps", "2", *TINY[2:]]
    assert main(args) == 0
    _, meta = load_model(run / "model.pt")
    assert meta["categories"] == ["crate", "plank"] and "meshes" in meta["trained"]["data"]
    assert any((root / ".imdec_cache").rglob("*.npz"))  # the inside/outside grids are cached


def test_training_on_a_missing_mesh_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "r"), "--meshes", str(tmp_path / "none"), "--steps", "1"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_two_stage_recipe_learns_latents_then_regresses_them(tmp_path):
    run = tmp_path / "two"
    args = ["train", "--out", str(run), "--recipe", "two-stage", "--steps", "12", "--shape-steps", "8",
            "--pool", "2", "--views", "1", "--pool-points", "2048", "--eval-every", "100", *TINY]
    assert main(args) == 0
    payload = read_checkpoint(run / "last.pt")
    assert payload["train_state"]["stage"] == 2 and payload["train_state"]["latents"].shape == (4, 128)
    stages = [r["stage"] for r in log_rows(run) if "loss" in r]
    assert stages[0] == 1 and stages[-1] == 2
    assert payload["trained"]["recipe"] == "two-stage" and payload["trained"]["shape_steps"] == 8


def test_several_pool_files_train_as_one_pool(trained, tmp_path):
    """Two saved pools joined: the two-stage recipe learns one latent per shape of both."""
    run = tmp_path / "joined"
    pool = str(trained / "pool.pt")
    assert main(["train", "--out", str(run), "--recipe", "two-stage", "--steps", "2", "--shape-steps", "2",
                 "--pool-cache", f"{pool},{pool}", "--eval-every", "100", *TINY]) == 0
    checkpoint = read_checkpoint(run / "last.pt")
    assert checkpoint["train_state"]["latents"].shape == (8, 128)
    assert checkpoint["trained"]["pool_shapes"] == 8
    assert checkpoint["trained"]["pool_files"] == ["pool.pt", "pool.pt"]


def test_pools_that_do_not_match_are_a_clear_error(trained, tmp_path, capsys):
    two_views = tmp_path / "two-views.pt"
    assert main(["train", "--out", str(tmp_path / "build"), "--steps", "0", "--pool", "1", "--views", "2",
                 "--pool-points", "2048", "--pool-cache", str(two_views), *TINY]) == 0
    capsys.readouterr()
    pool = trained / "pool.pt"
    assert main(["train", "--out", str(tmp_path / "x"), "--steps", "1", "--pool-cache", f"{pool},{two_views}", *TINY]) == 2
    assert "does not match" in capsys.readouterr().err
    assert main(["train", "--out", str(tmp_path / "x"), "--steps", "1",
                 "--pool-cache", f"{pool},{tmp_path / 'missing.pt'}", *TINY]) == 2
    assert "pool file not found" in capsys.readouterr().err


def test_two_stage_needs_a_pool(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path), "--recipe", "two-stage", "--steps", "2", *TINY]) == 2
    assert "--pool" in capsys.readouterr().err


def test_fit_check_rebuilds_the_pools_training_shapes(trained, tmp_path):
    """tools/fit_check.py measures the training shapes of a pool: rebuilt from the pool's seed,
    they are the pool's own (same images and occupancy), and it reports both columns."""
    pool_file = tmp_path / "pool16.pt"
    assert main(["train", "--out", str(tmp_path / "run"), "--steps", "0", "--pool", "8", "--views", "1",
                 "--pool-points", "512", "--pool-cache", str(pool_file), "--seed", "3", *TINY]) == 0
    fit_check = import_tool("fit_check")
    fit_report, rebuild_pool = fit_check.fit_report, fit_check.rebuild_pool
    saved = torch.load(pool_file, weights_only=True)
    _, rebuilt = rebuild_pool(["chair", "car"], seed=3, shapes=8, views=1, points=512)
    assert torch.equal(rebuilt.images, saved["images"]) and torch.equal(rebuilt.occupancy, saved["occupancy"])
    assert rebuilt.categories == ["chair", "car"] * 8
    report = fit_report(str(trained / "model.pt"), ["chair", "car"], seed=3, shapes=8, views=1, points=512)
    assert set(report) == {"chair", "car"}
    assert all(0.0 <= row[col] <= 1.0 for row in report.values() for col in ("train", "val"))
    with pytest.raises(InputError, match="multiple of 16"):
        fit_report(str(trained / "model.pt"), ["chair", "car"], seed=3, shapes=3)


def test_calibrate_threshold_folds_the_best_validation_threshold_into_the_output_bias(trained, tmp_path, capsys):
    """The calibrated model at probability 0.5 is the trained model at the chosen threshold: every
    logit moves by -logit(threshold), and the choice is the best mean of the measured IoUs."""
    calibrate = import_tool("calibrate_threshold")
    out = tmp_path / "calibrated.pt"
    assert calibrate.main([str(trained / "model.pt"), "--out", str(out), "--shapes", "1",
                           "--thresholds", "0.3,0.7"]) == 0
    assert "best threshold" in capsys.readouterr().out
    record = read_checkpoint(out)
    calibration = record["trained"]["threshold_calibration"]
    ious = calibration["per_category"]
    assert set(ious) == {"chair", "car"} and all(set(row) == {"0.3", "0.5", "0.7"} for row in ious.values())
    means = {t: (ious["chair"][t] + ious["car"][t]) / 2 for t in ("0.3", "0.5", "0.7")}
    threshold = calibration["threshold"]
    assert means[f"{threshold:g}"] == max(means.values())
    assert record["metrics"] == {} and record["trained"]["steps"] == 30

    before, _ = load_model(trained / "model.pt")
    after, _ = load_model(out)
    images, points = torch.rand(2, 4, 128, 128), torch.rand(2, 50, 3) - 0.5
    with torch.no_grad():
        shift = before(images, points) - after(images, points)
    assert torch.allclose(shift, torch.full_like(shift, math.log(threshold / (1 - threshold))), atol=1e-4)


def test_calibrate_threshold_rejects_thresholds_outside_zero_one(trained, tmp_path, capsys):
    calibrate = import_tool("calibrate_threshold")
    assert calibrate.main([str(trained / "model.pt"), "--out", str(tmp_path / "x.pt"), "--thresholds", "0,1.2"]) == 2
    assert "strictly between 0 and 1" in capsys.readouterr().err
    assert not (tmp_path / "x.pt").exists()


class ConstantLogits(torch.nn.Module):
    """A stand-in network that predicts `logits` (one per point) whatever the image."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = logits

    def forward(self, images, points):
        return self.logits[: len(images)]


def test_validation_iou_follows_the_metrics_rule():
    """Training's validation IoU is metrics.iou: two empty occupancies agree perfectly (1.0)."""
    from engine.evaluation.metrics import iou
    from engine.training.validation import shape_ious

    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 500, generator=generator)
    logits[0] = -1.0                                        # predicts nothing
    truth = torch.rand(3, 500, generator=generator) > 0.5
    truth[0] = False                                        # and there is nothing
    ious = shape_ious(ConstantLogits(logits), torch.zeros(3, 4, 8, 8), torch.zeros(3, 500, 3), truth)
    assert ious[0] == 1.0
    assert ious == [iou((logits[i] > 0).numpy(), truth[i].numpy()) for i in range(3)]


def test_a_local_model_trains_its_camera_head_and_reconstructs(trained, tmp_path):
    """The pixel-aligned model on the same pool (which keeps the cameras of its views) trains in
    bf16 (its camera also judged by the projection loss), logs its validation camera error, and its
    extraction form gives finite logits."""
    run = tmp_path / "local"
    status = main(["train", "--out", str(run), "--steps", "30", "--eval-every", "30", "--local-features", "16",
                   "--pool-cache", str(trained / "pool.pt"), "--lr", "2e-3", "--inside-weight", "2",
                   "--camera-projection", "5", "--precision", "bf16", *TINY])
    assert status == 0
    model, meta = load_model(run / "model.pt")
    assert model.config["local_features"] == 16 and model.local is not None
    camera = [r["val_camera"] for r in log_rows(run) if "val_camera" in r][-1]
    assert 0 <= camera["angle_deg"] < 180 and camera["distance"] >= 0
    assert meta["trained"]["val_camera_error"]["angle_deg"] == pytest.approx(camera["angle_deg"], abs=1e-3)
    from engine.images import prepare_image

    logits = model.point_fn(prepare_image(ROOT / "docs" / "samples" / "chair.png"))(torch.rand(500, 3) - 0.5)
    assert logits.shape == (500,) and torch.isfinite(logits).all()
    # evaluated with the head's camera and with the renderer's true one (the diagnostic)
    reports = {}
    for camera in ("head", "true"):
        out = tmp_path / f"{camera}.json"
        assert main(["evaluate", "--model", str(run / "model.pt"), "--shapes", "1", "--no-baselines", "--camera", camera,
                     "--mesh-resolution", "32", "--iou-points", "4000", "--surface-samples", "2000",
                     "--out", str(out), "--threads", "1"]) == 0
        reports[camera] = json.loads(out.read_text())
    assert reports["true"]["camera"] == "true"
    assert [r["seed"] for r in reports["true"]["per_shape"]] == [r["seed"] for r in reports["head"]["per_shape"]]
    # both report the head's view error, whichever camera placed the points
    errors = reports["head"]["camera_head"]["median_view_error_deg"]
    assert set(errors) == {*reports["head"]["results"]["imdec"]} and 0 <= errors["overall"] <= 180
    for key in ("camera_error_deg", "camera_silhouette_iou"):
        assert [r[key] for r in reports["true"]["per_shape"]] == [r[key] for r in reports["head"]["per_shape"]]
    assert 0 <= reports["head"]["camera_head"]["median_silhouette_iou"]["overall"] <= 1


def test_calibrate_camera_gate_stores_the_gate_with_the_best_validation_mean(trained, tmp_path, capsys):
    """The gate goes into the config (IMDecNet.point_fn reads it); gate 1 leaves the local stream
    out of every picture, which is the global stream's IoU; a global-only model is refused."""
    run = tmp_path / "local"
    assert main(["train", "--out", str(run), "--steps", "6", "--eval-every", "6", "--local-features", "16",
                 "--train-parts", "added", "--init", str(trained / "model.pt"),
                 "--pool-cache", str(trained / "pool.pt"), *TINY]) == 0
    calibrate = import_tool("calibrate_camera_gate")
    out = tmp_path / "gated.pt"
    assert calibrate.main([str(run / "model.pt"), "--out", str(out), "--shapes", "1", "--gates", "0.5,1"]) == 0
    assert "best gate" in capsys.readouterr().out
    record = read_checkpoint(out)
    calibration = record["trained"]["camera_gate_calibration"]
    ious = calibration["per_category"]
    assert set(ious) == {"chair", "car"} and all(set(row) == {"0", "0.5", "1"} for row in ious.values())
    means = {g: (ious["chair"][g] + ious["car"][g]) / 2 for g in ("0", "0.5", "1")}
    assert means[f"{calibration['gate']:g}"] == max(means.values())
    assert means["1"] == pytest.approx(calibration["val_iou_global_only"], abs=1e-4)
    assert record["config"]["camera_gate"] == calibration["gate"] and record["metrics"] == {}
    assert calibrate.main([str(trained / "model.pt"), "--out", str(tmp_path / "x.pt")]) == 2
    assert "global-only" in capsys.readouterr().err and not (tmp_path / "x.pt").exists()


def test_a_local_model_refuses_a_pool_saved_without_cameras(trained, tmp_path, capsys):
    pool = torch.load(trained / "pool.pt", weights_only=True)
    del pool["cameras"]
    old = tmp_path / "old-pool.pt"
    torch.save(pool, old)
    status = main(["train", "--out", str(tmp_path / "x"), "--steps", "2", "--local-features", "16",
                   "--pool-cache", str(old), *TINY])
    assert status == 2 and "without cameras" in capsys.readouterr().err


def test_bf16_training_follows_the_fp32_loss_curve(tmp_path):
    """The same 20 steps in fp32 and in bf16 autocast end at nearly the same loss."""
    ends = {}
    for precision in ("fp32", "bf16"):
        run = tmp_path / precision
        assert main(["train", "--out", str(run), "--steps", "20", "--eval-every", "20", "--pool", "2", "--views", "1",
                     "--pool-points", "2048", "--lr", "2e-3", "--precision", precision, *TINY]) == 0
        ends[precision] = [r["loss"] for r in log_rows(run) if "loss" in r][-1]
    assert ends["bf16"] == pytest.approx(ends["fp32"], rel=0.15), ends


@pytest.mark.parametrize("trunk", [0, 4])  # the camera head on the frozen pooled features, or with a CNN of its own
def test_training_only_the_added_parts_keeps_the_global_model_as_it_was(trained, tmp_path, trunk):
    run = tmp_path / "added"
    status = main(["train", "--out", str(run), "--steps", "6", "--eval-every", "6", "--local-features", "16",
                   "--camera-trunk", str(trunk), "--train-parts", "added", "--local-lr-scale", "5",
                   "--init", str(trained / "model.pt"), "--pool-cache", str(trained / "pool.pt"), *TINY])
    assert status == 0
    start, _ = load_model(trained / "model.pt")
    after, _ = load_model(run / "model.pt")
    grown = after.state_dict()
    for name, tensor in start.state_dict().items():   # encoder (batch-norm statistics too) and decoder
        assert torch.equal(tensor, grown[name]), name
    from engine.local import CameraHead

    fresh = CameraHead(after.camera_head.bins)
    assert not torch.equal(after.camera_head.net[-1].bias, fresh.net[-1].bias)  # the head learned
    if trunk:  # the trunk trained too: its batch-norm statistics left their start (mean 0)
        assert after.camera_head.trunk.net[1].running_mean.abs().max() > 0


def test_train_parts_added_needs_a_local_model(trained, tmp_path, capsys):
    status = main(["train", "--out", str(tmp_path / "x"), "--steps", "2", "--train-parts", "added",
                   "--pool-cache", str(trained / "pool.pt"), *TINY])
    assert status == 2 and "--local-features" in capsys.readouterr().err


def test_a_replay_pool_renews_its_oldest_shapes(tmp_path):
    from engine.data.samples import ReplayPool, SampleSource

    source = SampleSource.create(categories=["chair", "car"], image_size=32, seed=3)
    pool = ReplayPool(source, capacity=6, fresh=2, points=64)
    first = pool.sample(4, 16)                    # the first batch: four new shapes
    assert len(pool) == 4 and pool.added == 4 and first["images"].shape == (4, 4, 32, 32)
    assert first["points"].shape == (4, 16, 3) and first["camera"].shape == (4, 7)
    kept = pool.images[:2].clone()
    pool.sample(4, 16)                            # two more: the pool is full
    pool.sample(4, 16)                            # two more in place of the two oldest
    assert len(pool) == 6 and pool.added == 8 and pool.cursor == 2
    assert not torch.equal(pool.images[:2], kept)
    assert pool.occupancy.any() and not pool.occupancy.all()


@pytest.mark.parametrize("local", ["0", "16"])
def test_training_on_a_replay_pool(tmp_path, local):
    """Global and local models: the replay pool keeps each shape's camera, which a local model needs."""
    assert main(["train", "--out", str(tmp_path), "--steps", "3", "--replay", "16", "--replay-fresh", "2",
                 "--local-features", local, *TINY]) == 0
    trained = load_model(tmp_path / "model.pt")[1]["trained"]
    assert trained["replay"] == {"shapes": 16, "fresh_per_step": 2, "rendered": 8}  # 4, then 2 a step
    assert trained["pool_shapes"] == 0


def test_a_replay_pool_with_a_fixed_pool_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path), "--steps", "1", "--replay", "8", "--pool", "2", *TINY]) == 2
    assert "--replay" in capsys.readouterr().err


def test_a_run_cut_by_minutes_decays_its_learning_rate_within_them():
    from engine.training.loop import scheduled_steps

    # 100 steps in the first 10 of 30 minutes: the schedule spans the 300 steps that fit
    assert scheduled_steps(10_000, 0, 100, 0.0, 1800.0, 600.0) == 300
    assert scheduled_steps(200, 0, 100, 0.0, 1800.0, 600.0) == 200           # --steps comes first
    assert scheduled_steps(10_000, 0, 100, 0.0, float("inf"), 600.0) == 10_000  # no deadline
    assert scheduled_steps(10_000, 0, 5, 0.0, 1800.0, 30.0) == 10_000       # too early to tell the pace
    assert scheduled_steps(10_000, 500, 600, 0.0, 1800.0, 600.0) == 800     # a resumed run: its own pace


def test_calibrating_a_pixel_aligned_model_shifts_its_local_stream_and_keeps_the_global_one():
    """The threshold of a local model folds into its local stream's bias: the sum of the streams
    moves by -logit(threshold) and the global stream, which the camera gate judges by, stays."""
    from engine.model import IMDecNet, make_config

    calibrate = import_tool("calibrate_threshold")
    net = IMDecNet(make_config(decoder_hidden=[32, 16], local_features=8, local_hidden=[16])).eval()
    torch.nn.init.normal_(net.local.out.weight)  # a local stream that says something
    images, points = torch.rand(1, 4, 128, 128), torch.rand(200, 3) - 0.5
    before = net.point_fn(images, camera_gate=0)(points)
    global_before = net.point_fn(images, global_only=True)(points)
    calibrate.fold_threshold(net, 0.4)
    shift = before - net.point_fn(images, camera_gate=0)(points)
    assert torch.allclose(shift, torch.full_like(shift, math.log(0.4 / 0.6)), atol=1e-4)
    assert torch.equal(net.point_fn(images, global_only=True)(points), global_before)
