"""`python -m engine reconstruct`: outputs, --json figures, exit codes and one-line errors."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli import main

ROOT = Path(__file__).resolve().parents[1]


def engine(*args, cwd=ROOT):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "engine", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def read_obj(path):
    lines = Path(path).read_text().splitlines()
    v = np.array([list(map(float, l.split()[1:])) for l in lines if l.startswith("v ")])
    f = np.array([list(map(int, l.split()[1:])) for l in lines if l.startswith("f ")]) - 1
    return v, f


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
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, object_png, fixture_model, case, args, message,
                                                          capsys, monkeypatch):
    # in-process (the same main() as `python -m engine`) to keep the suite quick
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00" * 1000)
    text = tmp_path / "text.png"
    text.write_text("hello")
    subst = {"IMG": object_png, "CORRUPT": corrupt, "TEXT": text}
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


def test_help_lists_the_commands():
    run = engine("--help")
    assert run.returncode == 0
    for command in ("reconstruct", "train", "evaluate", "bench"):
        assert command in run.stdout
