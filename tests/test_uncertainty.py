"""Uncertainty per pixel and per photo, and the labelling order with its reasons."""

from __future__ import annotations

import numpy as np
import pytest

from seg_core.analytics.uncertainty import photo_uncertainty, rank_for_labelling, uncertainty_map
from seg_core.schemes.scheme import HARVEY


def test_photo_figures_come_from_the_top_class_probability():
    confidence = np.array([[1.0, 0.9], [0.5, 0.3]], np.float32)
    mask = np.array([[5, 5], [23, 23]], np.uint8)
    figures = photo_uncertainty(mask, confidence, HARVEY)
    np.testing.assert_allclose(uncertainty_map(confidence), [[0.0, 0.1], [0.5, 0.7]], atol=1e-6)
    assert figures.mean == pytest.approx(0.325)
    assert figures.uncertain_share == 0.5  # the two pixels under 0.6
    assert (figures.least_sure_class, figures.least_sure_share) == ("Flooded", 1.0)
    with pytest.raises(ValueError, match="differ in size"):
        photo_uncertainty(mask, confidence[:1], HARVEY)


def test_ranking_puts_the_largest_uncertain_share_first_and_says_why():
    rows = rank_for_labelling(
        {
            "calm": {
                "mean": 0.05,
                "uncertain_share": 0.01,
                "least_sure_class": "Grass",
                "least_sure_share": 1.0,
            },
            "murky": {
                "mean": 0.40,
                "uncertain_share": 0.45,
                "least_sure_class": "Flooded",
                "least_sure_share": 0.7,
            },
            "mixed": {
                "mean": 0.45,
                "uncertain_share": 0.20,
                "least_sure_class": None,
                "least_sure_share": 0.0,
            },
        }
    )
    assert [r["stem"] for r in rows] == ["murky", "mixed", "calm"]
    assert rows[0]["reason"].startswith("#1 of 3: 45% of its pixels are uncertain")
    assert "most of the doubt is on Flooded (70%)" in rows[0]["reason"]


def _restyle(image: np.ndarray) -> np.ndarray:
    """Another sensor under other light: hue turned 120 degrees, darker, warmer (as bench/labelling.py)."""
    from PIL import Image

    hsv = np.asarray(Image.fromarray(image).convert("HSV")).copy()
    hsv[..., 0] = (hsv[..., 0].astype(np.int32) + 85) % 256
    rgb = np.asarray(Image.fromarray(hsv, "HSV").convert("RGB")).astype(np.float32) * 0.75
    rgb[..., 0] *= 1.15
    return rgb.clip(0, 255).astype(np.uint8)


@pytest.mark.slow  # the real demo model on 4 photos: seconds on a quiet machine, minutes under load
def test_the_demo_model_is_far_less_sure_on_an_unseen_style_than_on_its_own_scenes():
    from seg_core.core import paths
    from seg_core.demo.synth import generate_scene
    from seg_core.inference.predictor import Predictor

    predictor = Predictor.from_checkpoint(paths.DEMO_CHECKPOINT)
    own, unseen = [], []
    for seed in (901, 902):
        image, _ = generate_scene(480, 360, np.random.default_rng(seed))
        for pixels, shares in ((image, own), (_restyle(image), unseen)):
            result = predictor.predict_full(pixels, confidence=True)
            shares.append(photo_uncertainty(result.mask, result.confidence, HARVEY).uncertain_share)
    assert max(own) * 2 < min(unseen), (own, unseen)
