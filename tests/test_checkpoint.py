"""Checkpoint files: save and load, old configs, refusal of code and of damaged files, model names."""

import pytest
import torch

from engine.checkpoint import list_models, load_model, read_checkpoint, resolve_model, save_checkpoint
from engine.errors import InputError
from engine.model import IMDecNet, make_config


def small_net():
    torch.manual_seed(0)
    return IMDecNet(make_config(decoder_hidden=[32, 32, 16]))


def test_checkpoint_from_before_point_features_loads_as_plain_xyz(tmp_path):
    net = IMDecNet(make_config(decoder_hidden=[32, 32, 16], point_frequencies=0))
    path = save_checkpoint(tmp_path / "old.pt", net, categories=["box"])
    payload = torch.load(path, weights_only=True)
    del payload["config"]["point_frequencies"]  # as written by imdec 0.1.0
    torch.save(payload, path)
    model, meta = load_model(path)
    assert model.config["point_frequencies"] == 0
    for a, b in zip(model.state_dict().values(), net.state_dict().values()):
        assert torch.equal(a, b)


def test_checkpoint_round_trip_in_half_precision(tmp_path):
    net = small_net()
    path = save_checkpoint(tmp_path / "m.pt", net, categories=["box"], metrics={"iou": 0.5}, half=True)
    model, meta = load_model(path)
    assert meta["categories"] == ["box"] and meta["metrics"] == {"iou": 0.5} and meta["name"] == "m"
    assert meta["config"]["decoder_hidden"] == [32, 32, 16]
    for a, b in zip(model.state_dict().values(), net.state_dict().values()):
        assert torch.allclose(a.float(), b.float(), atol=1e-2, rtol=1e-2)


def test_checkpoint_with_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pt"
    torch.save({"format": "imdec-checkpoint", "payload": Evil()}, path)
    with pytest.raises(InputError, match="cannot be read safely"):
        read_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize("content, message", [
    (b"", "not an imdec checkpoint"), (b"garbage" * 100, "not an imdec checkpoint"),
    ("truncated", "corrupt"), ("foreign", "missing format"), ("incomplete", "incomplete"),
    ("mismatch", "does not match"),
])
def test_bad_model_files_give_one_clear_line(tmp_path, content, message):
    path = tmp_path / "bad.pt"
    if content == "truncated":
        save_checkpoint(path, small_net(), categories=["x"])
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif content == "foreign":
        torch.save({"weights": torch.zeros(3)}, path)
    elif content == "incomplete":
        torch.save({"format": "imdec-checkpoint", "version": 1}, path)
    elif content == "mismatch":
        save_checkpoint(path, small_net(), categories=["x"])
        payload = torch.load(path, weights_only=True)
        payload["config"]["decoder_hidden"] = [64, 64]
        torch.save(payload, path)
    else:
        path.write_bytes(content)
    with pytest.raises(InputError, match=message) as err:
        load_model(path)
    assert "\n" not in str(err.value)


def test_models_are_found_by_name_or_path(tmp_path):
    with pytest.raises(InputError, match="no model named"):
        resolve_model("no-such-model")
    with pytest.raises(InputError, match="does not exist"):
        resolve_model(tmp_path / "missing.pt")
    for name in list_models():
        assert resolve_model(name).is_file()
