"""Training on partial labels (`seg_core.datasets.partial`): the loss learns only what a label
says.

Every mask value stands for the set of classes a pixel may still be:

    class id c       -> {c}                        "this is road"
    not-code k       -> every class but the code's  "this is not road" (Background stays possible)
    IGNORE_INDEX     -> every class                 unknown: no loss

and the loss is the negative log of the probability the model gives that set,
-log sum_{j in allowed} p_j (the marginal likelihood of a set-valued label). For a class id it
is cross-entropy. For "not road" it is -log(1 - p_road): the gradient lowers road and raises
every other class in proportion to what the model already believes of it, so an unlabelled
pixel is never taught to be Background (tests/test_partial_labels.py checks it on a tiny tensor
where plain cross-entropy fails). The Dice term counts, per class, only the pixels whose
membership of that class is known: a "not road" pixel is a known negative for road and
unknown for everything else.

A label that is silent about the other classes leaves them free to drift: fine-tuned from the
demo model on real photos with roofs marked and "not roof" elsewhere, the model came to call
77% of dry test pixels Flooded (docs/benchmarks-analysis.md section 22). So when a run starts from a
parent, `ParentAnchor` keeps the parent's belief where the label is silent (MiB's unbiased
distillation, Cermelli et al. 2020): on a "not road" pixel the model's probabilities among the
classes still allowed are pulled toward the parent's, renormalised over the same classes. The
label decides what is ruled out; the parent, what remains likely.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from seg_core.datasets.partial import PartialLabels, read_partial_labels
from seg_core.schemes.scheme import IGNORE_INDEX

# The losses a partial label can feed: cross-entropy, Dice, or both. Focal and Lovasz would need
# their own set-valued forms; weighted CE's median-frequency weights count pixels of known class
# only, which a partial dataset barely has.
PARTIAL_LOSSES = ("ce", "dice", "ce_dice")


def allowed_classes(labels: PartialLabels | None, num_classes: int | None = None) -> torch.Tensor:
    """(256, C) bool: for each mask value, the classes a pixel with that value may be.
    `num_classes`: C; None takes the labels' scheme's (it must be given without labels).

    Values that are neither class ids nor declared codes allow every class (no loss), like
    IGNORE_INDEX; validation refuses such masks before training ever sees them.
    """
    num_classes = num_classes or labels.scheme.num_classes
    table = torch.ones(256, num_classes, dtype=torch.bool)
    table[:num_classes] = torch.eye(num_classes, dtype=torch.bool)
    for code, ruled_out in (labels.not_codes if labels else {}).items():
        table[code, list(ruled_out)] = False
    return table


def partial_label_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    allowed: torch.Tensor,
    ce: bool = True,
    dice: bool = True,
    anchor: torch.Tensor | None = None,
) -> torch.Tensor:
    """Set-valued cross-entropy and/or Dice over known memberships, and the parent anchor where
    given (see the module docstring).

    Args:
        logits: raw scores.
        target: mask values 0..255 (class ids, not-codes, IGNORE_INDEX).
        allowed: `allowed_classes` table, on the logits' device.
        ce, dice: which terms to add (equal weights, as `create_loss("ce_dice")`).
        anchor: the parent's probabilities renormalised over each pixel's allowed classes, zero
            where the label is not silent (`ParentAnchor`); adds their cross-entropy with
            the model's own renormalised probabilities, averaged over the anchored pixels.

    Shape:
        logits (N, C, H, W), target (N, H, W), allowed (256, C), anchor (N, C, H, W) -> scalar
    """
    if target.shape != logits.shape[:1] + logits.shape[2:]:
        raise ValueError(f"expected logits (N, C, H, W) and target (N, H, W), got {tuple(logits.shape)}")
    log_probs = logits.float().log_softmax(dim=1)
    may_be = allowed[target.long().clamp(0, 255)].movedim(-1, 1)  # (N, C, H, W) bool
    informative = ~may_be.all(dim=1)  # pixels whose label rules something out
    total = log_probs.sum() * 0.0  # keeps a graph when nothing is informative
    if ce:
        set_log_prob = log_probs.masked_fill(~may_be, float("-inf")).logsumexp(dim=1)
        per_pixel = torch.where(informative, -set_log_prob, torch.zeros_like(set_log_prob))
        count = informative.sum()
        total = total + torch.where(count > 0, per_pixel.sum() / count.clamp_min(1), per_pixel.sum() * 0.0)
    if dice:
        total = total + _known_dice_loss(log_probs.exp(), may_be, target)
    if anchor is not None:
        total = total + _anchor_loss(log_probs, may_be, anchor.float())
    return total


def _anchor_loss(log_probs: torch.Tensor, may_be: torch.Tensor, anchor: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the parent's renormalised probabilities with the model's, over the
    allowed classes of the anchored pixels (those where `anchor` sums to 1)."""
    within = log_probs.masked_fill(~may_be, float("-inf"))
    within = within - within.logsumexp(dim=1, keepdim=True)
    per_pixel = -(anchor * within.masked_fill(~may_be, 0.0)).sum(dim=1)
    anchored = anchor.sum(dim=1) > 0.5
    count = anchored.sum()
    return torch.where(count > 0, (per_pixel * anchored).sum() / count.clamp_min(1), per_pixel.sum() * 0.0)


def _known_dice_loss(probs: torch.Tensor, may_be: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - mean soft Dice over the classes with positive pixels, each class pooled over the pixels
    whose membership of it is known (positive: labelled that class; negative: ruled out)."""
    num_classes = probs.shape[1]
    positive = target.long().unsqueeze(1) == torch.arange(num_classes, device=target.device).view(1, -1, 1, 1)
    known = positive | ~may_be
    dims = [0, 2, 3]
    intersection = (probs * positive).sum(dims)
    target_sum = positive.sum(dims).to(probs.dtype)
    prob_sum = (probs * known).sum(dims)
    dice = 2.0 * intersection / (prob_sum + target_sum).clamp_min(1e-7)
    present = (target_sum > 0).to(probs.dtype)
    count = present.sum()
    return torch.where(count > 0, ((1.0 - dice) * present).sum() / count.clamp_min(1), probs.sum() * 0.0)


class PartialLabelLoss(nn.Module):
    """`partial_label_loss` as a module: `criterion(logits, target)` like every other loss."""

    def __init__(self, labels: PartialLabels | None, loss: str = "ce_dice", num_classes: int | None = None):
        super().__init__()
        if loss not in PARTIAL_LOSSES:
            raise ValueError(
                f"loss {loss!r} cannot learn from partial labels; choose one of {', '.join(PARTIAL_LOSSES)}"
            )
        self.ce, self.dice = loss in ("ce", "ce_dice"), loss in ("dice", "ce_dice")
        self.register_buffer("allowed", allowed_classes(labels, num_classes))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """`target`: (N, H, W) mask values, or `ParentAnchor`'s (N, 1 + C, H, W): the mask values
        as channel 0, then the anchor."""
        if target.dim() == 4:
            return partial_label_loss(
                logits, target[:, 0].round().long(), self.allowed, self.ce, self.dice, target[:, 1:]
            )
        return partial_label_loss(logits, target, self.allowed, self.ce, self.dice)


class ParentAnchor:
    """Adds the frozen parent's beliefs to every training batch of a partial-label fine-tune:
    the target becomes (N, 1 + C, H, W), the mask values then the parent's probabilities
    renormalised over each silent pixel's allowed classes (zero elsewhere).

    Silent pixels are the not-code ones. A label set with no not-code at all says only where
    classes are (an incomplete map: `partial-labels from-vectors --incomplete`); with nothing that
    says "not", the loss alone would teach the model that everything is those classes (on real
    drone mosaics it then found buildings everywhere: docs/benchmarks-analysis.md section 22), so
    there the unknown pixels are the silent ones and keep the parent's whole belief."""

    def __init__(self, parent: nn.Module, allowed: torch.Tensor, run, anchor_unknown: bool = False):
        self.parent, self.allowed, self.run = parent, allowed, run
        self.anchor_unknown = anchor_unknown

    @classmethod
    def for_run(cls, run) -> ParentAnchor | None:
        """The anchor of a fine-tune (`init_from`) on partial labels; None otherwise, and for a
        parent with a new head (its classes are not the run's)."""
        if not isinstance(run.criterion, PartialLabelLoss) or not run.cfg.init_from or run.cfg.new_head:
            return None
        allowed = run.criterion.allowed
        anchor_unknown = bool(allowed[allowed.shape[1] : IGNORE_INDEX].all())  # no not-code anywhere
        from seg_core.models import create_model
        from seg_core.models.checkpoint import load_checkpoint

        parent = create_model(run.setup.spec, load_weights=False)
        parent.load_state_dict(load_checkpoint(run.cfg.init_from)["state_dict"])
        parent.to(run.device).eval().requires_grad_(False)
        run.reporter.log(
            "partial labels: the labels only say where classes are, so the parent's beliefs anchor every "
            "unknown pixel"
            if anchor_unknown
            else "partial labels: where a label is silent, the parent's beliefs anchor the other classes"
        )
        return cls(parent, run.criterion.allowed, run, anchor_unknown)

    @torch.no_grad()
    def targets(self, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        from seg_core.core.runtime import autocast

        device = self.run.device
        with autocast(device, self.run.amp):
            probs = self.parent(images.to(device)).float().softmax(dim=1)
        masks = masks.to(device)
        may_be = self.allowed[masks.clamp(0, 255)].movedim(-1, 1)
        silent = (masks >= probs.shape[1]) & ((masks != IGNORE_INDEX) | self.anchor_unknown)
        anchor = probs * may_be
        anchor = anchor / anchor.sum(dim=1, keepdim=True).clamp_min(1e-12) * silent.unsqueeze(1)
        return torch.cat([masks.unsqueeze(1).float(), anchor], dim=1).cpu()

    def batches(self, loader):
        for images, masks in loader:
            yield images, self.targets(images, masks)


class PartialLabelDataset(Dataset):
    """A dataset whose masks go through each photo's `value_map` (the `labelled_only` photos'
    untrusted classes become their not-code). A per-pixel table lookup after the crop and the
    augmentation: it commutes with them, since geometry moves values and never mixes them.

    `for_scoring`: not-codes become IGNORE_INDEX as well, so that validation scores (confusion
    matrix, Kaggle Dice) count only pixels whose class is known, never a "not road" pixel as a
    false positive of whatever the model calls it.
    """

    def __init__(self, base: Dataset, labels: PartialLabels, for_scoring: bool = False):
        self.base = base
        self.tables = []
        for pair in base.pairs:
            table = torch.from_numpy(labels.value_map(pair.stem).astype(np.int64))
            if for_scoring:
                table[table >= labels.scheme.num_classes] = IGNORE_INDEX
            self.tables.append(table)

    def __getattr__(self, name: str):  # pairs, cache, set_epoch, ... of the wrapped dataset
        if name == "base":
            raise AttributeError(name)
        return getattr(self.base, name)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask = self.base[index]
        return image, self.tables[index][mask]


def use_partial_labels(
    data: str | Path,
    loss: str,
    setup,
    criterion: nn.Module,
    log: Callable[[str], None],
    ohem_share: float = 1.0,
) -> nn.Module:
    """The training run's hook: on a dataset with `partial_labels.json`, wrap its datasets so the
    per-photo claims apply and return the set-valued loss; elsewhere return `criterion` unchanged.

    Raises:
        ValueError: a malformed sidecar, or a loss (or hard-pixel mining) that cannot learn from
            partial labels.
    """
    labels = read_partial_labels(data, setup.scheme)
    if labels is None:
        return criterion
    if ohem_share < 1.0:
        raise ValueError(
            f"{data}: ohem_share {ohem_share:g} cannot be used with partial labels (the set-valued loss "
            "averages every known pixel); set it to 1"
        )
    partial_criterion = PartialLabelLoss(labels, loss)  # refuses other losses before any change
    setup.train_set = PartialLabelDataset(setup.train_set, labels)
    setup.train_eval_set = PartialLabelDataset(setup.train_eval_set, labels, for_scoring=True)
    if setup.val_set is not None:
        setup.val_set = PartialLabelDataset(setup.val_set, labels, for_scoring=True)
    claimed = sum(1 for pair in setup.train_set.pairs if pair.stem in labels.labelled_only)
    log(
        f"partial labels: {len(labels.not_codes)} not-code(s), {claimed} training photo(s) with only "
        "some classes labelled; the loss learns only what each label says"
    )
    return partial_criterion
