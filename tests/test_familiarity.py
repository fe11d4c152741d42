"""Honest about what it has not seen: the checkpoint's uncertainty reference and the verdicts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from seg_core.analytics.familiarity import (
    FAR_OUTSIDE,
    UNAVAILABLE_MESSAGE,
    UNRELIABLE_MESSAGE,
    assess,
    batch_familiarity,
    uncertainty_reference,
)
from seg_core.analytics.uncertainty import PhotoUncertainty
from seg_core.core import paths

REFERENCE = uncertainty_reference(
    [PhotoUncertainty(m, s, None, 0.0) for m, s in [(0.05, 0.04), (0.06, 0.05), (0.04, 0.03), (0.05, 0.04)]]
)


def test_the_reference_is_plain_values_that_load_with_weights_only(tmp_path):
    assert REFERENCE["photos"] == 4
    assert REFERENCE["mean"]["median"] == pytest.approx(0.05)
    torch.save({"ref": REFERENCE}, tmp_path / "r.pt")
    assert torch.load(tmp_path / "r.pt", weights_only=True)["ref"] == REFERENCE


def test_photos_like_the_validation_photos_are_familiar_and_far_ones_are_flagged():
    assert assess({"mean": 0.055, "uncertain_share": 0.045}, REFERENCE).status == "familiar"
    # Less sure than any validation photo, but not by much.
    assert assess({"mean": 0.08, "uncertain_share": 0.05}, REFERENCE).status == "unusual"
    far = assess({"mean": 0.30, "uncertain_share": 0.40}, REFERENCE)
    assert far.status == "unfamiliar" and far.unreliable and far.distance > FAR_OUTSIDE
    assert far.message == UNRELIABLE_MESSAGE
    # More certain than usual is never an alarm.
    assert assess({"mean": 0.0, "uncertain_share": 0.0}, REFERENCE).distance == 0.0


@pytest.mark.parametrize("reference", [None, {}, {"version": 99}, {"version": 1, "mean": "x"}])
def test_old_or_unknown_references_say_the_check_is_unavailable(reference):
    result = assess({"mean": 0.9, "uncertain_share": 0.9}, reference)
    assert (result.status, result.distance, result.message) == ("unavailable", None, UNAVAILABLE_MESSAGE)


def test_the_batch_counts_photos_far_outside():
    photos = [assess({"mean": 0.05, "uncertain_share": 0.04}, REFERENCE)] * 2
    photos.append(assess({"mean": 0.5, "uncertain_share": 0.6}, REFERENCE))
    summary = batch_familiarity(photos)
    assert (summary["status"], summary["unfamiliar"], summary["checked"]) == ("unfamiliar", 1, 3)
    assert UNRELIABLE_MESSAGE in summary["message"]
    assert batch_familiarity([p.to_dict() for p in photos[:2]])["status"] == "familiar"
    assert batch_familiarity([assess({"mean": 0.5, "uncertain_share": 0.5}, None)])["status"] == "unavailable"


def test_training_stores_the_reference_of_its_validation_photos(tiny_dataset):
    from seg_core.runs.registry import RunRegistry
    from seg_core.training.config import TrainConfig
    from seg_core.training.loop import fit

    cfg = TrainConfig(
        data=str(tiny_dataset),
        arch="unet",
        encoder="none",
        weights="none",
        unet_base_width=4,
        resolution=48,
        crop=32,
        loss="ce",
        epochs=1,
        batch_size=2,
        val_ratio=0.34,
    )
    registry = RunRegistry()
    run = registry.create_run(cfg.to_dict(), name="ref")
    assert fit(cfg, run.id, registry, run.checkpoint_dir) == "completed"
    payload = torch.load(run.checkpoint_dir / "best.pt", weights_only=True)  # plain values only
    reference = payload["meta"]["uncertainty_reference"]
    assert reference["photos"] == 2  # round(6 * 0.34) validation photos
    assert 0.0 <= reference["mean"]["median"] <= reference["mean"]["p95"] <= reference["mean"]["max"] <= 1.0


def test_a_run_without_validation_stores_a_reference_from_its_training_photos_and_says_so(tiny_dataset):
    """A fine-tune has no validation split: its checkpoint still carries a reference (measured on
    its training photos when the run ends), the verdicts name those photos, and its log never calls
    an epoch a "new best" without a score."""
    from seg_core.inference.predictor import Predictor
    from seg_core.runs.registry import RunRegistry
    from seg_core.training.config import TrainConfig
    from seg_core.training.loop import fit

    cfg = TrainConfig(
        data=str(tiny_dataset),
        arch="unet",
        encoder="none",
        weights="none",
        unet_base_width=4,
        resolution=48,
        crop=32,
        loss="ce",
        epochs=2,
        batch_size=2,
        val_ratio=0.0,
    )
    registry = RunRegistry()
    run = registry.create_run(cfg.to_dict(), name="no-val")
    assert fit(cfg, run.id, registry, run.checkpoint_dir) == "completed"
    reference = torch.load(run.checkpoint_dir / "best.pt", weights_only=True)["meta"]["uncertainty_reference"]
    assert (reference["source"], reference["photos"]) == ("training", 6)
    predictor = Predictor.from_checkpoint(run.checkpoint_dir / "best.pt")
    photo = np.asarray(Image.open(sorted((tiny_dataset / "train_images").iterdir())[0]).convert("RGB"))
    verdict = predictor.familiarity(predictor.predict_full(photo, confidence=True))[1]
    assert verdict.status != "unavailable"
    usual = {figure: reference[figure]["median"] for figure in ("mean", "uncertain_share")}
    assert "its own training photos" in assess(usual, predictor.meta["uncertainty_reference"]).message
    assert not [line.message for line in registry.logs(run.id, limit=100) if "(new best)" in line.message]


def test_a_model_without_a_reference_gives_no_invented_reason():
    message = assess({"mean": 0.5, "uncertain_share": 0.5}, None).message
    assert "no uncertainty reference" in message and "trained before" not in message
    training = uncertainty_reference([PhotoUncertainty(0.05, 0.04, None, 0.0)] * 2, source="training")
    assert "its own training photos" in assess({"mean": 0.05, "uncertain_share": 0.04}, training).message
    assert "validation photos" in assess({"mean": 0.05, "uncertain_share": 0.04}, REFERENCE).message
    subset = uncertainty_reference([PhotoUncertainty(0.05, 0.04, None, 0.0)] * 2, source="validation_subset")
    assert (
        "validation photos of the kind it was made for"
        in assess({"mean": 0.05, "uncertain_share": 0.04}, subset).message
    )
    with pytest.raises(ValueError, match="reference source 'elsewhere'"):
        uncertainty_reference([PhotoUncertainty(0.05, 0.04, None, 0.0)], source="elsewhere")


@pytest.mark.slow
def test_the_demo_model_tells_its_own_validation_scenes_from_an_unseen_style(tmp_path):
    """The demo model trained on harvey, coastal and prairie scenes; forest is the style it never
    saw (scripts/train_demo_model.sh). Measured on 6 forest photos (docs/benchmarks-analysis.md section 10):
    5 unfamiliar, 1 unusual, distances 1.7 to 3.3, against 0 to 0.5 on its own styles."""
    from seg_core.demo.synth import generate_scene, write_demo_dataset
    from seg_core.inference.predictor import Predictor

    predictor = Predictor.from_checkpoint(paths.DEMO_CHECKPOINT, device="cpu")
    assert predictor.meta.get("uncertainty_reference"), "run scripts/add_uncertainty_reference.py"
    # Validation scenes of the demo model (scripts/train_demo_model.sh data, its seeded split).
    import sys

    sys.path.insert(0, str(paths.DEMO_CHECKPOINT.parents[2] / "scripts"))
    from add_uncertainty_reference import DEMO_DATA, validation_photos

    write_demo_dataset(tmp_path / "demo", **DEMO_DATA)
    own = [
        predictor.familiarity(predictor.predict_full(path, confidence=True))[1]
        for path in validation_photos(predictor.meta, tmp_path / "demo")[:3]
    ]
    assert [v.status for v in own] == ["familiar"] * 3, own
    unseen = [
        predictor.familiarity(
            predictor.predict_full(
                generate_scene(640, 480, np.random.default_rng([778, i]), "forest")[0], confidence=True
            )
        )[1]
        for i in range(3)
    ]
    assert "familiar" not in [v.status for v in unseen], unseen  # never passed off as familiar
    assert sum(v.status == "unfamiliar" for v in unseen) >= 2, unseen  # and mostly flagged unreliable
    assert min(v.distance for v in unseen) > 2 * max(v.distance for v in own), (own, unseen)


def test_predict_warns_next_to_the_figures_when_a_photo_is_far_outside(tmp_path, capsys):
    from test_infer import _meta

    from seg_core.cli import main
    from seg_core.models import ModelSpec, create_model
    from seg_core.models.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = create_model(ModelSpec(arch="unet", weights="none", unet_base_width=4), load_weights=False)
    # An untrained model is unsure everywhere; a reference of near-certain photos puts it far outside.
    meta = {**_meta(resolution=64), "uncertainty_reference": REFERENCE}
    checkpoint = save_checkpoint({"state_dict": model.state_dict(), "meta": meta}, tmp_path / "m.pt")
    photo = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 60, 3), np.uint8)).save(photo)
    out = tmp_path / "out"
    assert main(["predict", "--checkpoint", str(checkpoint), "--out", str(out), str(photo)]) == 0
    captured = capsys.readouterr()
    assert f"familiarity: unfamiliar: 1 of 1 photo: {UNRELIABLE_MESSAGE}" in captured.out
    assert f"warning: a.png: {UNRELIABLE_MESSAGE}" in captured.err
    import json

    per_image = json.loads((out / "a_stats.json").read_text())
    assert per_image["familiarity"]["status"] == "unfamiliar" and per_image["uncertainty"]["mean"] > 0.1
    batch = json.loads((out / "stats.json").read_text())
    assert batch["summary"]["familiarity"]["unfamiliar"] == 1
    assert "unfamiliar" in (out / "stats.csv").read_text()


def test_a_reference_can_come_from_the_validation_photos_of_one_kind_only(tmp_path):
    """scripts/add_uncertainty_reference.py --only: the demo model's stage 3 takes its reference
    from its synthetic validation scenes, not the real tiles mixed into its training."""
    import sys

    from helpers import make_pair

    sys.path.insert(0, str(paths.DEMO_CHECKPOINT.parents[2] / "scripts"))
    from add_uncertainty_reference import validation_photos

    for i in range(6):
        make_pair(tmp_path, f"synth_{i:04d}", seed=i)
        make_pair(tmp_path, f"tile_{i}", seed=10 + i)
    meta = {"config": {"val_ratio": 0.5, "seed": 0}}
    every = validation_photos(meta, tmp_path)
    synthetic = validation_photos(meta, tmp_path, "synth_*")
    assert len(every) == 6 and {p.name.split("_")[0] for p in every} == {"synth", "tile"}
    assert synthetic == [p for p in every if p.name.startswith("synth_")] and synthetic
    with pytest.raises(ValueError, match="no validation photos matching 'none_\\*'"):
        validation_photos(meta, tmp_path, "none_*")
