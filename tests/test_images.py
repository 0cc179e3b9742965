"""Image reading and preparation: every mode Pillow gives, masks, crop/pad/resize, bad files."""

import numpy as np
import pytest
import torch
from PIL import Image

from engine.errors import InputError
from engine.images import load_image, prepare_batch, prepare_image


def save(tmp_path, name, array, **kw):
    path = tmp_path / name
    Image.fromarray(array).save(path, **kw)
    return path


def object_bbox(prepared):
    alpha = prepared[0, 3] > 0.5
    rows, cols = torch.nonzero(alpha.any(1)).flatten(), torch.nonzero(alpha.any(0)).flatten()
    return rows[0].item(), rows[-1].item(), cols[0].item(), cols[-1].item()


def test_alpha_is_the_mask_and_object_is_centred_and_fills_the_square(tmp_path):
    rgba = np.zeros((200, 300, 4), np.uint8)
    rgba[20:120, 200:250] = (255, 0, 0, 255)  # off-centre, tall object
    out = prepare_image(save(tmp_path, "a.png", rgba))
    assert out.shape == (1, 4, 128, 128)
    top, bottom, left, right = object_bbox(out)
    assert bottom - top + 1 == pytest.approx(128 * 0.9, abs=2)       # longer side fills 90 %
    assert (top + bottom) / 2 == pytest.approx(63.5, abs=1.5)        # centred
    assert (left + right) / 2 == pytest.approx(63.5, abs=1.5)
    assert out[0, 3, 0, 0] == 0 and out[0, :3, 0, 0].abs().sum() == 0  # transparent, premultiplied


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "I;16", "CMYK"])
def test_opaque_images_in_any_mode_get_their_background_separated(tmp_path, mode):
    rgb = np.full((120, 160, 3), 240, np.uint8)
    rgb[30:90, 40:120] = (30, 60, 200)
    img = Image.fromarray(rgb)
    if mode == "I;16":
        img = Image.fromarray((np.asarray(img.convert("L")).astype(np.uint16) * 257))
    else:
        img = img.convert(mode)
    path = tmp_path / ("x.tiff" if mode in ("I;16", "CMYK") else "x.png")
    img.save(path)
    out = prepare_image(path)
    top, bottom, left, right = object_bbox(out)
    assert right - left + 1 == pytest.approx(115, abs=3)   # the 80-wide object, scaled to 90 % of 128
    assert bottom - top + 1 == pytest.approx(115 * 60 / 80, abs=3)


def test_jpeg_and_sixteen_bit_rgba(tmp_path):
    rgb = np.full((64, 64, 3), 255, np.uint8)
    rgb[16:48, 16:48] = 0
    assert prepare_image(save(tmp_path, "a.jpg", rgb, quality=90))[0, 3].sum() > 1000
    rgba16 = np.zeros((64, 64, 4), np.uint16)
    rgba16[10:50, 20:40] = 65535
    path = tmp_path / "b.tiff"
    import tifffile
    tifffile.imwrite(path, rgba16, photometric="rgb", extrasamples=["unassalpha"])
    arr = load_image(path)
    assert arr.shape == (64, 64, 4) and arr[..., 3].max() == 1.0 and arr[0, 0, 3] == 0.0


def test_prepare_batch_matches_single_image_path():
    a = np.zeros((100, 100, 4), np.float32)
    a[30:60, 10:90] = 1
    single = prepare_image(a)
    batch = prepare_batch(torch.from_numpy(a).permute(2, 0, 1)[None].repeat(3, 1, 1, 1))
    assert torch.allclose(single[0], batch[2])


@pytest.mark.parametrize("case, message", [
    ("missing", "does not exist"), ("directory", "is a directory"), ("empty", "empty"),
    ("truncated", "damaged or truncated"), ("not_an_image", "not an image"), ("tiny", "pixels"),
    ("transparent", "fully transparent"), ("huge", "too large"), ("uniform", "no object"),
])
def test_bad_images_give_one_clear_line(tmp_path, case, message):
    path = tmp_path / "bad.png"
    if case == "directory":
        path.mkdir()
    elif case == "empty":
        path.write_bytes(b"")
    elif case == "truncated":
        good = tmp_path / "good.png"
        Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 4), np.uint8)).save(good)
        path.write_bytes(good.read_bytes()[:300])
    elif case == "not_an_image":
        path.write_text("this is a text file renamed to .png\n")
    elif case == "tiny":
        Image.new("RGBA", (1, 1), (255, 0, 0, 255)).save(path)
    elif case == "transparent":
        Image.new("RGBA", (64, 64), (255, 0, 0, 0)).save(path)
    elif case == "huge":
        Image.new("1", (10000, 10000)).save(path)  # 100 megapixels, tiny file
    elif case == "uniform":
        Image.new("RGB", (64, 64), (90, 90, 90)).save(path)
    with pytest.raises(InputError, match=message) as err:
        prepare_image(path)
    assert "\n" not in str(err.value)
