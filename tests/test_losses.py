"""Losses: behaviour every loss shares, agreement with references, the factory and class weights."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from segmentation_models_pytorch.losses import DiceLoss as SmpDiceLoss
from segmentation_models_pytorch.losses import LovaszLoss as SmpLovaszLoss
from segmentation_models_pytorch.losses._functional import softmax_focal_loss_with_logits

from seg_core.training.losses import (
    LOSS_NAMES,
    class_weights_from_counts,
    create_loss,
    cross_entropy_loss,
    lovasz_softmax_loss,
    soft_dice_loss,
    softmax_focal_loss,
)

C = 5
WEIGHTS = torch.tensor([0.2, 1.0, 3.0, 0.5, 2.0])


def make(name: str) -> torch.nn.Module:
    return create_loss(name, num_classes=C, class_weights=WEIGHTS)


def batch(seed: int = 0, ignore: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, C, 8, 8, generator=g)
    target = torch.randint(0, C, (2, 8, 8), generator=g)
    if ignore:
        target[:, :3] = 255
    return logits, target


def one_hot(target: torch.Tensor) -> torch.Tensor:
    return F.one_hot(target.clamp(0, C - 1), C).movedim(-1, 1).float()


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_loss_is_a_finite_positive_scalar_with_gradients(name):
    logits, target = batch()
    logits.requires_grad_(True)
    loss = make(name)(logits, target)
    assert loss.shape == () and loss.dtype == torch.float32
    assert torch.isfinite(loss) and loss.item() > 0
    loss.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_loss_decreases_as_logits_move_toward_the_target(name):
    logits, target = batch(1)
    loss_fn = make(name)
    values = [loss_fn(logits + step * one_hot(target), target).item() for step in (0.0, 2.0, 5.0)]
    assert values[0] > values[1] > values[2]


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_loss_is_near_zero_for_confident_correct_logits(name):
    _, target = batch(2)
    assert make(name)(20.0 * one_hot(target), target).item() < 1e-4


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_ignored_pixels_contribute_nothing(name):
    logits, target = batch(3, ignore=True)
    ignored = (target == 255).unsqueeze(1).expand_as(logits)
    loss_fn = make(name)
    scrambled = torch.where(ignored, 100.0 * torch.randn_like(logits), logits)
    assert loss_fn(scrambled, target).item() == pytest.approx(loss_fn(logits, target).item(), abs=1e-6)
    logits.requires_grad_(True)
    loss_fn(logits, target).backward()
    assert logits.grad[ignored].abs().max() == 0
    assert logits.grad[~ignored].abs().max() > 0


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_all_ignored_batch_gives_zero_and_backward_works(name):
    logits = torch.randn(1, C, 4, 4, requires_grad=True)
    loss = make(name)(logits, torch.full((1, 4, 4), 255))
    assert loss.shape == () and loss.item() == 0.0
    loss.backward()
    assert torch.all(logits.grad == 0)


@pytest.mark.parametrize("name", LOSS_NAMES)
def test_half_precision_logits_are_scored_in_float32(name):
    logits, target = batch(4)
    loss = make(name)(logits.bfloat16(), target)
    assert loss.dtype == torch.float32
    assert loss.item() == pytest.approx(make(name)(logits.bfloat16().float(), target).item(), rel=1e-6)


def test_custom_ignore_index():
    logits, target = batch(5)
    target[0, 0, 0] = -1
    assert torch.isfinite(create_loss("dice", num_classes=C, ignore_index=-1)(logits, target))


# ------------------------------------------------------------------- agreement with references


def test_cross_entropy_matches_torch_with_and_without_weights():
    logits, target = batch(6, ignore=True)
    expected = F.cross_entropy(logits, target, ignore_index=255)
    assert cross_entropy_loss(logits, target).item() == pytest.approx(expected.item(), rel=1e-6)
    weighted = F.cross_entropy(logits, target, weight=WEIGHTS, ignore_index=255)
    assert make("weighted_ce")(logits, target).item() == pytest.approx(weighted.item(), rel=1e-6)


def test_weighted_ce_uses_its_weights():
    logits, target = batch(7)
    assert make("weighted_ce")(logits, target).item() != pytest.approx(make("ce")(logits, target).item())
    uniform = create_loss("weighted_ce", num_classes=C, class_weights=torch.full((C,), 3.0))
    assert uniform(logits, target).item() == pytest.approx(make("ce")(logits, target).item(), rel=1e-6)


def test_ce_dice_is_the_sum_of_ce_and_dice():
    logits, target = batch(8)
    total = make("ce_dice")(logits, target).item()
    assert total == pytest.approx(make("ce")(logits, target).item() + make("dice")(logits, target).item())


@pytest.mark.parametrize("ignore", [False, True])
def test_ce_dice_value_and_gradient_equal_the_sum_of_its_terms(ignore):
    logits, target = batch(21, ignore=ignore)
    fused = logits.clone().requires_grad_()
    make("ce_dice")(fused, target).backward()
    separate = logits.clone().requires_grad_()
    (make("ce")(separate, target) + make("dice")(separate, target)).backward()
    assert torch.allclose(fused.grad, separate.grad, atol=1e-7)


@pytest.mark.parametrize("ignore", [False, True])
def test_dice_without_one_hot_equals_the_textbook_form_with_its_gradient(ignore):
    logits, target = batch(22, ignore=ignore)
    target[target == 4] = 1  # one class absent: left out of the mean

    def textbook(x):
        valid = target != 255
        safe = torch.where(valid, target, 0)
        mask = valid.unsqueeze(1).float()
        probs = x.softmax(1) * mask
        one_hot = torch.nn.functional.one_hot(safe, C).movedim(-1, 1).float() * mask
        inter, size = (probs * one_hot).sum((0, 2, 3)), one_hot.sum((0, 2, 3))
        dice = 2 * inter / (probs.sum((0, 2, 3)) + size)
        present = size > 0
        return (1 - dice[present]).mean()

    ours, reference = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    soft_dice_loss(ours, target).backward()
    textbook(reference).backward()
    assert soft_dice_loss(logits, target).item() == pytest.approx(textbook(logits).item(), rel=1e-6)
    assert torch.allclose(ours.grad, reference.grad, atol=1e-8)


def test_dice_matches_smp_when_every_class_is_present():
    logits, target = batch(9, ignore=True)
    smp = SmpDiceLoss("multiclass", ignore_index=255)(logits, target)
    assert soft_dice_loss(logits, target).item() == pytest.approx(smp.item(), rel=1e-5)


def test_dice_averages_over_present_classes_only():
    logits, target = batch(10)
    target[target >= 3] = 0  # classes 3 and 4 absent
    probs = logits.softmax(1)
    per_class = [
        2 * (probs[:, c] * (target == c)).sum() / (probs[:, c].sum() + (target == c).sum()) for c in range(3)
    ]
    expected = 1 - torch.stack(per_class).mean()
    assert soft_dice_loss(logits, target).item() == pytest.approx(expected.item(), rel=1e-5)
    # smp zeroes absent classes but still divides by all C: its value is ours scaled by 3/5.
    smp = SmpDiceLoss("multiclass")(logits, target)
    assert smp.item() == pytest.approx(expected.item() * 3 / C, rel=1e-5)


def test_focal_matches_smp_softmax_focal_and_reduces_to_ce_at_gamma_zero():
    logits, target = batch(11)
    ours = softmax_focal_loss(logits, target, gamma=2.0)
    assert ours.item() == pytest.approx(
        softmax_focal_loss_with_logits(logits, target, gamma=2.0).item(), rel=1e-6
    )
    ce = F.cross_entropy(logits, target)
    assert softmax_focal_loss(logits, target, gamma=0.0).item() == pytest.approx(ce.item(), rel=1e-6)
    assert ours.item() < ce.item()


def test_lovasz_matches_smp_reference():
    for seed, ignore in ((12, False), (13, True)):
        logits, target = batch(seed, ignore=ignore)
        target[target == 4] = 1  # an absent class: both skip it ("present" classes only)
        smp = SmpLovaszLoss("multiclass", ignore_index=255)(logits, target)
        assert lovasz_softmax_loss(logits, target).item() == pytest.approx(smp.item(), rel=1e-5)


def test_loss_module_moves_its_weights_with_to():
    loss = make("weighted_ce").to(torch.float64)
    assert loss.weight.dtype == torch.float64  # a registered buffer, so .to(device) moves it too
    logits, target = batch(14)
    assert torch.isfinite(loss(logits, target))


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        make("dice")(torch.randn(2, C, 8, 8), torch.zeros(2, 8, 7, dtype=torch.long))


# ------------------------------------------------------------------- hard example mining (OHEM)


@pytest.mark.parametrize("ignore", [False, True])
def test_ohem_averages_the_hardest_share_of_counted_pixels_and_trains_only_them(ignore):
    logits, target = batch(15, ignore=ignore)
    per_pixel = F.cross_entropy(logits, target, ignore_index=255, reduction="none")
    counted = per_pixel[target != 255]
    hardest = counted.sort(descending=True).values[: math.ceil(0.25 * counted.numel())]
    trained = logits.clone().requires_grad_()
    loss = create_loss("ce", hard_share=0.25)(trained, target)
    assert loss.item() == pytest.approx(hardest.mean().item(), rel=1e-6)
    loss.backward()
    moved = trained.grad.abs().sum(1) > 0  # pixels whose logits get a gradient
    assert moved.sum().item() == hardest.numel()
    assert per_pixel[moved].min() >= hardest.min()  # exactly the hardest ones, no ignored pixel


def test_ohem_share_one_is_the_plain_loss_and_mines_the_weighted_loss():
    logits, target = batch(16)
    assert create_loss("ce", hard_share=1.0)(logits, target).item() == make("ce")(logits, target).item()
    weighted = F.cross_entropy(logits, target, weight=WEIGHTS, reduction="none")
    pixel_weight = WEIGHTS[target]
    order = weighted.flatten().argsort(descending=True)[: math.ceil(0.5 * weighted.numel())]
    expected = weighted.flatten()[order].sum() / pixel_weight.flatten()[order].sum()
    mined = create_loss("weighted_ce", C, class_weights=WEIGHTS, hard_share=0.5)(logits, target)
    assert mined.item() == pytest.approx(expected.item(), rel=1e-6)


def test_ohem_dice_mines_the_cross_entropy_term_and_keeps_dice_whole():
    logits, target = batch(17, ignore=True)
    mined = create_loss("ce_dice", hard_share=0.3)(logits, target).item()
    parts = create_loss("ce", hard_share=0.3)(logits, target).item() + make("dice")(logits, target).item()
    assert mined == pytest.approx(parts, rel=1e-6)
    assert mined > make("ce_dice")(logits, target).item()  # the hardest pixels' mean is the larger
    logits = torch.randn(1, C, 4, 4, requires_grad=True)
    empty = create_loss("ce_dice", hard_share=0.3)(logits, torch.full((1, 4, 4), 255))
    empty.backward()
    assert empty.item() == 0.0 and torch.all(logits.grad == 0)


# ------------------------------------------------------------------- factory and weights


def test_create_loss_errors():
    with pytest.raises(ValueError, match="unknown loss 'bce'.*ce, weighted_ce, dice, ce_dice, focal, lovasz"):
        create_loss("bce")
    with pytest.raises(ValueError, match="needs class_weights"):
        create_loss("weighted_ce")
    with pytest.raises(ValueError, match=r"shape \(11,\)"):
        create_loss("weighted_ce", num_classes=11, class_weights=torch.ones(3))
    with pytest.raises(ValueError, match="needs num_classes"):
        create_loss("weighted_ce", class_weights=torch.ones(3))
    with pytest.raises(ValueError, match="non-negative"):
        create_loss("weighted_ce", num_classes=2, class_weights=torch.tensor([1.0, -1.0]))
    for share in (0.0, 1.5):
        with pytest.raises(ValueError, match=rf"hard_share {share} must be in \(0, 1\]"):
            create_loss("ce", hard_share=share)


def test_class_weights_median_frequency_with_cap():
    # f = counts / 1111; median of the non-zero f is 55/1111, so w = 55 / count.
    weights = class_weights_from_counts([100, 10, 1, 0, 1000], cap=10.0)
    assert weights.dtype == torch.float32 and weights.shape == (5,)
    # 55/1 = 55 capped to 10; zero pixels -> cap; 55/1000 = 0.055 raised to 1/cap.
    torch.testing.assert_close(weights, torch.tensor([0.55, 5.5, 10.0, 10.0, 0.1]))
    loose = class_weights_from_counts([100, 10, 1, 0, 1000], cap=100.0)
    torch.testing.assert_close(loose, torch.tensor([0.55, 5.5, 55.0, 100.0, 0.055]))
    assert torch.all(class_weights_from_counts([7, 7, 7]) == 1.0)


def test_class_weights_reject_bad_input():
    for counts in ([], [0, 0], [1, -1], [[1, 2]]):
        with pytest.raises(ValueError, match="pixel_counts"):
            class_weights_from_counts(counts)
    with pytest.raises(ValueError, match="cap must be >= 1"):
        class_weights_from_counts([1, 2], cap=0.5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", LOSS_NAMES)
def test_loss_on_cuda_under_autocast_matches_cpu(name):
    logits, target = batch(15, ignore=True)
    loss_fn = make(name).to("cuda")
    with torch.autocast("cuda", dtype=torch.float16):
        cuda_loss = loss_fn(logits.cuda().half(), target.cuda())
    assert cuda_loss.dtype == torch.float32
    expected = make(name)(logits.half().float(), target)
    assert cuda_loss.item() == pytest.approx(expected.item(), rel=1e-4)
