"""The fine-tune's start check: folds of the labels, the choice of start and epoch count, and the
run recording what it chose."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import write_tiny_checkpoint

from seg_core.training.config import TrainConfig
from seg_core.training.start_check import (
    CheckPlan,
    StartChoice,
    check_start,
    choose,
    folds,
    freeze_batchnorm_statistics,
    iou,
    labelled_classes,
    run_epochs,
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


def test_the_run_takes_the_schedules_epochs_when_it_has_more_photos_than_a_fold():
    photo = (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.uint8))
    said = []
    peaked = StartChoice("imagenet", 40, 0.5)
    assert (
        run_epochs(peaked, 90, [photo], CheckPlan(), said.append) == 40
    )  # one photo: the check's folds are the run's
    assert not said
    assert run_epochs(peaked, 90, [photo] * 4, CheckPlan(), said.append) == 90  # folds of 2 judged a run of 4
    assert run_epochs(peaked, 90, [photo] * 16, CheckPlan(), said.append) == 90  # folds of 4, a run of 16
    assert said[0].endswith("its 4 labelled photos are more than a fold's 2")
    assert (
        run_epochs(StartChoice("parent", 90, 0.5), 90, [photo] * 4, CheckPlan(), said.append) == 90
        and len(said) == 2
    )


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
    from seg_core.models.checkpoint import load_checkpoint
    from seg_core.runs.registry import RunRegistry
    from seg_core.training.finetune import finetune_config
    from seg_core.training.loop import fit

    parent = _unet_checkpoint(tmp_path / "parent" / "best.pt")
    child_cfg = finetune_config(parent, tiny_dataset, epochs=4, crop=32, loss="ce", checkpoint_every=1)
    assert child_cfg.start_check == "on"
    registry = RunRegistry()
    run = registry.create_run(child_cfg.to_dict(), name="child")
    assert fit(child_cfg, run.id, registry, run.checkpoint_dir) == "completed"
    saved = load_checkpoint(run.checkpoint_dir / "last.pt")["meta"]["config"]
    # A U-Net has no offline ImageNet weights: the check keeps the parent; with more photos than a
    # fold trains on, the run takes the schedule's epochs.
    assert saved["start_check"] == "parent" and saved["epochs"] == 4
    assert any("start check: start from parent" in row.message for row in registry.logs(run.id))


class RandomLearner(torch.nn.Module):
    """A 1x1 convolution initialised from torch's global generator (as a new decoder is)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 25, 1)

    def forward(self, x):
        return self.conv(x)


def test_a_further_start_tried_first_does_not_change_another_starts_score():
    settings = TrainConfig(
        lr=0.2, epochs=6, batch_size=2, crop=0, augment="none", loss="ce", warmup_epochs=0, schedule="none"
    )
    photos = [bright_square(i) for i in range(4)]

    def run(starts):
        torch.manual_seed(123)  # whatever the global generator held before, the check reseeds
        return check_start(
            starts,
            dict.fromkeys(starts, settings),
            photos,
            CheckPlan(eval_every=2),
            (0.5, 0.5, 0.5),
            (0.5, 0.5, 0.5),
            torch.device("cpu"),
            num_classes=25,
        )

    alone = run({"parent": Constant, "imagenet": RandomLearner})
    beside = run({"parent": Constant, "starter": RandomLearner, "imagenet": RandomLearner})
    assert alone.curves["imagenet"] == beside.curves["imagenet"]
    assert beside.curves["starter"] == beside.curves["imagenet"]  # the same start, the same draws
    assert max(score for _, score in alone.curves["imagenet"]) > 0  # it learnt: not a vacuous match


def _unet_checkpoint(path, *, seed=0, scheme_classes=None, width=4):
    """A tiny U-Net checkpoint as training writes it (Harvey's scheme unless `scheme_classes` names
    another), its run id the folder's name."""
    cfg = TrainConfig(arch="unet", encoder="none", weights="none", unet_base_width=width, resolution=48)
    return write_tiny_checkpoint(
        path,
        48,
        seed=seed,
        width=width,
        scheme_classes=scheme_classes,
        config=cfg.to_dict(),
        run_id=path.parent.name,
    )


def test_the_further_start_is_tried_only_where_it_fits_the_run(tmp_path):
    from seg_core.models.checkpoint import load_checkpoint
    from seg_core.schemes.scheme import HARVEY
    from seg_core.training.start_check import starter_weights

    parent = _unet_checkpoint(tmp_path / "parent" / "best.pt", seed=0)
    starter = _unet_checkpoint(tmp_path / "starter" / "best.pt", seed=1)
    parent_sha = load_checkpoint(parent)["meta"]["weights_sha256"]
    cfg = TrainConfig(
        arch="unet", encoder="none", unet_base_width=4, parent_weights_sha256=parent_sha, starter=str(starter)
    )
    said: list[str] = []
    parent_state = load_checkpoint(parent)["state_dict"]

    def tried(**changes):
        return starter_weights(cfg.with_updates(**changes), HARVEY, parent_state, said.append)

    state = tried()
    first = next(iter(state))
    assert said == [] and torch.equal(state[first], load_checkpoint(starter)["state_dict"][first])
    assert not torch.equal(state[first], parent_state[first])
    # Nothing to try: none named, or the starter is the parent itself.
    assert tried(starter="") is None and tried(starter=str(parent)) is None and said == []
    # Another model, other shapes, another scheme, an unreadable file: left out, in words.
    assert tried(arch="fpn", encoder="tu-efficientnet_lite0") is None
    assert said[-1].endswith("is a unet/none model, this fine-tune a fpn/tu-efficientnet_lite0 one: left out")
    wider = _unet_checkpoint(tmp_path / "wider" / "best.pt", seed=1, width=8)
    assert tried(starter=str(wider)) is None
    assert said[-1].endswith("has weights of other shapes than the parent's: left out")
    other = _unet_checkpoint(tmp_path / "other" / "best.pt", seed=2, scheme_classes=["Background", "Road"])
    assert tried(starter=str(other)) is None
    assert said[-1].endswith("has another label scheme than the data: left out")
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    assert tried(starter=str(broken)) is None
    assert said[-1].startswith(f"start check: the further start is left out: {broken}: ")
    assert len(said) == 4


@pytest.mark.slow
def test_a_finetune_the_check_starts_from_the_further_start_records_it(tmp_path, tiny_dataset, monkeypatch):
    from seg_core.models.checkpoint import load_checkpoint
    from seg_core.runs.registry import RunRegistry
    from seg_core.training import start_check
    from seg_core.training.finetune import finetune_config
    from seg_core.training.loop import fit

    parent = _unet_checkpoint(tmp_path / "parent" / "best.pt", seed=0)
    starter = _unet_checkpoint(tmp_path / "starter" / "best.pt", seed=1)
    tried: list[list[str]] = []

    def prefer_the_starter(curves):  # the choice itself is tested above; here, what follows it
        tried.append(list(curves))
        return start_check.StartChoice("starter", 2, 0.5, curves)

    monkeypatch.setattr(start_check, "choose", prefer_the_starter)
    cfg = finetune_config(
        parent, tiny_dataset, epochs=2, crop=32, loss="ce", checkpoint_every=1, starter=str(starter), lr=1e-7
    )
    registry = RunRegistry()
    run = registry.create_run(cfg.to_dict(), name="child")
    assert fit(cfg, run.id, registry, run.checkpoint_dir) == "completed"
    assert tried == [["parent", "starter"]]  # a U-Net has no offline ImageNet weights
    saved = load_checkpoint(run.checkpoint_dir / "last.pt")
    assert saved["meta"]["config"]["start_check"] == "starter" and saved["meta"]["config"]["epochs"] == 2
    # At lr 1e-7 the run's weights stay at the start's (Adam moves each by about lr a step), so they
    # show which start it took; BatchNorm's running statistics move with the data: compare convolutions.
    start = load_checkpoint(starter)["state_dict"]
    other = load_checkpoint(parent)["state_dict"]
    convs = [name for name, tensor in start.items() if tensor.dim() == 4]
    assert convs and all(torch.allclose(saved["state_dict"][n], start[n], atol=1e-5) for n in convs)
    assert not any(torch.allclose(saved["state_dict"][n], other[n], atol=1e-3) for n in convs)
    messages = [row.message for row in registry.logs(run.id)]
    assert any(f"fine-tuning from the further start {starter}" in m for m in messages), messages


def test_the_real_ground_starter_is_tried_when_asked_for_by_name(tmp_path, tiny_dataset):
    from seg_core.core import paths
    from seg_core.models.checkpoint import CheckpointError
    from seg_core.training.finetune import finetune_config

    parent = _unet_checkpoint(tmp_path / "parent" / "best.pt", seed=0)
    assert finetune_config(parent, tiny_dataset).starter == "auto"  # the schedule's: by the photo count
    assert finetune_config(parent, tiny_dataset, starter="none").starter == ""
    named = finetune_config(parent, tiny_dataset, starter="real-ground")
    assert named.starter == str(paths.REAL_GROUND_STARTER) and paths.REAL_GROUND_STARTER.is_file()
    assert finetune_config(parent, tiny_dataset, starter=str(parent)).starter == str(parent)
    with pytest.raises(CheckpointError, match="gone.pt: checkpoint not found"):
        finetune_config(parent, tiny_dataset, starter=str(tmp_path / "gone.pt"))


def test_the_shipped_starter_is_the_demo_model_trained_further_in_half_precision():
    from seg_core.core import paths
    from seg_core.models.checkpoint import load_checkpoint

    starter = load_checkpoint(paths.REAL_GROUND_STARTER)  # its checksum verified on load
    demo = load_checkpoint(paths.DEMO_CHECKPOINT)
    assert {t.dtype for t in starter["state_dict"].values()} == {torch.float16, torch.int64}
    assert {k: v.shape for k, v in starter["state_dict"].items()} == {
        k: v.shape for k, v in demo["state_dict"].items()
    }
    meta = starter["meta"]
    assert (meta["arch"], meta["encoder"]) == (demo["meta"]["arch"], demo["meta"]["encoder"])
    assert meta["config"]["init_from"].endswith("checkpoints/demo/best.pt")
    assert len(meta["float32_weights_sha256"]) == 64


def test_auto_names_the_real_ground_starter_with_one_labelled_photo_only():
    from seg_core.core import paths
    from seg_core.training.finetune import starter_path

    said: list[str] = []
    assert starter_path("auto", 1, said.append) == str(paths.REAL_GROUND_STARTER) and said == []
    assert starter_path("auto", 4, said.append) == ""
    assert said == [
        "start check: the real-ground starter is tried by default only with 1 labelled photo (4 here, where "
        "it was measured to pick worse starts); --starter real-ground tries it anyway"
    ]
    assert starter_path("/some/run/best.pt", 4, said.append) == "/some/run/best.pt"
    assert starter_path("", 1, said.append) == "" and len(said) == 1


@pytest.mark.slow
@pytest.mark.parametrize("photos", [1, 2])
def test_a_demo_model_finetune_tries_the_shipped_starter_by_default_on_one_photo(
    tmp_path, monkeypatch, photos
):
    """End to end from the shipped demo model, with the schedule's `auto`: on one labelled photo the
    check tries the real-ground starter (and a run that takes it records its path), on two it does
    not and the log says why."""
    from helpers import make_pairs

    from seg_core.core import paths
    from seg_core.models.checkpoint import load_checkpoint
    from seg_core.runs.registry import RunRegistry
    from seg_core.training import start_check
    from seg_core.training.finetune import finetune_config
    from seg_core.training.loop import fit

    tried: list[list[str]] = []

    def prefer_the_starter(curves):  # the choice itself is tested above; here, what is tried
        tried.append(list(curves))
        return start_check.StartChoice("starter" if "starter" in curves else "parent", 1, 0.5, curves)

    monkeypatch.setattr(start_check, "choose", prefer_the_starter)
    data = make_pairs(tmp_path / "data", photos, size=(128, 96))
    cfg = finetune_config(paths.DEMO_CHECKPOINT, data, epochs=1, resolution=128, crop=64, batch_size=1)
    registry = RunRegistry()
    run = registry.create_run(cfg.to_dict(), name="child")
    assert fit(cfg, run.id, registry, run.checkpoint_dir) == "completed"
    config = load_checkpoint(run.checkpoint_dir / "last.pt")["meta"]["config"]
    messages = [row.message for row in registry.logs(run.id)]
    if photos == 1:
        assert tried == [["parent", "starter", "imagenet"]]
        assert (config["start_check"], config["starter"]) == ("starter", str(paths.REAL_GROUND_STARTER))
        assert any(f"fine-tuning from the further start {paths.REAL_GROUND_STARTER}" in m for m in messages)
    else:
        assert tried == [["parent", "imagenet"]]
        assert (config["start_check"], config["starter"]) == ("parent", "auto")
        assert any("tried by default only with 1 labelled photo (2 here" in m for m in messages), messages


@pytest.mark.slow
def test_the_check_learns_only_from_the_masks_review_lets_the_run_train_on(tmp_path):
    """A rejected mask and one nobody reviewed stay out of the check's folds as they stay out of the
    run: the check counts (and holds folds of) the one accepted photo."""
    from review_helpers import put_in_state, storm

    from seg_core.labelling.labelstore import LabelStore
    from seg_core.runs.registry import RunRegistry
    from seg_core.training.finetune import finetune_config
    from seg_core.training.loop import fit

    data = storm(tmp_path / "storm", n=3)
    store = LabelStore(data)
    for stem, state in (("p0", "accepted"), ("p1", "rejected"), ("p2", "submitted")):
        put_in_state(store, stem, state)
    parent = _unet_checkpoint(tmp_path / "parent" / "best.pt")
    cfg = finetune_config(parent, data, epochs=1, crop=0, batch_size=1, loss="ce")
    registry = RunRegistry()
    run = registry.create_run(cfg.to_dict(), name="child")
    assert fit(cfg, run.id, registry, run.checkpoint_dir) == "completed"
    messages = [row.message for row in registry.logs(run.id)]
    assert any(m.startswith("label set ") and "1 mask (1 accepted)" in m for m in messages), messages
    assert any(m.startswith("start check on 1 labelled photo(s):") for m in messages), messages
