"""Checkpoint files: save and load, old configs, refusal of code and of damaged files, model names."""

import os
import zipfile

import pytest
import torch

from engine import checkpoint
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


def test_a_local_checkpoint_from_before_the_azimuth_bins_loads_its_sin_cos_camera_head(tmp_path):
    net = IMDecNet(make_config(decoder_hidden=[32, 32, 16], local_features=8, local_hidden=[16], camera_bins=0))
    path = save_checkpoint(tmp_path / "old.pt", net, categories=["box"])
    payload = torch.load(path, weights_only=True)
    del payload["config"]["camera_bins"]
    torch.save(payload, path)
    model, _ = load_model(path)
    assert model.camera_head.bins == 0
    assert torch.equal(model.camera_head.net[-1].weight, net.camera_head.net[-1].weight)


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
    with pytest.raises(InputError, match="holds Python code or objects") as err:
        read_checkpoint(path)
    assert not marker.exists()
    message = str(err.value)
    # names what it refused, whole: open is io.open (builtins.open before Python 3.10)
    assert "refuses to run" in message and ("(io.open)" in message or "(builtins.open)" in message), message
    assert "..." not in message and "\n" not in message


def test_checkpoint_with_nan_weights_is_refused_naming_the_tensor(tmp_path):
    net = small_net()
    with torch.no_grad():
        net.decoder.out.bias.fill_(float("nan"))
    path = save_checkpoint(tmp_path / "nan.pt", net, categories=["box"])
    with pytest.raises(InputError, match=r"decoder\.out\.bias is not finite") as err:
        read_checkpoint(path)
    assert "\n" not in str(err.value)


def zip_bomb(path, inflated: int):
    """A torch archive whose weights member is `inflated` bytes of zeros, deflated about 1000:1."""
    source = path.with_name("small.pt")
    torch.save({"format": "imdec-checkpoint", "version": 1, "state_dict": {"weights": torch.zeros(4)}}, source)
    chunk = bytes(1 << 24)
    with zipfile.ZipFile(source) as small, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as bomb:
        largest = next(name for name in small.namelist() if "/data/" in name)  # the tensor's bytes
        for name in small.namelist():
            if name != largest:
                bomb.writestr(name, small.read(name))
        with bomb.open(largest, "w", force_zip64=True) as member:
            for _ in range(inflated // len(chunk)):
                member.write(chunk)
    return path


def test_a_zip_bomb_is_refused_before_anything_is_inflated(tmp_path, monkeypatch):
    path = zip_bomb(tmp_path / "bomb.pt", 1 << 30)
    assert path.stat().st_size < 2_000_000
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load was called on a zip bomb"))
    with pytest.raises(InputError, match="zip bomb") as err:
        read_checkpoint(path)
    assert "1.0 GiB" in str(err.value) and "\n" not in str(err.value)


def test_a_checkpoint_larger_than_the_limit_is_refused(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "m.pt", small_net(), categories=["box"])
    monkeypatch.setattr(checkpoint, "MAX_CHECKPOINT_BYTES", 1000)
    with pytest.raises(InputError, match="inflate to"):
        read_checkpoint(path)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_or_link_loop_as_model_says_what_it_is(tmp_path):
    fifo, loop, broken = tmp_path / "pipe.pt", tmp_path / "loop.pt", tmp_path / "broken.pt"
    os.mkfifo(fifo)
    loop.symlink_to(loop)
    broken.symlink_to(tmp_path / "gone.pt")
    for path, message in [(fifo, "is a named pipe, not a checkpoint file"), (loop, "is a symbolic link loop"),
                          (broken, "points to .*gone.pt, which does not exist")]:
        for read in (resolve_model, read_checkpoint):
            with pytest.raises(InputError, match=message):
                read(path)


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
