"""Optimisers and learning-rate schedules: what each name builds and the lr it gives at every step."""

from __future__ import annotations

import math

import pytest
import torch
from test_train import start_run, tiny_config

from seg_core.training.config import TrainConfig
from seg_core.training.optim import build_optimizer, build_scheduler, optimizer_steps_per_epoch

LR = 0.1


def small_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Conv2d(4, 2, 1))


def lr_curve(schedule: str, epochs: int = 5, batches: int = 10, warmup: int = 0, accumulation: int = 1):
    """The lr each optimiser step of a whole run uses, stepping as the training loop does."""
    cfg = TrainConfig(
        lr=LR, schedule=schedule, epochs=epochs, warmup_epochs=warmup, accumulation=accumulation
    )
    optimizer = build_optimizer(small_model(), cfg)
    scheduler = build_scheduler(optimizer, cfg, batches)
    lrs = []
    for _ in range(epochs * optimizer_steps_per_epoch(batches, accumulation)):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


@pytest.mark.parametrize(
    ("name", "kind"), [("sgd", torch.optim.SGD), ("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW)]
)
def test_each_optimizer_name_builds_that_optimizer_with_the_settings(name, kind):
    model = small_model()
    cfg = TrainConfig(optimizer=name, lr=3e-3, weight_decay=0.05, momentum=0.8)
    optimizer = build_optimizer(model, cfg)
    assert type(optimizer) is kind
    assert all(group["lr"] == 3e-3 for group in optimizer.param_groups)
    if name == "sgd":
        assert all(g["momentum"] == 0.8 and g["nesterov"] for g in optimizer.param_groups)
    # Weight decay on convolution kernels only; never on biases or BatchNorm scales/shifts.
    decayed = {id(p) for g in optimizer.param_groups if g["weight_decay"] == 0.05 for p in g["params"]}
    for param in model.parameters():
        assert (id(param) in decayed) == (param.ndim > 1)
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(model.parameters()))


def test_sgd_without_momentum_is_plain_sgd():
    optimizer = build_optimizer(small_model(), TrainConfig(optimizer="sgd", momentum=0.0))
    assert all(g["momentum"] == 0.0 and not g["nesterov"] for g in optimizer.param_groups)


@pytest.mark.parametrize("name", ["sgd", "adam", "adamw"])
def test_every_optimizer_lowers_a_loss(name):
    model = small_model()
    optimizer = build_optimizer(model, TrainConfig(optimizer=name, lr=1e-2))
    torch.manual_seed(1)
    x = torch.randn(4, 3, 8, 8)
    y = (x[:, 0, 1:-1, 1:-1] > 0).long()  # learnable from the input
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        losses.append(loss.item())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert losses[-1] < 0.7 * losses[0]


def test_none_keeps_the_lr_constant():
    assert lr_curve("none") == pytest.approx([LR] * 50)


def test_warmup_rises_linearly_then_hands_over_to_the_schedule():
    lrs = lr_curve("none", warmup=1)  # 10 warm-up steps of 50
    assert lrs[:10] == pytest.approx([LR * (s + 1) / 11 for s in range(10)])
    assert lrs[10:] == pytest.approx([LR] * 40)
    cosine = lr_curve("cosine", warmup=2)
    assert cosine[:20] == pytest.approx([LR * (s + 1) / 21 for s in range(20)])
    assert cosine[20] == pytest.approx(LR) and cosine[-1] < 0.02 * LR


def test_cosine_decays_smoothly_to_one_percent():
    lrs = lr_curve("cosine")
    assert lrs[0] == pytest.approx(LR)
    assert all(b <= a for a, b in zip(lrs, lrs[1:], strict=False))
    assert lrs[25] == pytest.approx(LR * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * 0.5))))
    assert lrs[-1] == pytest.approx(LR * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * 49 / 50))))


def test_poly_decays_with_power_0_9_and_a_floor():
    lrs = lr_curve("poly")
    assert lrs == pytest.approx([LR * max(0.01, (1 - s / 50) ** 0.9) for s in range(50)])
    assert all(b <= a for a, b in zip(lrs, lrs[1:], strict=False)) and min(lrs) >= 0.01 * LR - 1e-12


def test_onecycle_rises_to_the_lr_then_anneals_far_below_it():
    lrs = lr_curve("onecycle")
    peak = max(range(len(lrs)), key=lrs.__getitem__)
    assert lrs[0] == pytest.approx(LR / 25, rel=1e-3)  # torch's default div_factor
    assert max(lrs) == pytest.approx(LR, rel=1e-2) and 10 <= peak <= 20  # ~30% of the run
    assert lrs[-1] < LR / 100


def test_the_schedule_counts_optimizer_steps_not_batches():
    # 10 batches with accumulation 4: 3 optimiser steps per epoch (the last one partial).
    assert optimizer_steps_per_epoch(10, 4) == 3
    lrs = lr_curve("cosine", epochs=4, batches=10, accumulation=4)
    assert len(lrs) == 12 and lrs[-1] < 0.03 * LR


def test_the_training_loop_steps_the_schedule_once_per_optimizer_step(tiny_dataset):
    # 4 training images, batch 2: 2 batches per epoch; accumulation 2: 1 optimiser step per epoch.
    # After epoch 1 of 3 a cosine schedule has run 1/3 of the way (stepping per batch would give 2/3).
    cfg = tiny_config(tiny_dataset, epochs=3, accumulation=2, schedule="cosine", lr=1e-2)
    registry, run, status = start_run(cfg)
    assert status == "completed"
    logged = [m.value for m in registry.metrics(run.id, names=["lr"])]
    expected = [1e-2 * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * k / 3))) for k in (1, 2, 3)]
    assert logged == pytest.approx(expected)
