"""Hostile photos: bomb headers refused before decoding with flat memory, non-images refused by content,
cut-off and fuzzed files reported as damaged (never another exception), Pillow modes and EXIF
orientations giving the picture as displayed, odd sizes through the Predictor, and a batch with bad files
in it (CLI and analysis): the good files are processed and each bad one is named.

Complements tests/test_imageio.py (PNG bomb header, four non-images as .jpg, cut JPEG and TIFF header,
mode shapes, one EXIF rotation, multi-page TIFF) without repeating it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hostile import (
    CLAIMING,
    encoded,
    non_images,
    photo,
    png_claiming,
    png_with_text_bomb,
    pointwise_predictor,
    save_tiny_checkpoint,
    truncated,
)
from PIL import Image, ImageFile

from seg_core.core import paths
from seg_core.datasets.discovery import validate_dataset
from seg_core.imagery.imageio import MAX_PIXELS, ImageReadError, load_rgb, open_checked
from seg_core.inference.predictor import Predictor
from seg_core.services import analysis
from seg_core.services.analysis import PhotoAnalysis, PhotoFailure, PhotoInput

HARVEY_PHOTO = (4592, 3072)  # the largest photo of the Harvey set
BOMB_SIZES = {
    "40000x40000": (40000, 40000),  # 1.6 GP: past Pillow's own error threshold (2 x 89 MP)
    "10000x10000": (10000, 10000),  # 100 MP: past Pillow's warning, which we make an error
    "8000x5001": (8000, 5001),  # 40.008 MP: only StormSeg's own cap stands in the way
}


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("model") / "best.pt")


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if Pillow creates a pixel decoder (every decode path goes through _getdecoder)."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"a decoder was created: {args[:2]}")

    monkeypatch.setattr(Image, "_getdecoder", refuse)


# --- the pixel cap ----------------------------------------------------------------------------------


def test_the_cap_sits_between_the_largest_harvey_photo_and_pillows_limit():
    harvey = HARVEY_PHOTO[0] * HARVEY_PHOTO[1]
    assert 2.5 * harvey <= MAX_PIXELS  # room for bigger drone cameras
    assert MAX_PIXELS < Image.MAX_IMAGE_PIXELS  # refuses before Pillow even warns
    for fmt, claiming in CLAIMING.items():
        for size in (HARVEY_PHOTO, (8000, 5000)):  # 8000x5000 is exactly 40 MP: still accepted
            with open_checked(claiming(*size), name=f"ok.{fmt}") as image:
                assert image.size == size


@pytest.mark.parametrize("size", BOMB_SIZES)
@pytest.mark.parametrize("fmt", CLAIMING)
def test_a_bomb_header_is_refused_before_any_decoding(tmp_path, no_decoding, fmt, size):
    path = tmp_path / f"bomb.{fmt}"
    path.write_bytes(CLAIMING[fmt](*BOMB_SIZES[size]))
    assert path.stat().st_size < 1000
    with pytest.raises(ImageReadError, match=f"bomb.{fmt}: ") as info:
        load_rgb(path, long_side=1024)
    assert re.search("too many pixels|over StormSeg's limit of 40 megapixels", str(info.value))


MEMORY_PROBE = """
import json, re, resource, sys
from pathlib import Path
import numpy as np
import torch
torch.set_num_threads(1)
from seg_core.services import analysis
from seg_core.datasets.discovery import validate_dataset
from seg_core.imagery.imageio import ImageReadError, load_rgb
from seg_core.inference.predictor import Predictor

def peak_kib():
    return int(re.search(r"VmHWM:\\s+(\\d+)", Path("/proc/self/status").read_text()).group(1))

def reset_peak():  # Linux >= 4.0: VmHWM back to the current RSS, so the next peak is this step's own
    Path("/proc/self/clear_refs").write_text("5")

folder, checkpoint = Path(sys.argv[1]), sys.argv[2]
predictor = Predictor.from_checkpoint(checkpoint)
predictor.predict(np.zeros((48, 64, 3), np.uint8))  # warm-up: lazy imports, allocator pools
bombs = sorted((folder / "bombs").iterdir())
outcomes = {}
reset_peak()
start = peak_kib()
for path in bombs:
    calls = {
        "load_rgb": lambda: load_rgb(path),
        "predictor": lambda: predictor.predict(path),
        "analysis": lambda: analysis.analyse_photo(predictor, path.read_bytes(), path.name),
    }
    for how, call in calls.items():
        try:
            call()
            outcomes[f"{path.name} {how}"] = "ACCEPTED"
        except ImageReadError as exc:
            outcomes[f"{path.name} {how}"] = str(exc)
report = validate_dataset(folder / "dataset")
bombs_kib = peak_kib() - start
reset_peak()
start = peak_kib()
control = load_rgb(folder / "control.png")  # a real 3000x2000 photo: 18 MB of pixels
control_kib = peak_kib() - start
print(json.dumps({"bombs_kib": bombs_kib, "control_kib": control_kib, "outcomes": outcomes,
                  "pairs": len(report.pairs), "problems": [p.message for p in report.problems]}))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc peak-RSS reset")
def test_memory_stays_flat_while_bombs_are_refused(tmp_path, tiny_checkpoint):
    """In a fresh process: 9 bomb headers through load_rgb, the Predictor, the Segment page's analysis
    and dataset validation raise the peak RSS by less than 50 MB (decoding the largest would need
    4.8 GB), while a real 3000x2000 photo measurably raises it (the meter works)."""
    bombs = tmp_path / "bombs"
    bombs.mkdir()
    dataset = tmp_path / "dataset"
    (dataset / "images").mkdir(parents=True)
    (dataset / "masks").mkdir()
    for fmt, claiming in CLAIMING.items():
        for label, size in BOMB_SIZES.items():
            data = claiming(*size)
            (bombs / f"{label}.{fmt}").write_bytes(data)
            (dataset / "images" / f"{label}-{fmt}.{fmt}").write_bytes(data)
            Image.new("L", (8, 8)).save(dataset / "masks" / f"{label}-{fmt}.png")
    Image.fromarray(photo(64, 48)).save(dataset / "images" / "maskbomb.png")
    (dataset / "masks" / "maskbomb.png").write_bytes(png_claiming(40000, 40000))
    Image.fromarray(photo(3000, 2000)).save(tmp_path / "control.png", compress_level=1)

    env = {**os.environ, "PYTHONPATH": str(paths.REPO_ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(tmp_path), str(tiny_checkpoint)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    probe = json.loads(result.stdout.splitlines()[-1])
    assert len(probe["outcomes"]) == 27 and "ACCEPTED" not in probe["outcomes"].values()
    for key, message in probe["outcomes"].items():
        assert re.match(rf"(.*/)?{re.escape(key.split()[0])}: ", message), (key, message)
    assert probe["pairs"] == 0 and len(probe["problems"]) == 10  # 9 bomb photos, 1 bomb mask
    assert probe["bombs_kib"] < 50 * 1024, probe["bombs_kib"]
    assert probe["control_kib"] > 15 * 1024, probe["control_kib"]  # a real decode does show up
    print(f"peak RSS growth: bombs {probe['bombs_kib']} KiB, 3000x2000 control {probe['control_kib']} KiB")


# --- not an image ---------------------------------------------------------------------------------

ALREADY_IN_TEST_IMAGEIO = {("empty", ".jpg"), ("html", ".jpg"), ("random", ".jpg")}
NON_IMAGE_CASES = [
    (kind, suffix)
    for kind in non_images()
    for suffix in (".png", ".jpg", ".tif")
    if (kind, suffix) not in ALREADY_IN_TEST_IMAGEIO
]


@pytest.fixture
def no_postscript(monkeypatch):
    """Fail the test if Pillow's EPS plugin is consulted (it would run Ghostscript on the file)."""
    from PIL import EpsImagePlugin

    def refuse(*args, **kwargs):
        raise AssertionError("the EPS plugin was consulted")

    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", refuse)
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", refuse)


@pytest.mark.parametrize("kind, suffix", NON_IMAGE_CASES)
def test_a_non_image_is_refused_by_content_naming_the_file(tmp_path, no_postscript, kind, suffix):
    path = tmp_path / f"{kind}{suffix}"
    path.write_bytes(non_images()[kind])
    expected = "the file is empty" if kind == "empty" else "not a supported image"
    with pytest.raises(ImageReadError, match=f"^{re.escape(str(path))}: {expected}"):
        load_rgb(path)
    with pytest.raises(ImageReadError, match=f"^upload{suffix}: "):  # the same bytes as an upload
        load_rgb(path.read_bytes(), name=f"upload{suffix}")


# --- damaged files ----------------------------------------------------------------------------------

TRUNCATIONS = [
    ("JPEG", {}, ".jpg"),
    ("PNG", {}, ".png"),
    ("TIFF", {}, ".tif"),
    ("TIFF", {"compression": "tiff_lzw"}, ".tif"),
    ("WEBP", {}, ".webp"),
    ("BMP", {}, ".bmp"),
]


@pytest.mark.parametrize("keep", [0.05, 0.5, 0.9])
@pytest.mark.parametrize(
    "fmt, options, suffix", TRUNCATIONS, ids=["jpeg", "png", "tiff", "tiff-lzw", "webp", "bmp"]
)
@pytest.mark.filterwarnings("ignore:Corrupt EXIF data:UserWarning")  # Pillow, on cut-off TIFFs: expected
def test_a_cut_off_file_is_reported_damaged_never_half_decoded(tmp_path, fmt, options, suffix, keep):
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    data = truncated(fmt, keep, **options)
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data)
    with pytest.raises(ImageReadError, match=f"cut{re.escape(suffix)}: the file is damaged"):
        load_rgb(path)
    with pytest.raises(ImageReadError, match=f"upload{re.escape(suffix)}: the file is damaged"):
        load_rgb(data, name=f"upload{suffix}")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_nothing_switches_on_loading_truncated_images():
    pattern = re.compile(r"LOAD_TRUNCATED_IMAGES\s*=")
    sources = [
        *paths.REPO_ROOT.glob("seg_core/**/*.py"),
        *paths.REPO_ROOT.glob("ui/*.py"),
        *paths.REPO_ROOT.glob("app_pages/*.py"),
        paths.REPO_ROOT / "app.py",
    ]
    assert len(sources) > 20
    assert [str(p) for p in sources if pattern.search(p.read_text())] == []


def test_a_compressed_text_chunk_bomb_is_refused_naming_the_file():
    with pytest.raises(ImageReadError, match="notes.png: the file is damaged .*MAX_TEXT_CHUNK"):
        load_rgb(png_with_text_bomb(), name="notes.png")


def mutations(data: bytes, count: int, seed: int):
    """`count` copies of `data` with 1-7 random bytes overwritten, a third of them also cut short."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        mutated = bytearray(data)
        for _ in range(rng.integers(1, 8)):
            mutated[rng.integers(0, len(mutated))] = rng.integers(0, 256)
        if rng.random() < 0.3:
            mutated = mutated[: rng.integers(1, len(mutated))]
        yield bytes(mutated)


FUZZED_FORMATS = [
    ("JPEG", {}),
    ("PNG", {}),
    ("TIFF", {}),
    ("TIFF", {"compression": "tiff_lzw"}),
    ("WEBP", {}),
    ("BMP", {}),
]


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(
    "fmt, options", FUZZED_FORMATS, ids=["jpeg", "png", "tiff", "tiff-lzw", "webp", "bmp"]
)
def test_fuzzed_files_decode_or_raise_an_error_naming_them(fmt, options):
    """120 seeded mutations per format: each decodes to an RGB photo or raises ImageReadError naming
    the file; before the fix 379 of 400 mutated PNGs escaped as OSError, some TIFFs as TypeError."""
    original = encoded(photo(32, 24, seed=1), fmt, **options)
    outcomes = {"decoded": 0, "refused": 0}
    for data in mutations(original, 120, seed=len(fmt) + len(options)):
        try:
            pixels = load_rgb(data, name="fuzz.img").pixels
        except ImageReadError as exc:
            assert str(exc).startswith("fuzz.img: ")
            outcomes["refused"] += 1
        else:
            assert pixels.ndim == 3 and pixels.shape[2] == 3 and pixels.dtype == np.uint8
            outcomes["decoded"] += 1
    assert outcomes["refused"] > 0, outcomes


# --- modes, orientation, sizes ------------------------------------------------------------------------


def test_sixteen_bit_and_float_tiffs_are_scaled_not_clipped(tmp_path):
    Image.fromarray(np.array([[0, 25700, 65535]], dtype=np.uint16)).save(tmp_path / "g16.tif")
    assert load_rgb(tmp_path / "g16.tif").pixels[0, :, 0].tolist() == [0, 100, 255]
    Image.fromarray(np.array([[0.0, 0.5, 2.0]], dtype=np.float32)).save(tmp_path / "f32.tif")
    assert load_rgb(tmp_path / "f32.tif").pixels[0, :, 1].tolist() == [0, 64, 255]  # scaled by the max


def test_cmyk_jpeg_keeps_its_colours(tmp_path):
    Image.new("RGB", (16, 16), (220, 40, 30)).convert("CMYK").save(tmp_path / "cmyk.jpg")
    pixels = load_rgb(tmp_path / "cmyk.jpg").pixels
    assert np.abs(pixels.astype(int) - (220, 40, 30)).max() <= 12


def test_transparency_becomes_black_and_opaque_colours_stay(tmp_path):
    palette = Image.new("P", (4, 1))
    palette.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    palette.putdata([1, 2, 1, 2])
    palette.info["transparency"] = 2  # index 2 (green) is see-through
    palette.save(tmp_path / "p.png", transparency=2)
    assert load_rgb(tmp_path / "p.png").pixels[0].tolist() == [[255, 0, 0], [0, 0, 0]] * 2

    rgba = np.array([[[200, 100, 50, 255], [200, 100, 50, 0], [200, 100, 50, 128]]], dtype=np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    got = load_rgb(tmp_path / "rgba.png").pixels[0].astype(int)
    assert got[0].tolist() == [200, 100, 50] and got[1].tolist() == [0, 0, 0]
    assert np.abs(got[2] - np.array([100, 50, 25])).max() <= 1  # half alpha over black

    la = np.array([[[180, 255], [180, 0]]], dtype=np.uint8)
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    assert load_rgb(tmp_path / "la.png").pixels[0].tolist() == [[180] * 3, [0] * 3]


def test_one_bit_photo_is_black_and_white(tmp_path):
    Image.fromarray(np.array([[0, 255, 0]], dtype=np.uint8)).convert("1").save(tmp_path / "bw.png")
    assert load_rgb(tmp_path / "bw.png").pixels[0, :, 0].tolist() == [0, 255, 0]


# How each EXIF orientation displays the stored pixels, from the EXIF 2.3 specification (tag 0x0112):
# where the stored 0th row and 0th column go. STORE[o] is the inverse: upright -> what a camera stores.
STORE = {
    2: np.fliplr,
    3: lambda a: np.rot90(a, 2),
    4: np.flipud,
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, 1),  # displayed by turning 90 degrees clockwise
    7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),
    8: lambda a: np.rot90(a, -1),  # displayed by turning 90 degrees counter-clockwise
}


def upright_quadrants(width: int = 64, height: int = 32) -> np.ndarray:
    """Four colours in four quadrants: each of the 8 flips/rotations gives a different picture."""
    image = np.zeros((height, width, 3), np.uint8)
    image[: height // 2, : width // 2] = (230, 30, 30)
    image[: height // 2, width // 2 :] = (30, 200, 30)
    image[height // 2 :, : width // 2] = (30, 30, 230)
    image[height // 2 :, width // 2 :] = (240, 240, 40)
    return image


def stored_with_orientation(path: Path, upright: np.ndarray, orientation: int, **options) -> Path:
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(np.ascontiguousarray(STORE[orientation](upright))).save(path, exif=exif, **options)
    return path


@pytest.mark.parametrize("orientation", range(2, 9))
def test_every_exif_orientation_gives_the_photo_as_displayed(tmp_path, orientation):
    upright = upright_quadrants()
    for suffix in (".png", ".tif", ".webp"):  # lossless
        options = {"lossless": True} if suffix == ".webp" else {}
        path = stored_with_orientation(tmp_path / f"o{orientation}{suffix}", upright, orientation, **options)
        loaded = load_rgb(path)
        assert loaded.original_size == (64, 32)
        assert np.array_equal(loaded.pixels, upright), suffix
    jpeg = stored_with_orientation(tmp_path / f"o{orientation}.jpg", upright, orientation, quality=95)
    assert np.abs(load_rgb(jpeg).pixels.astype(int) - upright).mean() < 4
    # JPEG's reduced decode (draft) with a rotation: the size requested from the decoder is swapped
    big_upright = np.asarray(Image.fromarray(upright).resize((640, 320), Image.Resampling.NEAREST))
    big = stored_with_orientation(tmp_path / f"big{orientation}.jpg", big_upright, orientation, quality=95)
    small = load_rgb(big, long_side=80)
    assert small.pixels.shape == (40, 80, 3) and small.original_size == (640, 320)
    reference = np.asarray(Image.fromarray(big_upright).resize((80, 40), Image.Resampling.BOX)).astype(int)
    assert np.abs(small.pixels.astype(int) - reference).mean() < 6


@pytest.mark.parametrize("orientation", range(2, 9))
def test_the_mask_of_a_rotated_photo_lines_up_with_the_photo_as_displayed(tmp_path, orientation):
    """A pointwise model gives each pixel a class from its colour alone: the mask predicted from the
    stored file must equal the mask of the upright photo, pixel for pixel, through the Predictor, the
    Segment page's analysis and the CLI."""
    upright = photo(48, 32, seed=orientation)
    predictor = pointwise_predictor()
    expected = predictor.predict(upright)
    for suffix in (".png", ".tif"):  # lossless, and TIFF is the one Pillow itself turns while loading
        path = stored_with_orientation(tmp_path / f"rotated{suffix}", upright, orientation)
        assert np.array_equal(predictor.predict(path), expected), suffix
        result = analysis.analyse_photo(predictor, path.read_bytes(), path.name)
        assert result.original_size == (48, 32) and np.array_equal(result.photo, upright), suffix
        assert np.array_equal(result.full_mask(), expected), suffix
        assert np.array_equal(result.display_mask, expected), suffix


def test_a_rotated_dataset_photo_needs_its_mask_at_the_displayed_size(tmp_path):
    root = tmp_path / "rotated"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    upright = upright_quadrants()  # 64 wide, 32 tall as displayed
    stored_with_orientation(root / "images" / "good.jpg", upright, 6)
    stored_with_orientation(root / "images" / "good_tiff.tif", upright, 8)
    stored_with_orientation(root / "images" / "bad.jpg", upright, 6)
    Image.new("L", (64, 32)).save(root / "masks" / "good.png")  # displayed size
    Image.new("L", (64, 32)).save(root / "masks" / "good_tiff.png")
    Image.new("L", (32, 64)).save(root / "masks" / "bad.png")  # the stored size: wrong
    report = validate_dataset(root)
    assert [p.stem for p in report.pairs] == ["good", "good_tiff"]
    assert {p.size for p in report.pairs} == {(64, 32)}
    (problem,) = report.problems
    assert (
        problem.kind == "size_mismatch" and "bad.png: mask is 32x64 but its image is 64x32" in problem.message
    )


def test_multipage_tiff_predicts_the_first_page_and_says_so(tmp_path, tiny_checkpoint):
    pages = [Image.fromarray(photo(60, 40, seed=i)) for i in range(3)]
    pages[1] = pages[1].resize((400, 300))  # later pages may differ in size: never decoded
    pages[0].save(tmp_path / "three.tif", save_all=True, append_images=pages[1:])
    result = Predictor.from_checkpoint(tiny_checkpoint).predict_full(tmp_path / "three.tif")
    assert result.mask.shape == (40, 60)
    assert result.notices == (f"{tmp_path / 'three.tif'}: has 3 pages; only the first was used",)


ODD_SIZES = [(1, 1), (1, 4000), (4000, 2), (2, 4000), (4000, 1), (3, 3), (4592, 1)]


@pytest.mark.parametrize("size", ODD_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_tiny_and_extreme_aspect_photos_get_a_mask_of_their_own_size(tmp_path, tiny_checkpoint, size):
    width, height = size
    path = tmp_path / f"odd_{width}x{height}.png"
    Image.fromarray(photo(width, height)).save(path)
    predictor = Predictor.from_checkpoint(tiny_checkpoint)
    mask = predictor.predict(path)
    assert mask.shape == (height, width) and mask.dtype == np.uint8 and mask.max() < 25
    result = analysis.analyse_photo(predictor, path.read_bytes(), path.name)
    assert result.full_mask().shape == (height, width)
    assert max(result.photo.shape[:2]) <= analysis.DISPLAY_LONG_SIDE
    assert result.display_mask.shape == result.photo.shape[:2]


def test_a_photo_with_zero_width_is_refused_naming_it():
    with pytest.raises(ImageReadError, match="flat.png: the file is damaged"):
        load_rgb(png_claiming(0, 10), name="flat.png")


# --- a batch with bad files in it -------------------------------------------------------------------


def hostile_batch() -> dict[str, bytes]:
    """File name -> bytes: two good photos (one EXIF-rotated) and one of each kind of bad file."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return {
        "good.jpg": encoded(photo(120, 90), "JPEG"),
        "rotated.jpg": encoded(photo(120, 80, seed=2), "JPEG", exif=exif),  # displayed 80 wide, 120 tall
        "bomb.png": png_claiming(40000, 40000),
        "bigger-than-cap.jpg": CLAIMING["jpg"](8000, 5001),
        "empty.jpg": b"",
        "page.png": non_images()["html"],
        "drawing.jpg": non_images()["eps"],
        "cut.png": truncated("PNG", 0.5),
        "cut.jpg": truncated("JPEG", 0.5),
        "cut.tif": truncated("TIFF", 0.5),
        "text-bomb.png": png_with_text_bomb(),
    }


BAD = {
    "bomb.png",
    "bigger-than-cap.jpg",
    "empty.jpg",
    "page.png",
    "drawing.jpg",
    "cut.png",
    "cut.jpg",
    "cut.tif",
    "text-bomb.png",
}


def test_cli_predict_segments_the_good_files_and_names_every_bad_one(tmp_path, tiny_checkpoint):
    folder = tmp_path / "photos"
    folder.mkdir()
    for name, data in hostile_batch().items():
        (folder / name).write_bytes(data)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(paths.REPO_ROOT), "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "seg_core",
        "predict",
        "--checkpoint",
        str(tiny_checkpoint),
        "--out",
        str(out),
        str(folder),
        str(folder / "missing.jpg"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=240, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "2 image(s) segmented" in result.stdout and "10 skipped" in result.stdout
    skipped = [line for line in result.stderr.splitlines() if line.startswith("skipped: ")]
    named = {Path(line.removeprefix("skipped: ").split(": ")[0]).name for line in skipped}
    assert named == BAD | {"missing.jpg"}
    assert "Traceback" not in result.stderr
    assert np.asarray(Image.open(out / "rotated_mask.png")).shape == (120, 80)
    assert np.asarray(Image.open(out / "good_mask.png")).shape == (90, 120)
    rows = (out / "stats.csv").read_text().splitlines()[1:]
    assert sorted(row.split(",")[0] for row in rows) == ["good.jpg", "rotated.jpg"]


def test_analysis_batch_segments_the_good_uploads_and_names_every_bad_one():
    photos = [PhotoInput(name, data) for name, data in hostile_batch().items()]
    results = analysis.run_batch(photos, {}, pointwise_predictor, "pointwise:1")
    done = {r.name: r for r in results if isinstance(r, PhotoAnalysis)}
    failed = {r.name: r.message for r in results if isinstance(r, PhotoFailure)}
    assert set(done) == {"good.jpg", "rotated.jpg"} and set(failed) == BAD
    assert all(message.startswith(f"{name}: ") for name, message in failed.items())
    assert all("damaged" in failed[name] for name in ("cut.png", "cut.jpg", "cut.tif"))
    assert done["rotated.jpg"].full_mask().shape == (120, 80)
