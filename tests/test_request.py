"""engine.request (one reconstruction request: defaults, limits, messages, JSON form) and
engine.model_files (the bundled models, and the rule that tells a model's name from a path).
Both are torch-free: the add-on's interface imports them."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine import model_files
from engine.errors import InputError
from engine.model_files import DEFAULT_MODEL, SUFFIX, WEIGHTS_DIR, is_model_path, list_models, resolve_model
from engine.request import DEVICES, MAX_RESOLUTION, MIN_RESOLUTION, Event, ReconstructionRequest

ROOT = Path(__file__).resolve().parents[1]


def test_the_torch_free_modules_import_no_torch():
    code = ("import sys; import engine.request, engine.model_files, engine.errors; "
            "print('torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=str(ROOT), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "False", proc.stderr


def test_defaults_are_the_command_lines():
    request = ReconstructionRequest(image="a.png")
    assert (request.resolution, request.threshold, request.device) == (128, 0.5, "auto")
    assert request.model == "" and request.output is None and request.image_name is None
    assert request.threads == 0 and request.preview == 0
    request.validate()
    assert DEVICES == ("auto", "cpu", "cuda") and (MIN_RESOLUTION, MAX_RESOLUTION) == (32, 1024)


@pytest.mark.parametrize("change", [dict(resolution=MIN_RESOLUTION), dict(resolution=MAX_RESOLUTION),
                                    dict(threshold=0.01), dict(threshold=0.99), dict(device="CPU"),
                                    dict(preview=MIN_RESOLUTION), dict(threads=4)])
def test_values_inside_the_limits_are_accepted(change):
    ReconstructionRequest(image="a.png", **change).validate()


@pytest.mark.parametrize("change, message", [
    (dict(resolution=8), "resolution 8 is outside 32..1024; 64 previews quickly, 128-256 is detailed"),
    (dict(resolution=4096), "resolution 4096 is outside 32..1024"),
    (dict(resolution=64.0), "resolution 64.0 is outside"),
    (dict(resolution=True), "resolution True is outside"),
    (dict(threshold=1.5), "threshold 1.5 must lie strictly between 0 and 1 (0.5 is the default)"),
    (dict(threshold=0.0), "threshold 0.0 must lie strictly between 0 and 1"),
    (dict(threshold=1), "threshold 1 must lie strictly between 0 and 1"),
    (dict(threshold="half"), "threshold half must lie"),
    (dict(device="tpu"), "device 'tpu' is not one of auto, cpu, cuda"),
    (dict(preview=16), "preview resolution 16 is outside 32..1024 (0: no preview)"),
    (dict(threads=1.5), "threads 1.5 must be a whole number"),
])
def test_validation_says_what_is_wrong_in_one_line(change, message):
    with pytest.raises(InputError) as caught:
        ReconstructionRequest(image="a.png", **change).validate()
    text = str(caught.value)
    assert text.startswith(message) and "\n" not in text


def test_level_is_the_thresholds_logit():
    assert ReconstructionRequest().level == 0.0
    for t in (0.1, 0.35, 0.9):
        level = ReconstructionRequest(threshold=t).level
        assert level == pytest.approx(math.log(t / (1 - t)))
        assert 1 / (1 + math.exp(-level)) == pytest.approx(t)


def test_json_round_trip_and_defaults_for_missing_keys(tmp_path):
    request = ReconstructionRequest(image=tmp_path / "a.png", image_name="a.png", output=str(tmp_path / "r.npz"),
                                    model="imdec-chair", resolution=256, threshold=0.4, device="cpu", threads=2,
                                    preview=64)
    data = json.loads(json.dumps(request.to_json()))
    assert data["image"] == str(tmp_path / "a.png")
    assert ReconstructionRequest.from_json(data) == dataclasses.replace(request, image=str(tmp_path / "a.png"))
    assert ReconstructionRequest.from_json({"image": "a.png", "model": None, "future key": 1}) == \
        ReconstructionRequest(image="a.png")
    loose = ReconstructionRequest.from_json({"image": "a.png", "device": "CUDA", "resolution": "64"})
    assert loose.resolution == 64
    loose.validate()  # device names in any case, as the engine's pick_device takes them


def test_json_form_refuses_what_it_cannot_carry():
    with pytest.raises(InputError, match="'threshold' must be a number"):
        ReconstructionRequest.from_json({"image": "a.png", "threshold": "high"})
    with pytest.raises(InputError, match="JSON object"):
        ReconstructionRequest.from_json(["a.png"])
    with pytest.raises(TypeError):
        ReconstructionRequest(image=[[0.0]]).to_json()  # pixels travel as a .npy file, not as JSON


def test_event_names_are_the_workers_protocol():
    names = {k: v for k, v in vars(Event).items() if k.isupper()}
    assert names == {"STARTED": "started", "PROGRESS": "progress", "PREVIEW": "preview", "DONE": "done",
                     "ERROR": "error", "EXIT": "exit"}


# ---------------------------------------------------------------- engine.model_files

@pytest.mark.parametrize("text, is_path", [
    ("imdec-6cat", False), ("imdec-chair", False), ("no-such-model", False), (" imdec-6cat-global ", False),
    ("model.pt", True), ("MODEL.PT", True), ("models/chair", True), ("//models/chair.pt", True),
    ("~/chair.pt", True), (os.path.join("a", "b"), True),
])
def test_a_name_or_a_path(text, is_path):
    assert is_model_path(text) is is_path


def test_an_existing_file_is_a_path_even_without_suffix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my-model").write_bytes(b"")
    assert is_model_path("my-model") and resolve_model("my-model") == Path("my-model")


def test_bundled_models_are_listed_and_resolved():
    names = list_models()
    assert DEFAULT_MODEL in names and names == sorted(names)
    assert names == sorted(p.stem for p in WEIGHTS_DIR.glob("*" + SUFFIX))
    for name in names:
        assert resolve_model(name) == WEIGHTS_DIR / (name + SUFFIX)
    assert resolve_model("") == resolve_model(None) == WEIGHTS_DIR / (DEFAULT_MODEL + SUFFIX)


def test_unknown_names_and_missing_files_say_what_there_is(tmp_path):
    with pytest.raises(InputError, match="no model named 'nothing'; bundled models: .*imdec-6cat"):
        resolve_model("nothing")
    with pytest.raises(InputError, match="model file .*missing.pt does not exist"):
        resolve_model(tmp_path / "missing.pt")


def test_no_bundled_models(tmp_path, monkeypatch):
    monkeypatch.setattr(model_files, "WEIGHTS_DIR", tmp_path / "none")
    assert list_models() == []
    with pytest.raises(InputError, match="bundled models: none"):
        resolve_model("imdec-6cat")


def test_checkpoint_still_offers_the_model_list():
    from engine import checkpoint

    assert checkpoint.list_models is list_models and checkpoint.resolve_model is resolve_model
    assert checkpoint.WEIGHTS_DIR == WEIGHTS_DIR
