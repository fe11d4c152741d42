import dataclasses

import numpy as np
import pytest
from PIL import Image, ImageFilter

from seg_core.demo import synth
from seg_core.schemes.classes import NUM_CLASSES


def scene(seed: int, size=(160, 120)):
    return synth.generate_scene(*size, np.random.default_rng(seed))


def test_scene_is_an_rgb_photo_and_a_class_id_mask():
    image, mask = scene(0)
    assert image.shape == (120, 160, 3) and image.dtype == np.uint8
    assert mask.shape == (120, 160) and mask.dtype == np.uint8
    assert int(mask.max()) < NUM_CLASSES


def test_same_seed_gives_identical_arrays_and_other_seeds_differ():
    image_a, mask_a = scene(7)
    image_b, mask_b = scene(7)
    image_c, mask_c = scene(8)
    np.testing.assert_array_equal(image_a, image_b)
    np.testing.assert_array_equal(mask_a, mask_b)
    assert not np.array_equal(image_a, image_c)
    assert not np.array_equal(mask_a, mask_c)


def test_the_same_neighbourhood_is_drawn_at_any_resolution():
    _, small = scene(3, (160, 120))
    _, large = scene(3, (640, 480))
    _, other = scene(4, (160, 120))
    agreement = (large[2::4, 2::4] == small).mean()
    assert agreement > 0.85
    assert (other == small).mean() < agreement - 0.3  # not just "mostly grass" everywhere


def test_main_classes_appear_across_a_small_dataset():
    masks = [scene(seed, (320, 240))[1] for seed in range(6)]
    present = set().union(*(np.unique(m).tolist() for m in masks))
    assert {synth.ROOF, synth.GRASS, synth.ROAD, synth.FLOODED, synth.TREE} <= present
    assert len(present) >= 8
    for mask in masks:  # every scene is a flooded neighbourhood with houses
        assert (mask == synth.ROOF).sum() > 500 and (mask == synth.FLOODED).sum() > 500


def test_photo_matches_the_mask_and_is_textured():
    image, mask = scene(2, (320, 240))
    grass = image[mask == synth.GRASS].astype(float)
    assert grass[:, 1].mean() > grass[:, 0].mean() and grass[:, 1].mean() > grass[:, 2].mean()  # green
    assert grass.std(axis=0).min() > 4  # mottled, not a flat cartoon colour
    assert len(np.unique(image.reshape(-1, 3), axis=0)) > 5000


def test_flood_covers_ground_but_never_roofs_or_trees():
    plan = synth.plan_scene(np.random.default_rng(5), 320, 240)
    _, dry = synth.render_scene(
        dataclasses.replace(plan, flood_level=-np.inf), 320, 240, np.random.default_rng(0)
    )
    _, drowned = synth.render_scene(
        dataclasses.replace(plan, flood_level=np.inf), 320, 240, np.random.default_rng(0)
    )
    assert not (dry == synth.FLOODED).any()
    assert (dry == synth.ROOF).sum() > 1000
    np.testing.assert_array_equal(drowned == synth.ROOF, dry == synth.ROOF)  # roofs stay above water
    np.testing.assert_array_equal(drowned == synth.TREE, dry == synth.TREE)  # trees poke through
    assert not (drowned == synth.GRASS).any()
    assert not ((drowned == synth.ROAD) & ~synth.bridge_mask(plan, 320, 240)).any()  # only bridges stay dry
    assert (drowned == synth.FLOODED).mean() > 0.3


@pytest.mark.parametrize("seed", [[5, 1], [0, 6], [0, 29]])
def test_roads_over_a_pond_or_bayou_are_dry_bridges(seed):
    """Seeds where a street crosses a pond or a bayou with bare (Background) banks: the bridge mask was
    drawn with the rim's class id, 0, so these bridges used to flood and cut the water with straight
    flood-coloured strips."""
    plan = synth.plan_scene(np.random.default_rng(seed), 320, 240)
    assert plan.bridged and plan.bridged[0].cls == synth.BACKGROUND
    bridges = synth.bridge_mask(plan, 320, 240)
    _, dry = synth.render_scene(
        dataclasses.replace(plan, flood_level=-np.inf), 320, 240, np.random.default_rng(0)
    )
    _, drowned = synth.render_scene(
        dataclasses.replace(plan, flood_level=np.inf), 320, 240, np.random.default_rng(0)
    )
    crossing = bridges & (dry == synth.ROAD)
    assert crossing.sum() > 500
    np.testing.assert_array_equal(drowned[crossing], synth.ROAD)


def _colour_only_accuracy(a: np.ndarray, b: np.ndarray) -> float:
    """Balanced accuracy of the best per-pixel colour lookup (16 levels per channel) between two
    classes' pixels, fitted on those very pixels: an upper bound on what colour alone can do."""

    def histogram(pixels):
        bins = (pixels // 16).astype(np.int64) @ np.array([256, 16, 1])
        return np.bincount(bins, minlength=4096) / len(pixels)

    return 0.5 * float(np.maximum(histogram(a), histogram(b)).sum())


def test_look_alike_classes_overlap_in_colour():
    """Flood water vs water body vs (storm-fouled) pools and grey roofs vs asphalt cannot be told
    apart by colour alone, so a model must use shape and context (measured: 0.89, 0.88, 0.72)."""
    scenes = [scene(seed, (320, 240)) for seed in range(8)]

    def pixels(*cls):
        return np.concatenate([image[np.isin(mask, cls)] for image, mask in scenes])

    flood, water, pool = pixels(synth.FLOODED), pixels(synth.WATER_BODY), pixels(synth.POOL)
    roof, road, grass = pixels(synth.ROOF), pixels(synth.ROAD), pixels(synth.GRASS)
    assert min(len(flood), len(water), len(pool), len(roof), len(road), len(grass)) > 3000
    assert _colour_only_accuracy(flood, water) < 0.95
    assert _colour_only_accuracy(pool, np.concatenate([flood, water])) < 0.93
    assert _colour_only_accuracy(roof, road) < 0.85
    assert _colour_only_accuracy(roof, grass) > 0.95  # while unlike classes do separate (0.98)


def _surroundings(mask: np.ndarray, cls: int) -> np.ndarray:
    """Labels of the pixels within 2 px around the `cls` pixels."""
    grown = Image.fromarray(((mask == cls) * 255).astype(np.uint8)).filter(ImageFilter.MaxFilter(5))
    return mask[(np.asarray(grown) > 0) & (mask != cls)]


def test_small_objects_sit_where_they_belong():
    masks = [scene(seed, (640, 480))[1] for seed in range(4)]
    for cls, homes in [
        (synth.BOAT, [synth.FLOODED, synth.WATER_BODY]),
        (synth.CHIMNEY, [synth.ROOF]),
        (synth.SOLAR, [synth.ROOF]),
    ]:
        around = np.concatenate([_surroundings(mask, cls) for mask in masks])
        assert len(around) > 200, cls
        assert np.isin(around, homes).mean() > 0.9, cls


@pytest.mark.parametrize("size", [(63, 120), (160, 8001), (0, 0)])
def test_generate_scene_rejects_sizes_out_of_range(size):
    with pytest.raises(ValueError, match="64..8000"):
        synth.generate_scene(*size, np.random.default_rng(0))


def test_write_demo_dataset_writes_the_harvey_layout(tmp_path):
    calls = []
    summary = synth.write_demo_dataset(
        tmp_path / "demo", n=3, size=(96, 64), seed=1, progress=lambda d, t: calls.append((d, t))
    )
    root = tmp_path / "demo"
    train = sorted(p.stem for p in (root / "train_images").glob("*.tif"))
    masks = sorted(p.stem for p in (root / "train_masks").glob("*.png"))
    test = sorted(p.stem for p in (root / "test_images").glob("*.tif"))
    assert train == masks == ["synth_0000", "synth_0001", "synth_0002"]
    assert len(test) == 2 and not set(test) & set(train)  # n_test defaults to max(2, n // 4)
    assert calls == [(i, 5) for i in range(1, 6)]
    assert (summary.root, summary.n_train, summary.n_test, summary.size) == (root, 3, 2, (96, 64))
    counts = np.zeros(NUM_CLASSES, np.int64)
    for stem in train:
        with Image.open(root / "train_images" / f"{stem}.tif") as im:
            assert im.format == "TIFF" and im.mode == "RGB" and im.size == (96, 64)
            assert im.info.get("compression") in {"tiff_adobe_deflate", "tiff_lzw"}
        with Image.open(root / "train_masks" / f"{stem}.png") as im:
            assert im.mode == "L" and im.size == (96, 64)
            mask = np.array(im)
        assert int(mask.max()) < NUM_CLASSES
        counts += np.bincount(mask.ravel(), minlength=NUM_CLASSES)
    assert summary.class_pixel_counts == tuple(int(c) for c in counts)
    assert len(summary.class_pixel_counts) == NUM_CLASSES and sum(counts) == 3 * 96 * 64
    with Image.open(root / "test_images" / f"{test[0]}.tif") as im:
        assert im.mode == "RGB" and im.size == (96, 64)


def test_write_demo_dataset_is_deterministic(tmp_path):
    for name in ("a", "b"):
        synth.write_demo_dataset(tmp_path / name, n=2, size=(80, 64), seed=3, n_test=1)
    for sub, stem in [
        ("train_images", "synth_0001.tif"),
        ("train_masks", "synth_0001.png"),
        ("test_images", "synth_0002.tif"),
    ]:
        a, b = (np.array(Image.open(tmp_path / name / sub / stem)) for name in ("a", "b"))
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 0}, "n=0"),
        ({"size": (32, 480)}, "64..8000"),
        ({"size": (640, 9000)}, "64..8000"),
        ({"n_test": -1}, "n_test"),
        ({"seed": -2}, "seed"),
    ],
)
def test_write_demo_dataset_rejects_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        synth.write_demo_dataset(tmp_path / "x", **kwargs)


def test_parse_size():
    assert synth.parse_size("640x480") == (640, 480)
    assert synth.parse_size(" 4000 X 3000 ") == (4000, 3000)
    for bad in ["640", "640x", "axb", "640x480x3", "-640x480", ""]:
        with pytest.raises(ValueError, match="WIDTHxHEIGHT"):
            synth.parse_size(bad)
    with pytest.raises(ValueError, match="64..8000"):
        synth.parse_size("10x10")


@pytest.mark.slow
def test_full_resolution_harvey_frame_generates():
    image, mask = scene(0, (4000, 3000))
    assert image.shape == (3000, 4000, 3) and mask.shape == (3000, 4000)
    assert {synth.ROOF, synth.GRASS, synth.FLOODED} <= set(np.unique(mask).tolist())


def test_demo_data_command_writes_the_same_files_as_the_library(tmp_path, capsys):
    from seg_core.cli import main

    args = ["demo-data", "--out", str(tmp_path / "cli"), "--n", "2", "--size", "96x64", "--seed", "4"]
    assert main(args) == 0
    assert "wrote 2 labelled and 2 test images (96x64)" in capsys.readouterr().out
    synth.write_demo_dataset(tmp_path / "lib", n=2, size=(96, 64), seed=4)
    files = sorted(
        p.relative_to(tmp_path / "lib") for p in (tmp_path / "lib").rglob("*.*") if p.suffix != ".json"
    )
    assert len(files) == 6
    assert (tmp_path / "cli" / synth.STYLES_FILE).read_text() == (
        tmp_path / "lib" / synth.STYLES_FILE
    ).read_text()
    for name in files:
        a, b = (np.array(Image.open(tmp_path / root / name)) for root in ("cli", "lib"))
        np.testing.assert_array_equal(a, b)
    assert main(["demo-data", "--out", str(tmp_path / "bad"), "--size", "640"]) == 2
    error = capsys.readouterr().err.strip()
    assert "WIDTHxHEIGHT" in error and "\n" not in error
