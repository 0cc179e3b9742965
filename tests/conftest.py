"""Shared fixtures. `fixture_model` is a real checkpoint made in seconds: its decoder is fitted
to a rounded box (and ignores the image), so every mesh a test inspects is a real reconstruction."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.checkpoint import save_checkpoint  # noqa: E402
from engine.model import IMDecNet, make_config  # noqa: E402

BOX_HALF = torch.tensor([0.4, 0.25, 0.3])
BOX_ROUND = 0.05


def rounded_box_sdf(points: torch.Tensor) -> torch.Tensor:
    q = points.abs() - (BOX_HALF - BOX_ROUND)
    return q.clamp(min=0).norm(dim=-1) + q.max(dim=-1).values.clamp(max=0) - BOX_ROUND


def fit_fixture_model(path: Path, steps: int = 250, seed: int = 0) -> Path:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matmuls: one thread is fastest and never fights other processes
    try:
        return _fit(path, steps, seed)
    finally:
        torch.set_num_threads(threads)


def _fit(path: Path, steps: int, seed: int) -> Path:
    torch.manual_seed(seed)
    net = IMDecNet(make_config(decoder_hidden=[64, 64, 64, 32]))  # small decoder: fitted in seconds
    decoder = net.decoder
    with torch.no_grad():
        decoder.layers[0].weight[:, decoder.point_width:].zero_()  # the shape does not depend on the image
    opt = torch.optim.Adam([p for n, p in decoder.named_parameters()], lr=5e-3)
    z = torch.zeros(1, net.config["latent_dim"])
    for _ in range(steps):
        pts = torch.rand(1, 2048, 3) * 1.1 - 0.55
        occ = (rounded_box_sdf(pts) < 0).float()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(decoder(z, pts), occ)
        opt.zero_grad()
        loss.backward()
        decoder.layers[0].weight.grad[:, decoder.point_width:] = 0
        opt.step()
    return save_checkpoint(path, net, categories=["box"], trained={"data": "rounded box fixture", "steps": steps})


@pytest.fixture(scope="session")
def fixture_model(tmp_path_factory) -> str:
    return str(fit_fixture_model(tmp_path_factory.mktemp("models") / "fixture-box.pt"))


@pytest.fixture()
def object_png(tmp_path) -> Path:
    """An RGBA picture of an object on a transparent background."""
    from PIL import Image

    rgba = np.zeros((96, 128, 4), np.uint8)
    rgba[20:80, 30:100] = (200, 80, 40, 255)
    path = tmp_path / "object.png"
    Image.fromarray(rgba).save(path)
    return path


@pytest.fixture(scope="module")
def picture(tmp_path_factory) -> Path:
    """object_png's picture, module-wide, under a name with a space (the add-on and the worker read it)."""
    from PIL import Image

    rgba = np.zeros((96, 128, 4), np.uint8)
    rgba[20:80, 30:100] = (200, 80, 40, 255)
    path = tmp_path_factory.mktemp("pictures") / "box photo.png"
    Image.fromarray(rgba).save(path)
    return path


@pytest.fixture(scope="session")
def extension_zip(tmp_path_factory) -> Path:
    """The extension zip, built without wheels by tools/build_extension.py with Blender's own builder
    (found in the bpy package: skipped without it)."""
    if importlib.util.find_spec("bpy") is None:
        pytest.skip("the bpy module (Blender as a Python module), which holds the extension builder, is not installed")
    out = tmp_path_factory.mktemp("dist")
    stage = tmp_path_factory.mktemp("stage") / "extension"
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "build_extension.py"), "--no-wheels", "--no-split",
                           "--output-dir", str(out), "--stage-dir", str(stage)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    zips = [Path(line) for line in proc.stdout.split()]
    assert len(zips) == 1 and zips[0].is_file(), proc.stdout
    return zips[0]
