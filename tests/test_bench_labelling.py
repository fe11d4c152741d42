"""bench/labelling.py's helpers: which unseen style it adapts to, and the issue's target verdict."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "labelling.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_labelling", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_unseen_style_is_a_generator_style_or_the_recolouring(bench):
    from seg_core.demo.synth import STYLES

    assert bench.unseen_style_name(None) in STYLES and bench.unseen_style_name(None) != "harvey"
    assert bench.unseen_style_name("coastal") == "coastal"
    assert bench.unseen_style_name(bench.RECOLOURED) == bench.RECOLOURED
    with pytest.raises(ValueError, match="atlantis"):
        bench.unseen_style_name("atlantis")


def test_the_target_needs_90_percent_of_the_reference_within_5_cpu_minutes(bench):
    reference = {"kaggle_dice": 0.80}
    assert bench.target_verdict({}) == {}
    met = bench.target_verdict(
        {"reference_all_new_style": reference, "finetuned_4": {"kaggle_dice": 0.73, "cpu_minutes": 4.0}}
    )
    assert met == {"share_of_reference_dice": 0.912, "finetune_cpu_minutes": 4.0, "met": True}
    too_slow = {
        "reference_all_new_style": reference,
        "finetuned_4": {"kaggle_dice": 0.75, "cpu_minutes": 5.5},
    }
    assert bench.target_verdict(too_slow)["met"] is False
    too_weak = {
        "reference_all_new_style": reference,
        "finetuned_4": {"kaggle_dice": 0.70, "cpu_minutes": 3.0},
    }
    assert bench.target_verdict(too_weak)["met"] is False
