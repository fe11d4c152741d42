"""Semi-supervised fine-tuning: pseudo-label thresholding, the consistency loss they give on a
strong view, CutMix alignment, which photos count as unlabelled, and a run that uses them."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import make_pair, make_pairs

from seg_core.datasets.unlabelled import unlabelled_photos
from seg_core.schemes.classes import IGNORE_INDEX, NUM_CLASSES
from seg_core.training.losses import cross_entropy_loss
from seg_core.training.semi import cutmix, pseudo_labels

ROOF, FLOODED = 1, 23


def confident_logits(classes: list[list[int]], margins: list[list[float]]) -> torch.Tensor:
    """(1, C, H, W) logits whose top class per pixel is `classes` with logit margin `margins` over
    every other class (0 margin: a uniform, unsure pixel)."""
    logits = torch.zeros(1, NUM_CLASSES, len(classes), len(classes[0]))
    for r, row in enumerate(classes):
        for c, klass in enumerate(row):
            logits[0, klass, r, c] = margins[r][c]
    return logits


def test_pseudo_labels_keep_only_pixels_at_or_above_the_threshold():
    # softmax top probability for margin m over 24 zeros: e^m / (e^m + 24)
    logits = confident_logits([[ROOF, FLOODED, ROOF]], [[6.0, 2.0, 5.0]])
    top = logits.softmax(1).amax(1).view(-1)
    assert top[0] > 0.9 > top[2] > 0.8 > top[1]
    labels = pseudo_labels(logits, threshold=0.9)
    assert labels.tolist() == [[[ROOF, IGNORE_INDEX, IGNORE_INDEX]]]
    assert pseudo_labels(logits, threshold=0.8).tolist() == [[[ROOF, IGNORE_INDEX, ROOF]]]
    assert pseudo_labels(logits, threshold=float(top[2])).tolist() == [[[ROOF, IGNORE_INDEX, ROOF]]]


def test_padding_never_gets_a_pseudo_label():
    logits = confident_logits([[ROOF, ROOF]], [[9.0, 9.0]])
    labels = pseudo_labels(logits, 0.5, valid=torch.tensor([[[True, False]]]))
    assert labels.tolist() == [[[ROOF, IGNORE_INDEX]]]


def test_the_consistency_loss_pulls_the_strong_view_toward_confident_answers_only():
    """The strong view is unsure everywhere; the weak view is sure of a roof at pixel 0 and unsure
    at pixel 1. The loss on the strong view moves pixel 0 toward Roof and leaves pixel 1 alone."""
    weak = confident_logits([[ROOF, FLOODED]], [[8.0, 1.0]])
    target = pseudo_labels(weak, 0.9)
    strong = torch.zeros(1, NUM_CLASSES, 1, 2, requires_grad=True)
    cross_entropy_loss(strong, target).backward()
    grad = strong.grad[0]
    assert grad[ROOF, 0, 0] < 0  # descent raises Roof where the weak view was sure
    assert torch.all(grad[:, 0, 1] == 0)  # no pull at all where it was not
    assert float(cross_entropy_loss(weak, target)) < 0.01  # a consistent model pays ~nothing


def test_cutmix_moves_pseudo_labels_with_their_pixels():
    images = torch.stack([torch.full((3, 8, 8), float(i)) for i in range(3)])
    labels = torch.stack([torch.full((8, 8), i) for i in range(3)])
    mixed_images, mixed_labels = cutmix(images, labels, np.random.default_rng(0))
    assert torch.equal(mixed_images[:, 0].long(), mixed_labels)  # every pixel keeps its own label
    assert not torch.equal(mixed_labels, labels)  # something was pasted (seeded)
    assert torch.equal(images[:, 0].long(), labels)  # the inputs are left untouched


def test_unlabelled_photos_of_a_dataset_are_those_without_a_mask(tmp_path):
    root = make_pairs(tmp_path / "data", 3)
    image, mask = make_pair(root, "new", seed=9)
    mask.unlink()
    assert [p.name for p in unlabelled_photos(root)] == [image.name]
    folder = tmp_path / "flight"
    folder.mkdir()
    (folder / "notes.txt").write_text("not a photo")
    image.rename(folder / "IMG_1.png")
    assert [p.name for p in unlabelled_photos(folder)] == ["IMG_1.png"]


@pytest.mark.parametrize("where", ["missing", "empty"])
def test_no_unlabelled_photo_is_a_sentence(tmp_path, where):
    folder = tmp_path / "flight"
    if where == "empty":
        make_pairs(folder, 2)  # a dataset whose photos all have masks
    with pytest.raises(ValueError, match="flight: no"):
        unlabelled_photos(folder)


@pytest.mark.slow
def test_a_run_with_unlabelled_photos_labels_them_reproducibly_and_completes(tmp_path):
    from seg_core.runs.registry import RunRegistry
    from seg_core.training.config import TrainConfig
    from seg_core.training.loop import fit
    from seg_core.training.semi import UnlabelledStream
    from seg_core.training.setup import build_run

    root = make_pairs(tmp_path / "data", 4, size=(64, 48))
    for i in range(3):
        make_pair(root, f"u{i}", size=(64, 48), seed=10 + i)[1].unlink()
    cfg = TrainConfig(
        data=str(root),
        arch="unet",
        encoder="none",
        weights="none",
        unet_base_width=4,
        resolution=64,
        crop=32,
        batch_size=2,
        epochs=2,
        val_ratio=0.0,
        loss="ce",
        unlabelled=str(root),
        pseudo_label_threshold=0.05,  # an untrained model is unsure: keep some pixels anyway
    )
    registry = RunRegistry()
    record = registry.create_run(cfg.to_dict(), name="semi")
    assert fit(cfg, record.id, registry, record.checkpoint_dir) == "completed"
    logs = " ".join(row.message for row in registry.logs(record.id))
    assert "semi-supervised: 3 unlabelled photo(s)" in logs and "pseudo-labels this epoch" in logs

    from seg_core.runs.reporter import RunReporter
    from seg_core.training import distributed as dist_utils

    run = build_run(
        cfg,
        "again",
        tmp_path / "again",
        False,
        torch.device("cpu"),
        dist_utils.ProcessGroup(),
        RunReporter(None, "x", True),
    )
    stream = UnlabelledStream.for_run(run)
    first, again, other = stream.labelled_views(5), stream.labelled_views(5), stream.labelled_views(6)
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])  # a resume sees the same
    assert not torch.equal(first[0], other[0])
    assert first[0].shape == (2, 3, 32, 32) and (first[1] != IGNORE_INDEX).any()


def test_finetune_refuses_an_unlabelled_folder_without_photos_before_any_run(tmp_path, capsys):
    from helpers import write_tiny_checkpoint

    from seg_core.cli import main

    parent = write_tiny_checkpoint(tmp_path / "parent.pt")
    data = make_pairs(tmp_path / "data", 2)
    (tmp_path / "flight").mkdir()
    code = main(
        ["finetune", "--parent", str(parent), "--data", str(data), "--unlabelled", str(tmp_path / "flight")]
    )
    assert code == 2
    assert "flight: no unlabelled photo found" in capsys.readouterr().err
