"""Training settings: one frozen dataclass, saved with every run and checkpoint.

The recipe's fields are in `training.recipe_settings` (the same class, split by concern). Each
field is declared once, with `setting(...)`: its default, the Train form's label, the help
that the form and `--help` show, the reason for the default, and what it accepts
(`seg_core.training.settings` renders them all, and the settings table of docs/reference/settings.md). Nothing here
imports torch, so the app can build forms and validate settings cheaply.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from seg_core.training import choices
from seg_core.training.recipe_settings import RecipeSettings
from seg_core.training.settings import check_value, declared, setting


@dataclass(frozen=True)
class TrainConfig(RecipeSettings):
    """Every training setting: the recipe's (training.recipe_settings), then the fine-tune's lineage,
    labels and unlabelled photos declared here; saved with every run and checkpoint."""

    init_from: str = setting(
        "",
        "Fine-tune from",
        "A checkpoint whose whole network (encoder and decoder) the run starts from; empty: start "
        "from the pretrained weights.",
        "a new run starts from pretrained weights",
        group="hidden",
        allowed="empty, or a checkpoint file",
    )
    parent_run_id: str = setting(
        "",
        "Parent run",
        "The fine-tuning parent's run id (lineage); filled from the parent when training starts.",
        "filled in, not chosen",
        group="hidden",
        allowed="text",
    )
    parent_weights_sha256: str = setting(
        "",
        "Parent weights checksum",
        "The fine-tuning parent's weights checksum: a parent changed after the run was set up is refused.",
        "filled in, not chosen",
        group="hidden",
        allowed="text",
    )
    parent_scheme: str = setting(
        "",
        "Parent label scheme",
        "The fine-tuning parent's label scheme (lineage); filled from the parent when training starts.",
        "filled in, not chosen",
        group="hidden",
        allowed="text",
    )
    new_head: str = setting(
        "",
        "New head",
        "A parent of another label scheme than the dataset's keeps its encoder and decoder and gets a "
        "new head: 'roles' starts each class from the parent's classes of the same name or role, "
        "'fresh' from scratch, or a class-mapping .json file; empty keeps the parent's head.",
        "a parent's head fits only its own scheme: a new one is asked for, never guessed",
        group="hidden",
        allowed="empty, roles, fresh, or a mapping .json file",
    )
    start_check: str = setting(
        "off",
        "Start check",
        "Fine-tuning only: 'on' chooses the start (the parent, ImageNet weights or the further start "
        "below) by a cross-validated check on the labelled photos, and with one photo the epoch count "
        "too (with more, the run takes the schedule's epochs); the run records the outcome ('parent', "
        "'imagenet' or 'starter'); 'off' always starts from the parent.",
        "a run without a parent has nothing to check; fine-tunes turn it on (FineTuneSchedule)",
        group="hidden",
        choices=choices.START_CHECKS,
    )
    starter: str = setting(
        "",
        "Further start",
        "Fine-tuning with the start check only: a checkpoint the check also tries beside the parent and "
        "ImageNet weights, when it is of the parent's model and the dataset's label scheme: 'real-ground' "
        "names the shipped real-ground starter, 'auto' tries it only when one photo is labelled, "
        "'none' tries nothing further; a run that starts from it records 'starter' and its path.",
        "on real photos the real-ground starter was the better start with 1 labelled photo and picked "
        "worse starts with 4 or 16, so fine-tunes default to 'auto' (docs/benchmarks-analysis.md section 19)",
        group="hidden",
        allowed="empty, auto, real-ground, none, or a checkpoint file",
    )
    include_unreviewed: bool = setting(
        False,
        "Include unreviewed masks",
        "Train on the masks nobody has reviewed yet as well as the accepted ones (rejected masks "
        "never). Only for datasets with a label store (photos labelled in StormSeg).",
        "a mask is reviewed before it trains a model",
        group="hidden",
    )
    label_set: str = setting(
        "",
        "Label set",
        "The id of the frozen label set the run trains on; filled when training starts.",
        "filled in, not chosen",
        group="hidden",
        allowed="text",
    )
    unlabelled: str = setting(
        "",
        "Unlabelled photos",
        "Semi-supervised fine-tuning (seg_core.training.semi): a folder of photos, or a dataset whose "
        "photos without a mask are used, learnt from the model's confident pseudo-labels on strongly "
        "augmented views; empty: off.",
        "off: every added photo costs a forward pass of the model per step",
        group="hidden",
        allowed="empty, or a folder of photos",
    )
    pseudo_label_threshold: float = setting(
        0.9,
        "Pseudo-label threshold",
        "With unlabelled photos: a pixel's pseudo-label counts when the model gives its class at least "
        "this probability.",
        "FixMatch and UniMatch use 0.95 with 10-21 classes; 25 classes spread a fine-tune's probability "
        "wider, so 0.9, set before measuring",
        group="hidden",
        minimum=0.05,
        maximum=1.0,
        step=0.05,
        format="%.2f",
    )
    unlabelled_per_batch: int = setting(
        2,
        "Unlabelled views per batch",
        "With unlabelled photos: how many unlabelled strong views join each training batch.",
        "1:1 with the fine-tune's batch of 2",
        group="hidden",
        minimum=1,
    )

    def __post_init__(self) -> None:
        # Type, choices and bounds as declared; then the two rules that bounds cannot express.
        for f, declared_as in declared(TrainConfig).values():
            check_value(self, f, declared_as)
        if self.gsd_cm and not 0.1 <= self.gsd_cm <= 10_000:
            raise ValueError(f"gsd_cm {self.gsd_cm} must be 0 (from the dataset) or 0.1..10000 cm/px")
        if self.crop % 32:
            raise ValueError(f"crop {self.crop} must be a multiple of 32 (or 0 for whole images)")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainConfig:
        """Build from a dict, refusing unknown keys by name (typos must not pass silently)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"unknown training setting(s) {', '.join(unknown)}; valid: {', '.join(sorted(known))}"
            )
        return cls(**values)

    @classmethod
    def from_file(cls, path: str | Path) -> TrainConfig:
        try:
            values = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"{path}: cannot read the config file ({exc})") from None
        if not isinstance(values, dict):
            raise ValueError(f"{path}: the config file must hold a JSON object")
        return cls.from_dict(values)

    def with_updates(self, **changes: Any) -> TrainConfig:
        return replace(self, **changes)
