import io

import numpy as np
import pytest
from PIL import Image

from seg_core.imagery.imageio import (
    MAX_PIXELS,
    ImageReadError,
    load_mask,
    load_rgb,
    open_checked,
    scaled_size,
)


def _save(tmp_path, name, image, **kwargs):
    path = tmp_path / name
    image.save(path, **kwargs)
    return path


def test_scaled_size_never_upscales_and_keeps_aspect():
    assert scaled_size((4000, 3000), 1024) == (1024, 768)
    assert scaled_size((3072, 4592), 1024) == (685, 1024)
    assert scaled_size((300, 200), 1024) == (300, 200)
    assert scaled_size((300, 200), None) == (300, 200)


def test_load_rgb_resizes_jpeg_with_draft_to_exact_target(tmp_path):
    array = np.random.default_rng(0).integers(0, 255, (600, 800, 3), dtype=np.uint8)
    path = _save(tmp_path, "a.jpg", Image.fromarray(array), quality=90)
    loaded = load_rgb(path, long_side=200)
    assert loaded.pixels.shape == (150, 200, 3) and loaded.pixels.dtype == np.uint8
    assert loaded.original_size == (800, 600)


@pytest.mark.parametrize("orientation", [1, 6])
def test_jpeg_is_decoded_at_reduced_scale_not_at_full_size(tmp_path, monkeypatch, orientation):
    """JPEG draft decoding: a 1600x1200 photo wanted at 200 px is decoded by the DCT at 1/8 scale,
    also when EXIF turns it (the draft is asked for in stored, not displayed, orientation)."""
    from PIL import JpegImagePlugin

    array = np.random.default_rng(0).integers(0, 255, (1200, 1600, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = _save(tmp_path, "big.jpg", Image.fromarray(array), quality=90, exif=exif)
    decoded_sizes = []
    real_load = JpegImagePlugin.JpegImageFile.load

    def recording_load(image):
        if image.tile:
            decoded_sizes.append(image.size)
        return real_load(image)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "load", recording_load)
    loaded = load_rgb(path, long_side=200)
    assert decoded_sizes == [(200, 150)]
    assert loaded.pixels.shape == ((150, 200, 3) if orientation == 1 else (200, 150, 3))


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    path = _save(tmp_path, "rot.jpg", image, exif=exif)
    loaded = load_rgb(path)
    assert loaded.pixels.shape == (40, 20, 3)
    assert loaded.original_size == (20, 40)


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"", "empty"),
        (b"<html><body>not a photo</body></html>", "not a supported image"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "not a supported image"),
        (np.random.default_rng(1).bytes(4096), "not a supported image"),
    ],
)
def test_non_images_are_refused_by_content_naming_the_file(tmp_path, payload, message):
    path = tmp_path / "photo.jpg"
    path.write_bytes(payload)
    with pytest.raises(ImageReadError, match=message) as info:
        load_rgb(path)
    assert "photo.jpg" in str(info.value)


def test_pixel_cap_refuses_before_decoding(tmp_path):
    # A PNG header claiming 40000x40000 (1.6 gigapixels) in a few hundred bytes.
    buffer = io.BytesIO()
    Image.new("1", (40000, 40000)).save(buffer, format="PNG")
    path = tmp_path / "bomb.png"
    path.write_bytes(buffer.getvalue())
    assert path.stat().st_size < 300_000
    with pytest.raises(ImageReadError, match="bomb.png") as info:
        open_checked(path)
    assert "too many pixels" in str(info.value) or "megapixels" in str(info.value)
    assert MAX_PIXELS < 40000 * 40000


def test_truncated_jpeg_is_reported_as_damaged(tmp_path):
    array = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    path = _save(tmp_path, "cut.jpg", Image.fromarray(array))
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ImageReadError, match="cut.jpg: the file is damaged"):
        load_rgb(path)


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 32768, 65535]], dtype=np.uint16)
    path = _save(tmp_path, "g16.png", Image.fromarray(values))
    pixels = load_rgb(path).pixels
    assert pixels[0, :, 0].tolist() == [0, 128, 255]


@pytest.mark.parametrize("mode", ["CMYK", "RGBA", "LA", "L", "1", "P"])
def test_every_mode_becomes_rgb(tmp_path, mode):
    image = Image.new("RGB", (10, 7), (200, 100, 50)).convert(mode)
    suffix = ".tif" if mode == "CMYK" else ".png"
    path = _save(tmp_path, f"m{suffix}", image)
    pixels = load_rgb(path).pixels
    assert pixels.shape == (7, 10, 3) and pixels.dtype == np.uint8


def test_multipage_tiff_uses_first_page_with_a_notice(tmp_path):
    pages = [Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 255))]
    path = tmp_path / "multi.tif"
    pages[0].save(path, save_all=True, append_images=pages[1:])
    loaded = load_rgb(path)
    assert tuple(loaded.pixels[0, 0]) == (255, 0, 0)
    assert loaded.notices and "2 pages" in loaded.notices[0]


def test_arrays_and_pil_images_are_accepted():
    array = np.zeros((5, 9, 3), dtype=np.uint8)
    assert load_rgb(array).pixels.shape == (5, 9, 3)
    assert load_rgb(Image.fromarray(array)).pixels.shape == (5, 9, 3)
    with pytest.raises(ImageReadError, match="uint8"):
        load_rgb(np.zeros((5, 9, 3), dtype=np.float32))


def test_load_mask_keeps_palette_indices_and_resizes_nearest(tmp_path):
    mask = np.array([[0, 23], [5, 24]], dtype=np.uint8)
    image = Image.frombytes("P", (2, 2), mask.tobytes())
    image.putpalette([255, 255, 255] * 256)  # colours must not leak into the ids
    path = _save(tmp_path, "m.png", image)
    assert load_mask(path).tolist() == mask.tolist()
    big = load_mask(path, size=(4, 4))
    assert big.shape == (4, 4) and set(np.unique(big)) == {0, 5, 23, 24}
    rgb_path = _save(tmp_path, "rgb.png", Image.new("RGB", (2, 2)))
    with pytest.raises(ImageReadError, match="single-channel"):
        load_mask(rgb_path)


def test_truncated_tiff_header_is_damaged_not_unsupported(tmp_path):
    path = _save(tmp_path, "cut.tif", Image.new("RGB", (64, 64), (9, 9, 9)))
    path.write_bytes(path.read_bytes()[:6])  # the magic survives, the directory does not
    with pytest.raises(ImageReadError, match="cut.tif: the file is damaged"):
        load_rgb(path)
