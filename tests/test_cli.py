"""`python -m engine reconstruct`: outputs, --json figures, exit codes and one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.cli import main

ROOT = Path(__file__).resolve().parents[1]


def engine(*args, cwd=ROOT):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "engine", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def read_obj(path):
    from engine.data.meshio_read import read_mesh

    return read_mesh(path)


def altered_model(fixture_model, path, **tensors):
    """The fixture checkpoint with some of its tensors replaced (name: function of the old tensor)."""
    payload = torch.load(fixture_model, weights_only=True)
    for name, change in tensors.items():
        payload["state_dict"][name] = change(payload["state_dict"][name])
    torch.save(payload, path)
    return path


@pytest.fixture(scope="module")
def blind_model(tmp_path_factory, fixture_model):
    """A sound checkpoint that finds no object anywhere: every point is far outside."""
    return altered_model(fixture_model, tmp_path_factory.mktemp("blind") / "blind.pt",
                         **{"decoder.out.weight": torch.zeros_like, "decoder.out.bias": lambda b: b - 100})


@pytest.fixture(scope="module")
def nan_model(tmp_path_factory, fixture_model):
    """A checkpoint damaged by training gone wrong: NaN weights."""
    return altered_model(fixture_model, tmp_path_factory.mktemp("nan") / "nan.pt",
                         **{"decoder.layers.1.bias": lambda b: b * float("nan")})


def test_one_image_to_obj_with_json_figures(tmp_path, object_png, fixture_model):
    out = tmp_path / "mesh.obj"
    run = engine("reconstruct", object_png, "-o", out, "--resolution", 64, "--model", fixture_model, "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout.strip().splitlines()[-1])
    for key in ("image", "output", "resolution", "vertices", "faces", "decoder_queries", "seconds"):
        assert key in report
    assert set(report["seconds"]) >= {"total", "load", "encode", "extract", "mesh"}
    assert report["resolution"] == 64 and 0 < report["decoder_queries"] <= 64 ** 3
    v, f = read_obj(out)
    assert len(v) == report["vertices"] and len(f) == report["faces"] > 100
    assert np.abs(v).max() <= 0.5 + 1e-6
    # closed: every edge is used by exactly two faces
    edges = np.sort(np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert (counts == 2).all()


def test_several_images_to_a_folder_in_each_format(tmp_path, object_png, fixture_model):
    second = tmp_path / "second.png"
    Image.open(object_png).rotate(90, expand=True).save(second)
    for fmt in ("ply", "glb"):
        run = engine("reconstruct", object_png, second, "-o", tmp_path / fmt, "--format", fmt,
                     "--resolution", 32, "--model", fixture_model)
        assert run.returncode == 0, run.stderr
        assert sorted(p.name for p in (tmp_path / fmt).iterdir()) == [f"object.{fmt}", f"second.{fmt}"]


@pytest.mark.parametrize("case, args, message", [
    ("missing image", ["missing.png"], "does not exist"),
    ("directory", ["."], "is a directory"),
    ("resolution too small", ["IMG", "--resolution", "8"], "resolution 8 is outside"),
    ("resolution too large", ["IMG", "--resolution", "4096"], "outside"),
    ("threshold", ["IMG", "--threshold", "1.5"], "threshold"),
    ("missing model", ["IMG", "--model", "nowhere/none.pt"], "does not exist"),
    ("unknown model", ["IMG", "--model", "no-such-model"], "no model named"),
    ("corrupt model", ["IMG", "--model", "CORRUPT"], "corrupt"),
    ("bad format", ["IMG", "--format", "stl"], "invalid choice"),
    ("not an image", ["TEXT"], "not an image"),
    ("NaN weights", ["IMG", "--model", "NAN"], "decoder.layers.1.bias is not finite"),
    ("format against suffix", ["IMG", "--format", "ply"], "out.obj ends in .obj but the format is ply"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, object_png, fixture_model, nan_model, case, args,
                                                          message, capsys, monkeypatch):
    # in-process (the same main() as `python -m engine`) to keep the suite quick
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00" * 1000)
    text = tmp_path / "text.png"
    text.write_text("hello")
    subst = {"IMG": object_png, "CORRUPT": corrupt, "TEXT": text, "NAN": nan_model}
    args = [subst.get(a, a) for a in args]
    if "--model" not in args:
        args += ["--model", fixture_model]
    out = tmp_path / "out.obj"
    monkeypatch.chdir(tmp_path)
    status = main(["reconstruct", *map(str, args), "-o", str(out)])
    stderr = capsys.readouterr().err
    assert status == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], stderr
    assert "Traceback" not in stderr and not out.exists()


def test_an_existing_output_survives_a_failed_run(tmp_path, fixture_model):
    out = tmp_path / "keep.obj"
    out.write_text("user's work")
    run = engine("reconstruct", tmp_path / "missing.png", "-o", out, "--model", fixture_model)
    assert run.returncode == 2 and out.read_text() == "user's work"


def one_error_line(capsys) -> str:
    stderr = capsys.readouterr().err
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("imdec: error: ") and "Traceback" not in stderr, stderr
    return lines[0]


@pytest.mark.parametrize("suffix", ["obj", "ply", "glb"])
def test_an_empty_reconstruction_is_refused_and_the_existing_file_kept(tmp_path, object_png, blind_model, capsys,
                                                                      suffix):
    out = tmp_path / "meshes" / f"keep.{suffix}"
    out.parent.mkdir()
    out.write_text("user's work")
    assert main(["reconstruct", str(object_png), "-o", str(out), "--resolution", "32", "--model", str(blind_model)]) == 2
    line = one_error_line(capsys)
    assert "the reconstruction is empty" in line and "lower the threshold" in line and "larger picture" in line
    assert out.read_text() == "user's work" and list(out.parent.iterdir()) == [out]


def test_an_empty_reconstruction_fails_that_image_among_several(tmp_path, object_png, blind_model, capsys):
    second = tmp_path / "second.png"
    Image.open(object_png).save(second)
    folder = tmp_path / "meshes"
    status = main(["reconstruct", str(object_png), str(second), "-o", str(folder), "--resolution", "32",
                   "--model", str(blind_model)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(lines) == 2 and all("the reconstruction is empty" in line for line in lines)
    assert "object.png" in lines[0] and "second.png" in lines[1] and list(folder.iterdir()) == []


def test_the_engine_refuses_an_empty_reconstruction_for_every_caller(object_png, blind_model):
    from engine.errors import InputError
    from engine.reconstruct import reconstruct

    with pytest.raises(InputError, match="the reconstruction is empty") as err:
        reconstruct(object_png, model=str(blind_model), resolution=32)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("output", ["", "  "])
def test_an_empty_output_name_is_refused(tmp_path, object_png, fixture_model, capsys, monkeypatch, output):
    monkeypatch.chdir(tmp_path)
    assert main(["reconstruct", str(object_png), "-o", output, "--model", fixture_model]) == 2
    assert "-o" in one_error_line(capsys) and list(tmp_path.iterdir()) == [object_png]


@pytest.mark.parametrize("output, fmt, written", [
    ("out", "ply", "out.ply"), ("out.ply", None, "out.ply"), ("OUT.PLY", "ply", "OUT.PLY"),
    ("scan.v2", "ply", "scan.v2.ply"),
])
def test_the_format_comes_from_the_suffix_or_names_the_file(tmp_path, object_png, fixture_model, output, fmt, written):
    folder = tmp_path / "meshes"
    folder.mkdir()
    args = ["reconstruct", str(object_png), "-o", str(folder / output), "--resolution", "32", "--model", fixture_model]
    assert main(args + (["--format", fmt] if fmt else [])) == 0
    assert [p.name for p in folder.iterdir()] == [written]
    assert (folder / written).read_bytes().startswith(b"ply\n")


def test_reconstruct_help_says_how_the_format_is_chosen(capsys):
    with pytest.raises(SystemExit):
        main(["reconstruct", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "suffix" in text and "must agree" in text


def test_reconstruct_colours_the_mesh_like_the_picture_by_default(tmp_path, object_png, fixture_model, capsys):
    from engine.data.meshio_read import read_mesh_colours

    out = tmp_path / "mesh.ply"
    assert main(["reconstruct", str(object_png), "-o", str(out), "--resolution", "32", "--model", fixture_model]) == 0
    assert ", coloured" in capsys.readouterr().out
    v, _, colours = read_mesh_colours(out)
    assert colours.shape == (len(v), 3)
    assert np.linalg.norm(colours.mean(0) - np.array([200, 80, 40]) / 255) < 0.12  # the picture is one orange


def test_no_colour_runs_the_real_engine_to_a_clay_file(tmp_path, object_png, fixture_model, capsys):
    from engine.data.meshio_read import read_mesh_colours

    out = tmp_path / "clay.ply"
    args = ["reconstruct", str(object_png), "-o", str(out), "--resolution", "32", "--model", fixture_model]
    assert main(args + ["--no-colour", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    v, f, colours = read_mesh_colours(out)
    assert report["colour"] is False and colours is None and len(f) == report["faces"] > 100
    assert b"property uchar red" not in out.read_bytes().split(b"end_header")[0]


def test_reconstruct_help_offers_clay(capsys):
    with pytest.raises(SystemExit):
        main(["reconstruct", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--no-colour" in text and "clay" in text


def test_help_lists_the_commands():
    run = engine("--help")
    assert run.returncode == 0
    for command in ("reconstruct", "train", "evaluate", "bench"):
        assert command in run.stdout
