"""The recipe's training options in a whole run: rare-class crops and OHEM train, say so in the
log, resume exactly, stay off in the study's runs, and refuse values outside their bounds."""

from __future__ import annotations

import pytest
import torch
from test_train import StopAfterChecks, start_run, tiny_config

from seg_core.models.checkpoint import load_checkpoint
from seg_core.training.config import TrainConfig
from seg_core.training.loop import fit
from seg_core.training.study import study_configs

RECIPE = {"rare_crop_share": 0.5, "ohem_share": 0.3, "loss": "ce_dice"}


def weights(run) -> dict[str, torch.Tensor]:
    return load_checkpoint(run.checkpoint_dir / "last.pt")["state_dict"]


def test_a_recipe_run_logs_its_crops_trains_otherwise_and_resumes_exactly(tiny_dataset):
    cfg = tiny_config(tiny_dataset, **RECIPE)
    registry, straight, status = start_run(cfg)
    assert status == "completed"
    lines = [line.message for line in registry.logs(straight.id)]
    assert any(line.startswith("rare-class crops: 50% of crops centred on a class, mostly") for line in lines)
    _, plain, _ = start_run(tiny_config(tiny_dataset, loss="ce_dice"))
    assert any(not torch.equal(weights(straight)[k], weights(plain)[k]) for k in weights(plain))

    registry, stopped, status = start_run(cfg, stop=StopAfterChecks(3))
    assert status == "stopped"
    assert fit(cfg, stopped.id, registry, stopped.checkpoint_dir, resume=True) == "completed"
    for key, value in weights(straight).items():
        assert torch.equal(value, weights(stopped)[key]), key


def test_rare_crops_on_whole_images_are_skipped_with_a_warning(tiny_dataset):
    registry, run, status = start_run(tiny_config(tiny_dataset, epochs=1, crop=0, rare_crop_share=0.5))
    assert status == "completed"
    warnings = [line.message for line in registry.logs(run.id) if line.level == "warning"]
    assert "rare-class crops need crops (--crop): whole images are used" in warnings


def test_the_study_runs_keep_the_recipe_options_off():
    for cfg in study_configs("data", imagenet=False):
        assert (cfg.rare_crop_share, cfg.ohem_share) == (0.0, 1.0), cfg.name


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"ohem_share": 0.0}, "ohem_share 0.0 must be at least 0.01"),
        ({"ohem_share": 1.5}, "ohem_share 1.5 must be at most 1"),
        ({"rare_crop_share": -0.1}, "rare_crop_share -0.1 must be at least 0"),
        ({"rare_crop_share": 2}, "rare_crop_share 2.0 must be at most 1"),
    ],
)
def test_shares_outside_their_bounds_are_refused_by_name(changes, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**changes)
