"""Optimisers and learning-rate schedules (stepped once per optimiser step, warm-up included)."""

from __future__ import annotations

import math

import torch
from torch import nn

from seg_core.training.config import TrainConfig


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    """SGD with momentum, Adam or AdamW; no weight decay on norms and biases (standard practice:
    decaying BatchNorm scales fights the normalisation)."""
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (no_decay if param.ndim <= 1 else decay).append(param)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.momentum > 0)
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr)
    return torch.optim.AdamW(groups, lr=cfg.lr)


def optimizer_steps_per_epoch(batches_per_epoch: int, accumulation: int) -> int:
    return max(1, math.ceil(batches_per_epoch / accumulation))


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig, batches_per_epoch: int):
    """A per-step schedule: linear warm-up over `warmup_epochs`, then constant, cosine or poly
    decay; `onecycle` is torch's OneCycleLR (it has its own warm-up phase)."""
    per_epoch = optimizer_steps_per_epoch(batches_per_epoch, cfg.accumulation)
    total = per_epoch * cfg.epochs
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=cfg.lr, total_steps=total + 1)
    warmup = min(per_epoch * cfg.warmup_epochs, max(total - 1, 0))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        if cfg.schedule == "cosine":
            return 0.01 + 0.99 * 0.5 * (1.0 + math.cos(math.pi * progress))
        if cfg.schedule == "poly":
            return max(0.01, (1.0 - progress) ** 0.9)
        return 1.0

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
