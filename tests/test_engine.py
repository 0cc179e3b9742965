"""Network, checkpoints, mesh writers and metrics."""

import json
import pickle
import struct
import zipfile

import numpy as np
import pytest
import torch

from engine.checkpoint import list_models, load_model, read_checkpoint, resolve_model, save_checkpoint
from engine.errors import InputError
from engine.mesh_files import write_mesh
from engine.evaluation.metrics import iou, sample_surface, surface_metrics
from engine.model import IMDecNet, make_config


def small_net():
    torch.manual_seed(0)
    return IMDecNet(make_config(decoder_hidden=[32, 32, 16]))


@pytest.mark.parametrize("frequencies", [0, 4])
def test_point_fn_equals_the_batched_decoder(frequencies):
    torch.manual_seed(0)
    net = IMDecNet(make_config(decoder_hidden=[32, 32, 16], point_frequencies=frequencies)).eval()
    assert net.decoder.layers[0].in_features == 3 + 6 * frequencies + 128
    z = torch.randn(2, 128)
    pts = torch.rand(2, 500, 3) - 0.5
    with torch.no_grad():
        full = net.decoder(z, pts)
        bound = net.decoder.point_fn(z[1])(pts[1])
    assert torch.allclose(full[1], bound, atol=1e-5)


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


def test_encoder_maps_a_prepared_image_to_a_128d_latent():
    net = small_net().eval()
    with torch.no_grad():
        z = net.encoder(torch.rand(3, 4, 128, 128))
    assert z.shape == (3, 128)


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


def cube():
    v = np.array([[x, y, z] for x in (-.5, .5) for y in (-.5, .5) for z in (-.5, .5)], np.float32)
    f = np.array([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                  [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]], np.int32)
    return v, f


def signed_volume(v, f):
    t = v[f].astype(np.float64)
    return np.einsum("ij,ij->i", t[:, 0], np.cross(t[:, 1], t[:, 2])).sum() / 6


def test_cube_is_outward_facing():
    assert signed_volume(*cube()) == pytest.approx(1.0)


def test_obj_and_ply_round_trip(tmp_path):
    v, f = cube()
    obj = write_mesh(tmp_path / "c.obj", v, f)
    lines = obj.read_text().splitlines()
    ov = np.array([list(map(float, l.split()[1:])) for l in lines if l.startswith("v ")])
    of = np.array([list(map(int, l.split()[1:])) for l in lines if l.startswith("f ")]) - 1
    assert np.allclose(ov, v) and (of == f).all()
    ply = write_mesh(tmp_path / "c.ply", v, f).read_bytes()
    header, body = ply.split(b"end_header\n")
    assert b"element vertex 8" in header and b"element face 12" in header
    assert np.allclose(np.frombuffer(body[: 8 * 12], "<f4").reshape(8, 3), v)
    rec = np.frombuffer(body[8 * 12:], dtype=[("n", "u1"), ("i", "<i4", (3,))])
    assert (rec["n"] == 3).all() and (rec["i"] == f).all()


def test_glb_is_valid_gltf_with_y_up(tmp_path):
    v, f = cube()
    v = v * np.array([1, 2, 3], np.float32)  # distinct extents per axis
    data = write_mesh(tmp_path / "c.glb", v, f).read_bytes()
    magic, version, length = struct.unpack("<4sII", data[:12])
    assert magic == b"glTF" and version == 2 and length == len(data)
    jlen, jtype = struct.unpack("<I4s", data[12:20])
    gltf = json.loads(data[20:20 + jlen])
    acc = gltf["accessors"][0]
    assert acc["count"] == 8 and gltf["accessors"][2]["count"] == 36
    # Blender's Z (height 3) becomes glTF's Y
    assert np.allclose(np.subtract(acc["max"], acc["min"]), [1, 3, 2])


def test_failed_write_leaves_an_existing_file_alone(tmp_path):
    target = tmp_path / "keep.obj"
    target.write_text("precious")
    with pytest.raises(InputError):
        write_mesh(tmp_path / "missing-dir" / "x.obj", *cube())
    with pytest.raises(InputError, match="mesh format"):
        write_mesh(tmp_path / "keep.stl", *cube())
    assert target.read_text() == "precious"


def test_metrics_of_a_mesh_against_itself_and_a_shifted_copy():
    v, f = cube()
    same = surface_metrics((v, f), (v, f))
    assert same["chamfer_l1"] < 0.01 and same["fscore@0.01"] > 0.9 and same["normal_consistency"] > 0.99
    moved = surface_metrics((v + [0.05, 0, 0], f), (v, f))
    assert moved["chamfer_l1"] > 0.01 and moved["fscore@0.01"] < same["fscore@0.01"]
    pts, nrm = sample_surface(v, f, 1000)
    assert np.allclose(np.abs(pts).max(1), 0.5, atol=1e-5) and np.allclose(np.linalg.norm(nrm, axis=1), 1)
    assert iou([1, 1, 0, 0], [1, 0, 1, 0]) == pytest.approx(1 / 3)
