"""Uncertainty per pixel and per photo, and the labelling order with its reasons."""

from __future__ import annotations

import numpy as np
import pytest

from seg_core.inference.uncertainty import photo_uncertainty, rank_for_labelling, uncertainty_map


def test_photo_figures_come_from_the_top_class_probability():
    confidence = np.array([[1.0, 0.9], [0.5, 0.3]], np.float32)
    mask = np.array([[5, 5], [23, 23]], np.uint8)
    figures = photo_uncertainty(mask, confidence)
    np.testing.assert_allclose(uncertainty_map(confidence), [[0.0, 0.1], [0.5, 0.7]], atol=1e-6)
    assert figures.mean == pytest.approx(0.325)
    assert figures.uncertain_share == 0.5  # the two pixels under 0.6
    assert (figures.least_sure_class, figures.least_sure_share) == ("Flooded", 1.0)
    with pytest.raises(ValueError, match="differ in size"):
        photo_uncertainty(mask, confidence[:1])


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
