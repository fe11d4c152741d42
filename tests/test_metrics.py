"""Metrics: Kaggle Dice on hand-computed cases, the vectorised version, the confusion matrix."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from seg_core.evaluation.metrics import (
    ConfusionMatrix,
    KaggleDiceMeter,
    confusion_matrix_figure_data,
    dice_pairs,
    kaggle_dice,
)
from seg_core.schemes.classes import CLASS_NAMES, NUM_CLASSES

# ----------------------------------------------------------------------------- Kaggle Dice


def a(rows: list[list[int]]) -> np.ndarray:
    return np.array(rows, dtype=np.uint8)


def test_kaggle_dice_perfect_prediction_is_one():
    target = a([[0, 1, 2], [2, 1, 0], [0, 0, 0]])
    assert kaggle_dice([target], [target.copy()], num_classes=3) == 1.0


def test_kaggle_dice_both_empty_pairs_count_one():
    # class 0: |P|=3 |T|=4 |P∩T|=3 -> 6/7; class 1: predicted, not true -> 0; class 2: both empty -> 1.
    pred, target = a([[0, 0], [0, 1]]), a([[0, 0], [0, 0]])
    assert kaggle_dice([pred], [target], num_classes=3) == pytest.approx((6 / 7 + 0 + 1) / 3)


def test_kaggle_dice_disjoint_prediction():
    # class 0 absent from both -> 1; classes 1 and 2 disjoint -> 0.
    pred, target = a([[1, 1], [1, 1]]), a([[2, 2], [2, 2]])
    assert kaggle_dice([pred], [target], num_classes=3) == pytest.approx(1 / 3)


def test_kaggle_dice_partial_overlap_exact_fraction():
    target = a([[0, 0, 0], [1, 1, 1], [2, 2, 2]])
    pred = a([[0, 0, 1], [1, 1, 1], [2, 2, 0]])
    # class 0: 2*2/(3+3) = 2/3; class 1: 2*3/(4+3) = 6/7; class 2: 2*2/(2+3) = 4/5
    assert kaggle_dice([pred], [target], num_classes=3) == pytest.approx(244 / 315, abs=1e-12)


def test_kaggle_dice_averages_over_images_and_default_has_25_classes():
    images = ([a([[0, 0], [0, 1]])], [a([[0, 0], [0, 0]])]), ([a([[1, 1], [1, 1]])], [a([[2, 2], [2, 2]])])
    preds = images[0][0] + images[1][0]
    targets = images[0][1] + images[1][1]
    assert kaggle_dice(preds, targets, num_classes=3) == pytest.approx((13 / 21 + 1 / 3) / 2)
    # With the default 25 classes the 22 extra both-empty pairs per image count 1 each.
    assert kaggle_dice(preds, targets) == pytest.approx(
        (13 / 21 * 3 + 1 / 3 * 3 + 2 * 22) / (2 * NUM_CLASSES)
    )


def test_kaggle_dice_values_outside_the_classes_belong_to_no_class():
    pred, target = a([[0, 1]]), a([[0, 255]])
    # class 0: 1; class 1: predicted, no truth -> 0; class 2: both empty -> 1
    assert kaggle_dice([pred], [target], num_classes=3) == pytest.approx(2 / 3)


def test_kaggle_dice_rejects_bad_input():
    with pytest.raises(ValueError, match=r"image 1: prediction shape \(2, 2\) != target shape \(2, 3\)"):
        kaggle_dice([a([[0]]), a([[0, 0], [0, 0]])], [a([[0]]), a([[0, 0, 0], [0, 0, 0]])], num_classes=3)
    with pytest.raises(ValueError, match="2 predictions but 1 targets"):
        kaggle_dice([a([[0]]), a([[0]])], [a([[0]])])
    with pytest.raises(ValueError, match="at least one"):
        kaggle_dice([], [])
    with pytest.raises(ValueError, match="integer class ids"):
        kaggle_dice([np.zeros((2, 2), np.float32)], [a([[0, 0], [0, 0]])])
    with pytest.raises(ValueError, match="num_classes"):
        kaggle_dice([a([[0]])], [a([[0]])], num_classes=0)


def test_dice_pairs_agrees_with_kaggle_dice_on_random_masks():
    rng = np.random.default_rng(0)
    # Values 0..3 with 6 classes, so classes 4 and 5 are always both-empty pairs, plus an ignore value.
    preds = rng.integers(0, 4, size=(5, 9, 7))
    targets = rng.integers(0, 4, size=(5, 9, 7))
    targets[:, 0, :3] = 255
    pairs = dice_pairs(torch.from_numpy(preds), torch.from_numpy(targets), num_classes=6)
    assert pairs.shape == (5, 6)
    assert torch.all(pairs[:, 4:] == 1.0)
    assert pairs.mean().item() == pytest.approx(
        kaggle_dice(list(preds), list(targets), num_classes=6), abs=1e-12
    )
    for i in range(5):
        assert pairs[i].mean().item() == pytest.approx(kaggle_dice([preds[i]], [targets[i]], num_classes=6))


def test_dice_pairs_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shape"):
        dice_pairs(torch.zeros(2, 3, 3, dtype=torch.long), torch.zeros(2, 3, 4, dtype=torch.long), 3)


def test_kaggle_dice_meter_accumulates_batches_exactly():
    rng = np.random.default_rng(1)
    preds = rng.integers(0, 5, size=(7, 6, 6))
    targets = rng.integers(0, 5, size=(7, 6, 6))
    meter = KaggleDiceMeter(num_classes=NUM_CLASSES)
    assert math.isnan(meter.value)
    meter.update(torch.from_numpy(preds[:3]), torch.from_numpy(targets[:3]))
    meter.update(torch.from_numpy(preds[3:]), torch.from_numpy(targets[3:]))
    meter.reduce_from_all_processes()  # no process group: a no-op
    assert meter.value == pytest.approx(kaggle_dice(list(preds), list(targets)), abs=1e-12)
    meter.reset()
    assert math.isnan(meter.value)


# ----------------------------------------------------------------------------- confusion matrix

# Hand case with 4 classes. Counted pixels (truth -> pred): 0->0, 0->0, 0->1, 1->1, 1->2, 2->2.
# The bottom row is ignored; class 3 is "predicted" only there, so it is absent from both.
TARGET = torch.tensor([[0, 0, 0], [1, 1, 2], [255, 255, 255]])
PRED = torch.tensor([[0, 0, 1], [1, 2, 2], [0, 3, 1]])
EXPECTED_MATRIX = [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]


def test_confusion_matrix_hand_case_scores():
    cm = ConfusionMatrix(4)
    cm.update(PRED, TARGET)
    assert cm.matrix.dtype == torch.int64
    assert cm.matrix.tolist() == EXPECTED_MATRIX  # ignored pixels counted nowhere
    s = cm.compute()
    np.testing.assert_allclose(s.iou[:3], [2 / 3, 1 / 3, 1 / 2])
    np.testing.assert_allclose(s.dice[:3], [4 / 5, 1 / 2, 2 / 3])
    np.testing.assert_allclose(s.precision[:3], [1.0, 1 / 2, 1 / 2])
    np.testing.assert_allclose(s.recall[:3], [2 / 3, 1 / 2, 1.0])
    assert all(math.isnan(v[3]) for v in (s.iou, s.dice, s.precision, s.recall))
    assert s.support.tolist() == [3, 2, 1, 0]
    assert s.pixel_accuracy == pytest.approx(4 / 6)
    assert s.miou == pytest.approx(0.5)  # absent class 3 excluded, not counted as 0 or 1
    assert s.mean_dice == pytest.approx(59 / 90)


def test_class_predicted_but_absent_from_truth_scores_zero_iou():
    cm = ConfusionMatrix(2)
    cm.update(torch.tensor([0, 1]), torch.tensor([0, 0]))
    s = cm.compute()
    assert s.iou.tolist() == [0.5, 0.0]
    assert s.precision[1] == 0.0 and math.isnan(s.recall[1])
    assert s.miou == pytest.approx(0.25)


def test_confusion_matrix_accumulates_like_one_update_on_the_concatenation():
    rng = np.random.default_rng(2)
    pred = torch.from_numpy(rng.integers(0, 5, size=(6, 8, 8)))
    target = torch.from_numpy(rng.integers(0, 5, size=(6, 8, 8)))
    target[0, :2] = 255
    parts, whole = ConfusionMatrix(5), ConfusionMatrix(5)
    parts.update(pred[:2], target[:2])
    parts.update(pred[2:], target[2:])
    whole.update(pred, target)
    assert torch.equal(parts.matrix, whole.matrix)
    assert int(whole.matrix.sum()) == 6 * 64 - 16
    whole.reset()
    assert int(whole.matrix.sum()) == 0


def test_confusion_matrix_uint8_inputs_do_not_overflow():
    cm = ConfusionMatrix(NUM_CLASSES)
    cm.update(torch.tensor([24, 3], dtype=torch.uint8), torch.tensor([24, 24], dtype=torch.uint8))
    assert cm.matrix[24, 24] == 1 and cm.matrix[24, 3] == 1 and int(cm.matrix.sum()) == 2


def test_confusion_matrix_rejects_bad_input():
    cm = ConfusionMatrix(3)
    with pytest.raises(ValueError, match="shape"):
        cm.update(torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        cm.update(torch.tensor([5]), torch.tensor([1]))
    cm.update(torch.tensor([5]), torch.tensor([255]))  # a bad prediction on an ignored pixel is harmless
    assert int(cm.matrix.sum()) == 0


def test_empty_confusion_matrix_scores_are_nan_without_warnings():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = ConfusionMatrix(3).compute()
    assert math.isnan(s.miou) and math.isnan(s.mean_dice) and math.isnan(s.pixel_accuracy)
    assert s.as_dict()["miou"] is None


def test_per_class_rows_and_json_summary():
    cm = ConfusionMatrix(4)
    cm.update(PRED, TARGET)
    s = cm.compute()
    rows = s.per_class(["bg", "roof", "pool", "boat"])
    assert rows[0] == {
        "id": 0,
        "name": "bg",
        "iou": pytest.approx(2 / 3),
        "dice": pytest.approx(0.8),
        "precision": 1.0,
        "recall": pytest.approx(2 / 3),
        "support": 3,
    }
    assert rows[3] == {
        "id": 3,
        "name": "boat",
        "iou": None,
        "dice": None,
        "precision": None,
        "recall": None,
        "support": 0,
    }
    summary = json.loads(json.dumps(s.as_dict(), allow_nan=False))
    assert summary["miou"] == pytest.approx(0.5)
    assert summary["iou"][3] is None and summary["support"] == [3, 2, 1, 0]
    with pytest.raises(ValueError, match="3 class names for 4 classes"):
        s.per_class(["a", "b", "c"])
    with pytest.raises(AttributeError):
        s.miou = 1.0  # frozen
    with pytest.raises(ValueError):
        s.iou[0] = 1.0  # read-only arrays


def test_confusion_matrix_figure_data_normalises_rows():
    data = confusion_matrix_figure_data(torch.tensor(EXPECTED_MATRIX), ["a", "b", "c", "d"])
    assert data["labels"] == ["a", "b", "c", "d"] and data["normalize"] == "true"
    np.testing.assert_allclose(
        data["values"], [[2 / 3, 1 / 3, 0, 0], [0, 0.5, 0.5, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    )
    assert data["support"] == [3, 2, 1, 0]
    json.dumps(data, allow_nan=False)
    by_pred = confusion_matrix_figure_data(np.array(EXPECTED_MATRIX), list("abcd"), normalize="pred")
    assert by_pred["values"][0][:2] == [1.0, 0.5]
    raw = confusion_matrix_figure_data(np.array(EXPECTED_MATRIX), list("abcd"), normalize="none")
    assert raw["values"][0][0] == 2.0
    with pytest.raises(ValueError, match="normalize='rows'"):
        confusion_matrix_figure_data(np.array(EXPECTED_MATRIX), list("abcd"), normalize="rows")
    with pytest.raises(ValueError, match="class names"):
        confusion_matrix_figure_data(np.zeros((NUM_CLASSES, NUM_CLASSES)), CLASS_NAMES[:3])


def test_reduce_from_all_processes_in_a_single_process_group(tmp_path):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        cm, meter = ConfusionMatrix(4), KaggleDiceMeter(4)
        cm.update(PRED, TARGET)
        meter.update(PRED.unsqueeze(0), TARGET.unsqueeze(0))
        before = meter.value
        cm.reduce_from_all_processes()
        meter.reduce_from_all_processes()
        assert cm.matrix.tolist() == EXPECTED_MATRIX
        assert meter.value == pytest.approx(before)
    finally:
        dist.destroy_process_group()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_metrics_on_cuda_match_cpu():
    rng = np.random.default_rng(3)
    pred = torch.from_numpy(rng.integers(0, 5, size=(3, 8, 8)))
    target = torch.from_numpy(rng.integers(0, 5, size=(3, 8, 8)))
    target[0, 0] = 255
    cm, meter = ConfusionMatrix(5, device="cuda"), KaggleDiceMeter(5, device="cuda")
    cm.update(pred.cuda(), target.cuda())
    meter.update(pred.cuda(), target.cuda())
    cpu = ConfusionMatrix(5)
    cpu.update(pred, target)
    assert torch.equal(cm.matrix.cpu(), cpu.matrix)
    assert meter.value == pytest.approx(kaggle_dice(list(pred.numpy()), list(target.numpy()), num_classes=5))


# ------------------------------------------------------------------- torch-free scores (numpy)


def test_numpy_counts_equal_the_torch_accumulators():
    # evaluate scores on numpy alone (seg_core.evaluation.scores, for the torch-free ONNX path);
    # the training loop's torch accumulators must give the same numbers, ignore index included.
    from seg_core.evaluation.scores import confusion_counts, image_dice

    rng = np.random.default_rng(7)
    pred = rng.integers(0, 6, (40, 30)).astype(np.uint8)
    target = rng.integers(0, 6, (40, 30)).astype(np.uint8)
    target[:5] = 255  # ignored rows
    matrix = ConfusionMatrix(NUM_CLASSES)
    matrix.update(torch.from_numpy(pred), torch.from_numpy(target))
    counts = confusion_counts(pred, target, NUM_CLASSES)
    assert counts.sum() == 35 * 30
    np.testing.assert_array_equal(counts, matrix.matrix.numpy())
    expected = dice_pairs(torch.from_numpy(pred)[None], torch.from_numpy(target)[None], NUM_CLASSES)[0]
    np.testing.assert_allclose(image_dice(pred, target, NUM_CLASSES), expected.numpy(), rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match=r"class ids in \[0, 25\)"):
        confusion_counts(np.full((2, 2), 30, np.uint8), np.zeros((2, 2), np.uint8), NUM_CLASSES)
    with pytest.raises(ValueError, match="prediction shape"):
        image_dice(pred, target[:3], NUM_CLASSES)
