"""Each training setting is declared once: the dataclass default, the checks, `train --help`,
`finetune --help` and the docs' settings table all come from that declaration and cannot disagree.
(The Train form's side: tests/app/test_train_settings.py.)"""

from __future__ import annotations

import argparse
from dataclasses import asdict, fields
from pathlib import Path

import pytest

from seg_core.cli import build_parser
from seg_core.cli.label import FINETUNE_FLAGS
from seg_core.training.config import TrainConfig
from seg_core.training.finetune import FineTuneSchedule
from seg_core.training.presets import STUDY_PRESETS
from seg_core.training.settings import (
    GROUPS,
    declared,
    flag,
    format_value,
    replace_table,
    settings_table,
    table_in,
)

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = declared(TrainConfig)
# The fields a run record or checkpoint of an earlier version holds (`meta["config"]`, asdict):
# they must all still load, by these names, with these types.
SAVED_FIELDS = {
    "data": "",
    "also_data": "",
    "mapping": "",
    "arch": "fpn",
    "encoder": "tu-efficientnet_lite0",
    "weights": "auto",
    "unet_base_width": 64,
    "loss": "ce_dice",
    "class_weight_cap": 10.0,
    "ohem_share": 1.0,
    "optimizer": "adamw",
    "lr": 1e-3,
    "weight_decay": 1e-4,
    "momentum": 0.9,
    "schedule": "cosine",
    "warmup_epochs": 1,
    "epochs": 30,
    "batch_size": 4,
    "accumulation": 1,
    "clip_grad_norm": 1.0,
    "crop": 512,
    "rare_crop_share": 0.0,
    "resolution": 1024,
    "gsd_cm": 0.0,
    "augment": "seed",
    "val_ratio": 0.15,
    "seed": 0,
    "early_stop_patience": 10,
    "checkpoint_every": 1,
    "device": "auto",
    "amp": "auto",
    "num_workers": -1,
    "name": "",
    "init_from": "",
    "parent_run_id": "",
    "parent_weights_sha256": "",
    "parent_scheme": "",
    "new_head": "",
    "start_check": "off",
    "starter": "",
    "include_unreviewed": False,
    "label_set": "",
    "unlabelled": "",
    "pseudo_label_threshold": 0.9,
    "unlabelled_per_batch": 2,
}


def subcommand(name: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def option(parser: argparse.ArgumentParser, name: str) -> argparse.Action:
    return next(a for a in parser._actions if flag(name) in a.option_strings)


def test_a_saved_config_is_the_same_dict_and_loads():
    assert TrainConfig().to_dict() == SAVED_FIELDS  # names, order of keys aside, and defaults
    assert list(TrainConfig().to_dict()) == list(SAVED_FIELDS)
    saved = {**SAVED_FIELDS, "arch": "unet", "encoder": "none", "weights": "none", "lr": 5e-4}
    assert TrainConfig.from_dict(saved).to_dict() == saved


def test_every_setting_is_declared_with_a_label_help_and_reason():
    assert list(SETTINGS) == [f.name for f in fields(TrainConfig)]
    for name, (_, declared_as) in SETTINGS.items():
        assert declared_as.label and declared_as.help.endswith(".") and declared_as.reason, name
        assert declared_as.group in GROUPS
        # The help never states a default: every renderer prints the field's own.
        assert "default" not in declared_as.help.lower(), name


@pytest.mark.parametrize("name", list(SETTINGS))
def test_the_declared_default_passes_its_own_checks_and_bounds(name):
    f, declared_as = SETTINGS[name]
    if declared_as.choices is not None:
        assert f.default in declared_as.choices
    if declared_as.minimum is not None:
        assert f.default >= declared_as.minimum
        with pytest.raises(ValueError, match=f"{name} .* must be at least"):
            TrainConfig(**{name: type(f.default)(declared_as.minimum - 1)})
    if declared_as.maximum is not None:
        assert f.default <= declared_as.maximum
        with pytest.raises(ValueError, match=f"{name} .* must be at most"):
            TrainConfig(**{name: type(f.default)(declared_as.maximum + 1)})
    if declared_as.choices is not None:
        with pytest.raises(ValueError, match=f"{name} 'nonsense' is not one of"):
            TrainConfig(**{name: "nonsense"})


def test_the_rules_bounds_cannot_express_still_hold():
    with pytest.raises(ValueError, match="crop 100 must be a multiple of 32"):
        TrainConfig(crop=100)
    with pytest.raises(ValueError, match="gsd_cm 0.05 must be 0"):
        TrainConfig(gsd_cm=0.05)
    with pytest.raises(ValueError, match="epochs 'one' must be a whole number"):
        TrainConfig.from_dict({"epochs": "one"})
    assert TrainConfig(lr=1).lr == 1.0 and isinstance(TrainConfig(lr=1).lr, float)


@pytest.mark.parametrize("name", list(SETTINGS))
def test_train_help_prints_the_declared_help_and_default(name):
    f, declared_as = SETTINGS[name]
    action = option(subcommand("train"), name)
    if isinstance(f.default, bool):  # --flag / --no-flag
        assert action.dest == name and isinstance(action, argparse.BooleanOptionalAction)
    else:
        assert action.dest == name and action.type is type(f.default)
    assert action.default is None  # only the flags given override a --config file
    assert action.help.startswith(declared_as.help.replace("%", "%%"))
    if format_value(f.default):
        assert action.help.endswith(f"Default: {format_value(f.default)}.")
    else:
        assert "Default" not in action.help


def test_finetune_help_prints_the_fine_tuning_schedule_not_trains_defaults():
    schedule = asdict(FineTuneSchedule())
    parser = subcommand("finetune")
    for name in FINETUNE_FLAGS:
        action = option(parser, name)
        assert action.help.endswith(f"Default: {format_value(schedule[name])}.")
        assert action.help.startswith(SETTINGS[name][1].help)
    assert option(parser, "epochs").help.endswith(f"Default: {FineTuneSchedule().epochs}.")


def test_the_fine_tuning_schedule_only_changes_declared_settings():
    schedule = asdict(FineTuneSchedule())
    for name, value in schedule.items():
        assert name in SETTINGS and type(value) is type(SETTINGS[name][0].default), name
    assert TrainConfig.from_dict(schedule).to_dict().items() >= schedule.items()


def test_the_study_presets_are_valid_settings():
    for preset in STUDY_PRESETS.values():
        TrainConfig.from_dict(preset)


def test_the_docs_table_is_the_declaration():
    readme = (ROOT / "docs" / "reference" / "settings.md").read_text()
    assert table_in(readme) == settings_table(TrainConfig), (
        "docs/reference/settings.md's settings table is out of date: run python scripts/settings_table.py"
    )
    assert replace_table(readme, settings_table(TrainConfig)) == readme
    for name, (f, declared_as) in SETTINGS.items():
        row = next(line for line in table_in(readme).splitlines() if f"`{flag(name)}`" in line)
        assert declared_as.label in row and declared_as.reason in row
        assert f"`{format_value(f.default)}`" in row or not format_value(f.default)


def test_the_pages_summary_of_the_fine_tuning_schedule_is_read_from_it():
    from seg_core.training.finetune import schedule_summary

    assert schedule_summary(FineTuneSchedule(start_check="off")) == (
        f"{FineTuneSchedule().epochs} epochs, lr {format_value(FineTuneSchedule().lr)}, no validation split"
    )
    assert "start check" in schedule_summary()
    assert schedule_summary(FineTuneSchedule(epochs=7, val_ratio=0.25)).startswith("7 epochs")
    assert "25% held out" in schedule_summary(FineTuneSchedule(val_ratio=0.25))
