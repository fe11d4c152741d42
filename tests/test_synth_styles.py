"""Storm styles: harvey is the generator as it was, the other presets are measurably other places."""

import dataclasses
import hashlib
import json
import math

import numpy as np
import pytest
from skimage.measure import label, regionprops

from seg_core.cli import main
from seg_core.demo import synth

# sha256 over (image, mask) bytes of three scenes, computed with the single-module generator
# (seg_core/demo/synth.py at c6b5eaf) before styles existed: harvey must draw them byte for byte.
HARVEY_BEFORE_STYLES = "b7db6f66e80d9ffbeee56b9346ee03da002a98fbe380099fa5c24e6328de4a4c"
HASHED_SCENES = [(0, (160, 120)), (7, (96, 128)), (12, (200, 150))]


def _digest(**style) -> str:
    h = hashlib.sha256()
    for seed, size in HASHED_SCENES:
        image, mask = synth.generate_scene(*size, np.random.default_rng(seed), **style)
        h.update(image.tobytes())
        h.update(mask.tobytes())
    return h.hexdigest()


def test_harvey_draws_exactly_the_scenes_drawn_before_styles_existed():
    assert _digest() == HARVEY_BEFORE_STYLES
    assert _digest(style="harvey") == HARVEY_BEFORE_STYLES
    assert _digest(style=synth.STYLES["harvey"]) == HARVEY_BEFORE_STYLES


@pytest.mark.parametrize("name", sorted(synth.STYLES))
def test_each_style_is_deterministic_per_seed_and_differs_between_seeds(name):
    a = synth.generate_scene(128, 96, np.random.default_rng(3), name)
    b = synth.generate_scene(128, 96, np.random.default_rng(3), name)
    c = synth.generate_scene(128, 96, np.random.default_rng(4), name)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])
    assert int(a[1].max()) < 25


def _measure(name: str, n: int = 4) -> dict:
    """Flood colour, roof footprints, tree cover and sun azimuths over n small scenes of a style."""
    flood, roofs, trees, azimuths, worlds = [], [], [], [], []
    for seed in range(n):
        rng = np.random.default_rng([seed, 1])
        plan = synth.plan_scene(rng, 160, 120, name)
        image, mask = synth.render_scene(plan, 160, 120, rng)
        gsd = plan.world_size[0] / 160
        flood.append(image[mask == synth.FLOODED].reshape(-1, 3))
        roofs += [r.area * gsd * gsd for r in regionprops(label(mask == synth.ROOF, connectivity=1))]
        trees.append(float(np.isin(mask, (synth.TREE, synth.FOREST)).mean()))
        azimuths.append(math.degrees(math.atan2(plan.sun_direction[1], plan.sun_direction[0])) % 360)
        worlds.append(plan.world_size)
    return {
        "flood": np.concatenate(flood).astype(float).mean(0),
        "roof_m2": float(np.median(roofs)),
        "trees": float(np.mean(trees)),
        "azimuths": azimuths,
        "worlds": worlds,
    }


@pytest.fixture(scope="module")
def measured():
    return {name: _measure(name) for name in synth.STYLES}


def test_water_colour_tells_the_storms_apart(measured):
    # measured (R, G, B): harvey (117, 107, 85) olive mud, coastal (71, 120, 135) sea water,
    # prairie (124, 84, 61) red clay, forest (70, 64, 49) blackwater
    coastal, prairie, forest = (measured[n]["flood"] for n in ("coastal", "prairie", "forest"))
    harvey = measured["harvey"]["flood"]
    assert coastal[2] - coastal[0] > 40  # blue over red
    assert prairie[0] - prairie[2] > 40 and prairie[0] - prairie[1] > 25  # red-brown
    assert harvey[0] - harvey[2] > 15 and harvey[1] - prairie[1] > 12  # olive, greener than the red clay
    assert forest.sum() < harvey.sum() - 80  # dark


def test_house_sizes_and_tree_cover_differ(measured):
    # median roof footprint measured: coastal 63 m2, forest 151, harvey 159, prairie 278
    assert measured["coastal"]["roof_m2"] < 0.6 * measured["harvey"]["roof_m2"]
    assert measured["prairie"]["roof_m2"] > 1.4 * measured["harvey"]["roof_m2"]
    # canopy share measured: prairie 0.008, harvey 0.107, forest 0.259
    assert measured["prairie"]["trees"] < 0.3 * measured["harvey"]["trees"]
    assert measured["forest"]["trees"] > 1.8 * measured["harvey"]["trees"]


def test_the_sun_stands_where_the_style_puts_it_and_scale_is_the_styles(measured):
    for name, style in synth.STYLES.items():
        low, high = style.sun_azimuth_deg
        assert all(low <= a <= high for a in measured[name]["azimuths"]), name
        for w, h in measured[name]["worlds"]:  # plan.world_size: ground metres covered
            assert w == pytest.approx(style.ground_width_m) and h == pytest.approx(
                0.75 * style.ground_width_m
            )
    # shadows fall north-west on the coast (morning sun), east on the prairie (evening sun)
    assert max(measured["coastal"]["azimuths"]) < 90 < 140 < min(measured["prairie"]["azimuths"])


def test_unknown_style_names_the_allowed_ones():
    with pytest.raises(
        ValueError, match=r"'mars' is not known; choose one of harvey, coastal, prairie, forest"
    ):
        synth.style_by_name("mars")
    with pytest.raises(ValueError, match="'mars' is not known"):
        synth.generate_scene(64, 64, np.random.default_rng(0), "mars")
    with pytest.raises(ValueError, match="names no style"):
        synth.parse_styles(" , ")
    assert synth.style_by_name(" Coastal ") is synth.STYLES["coastal"]


def test_a_style_with_a_bad_setting_says_which():
    with pytest.raises(ValueError, match=r"hip_roof_share=1.5 must be a share in 0..1"):
        dataclasses.replace(synth.STYLES["harvey"], hip_roof_share=1.5)
    with pytest.raises(ValueError, match=r"ground_width_m=10 must be in 40..400"):
        dataclasses.replace(synth.STYLES["harvey"], ground_width_m=10)


def test_demo_data_mixes_styles_and_says_which_photo_has_which(tmp_path, capsys):
    out = tmp_path / "mix"
    assert (
        main(["demo-data", "--out", str(out), "--n", "3", "--size", "96x64", "--style", "harvey,coastal"])
        == 0
    )
    assert "style harvey,coastal" in capsys.readouterr().out
    styles = json.loads((out / synth.STYLES_FILE).read_text())
    assert styles == {
        "synth_0000": "harvey",
        "synth_0001": "coastal",
        "synth_0002": "harvey",
        "synth_0003": "coastal",  # the test photos continue the cycle
        "synth_0004": "harvey",
    }
    from PIL import Image

    photo = np.asarray(Image.open(out / "train_images" / "synth_0001.tif"))
    expected, _ = synth.generate_scene(96, 64, np.random.default_rng([0, 1]), "coastal")
    np.testing.assert_array_equal(photo, expected)


def test_demo_data_with_an_unknown_style_is_one_sentence_exit_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "never"
    assert (
        main(["demo-data", "--out", str(out), "--n", "1", "--size", "64x64", "--style", "harvey,mars"]) == 2
    )
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: storm style 'mars' is not known; choose one of harvey, coastal, prairie, forest"
    ]
    assert not out.exists()
