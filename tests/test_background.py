"""Separating the object from an opaque picture's backdrop: kinds of backdrop people use, and the
pictures that must be refused rather than turned into a wrong shape."""

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.background import BackgroundError, object_mask
from engine.evaluation.metrics import iou

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import background_check as check  # noqa: E402


@pytest.fixture(scope="module")
def samples():
    """The sample renders (RGBA, transparent background) of docs/samples."""
    return {p.stem: np.asarray(Image.open(p).convert("RGBA"), np.float32) / 255.0
            for p in sorted((ROOT / "docs" / "samples").glob("*.png"))}


@pytest.mark.parametrize("kind", ["plain", "gradient", "shadow", "paper", "noisy"])
def test_product_shot_backdrops_give_the_true_mask(samples, kind):
    """Over the six sample objects: masks close to the truth (the mean IoU before this separation:
    0.55 on gradients and shadows), and at most one picture refused."""
    rng = np.random.default_rng(1)
    ious, refused = {}, []
    for name, rgba in samples.items():
        try:
            ious[name] = iou(object_mask(check.composite(rgba, kind, rng)), rgba[..., 3] > 0.5)
        except BackgroundError:
            refused.append(name)
    assert len(refused) <= 1 and np.mean(list(ious.values())) > 0.88 and min(ious.values()) > 0.55, (ious, refused)


def test_the_backdrop_seen_through_the_chair_back_is_not_object(samples):
    rgba = samples["chair"]
    truth = rgba[..., 3] > 0.5
    from scipy import ndimage

    holes = ndimage.binary_fill_holes(truth) & ~truth       # gaps the backdrop shows through
    assert holes.sum() > 200
    mask = object_mask(check.composite(rgba, "gradient", np.random.default_rng(2)))
    assert (mask & holes).sum() < 0.25 * holes.sum()


@pytest.mark.parametrize("name", ["uv test grid", "noise", "blank", "gradient only"])
def test_pictures_without_an_object_are_refused_in_one_line(name):
    picture = check.no_object_pictures(256, np.random.default_rng(0))[name]
    with pytest.raises(BackgroundError) as err:
        object_mask(picture, "pic.png")
    assert "\n" not in str(err.value) and "transparent background" in str(err.value)


def test_an_object_running_off_the_picture_is_refused():
    rgb = np.full((200, 200, 3), 0.92, np.float32)
    rgb[40:200, 0:200] = (0.2, 0.3, 0.6)   # covers the whole bottom edge and both sides
    with pytest.raises(BackgroundError, match="border"):
        object_mask(rgb)


def test_a_large_photo_is_judged_at_working_size_and_masked_at_full_size(samples):
    rgba = samples["sofa"]
    picture = check.composite(rgba, "plain", np.random.default_rng(3))
    big = np.asarray(Image.fromarray((picture * 255).astype(np.uint8)).resize((2400, 2400)), np.float32) / 255
    truth = np.asarray(Image.fromarray(rgba[..., 3] > 0.5).resize((2400, 2400))) > 0
    mask = object_mask(big)
    assert mask.shape == (2400, 2400) and iou(mask, truth) > 0.85


@pytest.mark.parametrize("kind", ["UV_GRID", "COLOR_GRID"])
def test_blenders_own_test_grids_are_refused(tmp_path, kind):
    """Blender's generated UV and colour grids (made by the real bpy module, in a subprocess)."""
    import subprocess

    pytest.importorskip("bpy")
    out = tmp_path / "grid.npy"
    script = ("import bpy, numpy as np\n"
              f"img = bpy.data.images.new('grid', 512, 512)\nimg.generated_type = '{kind}'\n"
              "px = np.empty(512 * 512 * 4, np.float32)\nimg.pixels.foreach_get(px)\n"
              f"np.save(r'{out}', px.reshape(512, 512, 4)[::-1, :, :3])\n")
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, timeout=120)
    with pytest.raises(BackgroundError, match="border is not backdrop"):
        object_mask(np.load(out))
