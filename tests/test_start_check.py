"""The fine-tune's start check: folds of the labels, the choice of start and epoch count, and the
run recording what it chose."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seg_core.training.config import TrainConfig
from seg_core.training.start_check import (
    CheckPlan,
    check_start,
    choose,
    folds,
    freeze_batchnorm_statistics,
    iou,
    labelled_classes,
)


def test_the_best_held_out_epoch_is_chosen_not_the_last():
    curves = {
        "parent": [(10, 0.30), (20, 0.52), (30, 0.41)],
        "imagenet": [(10, 0.20), (20, 0.45), (30, 0.50)],
    }
    choice = choose(curves)
    assert (choice.start, choice.epochs, choice.score) == ("parent", 20, 0.52)


def test_imagenet_is_chosen_when_the_parent_does_worse_on_the_labels():
    choice = choose({"parent": [(10, 0.10), (20, 0.21)], "imagenet": [(10, 0.18), (20, 0.40)]})
    assert (choice.start, choice.epochs) == ("imagenet", 20)
    assert "imagenet 0.400" in choice.summary() and "parent 0.210" in choice.summary()


def test_a_tie_keeps_the_parent_and_the_fewer_epochs():
    choice = choose({"parent": [(10, 0.5), (20, 0.5)], "imagenet": [(10, 0.5)]})
    assert (choice.start, choice.epochs) == ("parent", 10)


def test_scores_that_are_not_numbers_are_skipped_and_none_at_all_is_refused():
    assert choose({"parent": [(10, float("nan")), (20, 0.1)]}).epochs == 20
    with pytest.raises(ValueError, match="no held-out score"):
        choose({"parent": [(10, float("nan"))]})


def photo(seed: int, size=(32, 48)):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, (*size, 3), dtype=np.uint8), rng.integers(0, 3, size, dtype=np.uint8)


def test_one_photo_is_split_into_halves_that_hold_each_other_out():
    image, mask = photo(0)
    (train_a, held_a), (train_b, held_b) = folds([(image, mask)], CheckPlan())
    assert np.array_equal(train_a[0][0], image[:, :24]) and np.array_equal(held_a[0][0], image[:, 24:])
    assert np.array_equal(train_b[0][1], mask[:, 24:]) and np.array_equal(held_b[0][1], mask[:, :24])


def test_photos_are_dealt_into_folds_each_held_out_once_within_the_limits():
    photos = [photo(i) for i in range(11)]
    plan = CheckPlan(folds=2, max_train_photos=4, max_val_photos=3)
    out = folds(photos, plan)
    assert len(out) == 2
    for train, held_out in out:
        assert len(train) == 4 and len(held_out) == 3
        held = {id(p) for p in held_out}
        assert not held & {id(p) for p in train}
    assert {id(p) for p in out[0][1]}.isdisjoint({id(p) for p in out[1][1]})


def test_the_labelled_classes_are_those_with_pixels_but_background():
    masks = [np.array([[0, 4, 255]], np.uint8), np.array([[23, 0, 0]], np.uint8)]
    assert labelled_classes(masks) == [4, 23]
    assert labelled_classes([np.zeros((2, 2), np.uint8)]) == [0]


def test_iou_pools_counts_and_skips_a_class_nobody_saw():
    assert iou(np.array([[2, 4], [0, 0]])) == 0.5
    assert np.isnan(iou(np.zeros((1, 2), np.int64)))


def test_frozen_batchnorm_keeps_its_statistics_while_the_model_trains():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1), torch.nn.BatchNorm2d(4))
    before = model[1].running_mean.clone()
    freeze_batchnorm_statistics(model)
    model.train()
    model(torch.randn(2, 3, 8, 8) + 5)
    assert torch.equal(model[1].running_mean, before)


class Constant(torch.nn.Module):
    """Always says background, whatever it is taught: a parent that knows nothing of the class."""

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        logits = torch.zeros(x.shape[0], 25, *x.shape[2:])
        logits[:, 0] = 10.0
        return logits + 0 * self.unused


class Learner(torch.nn.Module):
    """A 1x1 convolution: enough to learn 'bright pixels are class 1'."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 25, 1)

    def forward(self, x):
        return self.conv(x)


def bright_square(seed: int):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 60, (32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32), np.uint8)
    top, left = rng.integers(0, 16, 2)
    image[top : top + 12, left : left + 12] = 230
    mask[top : top + 12, left : left + 12] = 1
    return image, mask


def test_the_check_prefers_the_start_that_learns_the_labels():
    settings = TrainConfig(
        lr=0.2, epochs=20, batch_size=2, crop=0, augment="none", loss="ce", warmup_epochs=0, schedule="none"
    )
    choice = check_start(
        {"parent": Constant, "imagenet": Learner},
        {"parent": settings, "imagenet": settings},
        [bright_square(i) for i in range(4)],
        CheckPlan(eval_every=5),
        (0.5, 0.5, 0.5),
        (0.5, 0.5, 0.5),
        torch.device("cpu"),
        num_classes=25,
    )
    assert choice.start == "imagenet"
    assert [epoch for epoch, _ in choice.curves["parent"]] == [5, 10, 15, 20]
    assert all(score == 0 for _, score in choice.curves["parent"])
    assert choice.score > 0.9 and choice.epochs == 5  # learnt by epoch 5: no longer is needed


@pytest.mark.slow
def test_a_finetune_with_the_check_records_its_choice(tmp_path, tiny_dataset):
    from seg_core.models import create_model
    from seg_core.models.checkpoint import load_checkpoint, save_checkpoint
    from seg_core.runs.registry import RunRegistry
    from seg_core.schemes.classes import CLASS_NAMES
    from seg_core.training.finetune import finetune_config
    from seg_core.training.loop import fit, model_spec

    cfg = TrainConfig(
        arch="unet", encoder="none", weights="none", unet_base_width=4, resolution=48, loss="ce"
    )
    model = create_model(model_spec(cfg), load_weights=False)
    meta = {
        "arch": "unet",
        "encoder": "none",
        "unet_base_width": 4,
        "num_classes": 25,
        "class_names": list(CLASS_NAMES),
        "resolution": 48,
        "mean": [0.5] * 3,
        "std": [0.5] * 3,
        "config": cfg.to_dict(),
        "run_id": "parent",
    }
    parent = save_checkpoint({"state_dict": model.state_dict(), "meta": meta}, tmp_path / "p" / "best.pt")
    child_cfg = finetune_config(parent, tiny_dataset, epochs=4, crop=32, loss="ce", checkpoint_every=1)
    assert child_cfg.start_check == "on"
    registry = RunRegistry()
    run = registry.create_run(child_cfg.to_dict(), name="child")
    assert fit(child_cfg, run.id, registry, run.checkpoint_dir) == "completed"
    saved = load_checkpoint(run.checkpoint_dir / "last.pt")["meta"]["config"]
    # A U-Net has no offline ImageNet weights: the check keeps the parent and picks the epochs.
    assert saved["start_check"] == "parent" and 1 <= saved["epochs"] <= 4
    assert any("start check: start from parent" in row.message for row in registry.logs(run.id))
