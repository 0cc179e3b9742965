"""Image reading and preparation: every mode Pillow gives, masks, crop/pad/resize, bad files."""

import os
import re
import socket
import threading
from pathlib import Path

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


def test_a_phone_photos_exif_orientation_is_applied(tmp_path):
    # stored landscape with a red bar on the left; Orientation 6: the camera was turned 90 degrees
    rgb = np.full((40, 80, 3), 255, np.uint8)
    rgb[:, :10] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    Image.fromarray(rgb).save(path, exif=exif, quality=95)
    rgba = load_image(path)
    assert rgba.shape[:2] == (80, 40)                       # shown portrait
    assert rgba[:10, :, 0].mean() > 0.9 and rgba[:10, :, 1].mean() < 0.2   # the bar is now on top


def test_a_float_tiff_in_zero_to_one_is_read_as_such(tmp_path):
    grey = np.full((64, 64), 0.95, np.float32)
    grey[16:48, 20:44] = 0.2
    path = tmp_path / "linear.tif"
    Image.fromarray(grey).save(path)
    rgba = load_image(path)
    assert rgba[32, 32, 0] == pytest.approx(0.2, abs=1e-3) and rgba[0, 0, 0] == pytest.approx(0.95, abs=1e-3)
    top, bottom, left, right = object_bbox(prepare_image(path))
    assert right - left + 1 == pytest.approx(115 * 24 / 32, abs=3) and bottom - top + 1 == pytest.approx(115, abs=3)


def finishes_within(seconds, call):
    """call()'s exception (or None), failing the test instead of hanging if call blocks."""
    outcome = []

    def target():
        try:
            call()
            outcome.append(None)
        except Exception as exc:  # noqa: BLE001 (handed to the test)
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, f"still blocked after {seconds} s"
    return outcome[0]


def make_special_file(tmp_path, kind):
    """(path of that kind of file, a socket to close afterwards or None)."""
    path = tmp_path / "photo.png"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        return path, server
    elif kind == "loop":
        path.symlink_to(path)
    elif kind == "broken link":
        path.symlink_to(tmp_path / "gone.png")
    elif kind == "device":
        path = Path("/dev/null")
    return path, None


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes, sockets and devices are POSIX")
@pytest.mark.parametrize("kind, message", [
    ("fifo", "is a named pipe, not an image file"), ("socket", "is a socket, not an image file"),
    ("device", "is a device, not an image file"), ("loop", "is a symbolic link loop"),
    ("broken link", "points to .*gone.png, which does not exist"),
])
def test_special_files_say_what_they_are_without_blocking(tmp_path, kind, message):
    path, keep_open = make_special_file(tmp_path, kind)
    try:
        error = finishes_within(10, lambda: load_image(path))
    finally:
        if keep_open:
            keep_open.close()
    assert isinstance(error, InputError) and re.search(message, str(error)), error
    assert "\n" not in str(error)


@pytest.mark.parametrize("orientation, transpose", [
    (3, Image.Transpose.ROTATE_180), (6, Image.Transpose.ROTATE_270), (8, Image.Transpose.ROTATE_90),
])
def test_an_exif_rotated_photo_prepares_like_its_upright_pixels(tmp_path, orientation, transpose):
    # a tall box photographed with the phone turned: stored lying on its side, shown upright
    rgba = np.zeros((60, 100, 4), np.uint8)
    rgba[20:40, 10:90] = (200, 80, 40, 255)
    rgba[20:40, 10:20] = (40, 200, 80, 255)  # one end marked, so a wrong rotation shows
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored = save(tmp_path, "phone.png", rgba, exif=exif)
    upright = tmp_path / "upright.png"
    Image.fromarray(rgba).transpose(transpose).save(upright)
    assert torch.equal(prepare_image(stored), prepare_image(upright))
